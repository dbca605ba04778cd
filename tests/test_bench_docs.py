"""The performance figures in the documents are the ones the benchmarks last measured, and every goal of issue #17 has
a benchmark line: docs/performance.md and README.md show exactly the tables bench/results.py renders from
bench/results.json (written by ``make bench-docs``), ``make bench`` runs every bench/bench_*.py, and the table's
plumbing (percentiles, the short table's rows) does what the documents say. No test here asserts a speed."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import numpy as np
import pytest

from bench import results, run_all
from bench.common import Row, pct

GOALS = ("Slack ack p99, 50 in flight", "Slack ack p99, 200 in flight", "Teams card round trip",
         "`record_contact` at 1,000 events", "contact conversation at 1,000 events", "`parley serve` ready with",
         "`parley serve` idle RSS", "no memory growth in the second half")


def test_run_all_runs_every_benchmark() -> None:
    scripts = sorted(p.stem.removeprefix("bench_") for p in (results.ROOT / "bench").glob("bench_*.py"))
    assert sorted(run_all.BENCHMARKS) == scripts


def test_the_documents_show_the_last_results() -> None:
    run = results.load()
    assert results.RESULTS_MD.read_text(encoding="utf-8") == "# Benchmark results\n\n" + results.full_table(run) + "\n"
    assert results.block(results.DOCS.read_text(encoding="utf-8"), results.FULL) == results.full_table(run)
    assert results.block(results.README.read_text(encoding="utf-8"), results.BRIEF) == results.brief_table(run)


def test_every_goal_has_a_line_and_a_verdict() -> None:
    rows = results.load()["rows"]
    briefs = [r["brief"] for r in rows if r.get("brief")]
    for goal in GOALS:
        assert any(b.startswith(goal) for b in briefs), goal
    for r in rows:
        assert (r["met"] is None) == (r["goal"] == ""), r["what"]
        if r["ratio"] is not None:
            assert r["ratio"] > 0 and r["baseline"], r["what"]


def test_percentiles_match_numpy() -> None:
    rng = random.Random(3)
    for n in (2, 7, 50, 200):
        xs = [rng.random() for _ in range(n)]
        for p in (50, 90, 99):
            assert pct(xs, p) == pytest.approx(float(np.percentile(xs, p)))


def test_the_short_table_has_a_row_per_goal_with_every_database() -> None:
    rows = [Row("slack", "a", "1 s", "0.5 s", 2.5, "≤ 2×", False, brief="Slack p99", backend="SQLite"),
            Row("slack", "b", "1 s", "1 s", 1.0, "≤ 2×", True, brief="Slack p99", backend="PostgreSQL"),
            Row("serve", "c", "140.2 MB", "", None, "< 150 MB", True, brief="RSS", shown="140 MB", backend="SQLite"),
            Row("calendar", "d", "1 µs", "2 µs", 0.5)]
    run = {"measured": "now", "commit": "abc", "machine": "2 cores",
           "rows": [json.loads(json.dumps(r.__dict__)) for r in rows]}
    assert results.brief_table(run).splitlines()[2:] == [
        "| Slack p99 | 2.50× SQLite, 1.00× PostgreSQL | **no** |",
        "| RSS | 140 MB SQLite | yes |",
    ]
    assert len(results.full_table(run).splitlines()) == 4 + len(rows)


def test_a_benchmark_reports_its_rows(tmp_path) -> None:
    out = tmp_path / "rows.jsonl"
    subprocess.run([sys.executable, str(results.ROOT / "bench" / "bench_calendar.py"), "--anchors", "300",
                    "--repeat", "1", "--json", str(out)], check=True, capture_output=True, cwd=results.ROOT)
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["bench"] for r in rows] == ["calendar"] * 3
    assert all(r["ratio"] > 0 and "µs" in r["parley"] for r in rows)
