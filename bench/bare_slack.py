"""The baseline for the Slack benchmarks: a bare Bolt app behind Parley's own HTTP wrapper
(``adapters.slack.server.http_app``: aiohttp, Bolt's dispatch with its signature and replay-window checks on the
same ack threads), talking to the same Slack stand-in. It does what any Slack app must do for the same clicks and
nothing more: acks every block action, and for a click that opens a modal ("Record the outcome", sent with a
trigger_id) first opens a fixed modal with ``views.open``, as Parley does inside its ack.

    .venv/bin/python bench/bare_slack.py --port PORT --api http://127.0.0.1:N/api/
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp import web
from slack_bolt import App
from slack_sdk import WebClient

from adapters.slack.server import http_app
from bench.slack_load import SECRET

MODAL = {"type": "modal", "callback_id": "bare", "title": {"type": "plain_text", "text": "Outcome"},
         "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Record the outcome"}}]}


def app(api: str) -> App:
    bolt = App(client=WebClient(token="xoxb-test", base_url=api), signing_secret=SECRET,
               token_verification_enabled=False, process_before_response=True)

    @bolt.action(re.compile(".*"))
    def clicked(ack, body, client) -> None:
        if body.get("trigger_id"):
            client.views_open(trigger_id=body["trigger_id"], view=MODAL)
        ack()

    return bolt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--api", required=True, help="the Slack stand-in's Web API address")
    args = ap.parse_args()
    web.run_app(http_app(app(args.api)), host="127.0.0.1", port=args.port, print=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
