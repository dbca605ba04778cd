"""The same Slack flow once through Socket Mode: a local WebSocket server speaks Slack's envelope protocol
(hello, envelopes, acks) and the mock Web API's apps.connections.open hands Parley its URL."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import queue
import threading
import time
import uuid
from typing import Any

import pytest
from aiohttp import WSMsgType, web

from adapters.slack.server import build_adapter, socket_mode_handler
from bot.core.clock import FixedClock
from bot.escalation.scheduler import Sweeper
from storage import repo
from storage.models import AgencyChannel, PersonIdentity
from tests.adapters.slack_mock import MockSlack
from tests.adapters.test_slack_e2e import USERS, _state
from tests.conftest import LONDON

pytestmark = pytest.mark.e2e


class SocketServer:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.ws: web.WebSocketResponse | None = None
        self.acks: queue.Queue[dict[str, Any]] = queue.Queue()
        self.connected = threading.Event()
        ready = threading.Event()

        async def link(request: web.Request) -> web.WebSocketResponse:
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            self.ws = ws
            await ws.send_str(json.dumps({"type": "hello", "num_connections": 1,
                                          "connection_info": {"app_id": "A1"}, "debug_info": {"host": "local"}}))
            self.connected.set()
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    data = json.loads(msg.data)
                    if "envelope_id" in data:
                        self.acks.put(data)
            return ws

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            app = web.Application()
            app.router.add_get("/link", link)
            self.runner = web.AppRunner(app, shutdown_timeout=2.0)  # teardown cancels what is still running
            self.loop.run_until_complete(self.runner.setup())
            site = web.TCPSite(self.runner, "127.0.0.1", 0)
            self.loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            ready.set()
            self.loop.run_forever()

        threading.Thread(target=run, daemon=True).start()
        ready.wait(10)
        self.url = f"ws://127.0.0.1:{self.port}/link"

    def send(self, kind: str, payload: dict[str, Any], timeout: float = 10) -> dict[str, Any]:
        """Send one envelope and wait for Parley's ack (within Slack's 3 seconds)."""
        env_id = str(uuid.uuid4())
        envelope = {"envelope_id": env_id, "type": kind, "payload": payload, "accepts_response_payload": True,
                    "retry_attempt": 0, "retry_reason": ""}
        assert self.ws is not None
        asyncio.run_coroutine_threadsafe(self.ws.send_str(json.dumps(envelope)), self.loop).result(5)
        start = time.monotonic()
        while True:
            ack = self.acks.get(timeout=timeout)
            if ack["envelope_id"] == env_id:
                assert time.monotonic() - start < 3, "acked too late"
                return ack

    def stop(self) -> None:
        async def close() -> None:
            if self.ws is not None:
                await self.ws.close()
            await self.runner.cleanup()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)


def test_whole_case_over_socket_mode(sqlite_runtime) -> None:
    rt = sqlite_runtime
    with rt.factory() as s:
        for key in ("alice", "bob", "sam", "mia"):
            s.add(PersonIdentity(person_id=repo.person_by_key("swindon", key, session=s).id, platform="slack",
                                 external_id=USERS[key]))
        for agency, channel in (("police", "CPOLICEMGRS"), ("social-care", "CCSCMGRS")):
            s.add(AgencyChannel(agency_id=repo.agency_by_key("swindon", agency, session=s).id, level="line_manager",
                                platform="slack", address=channel))
        csc = repo.agency_by_key("swindon", "social-care", session=s).id
        s.commit()
    clock = FixedClock(dt.datetime(2026, 4, 2, 10, 0, tzinfo=LONDON))
    sock = SocketServer()
    with MockSlack() as mock:
        mock.socket_url = sock.url
        adapter = build_adapter(rt, clock, token="xoxb-test", signing_secret="unused", base_url=mock.url)
        adapter.transport.pace = 0
        handler = socket_mode_handler(adapter, "xapp-test")
        handler.connect()
        try:
            assert sock.connected.wait(10)
            mock.wait_for("apps.connections.open")
            sock.send("slash_commands", {"command": "/parley", "text": "new", "user_id": USERS["alice"],
                                         "team_id": "T1", "trigger_id": "trig-1", "channel_id": "DUALICE",
                                         "response_url": mock.url.replace("/api/", "/respond/1")})
            risk = mock.forms()[0]
            ack = sock.send("interactive", {"type": "view_submission", "user": {"id": USERS["alice"]},
                                            "team": {"id": "T1"}, "view": {**risk, "id": "V1", "hash": "h1",
                                            "state": {"values": _state(risk, {"risk": "no"})}}})
            intake = ack["payload"]["view"]
            assert ack["payload"]["response_action"] == "update" and intake["callback_id"] == "form.intake"
            ack = sock.send("interactive", {"type": "view_submission", "user": {"id": USERS["alice"]},
                                            "team": {"id": "T1"}, "view": {**intake, "id": "V2", "hash": "h2",
                                            "state": {"values": _state(intake, {
                                                "pre0": "no", "category": "thresholds", "agency": str(csc),
                                                "person": USERS["bob"], "what": "Closed too early", "done": "Phoned",
                                                "sought": "Re-open", "arose": "2026-04-02"})}}})
            assert "errors" not in json.dumps(ack)
            mock.wait_for("chat.postMessage", lambda c: c.args.get("channel") == "DUBOB")
            # the counterpart presses Record the outcome in their DM: the outcome form opens
            sock.send("interactive", {"type": "block_actions", "user": {"id": USERS["bob"]}, "trigger_id": "trig-2",
                                      "actions": [{"action_id": "case.record_outcome", "value": "SWN-2026-0001",
                                                   "type": "button", "block_id": "b", "action_ts": "1"}]})
            mock.forms(lambda v: v["callback_id"] == "form.outcome")
            # the deadline lapses; the manager acknowledges in the channel; the prompt is updated in place
            clock.set(dt.datetime(2026, 4, 9, 9, 30, tzinfo=LONDON))
            Sweeper(rt.factory, clock).fire_due()
            adapter.deliverer.deliver()
            post = next(c for c in mock.of("chat.postMessage") if c.args["channel"] == "CPOLICEMGRS")
            button = next(e for b in post.args["blocks"] if b["type"] == "actions" for e in b["elements"]
                          if e["action_id"].startswith("esc.ack"))
            ts = mock.history["CPOLICEMGRS"][0]["ts"]
            sock.send("interactive", {"type": "block_actions", "user": {"id": USERS["sam"]}, "trigger_id": "trig-3",
                                      "channel": {"id": "CPOLICEMGRS"},
                                      "container": {"type": "message", "channel_id": "CPOLICEMGRS",
                                                    "message_ts": ts},
                                      "actions": [{"action_id": button["action_id"], "value": button["value"],
                                                   "type": "button", "block_id": "b", "action_ts": "2"}]})
            update = mock.wait_for("chat.update", lambda c: c.args["channel"] == "CPOLICEMGRS")[0]
            assert update.args["ts"] == ts and "Acknowledged by Sam Patel" in json.dumps(update.args)
            with rt.factory() as s:
                assert repo.case_by_ref("SWN-2026-0001", session=s).stage_number == 2
        finally:
            handler.close()
            sock.stop()
