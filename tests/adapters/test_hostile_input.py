"""Hostile and broken input through every adapter (issue #8): malformed platform payloads, a replay from another
Slack workspace or Teams tenant, a button pressed on someone else's card, and hypothesis-generated text and dates
at the conversation's questions. Each gets a clear answer (never a 500 that makes the platform retry), and
nothing already recorded is lost or altered."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import urllib.parse
import urllib.request

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from adapters.console.app import ConsoleApp
from adapters.teams import tenants
from storage import repo
from storage.models import AuditEntry, Case, Conversation as ConversationRow
from tests.adapters.test_slack_e2e import slack_env  # noqa: F401 - fixture
from tests.adapters.test_teams_e2e import teams_env  # noqa: F401 - fixture
from tests.bot.test_scheduler import open_case
from tests.conftest import LONDON

pytestmark = pytest.mark.e2e
NOW = dt.datetime(2026, 4, 2, 10, 0, tzinfo=LONDON)

# text people (or attackers) really send: overlong, control and bidi characters, platform mention syntax,
# markup, and dates far away
HOSTILE = st.one_of(
    st.text(min_size=0, max_size=60),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=4001, max_size=4100),
    st.sampled_from(["\u202eevil\u202c", "a\x00b\x07c\x1b[31m", "<@U0ATTACKER> hi", "<!channel> <!here>",
                     "<at>Parley</at> close", "*bold* _it_ ~x~ `code`", "<script>alert(1)</script>",
                     "<b>html</b>&amp;", "=HYPERLINK(\"http://x\")", "1900-01-01", "3026-01-01", "31/02/2026",
                     "yesterday", "  ", "\u200b", "\ufeffcancel", "back back", "9" * 50]),
)


def _case_state(rt, case_id: int) -> tuple:
    with rt.factory() as s:
        case = s.get(Case, case_id)
        return (case.version, case.status, case.stage_id, len(repo.events_for(case_id, session=s)))


def _state(rt, platform: str, person_key: str) -> dict:
    with rt.factory() as s:
        pid = repo.person_by_key("swindon", person_key, session=s).id
        row = s.scalar(select(ConversationRow).where(ConversationRow.platform == platform,
                                                     ConversationRow.user_key == str(pid)))
        return dict(row.state or {}) if row is not None and row.flow else {}


# -- Slack ------------------------------------------------------------------------------------------------------
def test_slack_malformed_payloads_are_answered_plainly(slack_env, caplog) -> None:
    rt, mock, slack, _clock, _adapter = slack_env
    form = "application/x-www-form-urlencoded"
    with caplog.at_level(logging.WARNING, logger="parley.slack"):
        status, body, _ = slack._send(urllib.parse.urlencode({"payload": '{"type": "block_actions", "user": {"i'}),
                                      form)
        assert status == 400 and "could not be read" in body
        status, body, _ = slack._send('{"type": "event_callback", "event": ', "application/json")
        assert status == 400
        status, body, _ = slack.interact({"type": "block_actions", "user": "UALICE", "actions": "nope"})
        assert status == 400 and "no user" in body
        status, body, _ = slack.interact({"type": "block_actions", "user": {"id": "UALICE"},
                                          "actions": [{"action_id": 7, "value": {"x": 1}}]})
        assert status == 400 and "wrong type" in body
        status, body, _ = slack.interact({"surprise": True})
        assert status == 400 and "unknown type" in body
    assert [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()]
    # an old card's button, an event Parley does not use: acknowledged (no retry), and the clicker is told
    status, _, _ = slack.click("UALICE", "legacy.v1.escalate", "SWN-2026-0001", channel="DUALICE", message_ts="1.2")
    assert status == 200
    status, _, _ = slack.event({"type": "reaction_added", "user": "UALICE"}, "Ev-unused")
    assert status == 200
    mock.wait_for("chat.postEphemeral", lambda c: "no longer available" in json.dumps(c.args))
    with rt.factory() as s:
        assert repo.cases_for_board("swindon", session=s) == []


def test_slack_replay_from_another_workspace_is_refused_and_audited(slack_env) -> None:
    rt, mock, slack, _clock, adapter = slack_env
    cid = open_case(rt, "swindon", NOW)
    before = _case_state(rt, cid)
    ref = _ref(rt, cid)
    adapter.teams = ("T1",)
    payload = {"type": "block_actions", "user": {"id": "UALICE"}, "team": {"id": "TELSEWHERE"},
               "trigger_id": "t", "actions": [{"action_id": "case.close", "value": ref, "type": "button"}]}
    status, _, _ = slack.interact(payload)
    assert status == 200
    body = urllib.parse.urlencode({"team_id": "TELSEWHERE", "user_id": "UALICE", "command": "/parley",
                                   "text": f"close {ref}", "response_url": "x", "trigger_id": "t"})
    status, text, _ = slack._send(body, "application/x-www-form-urlencoded")
    assert status == 200 and "serves another Slack workspace" in text
    assert _case_state(rt, cid) == before
    assert not mock.of("views.open") and not mock.of("chat.postMessage")
    with rt.factory() as s:
        refusals = s.scalars(select(AuditEntry).where(AuditEntry.kind == "refused")).all()
        assert [r.data["reason"] for r in refusals] == ["other_workspace", "other_workspace"]
    # the board's own workspace still works
    status, _, _ = slack.command("UALICE", f"case {ref}")
    assert status == 200


def _wait_told(mock, n: int) -> list[dict]:
    import time

    deadline = time.monotonic() + 10
    while True:
        told = [c.args for c in mock.of("chat.postMessage") + mock.of("chat.postEphemeral")
                if "can't" in json.dumps(c.args)]
        if len(told) >= n or time.monotonic() > deadline:
            return told
        time.sleep(0.02)


def _ref(rt, cid: int) -> str:
    with rt.factory() as s:
        return s.get(Case, cid).ref


def test_slack_button_on_someone_elses_card_is_refused_to_the_presser_only(slack_env) -> None:
    rt, mock, slack, _clock, _adapter = slack_env
    cid = open_case(rt, "swindon", NOW)
    ref = _ref(rt, cid)
    before = _case_state(rt, cid)
    # Hugh (health) was never part of this police / social-care case; Bob is the counterpart, who may not close it
    for n, (user, action) in enumerate((("UHUGH", "case.record_contact"), ("UHUGH", "case.close"),
                                        ("UBOB", "case.close")), start=1):
        status, _, _ = slack.click(user, action, ref, channel="CPOLICEMGRS", message_ts="5.5")
        assert status == 200
        assert len(_wait_told(mock, n)) == n
    told = _wait_told(mock, 3)
    assert {a.get("user") or a.get("channel") for a in told} <= {"UHUGH", "UBOB", "DUHUGH", "DUBOB"}
    assert any("That is for" in json.dumps(a) for a in told)  # Bob is told who may close it
    with rt.factory() as s:
        events = repo.events_for(cid, session=s)
        refused = [e for e in events if e.kind == "refused"]
        assert [(e.data["action"], e.via) for e in refused] == [("record_contact", "slack"), ("close", "slack"),
                                                               ("close", "slack")]
    assert _case_state(rt, cid)[:3] == before[:3]


# -- Teams ------------------------------------------------------------------------------------------------------
def test_teams_malformed_activities_are_answered_plainly(teams_env) -> None:
    rt, _connector, teams, _clock, _server = teams_env
    req = urllib.request.Request(teams.url, data=b'{"type": "invoke", "name": "adaptiveCard/acti', method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(req, timeout=10)
        status = 200
    except urllib.error.HTTPError as exc:
        status = exc.code
    assert status == 400
    for value in ([1, 2], {"action": "nope"}, {"action": {"verb": 5, "data": {}}}, {"action": {"verb": "x",
                                                                                               "data": [1]}}):
        code, body = teams.send(teams.activity("alice", "invoke", name="adaptiveCard/action", value=value))
        assert code == 200 and "could not be read" in body, (value, body)
    card = teams.invoke("alice", "legacy.v1.escalate", {"value": "SWN-2026-0001"})  # an old card version
    assert "no longer available" in json.dumps(card)
    code, _ = teams.send(teams.activity("alice", "message", text=None, value={"verb": 12}))
    assert code in (200, 201)
    with rt.factory() as s:
        assert repo.cases_for_board("swindon", session=s) == []


def test_teams_activity_from_another_tenant_is_refused_and_audited(teams_env) -> None:
    rt, _connector, teams, _clock, server = teams_env
    cid = open_case(rt, "swindon", NOW)
    ref = _ref(rt, cid)
    before = _case_state(rt, cid)
    server.bot.tenant_id = "tenant-1"
    act = teams.activity("alice", "invoke", name="adaptiveCard/action",
                         value={"action": {"type": "Action.Execute", "verb": "case.close", "data": {"value": ref}}})
    act["conversation"]["tenantId"] = "tenant-elsewhere"
    act["channelData"]["tenant"]["id"] = "tenant-elsewhere"
    code, body = teams.send(act)
    assert code == 200 and "serves another organisation" in body
    assert _case_state(rt, cid) == before
    with rt.factory() as s:
        assert [r.data["reason"] for r in s.scalars(select(AuditEntry).where(AuditEntry.kind == "refused"))] == \
            ["other_tenant"]
    card = teams.invoke("alice", "case.view", {"value": ref})  # the board's own tenant still works
    assert ref in json.dumps(card)


def test_teams_button_on_someone_elses_card_is_refused(teams_env) -> None:
    rt, _connector, teams, _clock, _server = teams_env
    cid = open_case(rt, "swindon", NOW)
    ref = _ref(rt, cid)
    before = _case_state(rt, cid)
    card = teams.invoke("hugh", "case.close", {"value": ref})
    assert "can't" in json.dumps(card) and "only the people in this disagreement" in json.dumps(card)
    card = teams.invoke("bob", "case.close", {"value": ref})
    assert "That is for" in json.dumps(card)
    assert _case_state(rt, cid)[:3] == before[:3]


# -- hypothesis through every adapter ---------------------------------------------------------------------------
FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


def _new_case(rt) -> tuple[int, str]:
    cid = open_case(rt, "swindon", NOW)
    return cid, _ref(rt, cid)


def _check_nothing_lost(rt, platform: str, cid: int, before: tuple) -> None:
    assert _case_state(rt, cid)[:3] == before[:3]  # the case itself is as it was
    state = _state(rt, platform, "alice")
    if state and "on" in state["data"]:  # still in the contact flow: the date kept is a real, past date
        assert dt.date.fromisoformat(state["data"]["on"]) <= NOW.date()


def test_fuzzed_text_and_dates_through_the_console(sqlite_runtime, tmp_path) -> None:
    rt = sqlite_runtime
    cid, ref = _new_case(rt)
    out = io.StringIO()
    app = ConsoleApp(rt, "swindon", out=out, start=NOW, files=tmp_path)
    app.handle_line("/as alice")
    before = _case_state(rt, cid)

    @FUZZ
    @given(HOSTILE)
    def one(text: str) -> None:
        app.handle_line("cancel")
        line = text.replace("\n", " ").replace("\r", " ")
        app.handle_line(f"contact {ref}")
        app.handle_line(line)  # at the date question
        app.handle_line("today")  # the date question again, or the next one
        app.handle_line(line)  # at the "who" question (or a later one)
        _check_nothing_lost(rt, "console", cid, before)

    one()
    assert "Traceback" not in out.getvalue()


def test_fuzzed_text_through_slack(slack_env) -> None:
    rt, mock, slack, _clock, _adapter = slack_env
    cid, ref = _new_case(rt)
    before = _case_state(rt, cid)
    ids = iter(range(10**6))

    def dm(text: str) -> None:
        """A direct message, then wait for Parley's answer, so the next one is handled after it."""
        seen = len([c for c in mock.of("chat.postMessage") if c.args.get("channel") == "DUALICE"])
        status, _, _ = slack.event({"type": "message", "channel_type": "im", "channel": "DUALICE", "user": "UALICE",
                                    "text": text, "ts": f"{next(ids)}.1"}, f"Ev{next(ids)}")
        assert status == 200
        if text.strip():
            mock.wait_for("chat.postMessage", lambda c: c.args.get("channel") == "DUALICE", count=seen + 1)

    @FUZZ
    @given(HOSTILE)
    def one(text: str) -> None:
        dm("cancel")
        dm(f"contact {ref}")
        dm(text)  # at the date question
        dm("today")
        dm(text)  # at the "who" question (or a later one)
        _check_nothing_lost(rt, "slack", cid, before)

    one()


def test_fuzzed_text_through_teams(teams_env) -> None:
    rt, _connector, teams, _clock, _server = teams_env
    cid, ref = _new_case(rt)
    before = _case_state(rt, cid)

    def say(text: str | None) -> int:
        return teams.send(teams.activity("alice", "message", text=text))[0]

    @FUZZ
    @given(HOSTILE)
    def one(text: str) -> None:
        assert say("cancel") in (200, 201)
        assert say(f"contact {ref}") in (200, 201)
        assert say(text) in (200, 201)  # at the date question
        assert say("today") in (200, 201)
        assert say(text) in (200, 201)  # at the "who" question (or a later one)
        _check_nothing_lost(rt, "teams", cid, before)

    one()


def test_teams_activities_from_the_partnerships_tenants_are_accepted_and_a_third_refused(teams_env) -> None:
    """MICROSOFT_APP_TENANT_IDS: the other organisations of the partnership; anyone else is refused. Read as
    `parley serve` reads it (adapters/teams/tenants.py: trimmed, lower-cased as Teams sends tenant ids)."""
    rt, _connector, teams, _clock, server = teams_env
    cid = open_case(rt, "swindon", NOW)
    ref = _ref(rt, cid)
    server.bot.tenant_id, server.bot.tenant_ids = tenants.from_environment(
        {"MICROSOFT_APP_TENANT_ID": "", "MICROSOFT_APP_TENANT_IDS": " tenant-police, TENANT-COUNCIL,"})
    assert tenants.allowed({"MICROSOFT_APP_TENANT_IDS": " tenant-police, TENANT-COUNCIL,"}) == {
        "tenant-police", "tenant-council"}
    assert tenants.allowed({}) is None  # none named: any tenant (a multi-tenant bot without an allow-list)

    def view_from(tenant: str) -> str:
        act = teams.activity("alice", "invoke", name="adaptiveCard/action",
                             value={"action": {"type": "Action.Execute", "verb": "case.view", "data": {"value": ref}}})
        act["conversation"]["tenantId"] = tenant
        act["channelData"]["tenant"]["id"] = tenant
        code, body = teams.send(act)
        assert code == 200
        return body

    assert ref in view_from("tenant-police") and ref in view_from("tenant-council")
    refused = view_from("tenant-elsewhere")
    assert "serves another organisation" in refused and ref not in refused
    with rt.factory() as s:
        assert [r.data for r in s.scalars(select(AuditEntry).where(AuditEntry.kind == "refused"))] == \
            [{"reason": "other_tenant", "tenant": "tenant-elsewhere"}]
