"""Slack's modals are opened inside the ack with a fixed view and filled in after it (adapters/slack/ackfirst.py):
the ack reads nothing but the person's language and writes nothing, the form fills the very modal that opened, and
whatever the work finds (not linked, not allowed, a double click, Slack refusing) the person sees it, once, and
nothing is lost. And the work after the acks waits while requests are being answered."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

from adapters.slack.ackfirst import AckGate, AfterAcks, Openings
from bench import seed
from bot.core.i18n import translator
from storage import repo
from storage.models import Case, PersonIdentity
from tests.adapters.test_slack_e2e import USERS, slack_env
from tests.conftest import LONDON

__all__ = ["slack_env"]
OPENED_AT = dt.datetime(2026, 4, 2, 9, 0, tzinfo=LONDON)


def _case(rt) -> str:
    case_id = seed.open_case(rt, "swindon", "alice", "bob", OPENED_AT, 0)
    with rt.factory() as s:
        return s.get(Case, case_id).ref


def _link(rt, key: str, slack_id: str, language: str | None = None) -> None:
    with rt.factory() as s:
        person = repo.person_by_key("swindon", key, session=s)
        s.add(PersonIdentity(person_id=person.id, platform="slack", external_id=slack_id))
        if language:
            person.language = language
        s.commit()


def _views(mock) -> list:
    return [c for c in mock.calls if c.method in ("views.open", "views.update")]


def _dms(mock, user: str) -> list[str]:
    return [json.dumps(c.args) for c in mock.of("chat.postMessage") if c.args.get("channel") == "D" + user]


def test_the_form_fills_the_modal_the_ack_opened_in_the_persons_language(slack_env) -> None:
    rt, mock, slack, _clock, _adapter = slack_env
    ref = _case(rt)
    with rt.factory() as s:
        repo.person_by_key("swindon", "bob", session=s).language = "cy"
        s.commit()
    status, _, elapsed = slack.click(USERS["bob"], "case.record_outcome", ref)
    assert status == 200 and elapsed < 3
    # by the time Slack had its answer, the modal was open: a fixed view, in Welsh, with no form in it yet
    opened = mock.of("views.open")
    welsh = translator("cy")("Opening the form…")
    assert welsh != "Opening the form…"
    assert len(opened) == 1 and "callback_id" not in opened[0].args["view"]
    assert welsh in json.dumps(opened[0].args["view"], ensure_ascii=False)
    form = mock.forms(lambda v: v["callback_id"] == "form.outcome")[0]
    update = next(c for c in mock.of("views.update") if c.args["view"] is form)
    assert list(mock.open_views) == [update.args["view_id"]]  # the very modal the ack opened
    assert form["private_metadata"] == ref
    time.sleep(0.3)
    assert [c.method for c in _views(mock)] == ["views.open", "views.update"]  # one modal, filled once
    assert not _dms(mock, USERS["bob"]) and not mock.of("chat.postEphemeral")


def test_someone_not_allowed_sees_why_in_the_modal_and_nothing_else(slack_env) -> None:
    rt, mock, slack, _clock, _adapter = slack_env
    ref = _case(rt)
    _link(rt, "hana", "UHANA")  # not a party to the case
    assert slack.click("UHANA", "case.record_outcome", ref)[0] == 200
    shown = mock.wait_for("views.update")[0]
    assert list(mock.open_views) == [shown.args["view_id"]]
    assert "can't" in json.dumps(shown.args["view"]) and "callback_id" not in shown.args["view"]
    time.sleep(0.3)
    assert len(mock.of("views.update")) == 1 and not mock.of("chat.postEphemeral") and not _dms(mock, "UHANA")


def test_someone_not_linked_is_told_how_in_the_modal(slack_env) -> None:
    _rt, mock, slack, _clock, _adapter = slack_env
    assert slack.command("UNOBODY", "new")[0] == 200
    shown = mock.wait_for("views.update")[0]
    assert "link you" in json.dumps(shown.args["view"])
    time.sleep(0.3)
    assert not mock.of("chat.postMessage") and len(mock.of("views.open")) == 1


def test_a_double_click_opens_one_modal_with_one_form(slack_env) -> None:
    rt, mock, slack, _clock, _adapter = slack_env
    ref = _case(rt)
    for _ in range(2):  # the same button of the same message, twice within a second
        assert slack.click(USERS["bob"], "case.record_outcome", ref, channel="DUBOB", message_ts="5.1")[0] == 200
    mock.forms(lambda v: v["callback_id"] == "form.outcome")
    time.sleep(0.5)
    assert len(mock.of("views.open")) == 1 and len(mock.of("views.update")) == 1
    assert not _dms(mock, USERS["bob"])


def test_a_form_slack_will_not_fill_carries_on_in_direct_messages(slack_env) -> None:
    rt, mock, slack, _clock, _adapter = slack_env
    ref = _case(rt)
    mock.failing["views.update"] = [(500, {})] * 3  # the SDK's two retries, and the outbox's note goes by DM
    assert slack.click(USERS["bob"], "case.record_outcome", ref)[0] == 200
    mock.wait_for("chat.postMessage", lambda c: c.args.get("channel") == "DUBOB" and "couldn" in json.dumps(c.args))
    assert len(mock.of("views.update")) == 3


def test_a_modal_closed_before_it_was_filled_is_left_closed(slack_env) -> None:
    rt, mock, slack, _clock, adapter = slack_env
    ref = _case(rt)
    closing = threading.Event()
    real = adapter.client.views_open

    def open_then_close(**kwargs):  # the person closes "Opening the form…" at once
        answer = real(**kwargs)
        mock.open_views.pop(answer["view"]["id"], None)
        closing.set()
        return answer

    adapter.client.views_open = open_then_close
    try:
        assert slack.click(USERS["bob"], "case.record_outcome", ref)[0] == 200
        assert closing.wait(5)
        mock.wait_for("views.update")
        time.sleep(0.3)
        assert not _dms(mock, USERS["bob"])  # their choice: not carried on elsewhere
    finally:
        del adapter.client.views_open


def test_work_waits_while_acks_are_answered_and_never_for_ever() -> None:
    gate = AckGate()
    pool = AfterAcks(gate, 2, priority=5)
    started: list[float] = []
    with gate:
        job = pool.submit(lambda: started.append(time.monotonic()))
        time.sleep(0.3)
        assert not started  # an ack is being answered: the work has not begun
        released = time.monotonic()
    job.result(5)
    assert started and started[0] >= released
    capped = AfterAcks(gate, 1, priority=0.2)
    with gate:  # an ack that never ends does not starve the work
        t0 = time.monotonic()
        capped.submit(lambda: None).result(5)
        assert 0.15 < time.monotonic() - t0 < 3
    pool.shutdown()
    capped.shutdown()


def test_openings_remember_a_click_for_its_window_and_forget_failed_work() -> None:
    o = Openings()
    click = [("click-ts:U:case.x:1", None), ("click:U:case.x:R:5.1", 0.2)]
    assert not o.again(click)
    assert o.again(click)
    o.forget(click)
    assert not o.again(click)
    assert o.again([("click:U:case.x:R:5.1", 0.2)])  # within its window
    time.sleep(0.25)
    assert not o.again([("click:U:case.x:R:5.1", 0.2)])  # after it: a new click


def test_openings_keep_only_the_last_five_minutes_of_clicks(monkeypatch) -> None:
    """Issue #17: the clicks answered are kept only as long as they can matter (REMEMBERED), dropped as they age,
    not left to pile up to 10,000 before a scan."""
    from adapters.slack import ackfirst

    clock = [1000.0]
    monkeypatch.setattr(ackfirst.time, "monotonic", lambda: clock[0])
    o = Openings()
    for i in range(3000):  # ten clicks a second for five minutes, two keys each
        clock[0] += 0.1
        assert not o.again([(f"click-ts:U:{i}", None), (f"click:U:case.x:R:{i}", 2.0)])
    assert len(o._seen) <= 2 * int(ackfirst.REMEMBERED / 0.1) + 2
    assert o.again([("click-ts:U:2999", None)])  # a recent click is still a double
    kept = len(o._seen)
    clock[0] += ackfirst.REMEMBERED + 1  # quiet for five minutes: everything is forgotten at the next click
    assert not o.again([("click-ts:U:2999", None)])
    assert len(o._seen) == 1 < kept
    clock[0] += 10
    assert o.again([("click-ts:U:2999", None)])  # seen again: kept (moved to the newest)
