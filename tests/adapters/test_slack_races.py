"""Slack, sent as Slack sends it (signed HTTP), when requests come twice or work fails (#14): a replayed signed slash
command or click runs once; a submission whose work failed can be submitted again; a refused request stores no key.
"""

from __future__ import annotations

import json
import time
import urllib.parse

from sqlalchemy import func, select

from bot.forms import forms as forms_module
from storage import repo
from storage.platform_models import InboundKey
from tests.adapters.slack_mock import sign
from tests.adapters.test_slack_e2e import SECRET, USERS, _state, slack_env

__all__ = ["slack_env"]


def _cases(rt) -> int:
    with rt.factory() as s:
        return len(repo.cases_for_board("swindon", session=s))


def _intake_view(rt, mock, slack, who: str = "alice") -> tuple[dict, dict]:
    slack.command(USERS[who], "new")
    risk = mock.forms()[0]
    intake = json.loads(slack.submit(USERS[who], risk, _state(risk, {"risk": "no"}))[1])["view"]
    with rt.factory() as s:
        csc = repo.agency_by_key("swindon", "social-care", session=s).id
    answers = {"pre0": "no", "category": "thresholds", "agency": str(csc), "person": USERS["bob"],
               "what": "The referral was closed too early.", "done": "Phoned twice", "sought": "Re-open it",
               "arose": "2026-04-01"}
    return intake, _state(intake, answers)


def test_a_submission_whose_work_failed_can_be_submitted_again(slack_env, monkeypatch) -> None:
    rt, mock, slack, _clock, _adapter = slack_env
    intake, state = _intake_view(rt, mock, slack)
    payload = {"type": "view_submission", "user": {"id": USERS["alice"]}, "team": {"id": "T1"},
               "view": {**intake, "id": "VONE", "hash": "HONE", "state": {"values": state}}}
    real = forms_module.Forms.submit
    calls = []

    def fail_once(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the database went away for a moment")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(forms_module.Forms, "submit", fail_once)
    status, _, _ = slack.interact(payload)
    assert status >= 500 and _cases(rt) == 0  # Slack keeps the modal open
    assert slack.interact(payload)[0] == 200  # the person presses Submit again: it is done, not dropped
    mock.wait_for("chat.postMessage", lambda c: c.args.get("channel") == "DUBOB")
    assert _cases(rt) == 1
    assert slack.interact(payload)[0] == 200  # and a real duplicate is still one case
    time.sleep(0.3)
    assert _cases(rt) == 1


def test_a_replayed_signed_slash_command_runs_once(slack_env) -> None:
    rt, mock, slack, _clock, _adapter = slack_env
    body = urllib.parse.urlencode({"token": "x", "team_id": "T1", "user_id": USERS["alice"], "command": "/parley",
                                   "text": "new", "response_url": slack.response_url, "trigger_id": "trig-captured",
                                   "channel_id": "DUALICE"})
    headers = sign(SECRET, body)  # captured once, sent twice within Slack's five minutes
    assert slack.server.post(body, "application/x-www-form-urlencoded", headers)[0] == 200
    mock.wait_for("views.open")
    assert slack.server.post(body, "application/x-www-form-urlencoded", headers)[0] == 200
    time.sleep(0.5)
    assert len(mock.of("views.open")) == 1


def test_a_click_replayed_after_eleven_seconds_is_not_acted_on_again(slack_env) -> None:
    rt, mock, slack, clock, _adapter = slack_env
    payload = {"type": "block_actions", "user": {"id": USERS["alice"]}, "team": {"id": "T1"},
               "trigger_id": "trig-click", "api_app_id": "A1",
               "actions": [{"action_id": "case.view", "value": "SWN-2026-9999", "type": "button", "block_id": "b",
                            "action_ts": "1775120400.000100"}]}
    body = urllib.parse.urlencode({"payload": json.dumps(payload)})
    headers = sign(SECRET, body)
    assert slack.server.post(body, "application/x-www-form-urlencoded", headers)[0] == 200
    mock.wait_for("chat.postMessage")
    answered = len(mock.of("chat.postMessage"))
    clock.set(clock.now() + __import__("datetime").timedelta(seconds=11))  # past the double-click window
    assert slack.server.post(body, "application/x-www-form-urlencoded", headers)[0] == 200
    time.sleep(0.5)
    assert len(mock.of("chat.postMessage")) == answered


def test_a_refused_request_stores_no_key(slack_env) -> None:
    rt, _mock, slack, _clock, adapter = slack_env
    adapter.teams = {"T1"}  # SLACK_TEAM_ID=T1: this board's workspace
    payload = {"type": "view_submission", "user": {"id": USERS["alice"]}, "team": {"id": "T-OTHER"},
               "view": {"type": "modal", "id": "VX", "hash": "HX", "callback_id": "intake", "state": {"values": {}}}}
    assert slack.interact(payload)[0] == 200  # another workspace: answered plainly, nothing done
    with rt.factory() as s:
        assert s.scalar(select(func.count()).select_from(InboundKey)) == 0


def test_the_speakers_own_reply_survives_three_consecutive_500s(slack_env) -> None:
    """A reply to the person who clicked goes through the outbox: Slack failing three times in a row (the client's
    two quick retries, then the outbox's) delays it; it is not lost."""
    import datetime as dt

    from storage.models import OutboxMessage
    from tests.bot.test_scheduler import open_case

    rt, mock, slack, clock, adapter = slack_env
    open_case(rt, "swindon", clock.now())
    mock.fail("chat.postMessage", 500, times=3)
    slack.click(USERS["alice"], "case.view", "SWN-2026-0001")
    deadline = time.monotonic() + 10
    while mock.failing.get("chat.postMessage") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not mock.failing.get("chat.postMessage")  # all three failures were met
    while True:  # the third failure has been answered; the deliverer writes the row back just after
        with rt.factory() as s:
            row = s.scalars(select(OutboxMessage).where(OutboxMessage.payload["kind"].as_string() == "reply")).one()
        if row.state != "sending" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert row.state == "pending" and row.attempts == 1
    clock.set(clock.now() + dt.timedelta(minutes=1))  # the outbox's next attempt is due
    adapter.deliverer.deliver()
    mock.wait_for("chat.postMessage", lambda c: "SWN-2026-0001" in json.dumps(c.args.get("blocks")))
    with rt.factory() as s:
        assert s.get(OutboxMessage, row.id).state == "sent"


def test_app_rate_limited_is_acknowledged(slack_env) -> None:
    _rt, _mock, slack, _clock, _adapter = slack_env
    body = json.dumps({"token": "x", "type": "app_rate_limited", "team_id": "T1", "minute_rate_limited": 1518467820,
                       "api_app_id": "A1"})
    assert slack.server.post(body, "application/json", sign(SECRET, body))[0] == 200


def test_a_too_long_answer_is_refused_at_its_field_with_the_forms_limit(slack_env) -> None:
    rt, mock, slack, _clock, _adapter = slack_env
    intake, state = _intake_view(rt, mock, slack)
    state["done"] = {"done": {"type": "plain_text_input", "value": "x" * 5000}}  # forged: the modal allows 3000
    status, body, _ = slack.submit(USERS["alice"], intake, state)
    answer = json.loads(body)
    assert answer["response_action"] == "errors" and set(answer["errors"]) == {"done"}
    assert "5000" in answer["errors"]["done"] and "3000" in answer["errors"]["done"]
    assert _cases(rt) == 0


def test_a_problem_not_tied_to_a_field_keeps_every_answer(slack_env) -> None:
    """Una (the business unit: in no agency) fills in the intake: the service refuses it as a whole (only someone
    in an agency raises a concern), and the form comes back with everything she typed still in it."""
    rt, mock, slack, _clock, _adapter = slack_env
    intake, state = _intake_view(rt, mock, slack, "una")
    status, body, _ = slack.submit(USERS["una"], intake, state)
    answer = json.loads(body)
    assert answer["response_action"] == "update", answer
    view = json.dumps(answer["view"])
    assert "Only someone working for an agency" in view
    assert "The referral was closed too early." in view and "Phoned twice" in view and "Re-open it" in view
    assert _cases(rt) == 0


def test_a_modal_slack_cannot_open_carries_on_in_direct_messages(slack_env) -> None:
    """Slack refuses views.open (an expired trigger, an error): the person is told, and the same first question
    comes by direct message, so they carry on there."""
    _rt, mock, slack, _clock, _adapter = slack_env
    mock.fail("views.open", 400)
    assert slack.command(USERS["alice"], "new")[0] == 200
    note = mock.wait_for("chat.postMessage", lambda c: "couldn" in json.dumps(c.args).lower()
                         and "form" in json.dumps(c.args))
    assert note
    mock.wait_for("chat.postMessage", lambda c: "immediate risk" in json.dumps(c.args))


def test_fifty_intake_submissions_at_once_over_http_make_fifty_cases(slack_env) -> None:
    """Fifty signed view_submissions sent to the real server at the same instant (SQLite): fifty cases with distinct
    references, every request answered 200, none lost."""
    import threading

    rt, mock, slack, _clock, _adapter = slack_env
    intake, state = _intake_view(rt, mock, slack)
    n = 50
    barrier = threading.Barrier(n)
    statuses: list[int] = [0] * n

    def one(i: int) -> None:
        payload = {"type": "view_submission", "user": {"id": USERS["alice"]}, "team": {"id": "T1"},
                   "view": {**intake, "id": f"VBURST{i}", "hash": f"H{i}", "state": {"values": state}}}
        barrier.wait()
        statuses[i] = slack.interact(payload)[0]

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert statuses == [200] * n
    with rt.factory() as s:
        refs = sorted(c.ref for c in repo.cases_for_board("swindon", session=s))
    assert refs == [f"SWN-2026-{k:04d}" for k in range(1, n + 1)]
