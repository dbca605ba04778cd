"""Command start-up: ``parley --help`` and ``parley timetable`` (which needs no database) against
``python -c "import sqlalchemy"``, each a new process, wall time, median of several runs, interleaved.

    .venv/bin/python bench/bench_startup.py [--runs 5]

``python -c "import sqlalchemy"`` is the floor for a command that talks to a database at all; ``python -c pass``
(printed too) is the interpreter alone. Every command must exit 0 (checked).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Row, ms, report

PARLEY = str(Path(sys.executable).with_name("parley"))
COMMANDS = {
    "parley --help": [PARLEY, "--help"],
    "parley timetable swindon": [PARLEY, "timetable", "swindon", "--start", "2026-04-02"],
    'python -c "import sqlalchemy"': [sys.executable, "-c", "import sqlalchemy"],
    "python -c pass": [sys.executable, "-c", "pass"],
}


def wall(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", help="append the result rows to this file (run_all)")
    args = ap.parse_args(argv)
    for argv_ in COMMANDS.values():  # once each first: the files they read are then in the page cache
        wall(argv_)
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.runs):
        for name, argv_ in COMMANDS.items():
            times[name].append(wall(argv_))
    med = {name: statistics.median(v) for name, v in times.items()}
    for name, t in med.items():
        print(f"  {name:32} {ms(t)} (median of {args.runs})")
    floor = med['python -c "import sqlalchemy"']
    rows = [Row("startup", f"`{name}` vs `python -c \"import sqlalchemy\"` (wall, median of {args.runs})",
                ms(med[name]), ms(floor), med[name] / floor) for name in ("parley --help", "parley timetable swindon")]
    report(rows, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
