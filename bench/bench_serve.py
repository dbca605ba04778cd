"""``parley serve``: time to ready with few and with many open cases, its memory when idle, and its memory after
thousands of interactions.

    .venv/bin/python bench/bench_serve.py [--cases 10,10000] [--interactions 1000] [--backend sqlite]
                                          [--timeout 180]

For each size a fresh database gets the demo directory and that many open cases: 40 (or fewer) opened through the
services on the three boards other than Swindon in the two hours before now (real time, as the server's clock is),
the rest bulk copies of them (bench/seed.py: re-chained events, subject details, stage results, the timers their
plan asks for, signed checkpoints). Four Swindon people are linked to Slack, each a party to three open cases of
their own. Then ``parley serve`` starts as deployed (Slack over HTTP against a stand-in, Teams for local traffic
under /teams, the scheduler) and is timed from the process start to

- *listening*: ``/healthz`` answers;
- *ready*: ``/readyz`` answers 200 — the database answers, it is migrated, the data key reads what is stored and
  a sweep of the timers has finished. This is what a load balancer waits for, so it is the start-up figure
  (goal: the many-case start within 2x of the few-case one).

A server not ready within ``--timeout`` seconds is reported as "> timeout" (the ratio is then a lower bound).

Memory is the server's resident set (VmRSS) three seconds after it is ready (goal: under 150 MB). On the largest
database ``--interactions`` signed Slack clicks (view / record a contact / record the outcome on the four people's
cases, ten in flight, in rounds of 100 whose work is let finish before the next) follow; RSS is read after each
round (printed). Goal: no growth, taken as at most 5 MB more at the end than half way (caches fill during the
first rounds; a leak keeps growing in the second half too). The issue's figure is 10,000 clicks
(``--interactions 10000``, some twenty minutes here); ``make bench`` sends 1,000, and runs on SQLite
(``--backend postgres`` or ``both`` for the production database: slower to build and to click).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import seed
from bench.bench_slack import clicks, prepare
from bench.common import Row, backends, database, label, report, secs
from bench.servers import parley_serve
from bench.slack_load import SlackStandIn, click_body, steady

READY_GOAL, RSS_GOAL, GROWTH_GOAL = 2.0, 150.0, 5.0
TEMPLATES = 40
PACE = 100  # clicks sent before waiting for their work to be done
OTHER_BOARDS = ("wolverhampton", "cardiff-and-vale", "mid-and-west-wales")


def build(url: str, cases: int) -> dict[str, list[str]]:
    """The database for one size; the Slack people's case references."""
    from bot.runtime import Runtime

    rt = Runtime(url)
    try:
        refs = prepare(rt)  # the demo directory, four Slack users and their six Swindon cases
        others = max(0, cases - 6)
        templates = seed.open_templates(rt, min(TEMPLATES, others), dt.datetime.now(dt.timezone.utc),
                                        OTHER_BOARDS) if others else []
        if others > len(templates):
            seed.copy_cases(rt, templates, cases)
    finally:
        rt.engine.dispose()
    return refs


def run(backend: str, sizes: list[int], interactions: int, timeout: float) -> list[Row]:
    found: dict[int, dict[str, float | None]] = {}
    rows: list[Row] = []
    with SlackStandIn() as slack:
        for size in sizes:
            with database(backend, f"serve{size}") as url:
                began = time.monotonic()
                refs = build(url, size)
                print(f"  {size:>6,} open cases built in {time.monotonic() - began:.0f} s")
                with parley_serve(url, slack.url, teams=True) as server:
                    listening = server.wait_for("/healthz", timeout)
                    ready = server.wait_for("/readyz", timeout) if listening is not None else None
                    if ready is None:
                        print(f"  {size:,} open cases: not ready after {timeout:.0f} s\n{server.output()[-800:]}")
                        found[size] = {"listening": listening, "ready": None, "rss": server.rss()}
                        continue
                    time.sleep(3.0)  # idle: the first sweep and its deliveries are over
                    found[size] = {"listening": listening, "ready": ready, "rss": server.rss()}
                    print(f"  {size:>6,} open cases: listening after {secs(listening)}, ready after {secs(ready)}, "
                          f"idle RSS {found[size]['rss']:.1f} MB")
                    if size == max(sizes) and interactions:
                        rows += interact(server, slack, refs, interactions, backend)
    small, big = min(sizes), max(sizes)
    s_ready, b_ready = found[small]["ready"], found[big]["ready"]
    where = label(backend)
    if s_ready is not None:
        shown = secs(b_ready) if b_ready is not None else f"> {timeout:.0f} s"
        ratio = (b_ready if b_ready is not None else timeout) / s_ready
        rows.insert(0, Row("serve", f"`parley serve` time to ready (/readyz 200), {big:,} vs {small:,} open cases, "
                           f"{where}", shown, secs(s_ready), ratio, f"≤ {READY_GOAL:g}×",
                           b_ready is not None and ratio <= READY_GOAL,
                           brief=f"`parley serve` ready with {big:,} open cases ≤ {READY_GOAL:g}× with {small:,}",
                           backend=where))
    for size in (small, big):
        rss = found[size]["rss"]
        rows.insert(1 if size == small else 2, Row(
            "serve", f"`parley serve` idle RSS (Slack + Teams + scheduler), {size:,} open cases, {where}",
            f"{rss:.1f} MB", "", None, f"< {RSS_GOAL:g} MB", rss is not None and rss < RSS_GOAL,
            brief=f"`parley serve` idle RSS < {RSS_GOAL:g} MB" if size == small else "", shown=f"{rss:.0f} MB",
            backend=where))
    return rows


def interact(server, slack: SlackStandIn, refs: dict[str, list[str]], count: int, backend: str) -> list[Row]:
    batch = clicks(count, refs)
    half = max(PACE, count // 2 // PACE * PACE)
    events = server.url("/slack/events")
    seen: list[float] = []

    def send(first: int, last: int) -> None:
        # in rounds of 100, each round's work let finish: Parley acks far sooner than it does the work, so a client
        # that never waits piles up queued work, and memory would measure the queue, not what stays behind
        for start in range(first, last, PACE):
            part = range(start, min(start + PACE, last))
            steady(events, [click_body(10_000_000 + i, batch[i]) for i in part])
            slack.quiet_for(0.5, timeout=600)
            seen.append(server.rss())

    began = time.monotonic()
    send(0, half)
    at_half = server.rss()
    send(half, count)
    took = time.monotonic() - began
    at_end = server.rss()
    growth = at_end - at_half
    print(f"  RSS after each round of {PACE} clicks (MB): " + " ".join(f"{x:.0f}" for x in seen))
    print(f"  {count:,} Slack clicks (10 in flight): RSS {seen[0]:.1f} MB after {PACE}, {at_half:.1f} MB after "
          f"{half:,}, {at_end:.1f} MB after {count:,} ({count / took:.1f} clicks/s)")
    return [Row("serve", f"`parley serve` RSS after {count:,} Slack clicks vs after {half:,}, {label(backend)} "
                f"(after the first {PACE}: {seen[0]:.1f} MB)", f"{at_end:.1f} MB", f"{at_half:.1f} MB",
                at_end / at_half, f"≤ +{GROWTH_GOAL:g} MB", growth <= GROWTH_GOAL,
                brief=f"no memory growth in the second half of {count:,} clicks (≤ +{GROWTH_GOAL:g} MB)",
                shown=f"{growth:+.1f} MB", backend=label(backend))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="10,10000", help="open cases, comma-separated (smallest vs largest)")
    ap.add_argument("--interactions", type=int, default=1000, help="Slack clicks on the largest database")
    ap.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="sqlite")
    ap.add_argument("--timeout", type=float, default=180, help="seconds to wait for ready")
    ap.add_argument("--json", help="append the result rows to this file (run_all)")
    args = ap.parse_args(argv)
    sizes = sorted(int(x) for x in args.cases.split(","))
    rows: list[Row] = []
    for backend in backends(args.backend):
        print(f"== {label(backend)}")
        rows += run(backend, sizes, args.interactions, args.timeout)
    report(rows, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
