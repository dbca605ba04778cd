"""Interaction ack latency: a signed button click through Parley's Slack adapter versus a bare Bolt app that
acks the same request, both served the same way (aiohttp on localhost), alternating, in one run.

Prints the median latency of each and the ratio Parley / bare Bolt (the goal is at most 1.2x).
Run: .venv/bin/python bench/bench_slack_ack.py
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from slack_bolt import App
from slack_sdk import WebClient

from adapters.slack.server import build_adapter, http_app
from bot.core.clock import SystemClock
from bot.runtime import Runtime
from tests.adapters.slack_mock import MockSlack, sign
from tests.adapters.test_slack_e2e import Server

SECRET = "bench-secret"
ROUNDS = 300


def click_body(i: int) -> str:
    payload = {"type": "block_actions", "user": {"id": "UNOBODY"}, "team": {"id": "T1"}, "trigger_id": f"t{i}",
               "actions": [{"action_id": "case.view", "value": "SWN-2026-9999", "type": "button",
                            "block_id": "b", "action_ts": str(i)}],
               "container": {"type": "message", "message_ts": f"{i}.1", "channel_id": "C1"}}
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp, MockSlack() as mock:
        rt = Runtime(f"sqlite:///{tmp}/bench.db")
        rt.upgrade()
        rt.load_demo()
        parley = build_adapter(rt, SystemClock(), token="xoxb-bench", signing_secret=SECRET, base_url=mock.url)
        bare = App(client=WebClient(token="xoxb-bench", base_url=mock.url), signing_secret=SECRET,
                   token_verification_enabled=False)

        @bare.action("case.view")
        def _ack(ack) -> None:
            ack()

        servers = {"parley": Server(http_app(parley.app)), "bare": Server(http_app(bare))}
        times: dict[str, list[float]] = {"parley": [], "bare": []}
        for i in range(ROUNDS + 20):
            for name, server in servers.items():
                body = click_body(i * 2 + (name == "bare"))
                status, _, elapsed = server.post(body, "application/x-www-form-urlencoded", sign(SECRET, body))
                assert status == 200, (name, status)
                if i >= 20:  # warm-up
                    times[name].append(elapsed)
        for s in servers.values():
            s.stop()
        med = {k: statistics.median(v) * 1000 for k, v in times.items()}
        print(f"button-click ack latency over {ROUNDS} alternating requests (median): "
              f"Parley {med['parley']:.2f} ms, bare Bolt {med['bare']:.2f} ms")
        print(f"ratio Parley / bare Bolt: {med['parley'] / med['bare']:.2f}x (goal <= 1.2x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
