"""End to end through the real Slack adapter over HTTP: signed requests exactly as Slack sends them, a
local mock of Slack's Web API recording every call, the database checked after each step."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from adapters.slack.block_checks import check_limits
from adapters.slack.server import build_adapter, http_app
from bot.core.clock import FixedClock
from bot.escalation.scheduler import Sweeper
from storage import repo
from storage.models import AgencyChannel, EscalationPrompt, PersonIdentity
from tests.adapters.slack_mock import MockSlack, sign
from tests.conftest import LONDON

SECRET = "test-signing-secret"
USERS = {"alice": "UALICE", "bob": "UBOB", "sam": "USAM", "mia": "UMIA", "hugh": "UHUGH", "una": "UUNA"}
pytestmark = pytest.mark.e2e


class Server:
    """Parley's aiohttp app on a local port, in a thread with its own event loop."""

    def __init__(self, app: web.Application, port: int = 0):
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.port = port
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            runner = web.AppRunner(app, shutdown_timeout=2.0)  # teardown cancels what is still running
            self.loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", self.port)
            self.loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            self.runner = runner
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        ready.wait(10)

    def post(self, body: str, content_type: str, headers: dict[str, str] | None = None) -> tuple[int, str, float]:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/slack/events", data=body.encode(),
                                     method="POST", headers={"Content-Type": content_type, **(headers or {})})
        start = time.monotonic()
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.read().decode(), time.monotonic() - start
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(), time.monotonic() - start

    def stop(self) -> None:
        async def shutdown() -> None:
            await self.runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)


class Slack:
    """Sends requests the way Slack does: signed, form-encoded commands and interactions, JSON events."""

    def __init__(self, server: Server, mock: MockSlack):
        self.server = server
        self.response_url = mock.url.replace("/api/", "/respond/1")

    def _send(self, body: str, ctype: str, **kw: Any) -> tuple[int, str, float]:
        headers = sign(SECRET, body, kw.pop("timestamp", None))
        if kw.get("secret"):
            headers = sign(kw["secret"], body)
        headers.update(kw.get("extra", {}))
        return self.server.post(body, ctype, headers)

    def command(self, user: str, text: str, channel: str | None = None, **kw: Any) -> tuple[int, str, float]:
        body = urllib.parse.urlencode({"token": "x", "team_id": "T1", "user_id": user, "command": "/parley",
                                       "text": text, "response_url": self.response_url,
                                       "trigger_id": f"trig-{time.monotonic_ns()}",
                                       "channel_id": channel or "D" + user})
        return self._send(body, "application/x-www-form-urlencoded", **kw)

    def interact(self, payload: dict[str, Any], **kw: Any) -> tuple[int, str, float]:
        body = urllib.parse.urlencode({"payload": json.dumps(payload)})
        return self._send(body, "application/x-www-form-urlencoded", **kw)

    def event(self, event: dict[str, Any], event_id: str, **kw: Any) -> tuple[int, str, float]:
        body = json.dumps({"token": "x", "team_id": "T1", "type": "event_callback", "event_id": event_id,
                           "event_time": int(time.time()), "event": event})
        return self._send(body, "application/json", **kw)

    def click(self, user: str, action_id: str, value: str, *, channel: str | None = None,
              message_ts: str | None = None) -> tuple[int, str, float]:
        payload: dict[str, Any] = {"type": "block_actions", "user": {"id": user}, "team": {"id": "T1"},
                                   "trigger_id": f"trig-{time.monotonic_ns()}", "api_app_id": "A1",
                                   "actions": [{"action_id": action_id, "value": value, "type": "button",
                                                "block_id": "b", "action_ts": str(time.time())}]}
        if channel:
            payload["channel"] = {"id": channel}
            payload["container"] = {"type": "message", "channel_id": channel, "message_ts": message_ts}
        return self.interact(payload)

    def submit(self, user: str, view: dict[str, Any], state: dict[str, dict[str, Any]]) -> tuple[int, str, float]:
        payload = {"type": "view_submission", "user": {"id": user}, "team": {"id": "T1"},
                   "view": {**view, "id": view.get("id", "V1"), "hash": f"h{time.monotonic_ns()}",
                            "state": {"values": state}}}
        return self.interact(payload)


@pytest.fixture
def slack_env(sqlite_runtime) -> Iterator[tuple[Any, MockSlack, Slack, FixedClock, Any]]:
    rt = sqlite_runtime
    with rt.factory() as s:  # Slack identities, and Slack manager channels for two agencies
        for key, uid in USERS.items():
            if key == "una":
                continue  # una is found by e-mail through users.info
            s.add(PersonIdentity(person_id=repo.person_by_key("swindon", key, session=s).id, platform="slack",
                                 external_id=uid))
        for agency, channel in (("police", "CPOLICEMGRS"), ("social-care", "CCSCMGRS")):
            s.add(AgencyChannel(agency_id=repo.agency_by_key("swindon", agency, session=s).id, level="line_manager",
                                platform="slack", address=channel))
        s.commit()
    clock = FixedClock(dt.datetime(2026, 4, 2, 10, 0, tzinfo=LONDON))
    with MockSlack(emails={"UUNA": "una@swindon.example"}) as mock:
        adapter = build_adapter(rt, clock, token="xoxb-test", signing_secret=SECRET, base_url=mock.url)
        adapter.transport.pace = 0
        server = Server(http_app(adapter.app))
        try:
            yield rt, mock, Slack(server, mock), clock, adapter
        finally:
            server.stop()
            adapter.work.shutdown(wait=True, cancel_futures=True)  # its last work meets this stand-in, not none


def _values(field: str, kind: str, value: str) -> dict[str, Any]:
    if kind == "select":
        return {field: {"type": "static_select", "selected_option": {"value": value}}}
    if kind == "radio":
        return {field: {"type": "radio_buttons", "selected_option": {"value": value}}}
    if kind == "date":
        return {field: {"type": "datepicker", "selected_date": value}}
    if kind == "user":
        return {field: {"type": "users_select", "selected_user": value}}
    return {field: {"type": "plain_text_input", "value": value}}


def _state(view: dict[str, Any], answers: dict[str, str]) -> dict[str, dict[str, Any]]:
    """A view_submission state for ``view`` with ``answers`` given as {block_id: value}."""
    out: dict[str, dict[str, Any]] = {}
    for block in view["blocks"]:
        if block.get("type") != "input" or block["block_id"] not in answers:
            continue
        el = block["element"]
        kind = {"static_select": "select", "radio_buttons": "radio", "datepicker": "date",
                "users_select": "user"}.get(el["type"], "text")
        out[block["block_id"]] = {el["action_id"]: _values(block["block_id"], kind,
                                                           answers[block["block_id"]])[block["block_id"]]}
    return out


def _dm_texts(mock: MockSlack, user: str) -> str:
    return "\n".join(json.dumps(c.args) for c in mock.of("chat.postMessage") if c.args.get("channel") == "D" + user)


def test_whole_case_over_http(slack_env) -> None:
    rt, mock, slack, clock, adapter = slack_env
    status, _, elapsed = slack.command(USERS["alice"], "new")
    assert status == 200 and elapsed < 3
    risk_view = mock.forms()[0]
    assert risk_view["callback_id"] == "form.risk"
    status, body, _ = slack.submit(USERS["alice"], risk_view, _state(risk_view, {"risk": "no"}))
    answer = json.loads(body)
    assert answer["response_action"] == "update", answer
    intake = answer["view"]
    assert intake["callback_id"] == "form.intake" and not check_limits(intake)
    with rt.factory() as s:
        csc = repo.agency_by_key("swindon", "social-care", session=s).id
    status, body, _ = slack.submit(USERS["alice"], intake, _state(intake, {
        "pre0": "no", "category": "thresholds", "agency": str(csc), "person": USERS["bob"],
        "what": "They closed the referral <!channel> & <@U999>", "done": "Phoned", "sought": "Re-open",
        "arose": "2026-04-02", "subject_name": "Jamie Doe"}))
    assert status == 200 and body in ("", "{}") or json.loads(body).get("response_action") != "errors"
    mock.wait_for("chat.postMessage", lambda c: c.args.get("channel") == "DUBOB")
    mock.wait_for("views.publish", lambda c: c.args.get("user_id") == USERS["alice"])
    with rt.factory() as s:
        case = repo.case_by_ref("SWN-2026-0001", session=s)
        assert case is not None and case.responding_person_id == repo.person_by_key("swindon", "bob", session=s).id
    bob_dm = _dm_texts(mock, USERS["bob"])
    assert "SWN-2026-0001" in bob_dm and "case.record_outcome" in bob_dm
    assert "&lt;!channel&gt;" in bob_dm and "<!channel>" not in bob_dm  # escaped: nobody is pinged
    assert "Jamie" not in json.dumps([c.args for c in mock.calls])  # the child's name never goes to Slack
    # the counterpart opens the outcome form from the DM's button
    slack.click(USERS["bob"], "case.record_outcome", "SWN-2026-0001")
    outcome = mock.forms(lambda v: v["callback_id"] == "form.outcome")[0]
    assert outcome["private_metadata"] == "SWN-2026-0001"
    # the Stage 1 deadline lapses: the scheduler posts to both agencies' manager channels
    clock.set(dt.datetime(2026, 4, 9, 9, 30, tzinfo=LONDON))
    Sweeper(rt.factory, clock).fire_due()
    adapter.deliverer.deliver()
    posts = {c.args["channel"]: c for c in mock.of("chat.postMessage") if c.args["channel"].startswith("C")}
    assert set(posts) == {"CPOLICEMGRS", "CCSCMGRS"}
    police = posts["CPOLICEMGRS"]
    assert police.args["metadata"]["event_type"] == "parley_outbox"
    assert "Jamie" not in json.dumps(police.args)
    ack = next(e for b in police.args["blocks"] if b["type"] == "actions" for e in b["elements"]
               if e["action_id"].startswith("esc.ack"))
    ts = mock.history["CPOLICEMGRS"][0]["ts"]
    # a manager of an uninvolved agency is refused, quietly, and nothing changes
    slack.click(USERS["hugh"], ack["action_id"], ack["value"], channel="CPOLICEMGRS", message_ts=ts)
    refusal = mock.wait_for("chat.postEphemeral", lambda c: c.args.get("user") == USERS["hugh"])[0]
    assert "can't" in refusal.args["text"]
    # Sam acknowledges: the prompt is updated in place, the case moves on
    slack.click(USERS["sam"], ack["action_id"], ack["value"], channel="CPOLICEMGRS", message_ts=ts)
    updates = mock.wait_for("chat.update", count=2)
    assert {c.args["channel"] for c in updates} == {"CPOLICEMGRS", "CCSCMGRS"}
    police_update = next(c for c in updates if c.args["channel"] == "CPOLICEMGRS")
    assert police_update.args["ts"] == ts and "Acknowledged by Sam Patel at 09:30" in json.dumps(police_update.args)
    mock.wait_for("chat.postEphemeral", lambda c: c.args.get("user") == USERS["sam"])
    with rt.factory() as s:
        case = repo.case_by_ref("SWN-2026-0001", session=s)
        assert case.stage_number == 2
        prompt = s.get(EscalationPrompt, int(ack["value"]))
        assert prompt.state == "acknowledged"
    # a double click by Sam is dropped; a later click by Mia gets a quiet "already acknowledged"
    before = len(mock.of("chat.postEphemeral"))
    slack.click(USERS["sam"], ack["action_id"], ack["value"], channel="CPOLICEMGRS", message_ts=ts)
    time.sleep(0.5)
    assert len(mock.of("chat.postEphemeral")) == before
    # every Block Kit payload sent stayed within Slack's limits
    for c in mock.calls:
        for key in ("blocks", "view"):
            if key in c.args:
                payload = {"blocks": c.args[key]} if key == "blocks" else c.args[key]
                assert not check_limits(payload), (c.method, check_limits(payload))


def test_bad_or_stale_signature_gets_401_and_changes_nothing(slack_env) -> None:
    rt, mock, slack, _clock, _adapter = slack_env
    status, _, _ = slack.command(USERS["alice"], "new", secret="wrong-secret")
    assert status == 401
    status, _, _ = slack.command(USERS["alice"], "new", timestamp=int(time.time()) - 6 * 60)
    assert status == 401
    time.sleep(0.3)
    assert not mock.of("views.open")


def test_retried_event_is_handled_once(slack_env) -> None:
    rt, mock, slack, _clock, _adapter = slack_env
    event = {"type": "message", "channel_type": "im", "user": USERS["alice"], "text": "help", "channel": "DUALICE",
             "ts": "1.1"}
    assert slack.event(event, "Ev1")[0] == 200
    assert slack.event(event, "Ev1", extra={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "timeout"})[0] == 200
    mock.wait_for("chat.postMessage", lambda c: c.args.get("channel") == "DUALICE")
    time.sleep(0.5)
    assert len([c for c in mock.of("chat.postMessage") if c.args.get("channel") == "DUALICE"]) == 1


def test_unknown_user_is_told_how_to_get_linked_and_email_links_automatically(slack_env) -> None:
    rt, mock, slack, _clock, _adapter = slack_env
    slack.command("UNOBODY", "list")
    first = mock.wait_for("/respond/1")[0]
    assert "link you" in json.dumps(first.args)
    slack.command(USERS["una"], "list")  # not linked yet, but users.info gives her directory e-mail
    mock.wait_for("/respond/1", count=2)
    with rt.factory() as s:
        una = repo.person_by_identity("slack", USERS["una"], session=s)
        assert una is not None and una.key == "una"


def test_oversize_input_is_truncated_not_rejected(slack_env) -> None:
    rt, mock, slack, _clock, _adapter = slack_env
    slack.event({"type": "message", "channel_type": "im", "user": USERS["alice"], "text": "x" * 5000,
                 "channel": "DUALICE", "ts": "1.2"}, "Ev2")
    reply = mock.wait_for("chat.postMessage", lambda c: c.args.get("channel") == "DUALICE")[0]
    assert not check_limits({"blocks": reply.args["blocks"]})


def test_intake_errors_come_back_per_field_and_a_double_submission_opens_one_case(slack_env) -> None:
    rt, mock, slack, _clock, _adapter = slack_env
    slack.command(USERS["alice"], "new")
    risk = mock.forms()[0]
    intake = json.loads(slack.submit(USERS["alice"], risk, _state(risk, {"risk": "no"}))[1])["view"]
    with rt.factory() as s:
        csc = repo.agency_by_key("swindon", "social-care", session=s).id
    answers = {"pre0": "no", "category": "thresholds", "agency": str(csc), "person": USERS["bob"], "what": "",
               "done": "Phoned", "sought": "Re-open", "arose": "2026-05-01"}
    status, body, _ = slack.submit(USERS["alice"], intake, _state(intake, answers))
    answer = json.loads(body)
    assert answer["response_action"] == "errors" and set(answer["errors"]) == {"what", "arose"}
    with rt.factory() as s:
        assert repo.cases_for_board("swindon", session=s) == []
    answers.update(what="Closed too early", arose="2026-04-01")
    state = _state(intake, answers)
    payload = {"type": "view_submission", "user": {"id": USERS["alice"]}, "team": {"id": "T1"},
               "view": {**intake, "id": "VSAME", "hash": "HSAME", "state": {"values": state}}}
    assert slack.interact(payload)[0] == 200
    assert slack.interact(payload)[0] == 200  # the same submission again (a double click on Submit)
    mock.wait_for("chat.postMessage", lambda c: c.args.get("channel") == "DUBOB")
    time.sleep(0.3)
    with rt.factory() as s:
        assert len(repo.cases_for_board("swindon", session=s)) == 1
