"""Slack under a burst: N signed interactions in flight at once (50 and 200: each a button click on a real case, so
the work after the ack is a whole conversation turn with its database writes and deliveries) against Parley's Slack
adapter and against a bare Bolt app that only acks, both behind the same aiohttp wrapper, in one run.

Prints p50 and p99 ack latency for each, the p99 ratio Parley / bare Bolt (goal: at most 2x) and whether Parley's
p99 is under Slack's 3 s at 200 in flight.
Run: .venv/bin/python bench/bench_slack_burst.py
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import threading
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from slack_bolt import App
from slack_sdk import WebClient

from adapters.slack.server import build_adapter, http_app
from bot.core.clock import SystemClock
from bot.runtime import Runtime
from storage import repo
from storage.models import PersonIdentity
from tests.adapters.slack_mock import MockSlack, sign
from tests.adapters.test_slack_e2e import Server
from tests.bot.test_scheduler import at, open_case
from bench.pgschema import fresh_schema, pg_reachable

SECRET = "bench-secret"


def click_body(i: int, user: str, ref: str) -> str:
    payload = {"type": "block_actions", "user": {"id": user}, "team": {"id": "T1"}, "trigger_id": f"t{i}",
               "actions": [{"action_id": "case.view", "value": ref, "type": "button", "block_id": "b",
                            "action_ts": f"{i}.000"}],
               "container": {"type": "message", "message_ts": f"{i}.1", "channel_id": "C1"}}
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def burst(server: Server, n: int, offset: int, user: str, ref: str) -> list[float]:
    bodies = [click_body(offset + i, user, ref) for i in range(n)]
    times = [0.0] * n
    barrier = threading.Barrier(n)

    def one(i: int) -> None:
        barrier.wait()
        status, _, elapsed = server.post(bodies[i], "application/x-www-form-urlencoded", sign(SECRET, bodies[i]))
        assert status == 200, status
        times[i] = elapsed

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(times)


def pct(xs: list[float], p: float) -> float:
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def run(url: str, label: str) -> None:
    with MockSlack() as mock:
        rt = Runtime(url)
        rt.upgrade()
        rt.load_demo()
        with rt.factory() as s:
            alice = repo.person_by_key("swindon", "alice", session=s)
            s.add(PersonIdentity(person_id=alice.id, platform="slack", external_id="UALICE"))
            s.commit()
        open_case(rt, "swindon", at(2026, 4, 2, 10))
        parley = build_adapter(rt, SystemClock(), token="xoxb-bench", signing_secret=SECRET, base_url=mock.url)
        parley.transport.pace = 0
        bare = App(client=WebClient(token="xoxb-bench", base_url=mock.url), signing_secret=SECRET,
                   token_verification_enabled=False)

        @bare.action("case.view")
        def _ack(ack) -> None:
            ack()

        servers = {"parley": Server(http_app(parley.app)), "bare": Server(http_app(bare))}
        burst(servers["parley"], 10, 10_000_000, "UALICE", "SWN-2026-0001")  # warm up
        burst(servers["bare"], 10, 10_000_000, "UALICE", "SWN-2026-0001")
        print(f"{label}: in flight | Parley p50 / p99 (s) | bare Bolt p50 / p99 (s) | p99 ratio")
        offset = 0
        worst = 0.0
        for n in (50, 200):
            res = {}
            for name, server in servers.items():
                offset += n
                res[name] = burst(server, n, offset, "UALICE", "SWN-2026-0001")
            p, b = res["parley"], res["bare"]
            ratio = pct(p, 99) / pct(b, 99)
            worst = pct(p, 99) if n == 200 else worst
            print(f"{n:>9} | {statistics.median(p):.3f} / {pct(p, 99):.3f} | {statistics.median(b):.3f} / "
                  f"{pct(b, 99):.3f} | {ratio:.2f}x")
        print(f"{label}: Parley p99 at 200 in flight {'under' if worst < 3 else 'OVER'} Slack's 3 s ack limit "
              f"({worst:.2f} s)")
        for server in servers.values():
            server.stop()
        rt.engine.dispose()


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        run(f"sqlite:///{tmp}/bench.db", "SQLite")
    if pg_reachable():
        with fresh_schema() as url:
            run(url, "PostgreSQL")
    else:
        print("PostgreSQL: not reachable, not measured")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
