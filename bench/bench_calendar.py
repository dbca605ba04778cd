"""Time WorkingCalendar.add_working_days against numpy.busday_offset on the same holidays.

    .venv/bin/python bench/bench_calendar.py [--anchors 20000] [--repeat 5] [--seed 1] [--nation scotland]

Both sides get the same random anchors (2020-2035) and working-day counts (1-25), and the same
holiday list (``WorkingCalendar.holiday_list``). The results are checked to agree before timing.
Absolute times mean little on a noisy machine, so the script reports the best of ``--repeat`` runs
and the *ratios*: Parley per anchor vs numpy per anchor (scalar calls) and vs one vectorised call.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from protocol.calendar import NATIONS, WorkingCalendar


def best_of(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--anchors", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--nation", choices=sorted(NATIONS), default="england-and-wales")
    args = ap.parse_args(argv)

    rng = random.Random(args.seed)
    first, last = dt.date(2020, 1, 1), dt.date(2035, 12, 31)
    span = (last - first).days
    anchors = [first + dt.timedelta(days=rng.randrange(span + 1)) for _ in range(args.anchors)]
    counts = [rng.randint(1, 25) for _ in range(args.anchors)]

    cal = WorkingCalendar(args.nation)
    holidays = np.array(cal.holiday_list(first.year, last.year + 1), dtype="datetime64[D]")
    np_anchors = np.array(anchors, dtype="datetime64[D]")
    np_counts = np.array(counts)
    pairs = list(zip(anchors, counts, strict=True))
    np_pairs = [(np.datetime64(a, "D"), n) for a, n in pairs]
    busdaycal = np.busdaycalendar(holidays=holidays)

    def parley() -> list[dt.date]:
        return [cal.add_working_days(a, n) for a, n in pairs]

    def numpy_scalar() -> list:
        return [np.busday_offset(a, n, roll="backward", busdaycal=busdaycal) for a, n in np_pairs]

    def numpy_vector() -> np.ndarray:
        return np.busday_offset(np_anchors, np_counts, roll="backward", busdaycal=busdaycal)

    # the same answers first (also warms the holiday cache)
    ours = np.array(parley(), dtype="datetime64[D]")
    theirs = numpy_vector()
    mismatches = int((ours != theirs).sum())
    if mismatches:
        print(f"MISMATCH: {mismatches} of {len(pairs)} anchors differ from numpy", file=sys.stderr)
        return 1

    t_parley = best_of(args.repeat, parley)
    t_scalar = best_of(args.repeat, numpy_scalar)
    t_vector = best_of(args.repeat, numpy_vector)

    n = len(pairs)
    print(f"{n} anchors, {args.nation}, {len(holidays)} holidays, best of {args.repeat}; results agree")
    print(f"  WorkingCalendar.add_working_days  {t_parley * 1e6 / n:8.2f} us/anchor  ({t_parley:.3f} s)")
    print(f"  numpy.busday_offset, scalar calls {t_scalar * 1e6 / n:8.2f} us/anchor  ({t_scalar:.3f} s)")
    print(f"  numpy.busday_offset, one array    {t_vector * 1e6 / n:8.2f} us/anchor  ({t_vector:.3f} s)")
    print(f"ratio parley / numpy scalar: {t_parley / t_scalar:6.1f}x")
    print(f"ratio parley / numpy vector: {t_parley / t_vector:6.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
