"""Working-day arithmetic: WorkingCalendar.add_working_days and due_working_days against numpy.busday_offset on the
same holidays, each stated per date.

    .venv/bin/python bench/bench_calendar.py [--anchors 20000] [--repeat 5] [--seed 1] [--nation scotland]

All get the same random anchors (2020-2035) and working-day counts (1-25), and the same holiday list
(``WorkingCalendar.holiday_list``); the answers are checked to agree before timing. Timed, best of ``--repeat``:

- ``add_working_days(date, n)``, one call per date: the date n working days on;
- ``due_working_days(date, n)``, one call per date: what the engine calls for a deadline in working days (the
  same date, at close of business, in the board's timezone);
- ``numpy.busday_offset``, one call per date (numpy's per-call overhead paid every time, as a scalar API is used);
- ``numpy.busday_offset``, one call for all the dates at once (vectorised: what numpy is built for, and what an
  engine answering one deadline at a time cannot use).

Each is printed in microseconds per date, with the ratios to numpy both ways.
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

from bench.common import Row, report
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
    ap.add_argument("--json", help="append the result rows to this file (run_all)")
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

    def add() -> list[dt.date]:
        return [cal.add_working_days(a, n) for a, n in pairs]

    def due() -> list[dt.datetime]:
        return [cal.due_working_days(a, n) for a, n in pairs]

    def numpy_scalar() -> list:
        return [np.busday_offset(a, n, roll="backward", busdaycal=busdaycal) for a, n in np_pairs]

    def numpy_vector() -> np.ndarray:
        return np.busday_offset(np_anchors, np_counts, roll="backward", busdaycal=busdaycal)

    # the same answers first (also warms the holiday cache)
    ours = np.array(add(), dtype="datetime64[D]")
    theirs = numpy_vector()
    mismatches = int((ours != theirs).sum())
    dues = [d.date() for d in due()]
    mismatches += sum(d != a for d, a in zip(dues, ours.tolist(), strict=True))
    if mismatches:
        print(f"MISMATCH: {mismatches} of {len(pairs)} answers differ from numpy", file=sys.stderr)
        return 1

    n = len(pairs)
    per = {name: best_of(args.repeat, fn) * 1e6 / n for name, fn in
           (("add", add), ("due", due), ("scalar", numpy_scalar), ("vector", numpy_vector))}
    print(f"{n} dates, {args.nation}, {len(holidays)} holidays, best of {args.repeat}; the answers agree")
    print(f"  WorkingCalendar.add_working_days, one call a date  {per['add']:8.3f} us a date")
    print(f"  WorkingCalendar.due_working_days, one call a date  {per['due']:8.3f} us a date")
    print(f"  numpy.busday_offset, one call a date               {per['scalar']:8.3f} us a date")
    print(f"  numpy.busday_offset, one call for all {n} dates {per['vector']:8.3f} us a date")
    where = f"{n:,} dates, {args.nation}"
    rows = [
        Row("calendar", f"`add_working_days`, one call a date, vs `numpy.busday_offset` one call a date ({where})",
            f"{per['add']:.2f} µs", f"{per['scalar']:.2f} µs", per["add"] / per["scalar"]),
        Row("calendar", "`due_working_days` (what the engine calls), one call a date, vs `numpy.busday_offset` "
            "one call a date", f"{per['due']:.2f} µs", f"{per['scalar']:.2f} µs", per["due"] / per["scalar"]),
        Row("calendar", "`add_working_days`, one call a date, vs `numpy.busday_offset` one call for all the dates",
            f"{per['add']:.2f} µs", f"{per['vector']:.3f} µs", per["add"] / per["vector"]),
    ]
    report(rows, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
