"""Card action round trip (an adaptiveCard/action invoke in, the refreshed card out) through Parley's Teams
adapter versus a bare botbuilder bot answering the same invoke with a fixed card, both on CloudAdapter over
aiohttp on localhost, alternating, in one run. Prints the medians and the ratio.

Run: .venv/bin/python bench/bench_teams_invoke.py
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import web
from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity, ActivityTypes, AdaptiveCardInvokeResponse, InvokeResponse

from adapters.teams.server import TeamsServer
from bot.core.clock import FixedClock
from bot.runtime import Runtime
from storage.models import PersonIdentity
from tests.adapters.test_teams_e2e import Loop, Teams

ROUNDS = 200
CARD = {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": "ok"}]}


class BareBot:
    async def on_turn(self, turn: TurnContext) -> None:
        await turn.send_activity(Activity(type=ActivityTypes.invoke_response, value=InvokeResponse(
            status=200, body=AdaptiveCardInvokeResponse(status_code=200, type="application/vnd.microsoft.card.adaptive",
                                                       value=CARD))))


def bare_app() -> web.Application:
    adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(SimpleNamespace(
        APP_ID="", APP_PASSWORD="", APP_TYPE="MultiTenant", APP_TENANTID="")))
    bot = BareBot()

    async def messages(request: web.Request) -> web.Response:
        return await adapter.process(request, bot) or web.Response(status=201)

    app = web.Application()
    app.router.add_post("/api/messages", messages)
    return app


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        rt = Runtime(f"sqlite:///{tmp}/bench.db")
        rt.upgrade()
        rt.load_demo()
        with rt.factory() as s:
            from storage import repo

            s.add(PersonIdentity(person_id=repo.person_by_key("swindon", "alice", session=s).id, platform="teams",
                                 external_id="aad-alice"))
            s.commit()
        loop = Loop()
        try:
            parley = TeamsServer(rt, FixedClock(dt.datetime(2026, 4, 2, 10, tzinfo=ZoneInfo("Europe/London"))))
            ports = {"parley": loop.serve(parley.web_app()), "bare": loop.serve(bare_app())}
            clients = {k: Teams(p, "http://127.0.0.1:1/") for k, p in ports.items()}
            times: dict[str, list[float]] = {"parley": [], "bare": []}
            for i in range(ROUNDS + 20):
                for name, client in clients.items():
                    act = client.activity("alice", "invoke", name="adaptiveCard/action",
                                          value={"action": {"type": "Action.Execute", "verb": "form.risk",
                                                            "data": {"risk": "no", "context": ""}}})
                    start = time.monotonic()
                    status, body = client.send(act)
                    elapsed = time.monotonic() - start
                    assert status == 200 and json.loads(body)["value"]["type"] == "AdaptiveCard", (name, status)
                    if i >= 20:
                        times[name].append(elapsed)
        finally:
            loop.stop()
        med = {k: statistics.median(v) * 1000 for k, v in times.items()}
        print(f"card action round trip over {ROUNDS} alternating invokes (median): Parley {med['parley']:.2f} ms "
              f"(risk answer -> intake card), bare botbuilder {med['bare']:.2f} ms (fixed card)")
        print(f"ratio Parley / bare botbuilder: {med['parley'] / med['bare']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
