"""The baseline for the Teams benchmark: a bare botbuilder bot on the same CloudAdapter set-up as Parley's (aiohttp,
POST /api/messages, unauthenticated local traffic), answering every ``adaptiveCard/action`` invoke with a fixed
Adaptive Card: the round trip any Teams bot pays, with no work of its own.

    .venv/bin/python bench/bare_teams.py --port PORT
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp import web
from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity, ActivityTypes, AdaptiveCardInvokeResponse, InvokeResponse

CARD = {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": "Done", "wrap": True}],
        "actions": [{"type": "Action.Execute", "title": "View", "verb": "case.view", "data": {"value": "X"}}]}


class BareBot:
    async def on_turn(self, turn: TurnContext) -> None:
        if turn.activity.type == ActivityTypes.invoke:
            await turn.send_activity(Activity(type=ActivityTypes.invoke_response, value=InvokeResponse(
                status=200, body=AdaptiveCardInvokeResponse(status_code=200,
                                                           type="application/vnd.microsoft.card.adaptive",
                                                           value=CARD))))


def app() -> web.Application:
    adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(SimpleNamespace(
        APP_ID="", APP_PASSWORD="", APP_TYPE="MultiTenant", APP_TENANTID="")))
    bot = BareBot()

    async def messages(request: web.Request) -> web.Response:
        return await adapter.process(request, bot) or web.Response(status=201)

    async def health(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    application = web.Application()
    application.router.add_post("/api/messages", messages)
    application.router.add_get("/healthz", health)
    return application


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    web.run_app(app(), host="127.0.0.1", port=ap.parse_args().port, print=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
