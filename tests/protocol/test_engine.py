"""The engine's state machine: statuses, allowed actions, illegal events, overdue and escalation
flags, ignored event kinds, and snapshots."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from protocol.engine import evaluate
from protocol.state import Action, Event, Status, TransitionError, parse_moment
from protocol.loader import BOARDS_DIR, from_snapshot, load_board, load_file, snapshot
from tests.protocol.helpers import cob, d, due, ev, has, item, run, t

SWN = load_board("swindon")
WOL = load_board("wolverhampton")
MWW = load_board("mid-and-west-wales")
CV = load_board("cardiff-and-vale")

OPEN = ev("opened", "2026-03-02T10:00", arose_on="2026-03-02")


# -- statuses -----------------------------------------------------------------------------------
def test_opened_case_is_open_at_the_first_stage() -> None:
    s = run(SWN, [OPEN], "2026-03-02T10:00")
    assert s.status is Status.OPEN and s.stage.number == 1
    assert s.arose_on == d("2026-03-02") and s.raised_at == t("2026-03-02T10:00")
    assert [v.how for v in s.visits] == ["start"]
    assert s.resolved_at is None and s.closed_at is None


def test_arose_on_defaults_to_the_day_the_case_was_opened() -> None:
    s = run(SWN, [ev("opened", "2026-03-03T23:30")], "2026-03-03T23:30")
    assert s.arose_on == d("2026-03-03")
    # an opening recorded just after midnight London time (23:30 UTC in summer) is the next day
    s = evaluate(SWN, [Event("opened", dt.datetime(2026, 6, 30, 23, 30, tzinfo=dt.timezone.utc))],
                 dt.datetime(2026, 6, 30, 23, 30, tzinfo=dt.timezone.utc))
    assert s.arose_on == d("2026-07-01")


def test_unresolved_outcome_moves_to_the_next_stage() -> None:
    s = run(SWN, [OPEN, ev("outcome", "2026-03-04T12:00", resolved=False)], "2026-03-04T12:00")
    assert s.status is Status.OPEN and s.stage.number == 2
    first, second = s.visits
    assert (first.outcome, first.completed_at) == ("unresolved", t("2026-03-04T12:00"))
    assert (second.how, second.entered_at) == ("escalation", t("2026-03-04T12:00"))


def test_resolved_outcome() -> None:
    s = run(SWN, [OPEN, ev("outcome", "2026-03-04T12:00", resolved=True)], "2026-03-04T12:00")
    assert s.status is Status.RESOLVED and s.resolved_at == t("2026-03-04T12:00")
    assert s.visits[-1].outcome == "resolved"
    assert not has(s, "internal-discussion")  # the stage's own clock stops


def test_unresolved_at_an_exceptional_stage_boundary_awaits_a_decision() -> None:
    events = [ev("opened", "2026-03-02T10:00"), ev("outcome", "2026-03-05T10:00", resolved=False),
              ev("outcome", "2026-03-12T10:00", resolved=False)]
    s = run(MWW, events, "2026-03-12T10:00")
    assert s.status is Status.AWAITING_DECISION and s.awaiting_stage.id == "senior-managers"
    s = run(MWW, [*events, ev("escalated", "2026-03-13T10:00", reason="exceptional")], "2026-03-13T10:00")
    assert s.status is Status.OPEN and s.stage.id == "senior-managers" and s.awaiting_stage is None


def test_unresolved_at_the_last_stage_closes_the_case() -> None:
    events = [ev("opened", "2026-03-02T10:00"), ev("outcome", "2026-03-04T10:00", resolved=False),
              ev("outcome", "2026-03-10T10:00", resolved=False), ev("outcome", "2026-03-20T10:00", resolved=False)]
    s = run(CV, events, "2026-03-20T10:00")
    assert s.status is Status.CLOSED and s.closed_at == t("2026-03-20T10:00")
    assert s.allowed == ()


def test_closed_case() -> None:
    s = run(SWN, [OPEN, ev("closed", "2026-03-03T09:00")], "2026-03-03T09:00")
    assert s.status is Status.CLOSED and s.closed_at == t("2026-03-03T09:00")
    assert s.visits[-1].outcome == "closed" and s.allowed == ()
    assert s.items == ()  # no deadlines run on a closed case


def test_a_case_awaiting_a_decision_can_be_closed_instead() -> None:
    events = [ev("opened", "2026-03-02T10:00"), ev("outcome", "2026-03-05T10:00", resolved=False),
              ev("outcome", "2026-03-12T10:00", resolved=False), ev("closed", "2026-03-13T10:00")]
    s = run(MWW, events, "2026-03-13T10:00")
    assert s.status is Status.CLOSED


# -- allowed actions ----------------------------------------------------------------------------
def test_allowed_actions_swindon_stage_1() -> None:
    s = run(SWN, [OPEN], "2026-03-02T10:00")
    assert set(s.allowed) == {Action.RECORD_CONTACT, Action.RECORD_OUTCOME, Action.COMPLETE_STEP,
                              Action.URGENT_NOTICE, Action.CLOSE}
    # no bypass route, nothing extendable and no protective cap in Swindon's protocol


def test_allowed_actions_cardiff_and_vale() -> None:
    s = run(CV, [ev("opened", "2026-03-02T10:00")], "2026-03-02T10:00")
    assert Action.BYPASS in s.allowed and Action.EXTEND not in s.allowed
    assert Action.URGENT_NOTICE not in s.allowed and Action.SET_PROTECTIVE_DATE not in s.allowed
    s = run(CV, [ev("opened", "2026-03-02T10:00"), ev("step_done", "2026-03-02T11:00", step="raise-with-manager")],
            "2026-03-02T11:00")
    assert Action.EXTEND in s.allowed


def test_allowed_actions_while_awaiting_a_decision() -> None:
    events = [ev("opened", "2026-03-02T10:00"), ev("outcome", "2026-03-05T10:00", resolved=False),
              ev("outcome", "2026-03-12T10:00", resolved=False)]
    s = run(MWW, events, "2026-03-12T10:00")
    # the duties to tell the safeguarding lead and the LOG Chair are still owed
    assert {i.step.id for i in s.completable()} == {"inform-safeguarding-lead", "record-to-log-chair"}
    assert set(s.allowed) == {Action.ESCALATE_EXCEPTIONAL, Action.COMPLETE_STEP, Action.SET_PROTECTIVE_DATE,
                              Action.CLOSE}
    events += [ev("step_done", "2026-03-12T11:00", step="inform-safeguarding-lead"),
               ev("step_done", "2026-03-12T11:00", step="record-to-log-chair")]
    s = run(MWW, events, "2026-03-12T11:00")
    assert set(s.allowed) == {Action.ESCALATE_EXCEPTIONAL, Action.SET_PROTECTIVE_DATE, Action.CLOSE}
    assert Action.RECORD_OUTCOME not in s.allowed


def test_allowed_actions_after_resolution() -> None:
    s = run(WOL, [OPEN, ev("outcome", "2026-03-04T12:00", resolved=True)], "2026-03-04T12:00")
    assert s.allowed == (Action.COMPLETE_STEP,)  # the written outcome is still owed
    s = run(WOL, [OPEN, ev("outcome", "2026-03-04T12:00", resolved=True),
                  ev("step_done", "2026-03-05T12:00", step="stage-1-written-outcome"),
                  ev("step_done", "2026-03-05T12:00", step="debrief")], "2026-03-05T12:00")
    assert s.allowed == ()


def test_standing_duties_end_when_the_case_is_resolved() -> None:
    """Swindon's 'copy the Partnership in' runs from Stage 2 on, and stops once resolved - whether
    the case is resolved at Stage 2 itself or later."""
    to_2 = [OPEN, ev("outcome", "2026-03-04T10:00", resolved=False)]
    assert has(run(SWN, to_2, "2026-03-04T10:00"), "copy-partnership")
    to_3 = [*to_2, ev("outcome", "2026-03-06T10:00", resolved=False)]
    assert has(run(SWN, to_3, "2026-03-06T10:00"), "copy-partnership")
    for events in (to_2, to_3):
        s = run(SWN, [*events, ev("outcome", "2026-03-09T10:00", resolved=True)], "2026-03-09T10:00")
        assert not has(s, "copy-partnership")


# -- illegal events -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "events",
    [
        pytest.param([OPEN, ev("closed", "2026-03-03T09:00"), ev("outcome", "2026-03-03T10:00", resolved=True)],
                     id="outcome-on-a-closed-case"),
        pytest.param([OPEN, ev("outcome", "2026-03-03T09:00", resolved=True),
                      ev("outcome", "2026-03-03T10:00", resolved=False)], id="outcome-on-a-resolved-case"),
        pytest.param([OPEN, ev("opened", "2026-03-03T09:00")], id="second-opened"),
        pytest.param([OPEN, ev("step_done", "2026-03-03T09:00", step="no-such-step")], id="unknown-step-id"),
        pytest.param([OPEN, ev("contact", "2026-03-03T09:00", step="no-such-step")], id="contact-unknown-step"),
        pytest.param([OPEN, ev("extended", "2026-03-03T09:00", step="no-such-step", until="2026-03-10")],
                     id="extend-unknown-step"),
        pytest.param([OPEN, ev("step_done", "2026-03-03T09:00", step="internal-discussion"),
                      ev("step_done", "2026-03-03T10:00", step="internal-discussion")], id="step-done-twice"),
        pytest.param([OPEN, ev("extended", "2026-03-03T09:00", step="internal-discussion", until="2026-03-10")],
                     id="extend-a-fixed-step"),
        pytest.param([OPEN, ev("escalated", "2026-03-03T09:00", reason="x")], id="escalated-while-open"),
        pytest.param([OPEN, ev("bypassed", "2026-03-03T09:00", reason="x")], id="bypass-without-a-route"),
        pytest.param([ev("opened", "2026-03-02T10:00", bypass_to="partnership", bypass_reason="x")],
                     id="opened-with-a-bypass-the-board-lacks"),
        pytest.param([OPEN, ev("closed", "2026-03-03T09:00"), ev("closed", "2026-03-03T10:00")], id="closed-twice"),
        pytest.param([OPEN, ev("closed", "2026-03-03T09:00"), ev("protective_date", "2026-03-03T10:00",
                                                                 date="2026-03-05")], id="protective-date-closed"),
        pytest.param([ev("outcome", "2026-03-03T09:00", resolved=True)], id="event-before-opened"),
        pytest.param([], id="no-opened-event"),
    ],
)
def test_illegal_events_raise_transition_error(events: list[Event]) -> None:
    with pytest.raises(TransitionError):
        run(SWN, events, "2026-03-04T09:00")


def test_bypass_when_already_past_the_bypass_stage_is_refused() -> None:
    events = [ev("opened", "2026-03-02T10:00"), ev("bypassed", "2026-03-02T11:00", reason="media-political"),
              ev("bypassed", "2026-03-02T12:00", reason="media-political")]
    with pytest.raises(TransitionError):
        run(CV, events, "2026-03-02T12:00")


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError):
        evaluate(SWN, [OPEN], dt.datetime(2026, 3, 2, 10, 0))


def test_naive_on_is_refused() -> None:
    with pytest.raises(ValueError):
        parse_moment("2026-03-02T10:00")
    assert parse_moment("2026-03-02") == d("2026-03-02")
    assert parse_moment(None) is None and parse_moment("") is None


# -- overdue and escalation ---------------------------------------------------------------------
def test_escalation_due_when_the_stage_deadline_lapses() -> None:
    """Swindon stage 1: arose Mon 2 Mar 2026, due 17:00 Wed 4 Mar."""
    s = run(SWN, [OPEN], "2026-03-04T16:59")
    assert not s.escalation_due and s.overdue == ()
    s = run(SWN, [OPEN], "2026-03-04T17:00")  # due *at* 17:00: not yet overdue
    assert not s.escalation_due
    s = run(SWN, [OPEN], "2026-03-04T17:01")
    assert s.escalation_due and [i.step.id for i in s.overdue] == ["internal-discussion"]
    assert s.stage_deadline.step.id == "internal-discussion"


def test_a_done_step_is_never_overdue() -> None:
    events = [OPEN, ev("step_done", "2026-03-05T10:00", step="internal-discussion")]
    s = run(SWN, events, "2026-03-20T10:00")
    assert not s.escalation_due and s.overdue == ()
    done = item(s, "internal-discussion")
    assert done.done_at == t("2026-03-05T10:00") and not done.overdue and done in s.done


def test_only_the_stage_deadline_raises_escalation() -> None:
    """MWW: the 5 WD meeting (MWW-3) lapsing is overdue, but escalation is due only at 10 WD (MWW-5)."""
    opened = ev("opened", "2026-03-02T10:00")
    s = run(MWW, [opened], "2026-03-10T09:00")
    assert [i.step.id for i in s.overdue] == ["practitioners-meet"] and not s.escalation_due
    s = run(MWW, [opened], "2026-03-17T09:00")
    assert {i.step.id for i in s.overdue} == {"practitioners-meet", "stage-1-limit"} and s.escalation_due


def test_no_escalation_flag_unless_the_case_is_open() -> None:
    events = [ev("opened", "2026-03-02T10:00"), ev("outcome", "2026-03-05T10:00", resolved=False),
              ev("outcome", "2026-03-12T10:00", resolved=False)]
    s = run(MWW, events, "2026-06-01T10:00")
    assert s.status is Status.AWAITING_DECISION and not s.escalation_due


def test_items_are_sorted_soonest_first_and_undated_last() -> None:
    s = run(MWW, [ev("opened", "2026-03-02T10:00")], "2026-03-02T10:00")
    assert [i.step.id for i in s.items] == ["practitioners-meet", "stage-1-limit", "inform-safeguarding-lead"]
    assert s.next_deadline.step.id == "practitioners-meet"


def test_effective_time_uses_on_when_given() -> None:
    e = ev("step_done", "2026-03-10T09:00", step="raise", on="2026-03-04")
    assert e.effective == d("2026-03-04")
    s = run(WOL, [OPEN, e], "2026-03-10T09:00")
    assert due(s, "receiving-review") == cob("2026-03-09")  # 3 WD from 4 Mar, not from 10 Mar


# -- ignored event kinds ------------------------------------------------------------------------
def test_unknown_event_kinds_are_ignored() -> None:
    events = [OPEN, ev("outcome", "2026-03-04T12:00", resolved=False)]
    noisy = [OPEN, ev("counterpart_named", "2026-03-03T09:00", name="A. Person"),
             ev("note", "2026-03-03T10:00", text="rang them"),
             ev("outcome", "2026-03-04T12:00", resolved=False), ev("reminder_sent", "2026-03-05T09:00")]
    assert run(SWN, noisy, "2026-03-06T09:00") == run(SWN, events, "2026-03-06T09:00")


def test_unknown_event_kinds_are_ignored_even_before_opened_and_after_close() -> None:
    events = [ev("draft_saved", "2026-03-01T10:00"), OPEN, ev("closed", "2026-03-03T09:00"),
              ev("note", "2026-03-04T09:00")]
    assert run(SWN, events, "2026-03-04T09:00").status is Status.CLOSED


# -- snapshots ----------------------------------------------------------------------------------
def test_a_case_keeps_its_snapshot_protocol(tmp_path: Path) -> None:
    """A case stores the protocol it started under; editing the YAML later does not move its deadlines."""
    path = tmp_path / "swindon.yaml"
    path.write_text((BOARDS_DIR / "swindon.yaml").read_text("utf-8"), "utf-8")
    stored = json.dumps(snapshot(load_file(path)))  # kept with the case when it opened

    edited = path.read_text("utf-8").replace(
        "        due: 2 working days\n        from: disagreement", "        due: 4 working days\n        from: disagreement")
    assert edited != path.read_text("utf-8")
    path.write_text(edited, "utf-8")
    new = load_file(path)

    events = [ev("opened", "2026-04-02T10:00", arose_on="2026-04-02")]
    old_state = evaluate(from_snapshot(json.loads(stored)), events, t("2026-04-02T10:00"))
    new_state = evaluate(new, events, t("2026-04-02T10:00"))
    assert due(old_state, "internal-discussion") == cob("2026-04-08")  # 2 WD, as when the case opened
    assert due(new_state, "internal-discussion") == cob("2026-04-10")  # 4 WD under the edited file
    assert from_snapshot(json.loads(stored)) != new
