"""Run every benchmark in bench/ (each a process of its own, at its defaults), print one table of what they measured
and write it to bench/results.md (and bench/results.json); with ``--docs`` also into docs/performance.md and README.

    .venv/bin/python bench/run_all.py [--only slack,teams] [--docs]

Each benchmark measures Parley against a baseline in the same run and reports the ratio (absolute times on a shared
machine move with its load). ``make bench`` runs this; ``make bench-docs`` runs it with ``--docs``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import results
from bench.common import machine

HERE = Path(__file__).resolve().parent
# every bench_*.py, in the order they run (tests/test_bench_docs.py checks the list is complete)
BENCHMARKS = ("calendar", "startup", "history", "teams", "slack", "serve", "quarterly", "sweep")


def commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=HERE,
                               capture_output=True, text=True, check=True).stdout.strip()
        return sha + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="comma-separated names (calendar, startup, ...): only these")
    ap.add_argument("--docs", action="store_true", help="also put the tables into docs/performance.md and README.md")
    args = ap.parse_args(argv)
    names = [n for n in BENCHMARKS if not args.only or n in args.only.split(",")]
    run = {"measured": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "commit": commit(),
           "machine": machine(), "rows": []}
    failed = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="parley-bench-") as tmp:
        for name in names:
            out = Path(tmp) / f"{name}.jsonl"
            print(f"\n=== bench_{name}.py", flush=True)
            began = time.monotonic()
            done = subprocess.run([sys.executable, str(HERE / f"bench_{name}.py"), "--json", str(out)])
            print(f"=== bench_{name}.py: {time.monotonic() - began:.0f} s", flush=True)
            if done.returncode != 0:
                failed.append(name)
            if out.exists():
                run["rows"] += [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    run["took"] = round(time.monotonic() - started)
    print(f"\n{results.full_table(run)}\n\nall benchmarks: {run['took']} s")
    if failed:
        print(f"FAILED: {', '.join(failed)} (their rows are missing; nothing written)", file=sys.stderr)
        return 1
    if args.only:
        print("(--only: bench/results.md and the documents left as they were)")
        return 0
    results.write(run, docs=args.docs)
    print(f"written: {results.RESULTS_MD.relative_to(results.ROOT)}" + (", docs/performance.md, README.md"
                                                                         if args.docs else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
