"""Slack under a burst: 50 and 200 signed block-action clicks in flight at once against ``parley serve`` and against
a bare Bolt app on the same HTTP wrapper and the same Slack stand-in (bench/bare_slack.py), in one run.

    .venv/bin/python bench/bench_slack.py [--sizes 50,200] [--backend both]

Each server is a process of its own (``parley serve`` exactly as deployed: Slack over HTTP, the scheduler beside
it); the Slack stand-in (tests/adapters/slack_mock.py) is a third process and the client, which times each request
from sending it to its answer (the ack), a fourth. Four people of the Swindon demo directory are linked to Slack,
each a party to three open cases. The clicks are what people press on those cases, in turn:

- "View" (``case.view``): after the ack, a conversation turn that replays the case, the answer queued and
  delivered as a DM, the clicker's App Home republished;
- "Record a contact" (``case.record_contact``): after the ack, the contact conversation's first question by DM
  and the App Home republished;
- "Record the outcome" (``case.record_outcome``, with a trigger_id): a fixed "Opening the form…" modal opened with
  ``views.open`` *inside* the ack (a trigger lasts 3 s; the bare app opens a fixed modal likewise), then, after the
  ack, the outcome form built from the case and put into that modal with ``views.update``;
- "View" again.

Printed for each burst: p50 and p99 of the ack for each server and the p99 ratio Parley / bare (goal: at most
2x; Slack itself gives up after 3 s), and for Parley how long until all the work behind the burst was done (the
stand-in quiet for a second), checked against the calls the work must make. Between bursts each server's work is
allowed to finish, so neither is timed while the other is busy.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import seed
from bench.common import Row, backends, database, label, pct, report, secs
from bench.servers import bare_slack, parley_serve
from bench.slack_load import Click, SlackStandIn, burst, click_body
from bot.runtime import Runtime
from storage import repo
from storage.models import PersonIdentity

GOAL = 2.0
PEOPLE = {"alice": "UALICE", "bob": "UBOB", "ed": "UED", "hana": "UHANA"}
CASES = (("alice", "bob"), ("bob", "ed"), ("ed", "hana"), ("hana", "alice"), ("alice", "ed"), ("bob", "hana"))
MIX = (("case.view", False), ("case.record_contact", False), ("case.record_outcome", True), ("case.view", False))


def prepare(rt: Runtime) -> dict[str, list[str]]:
    """Link the four people to Slack and open their cases (an hour ago, real time); each person's case refs."""
    rt.upgrade()
    rt.load_demo()
    with rt.factory() as s:
        for key, slack_id in PEOPLE.items():
            person = repo.person_by_key("swindon", key, session=s)
            s.add(PersonIdentity(person_id=person.id, platform="slack", external_id=slack_id))
        s.commit()
    now = dt.datetime.now(dt.timezone.utc)
    refs: dict[str, list[str]] = {k: [] for k in PEOPLE}
    for n, (raiser, responder) in enumerate(CASES):
        case_id = seed.open_case(rt, "swindon", raiser, responder, now - dt.timedelta(hours=1), n)
        with rt.factory() as s:
            ref = repo.get_case(case_id, session=s).ref
        refs[raiser].append(ref)
        refs[responder].append(ref)
    return refs


def clicks(n: int, refs: dict[str, list[str]]) -> list[Click]:
    people = list(PEOPLE)
    out = []
    for i in range(n):
        who = people[i % len(people)]
        action, modal = MIX[(i // len(people)) % len(MIX)]
        out.append(Click(PEOPLE[who], action, refs[who][(i // (len(people) * len(MIX))) % len(refs[who])], modal))
    return out


def run(backend: str, sizes: list[int]) -> list[Row]:
    rows = []
    with database(backend, "slack") as url, SlackStandIn() as slack:
        rt = Runtime(url)
        refs = prepare(rt)
        rt.engine.dispose()
        with parley_serve(url, slack.url) as parley, bare_slack(slack.url) as bare:
            for server in (parley, bare):
                if server.wait_for("/healthz", 120) is None:
                    raise RuntimeError(f"not listening after 120 s:\n{server.output()}")
            serial = 0

            def send(server, batch: list[Click]) -> tuple[list[float], float, dict[str, int]]:
                nonlocal serial
                bodies = [click_body(serial + i, c) for i, c in enumerate(batch)]
                serial += len(batch)
                before = slack.counts()
                started = time.monotonic()
                times = burst(server.url("/slack/events"), bodies)
                last = slack.quiet_for(1.0, timeout=600)
                after = slack.counts()
                return times, max(0.0, last - started), {k: after[k] - before[k] for k in after}

            for server in (parley, bare):  # warm up: the first requests load what later ones reuse
                send(server, clicks(8, refs))
            print(f"== {label(backend)}: in flight | Parley ack p50 / p99 | bare Bolt ack p50 / p99 | p99 ratio "
                  "| Parley's work done after")
            for n in sizes:
                batch = clicks(n, refs)
                p_times, p_done, p_calls = send(parley, batch)
                b_times, _, b_calls = send(bare, batch)
                modals = sum(c.modal for c in batch)
                if p_calls["views.open"] != modals or p_calls["views.update"] != modals \
                        or p_calls["views.publish"] < n - modals:
                    raise RuntimeError(f"Parley did not do the work of the clicks: {p_calls} for {n} clicks "
                                       f"({modals} opening a modal)\n{parley.output()}")
                assert b_calls["views.open"] == modals, b_calls
                ratio = pct(p_times, 99) / pct(b_times, 99)
                print(f"  {n:>4} | {secs(statistics.median(p_times))} / {secs(pct(p_times, 99))} | "
                      f"{secs(statistics.median(b_times))} / {secs(pct(b_times, 99))} | {ratio:.2f}x | "
                      f"{secs(p_done)} ({n / p_done if p_done else 0:.1f} clicks/s)")
                for kind, pick in (("opening a modal in the ack", True), ("acked at once", False)):
                    p_k = [t for t, c in zip(p_times, batch, strict=True) if c.modal is pick]
                    b_k = [t for t, c in zip(b_times, batch, strict=True) if c.modal is pick]
                    print(f"       {len(p_k):>3} clicks {kind}: Parley p50 / p99 {secs(statistics.median(p_k))} / "
                          f"{secs(pct(p_k, 99))}, bare {secs(statistics.median(b_k))} / {secs(pct(b_k, 99))}")
                rows.append(Row("slack", f"Slack ack p99, {n} clicks in flight, {label(backend)} (p50 "
                                f"{secs(statistics.median(p_times))} vs {secs(statistics.median(b_times))}; "
                                f"all work done after {secs(p_done)})",
                                secs(pct(p_times, 99)), secs(pct(b_times, 99)), ratio, f"≤ {GOAL:g}×", ratio <= GOAL,
                                brief=f"Slack ack p99, {n} in flight, ≤ {GOAL:g}× bare Bolt", backend=label(backend)))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="50,200", help="clicks in flight at once, comma-separated")
    ap.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument("--json", help="append the result rows to this file (run_all)")
    args = ap.parse_args(argv)
    rows: list[Row] = []
    for backend in backends(args.backend):
        rows += run(backend, [int(x) for x in args.sizes.split(",")])
    report(rows, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
