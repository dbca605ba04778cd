"""Mid & West Wales (seed 000, cross-checked with 002): every encoded timescale in timescales.md
Table 1.1, by id. E&W bank holidays; due 17:00 Europe/London for working-day units.

Not case clocks, so not encoded as deadlines: MWW-1 (principle), MWW-8 (quarterly data set) and MWW-9 (periodic audit): see
test_MWW_8_9_quarterly_reporting_and_periodic_audit. MWW-2 defines day 0 (tested with MWW-3).
"""

from __future__ import annotations

import pytest

from protocol.state import Action, Status, TransitionError
from protocol.loader import load_board
from protocol.timescales import AnchorKind
from tests.protocol.helpers import cob, d, due, ev, has, item, run

P = load_board("mid-and-west-wales")

OPEN = ev("opened", "2026-04-02T10:00")  # concerns put in writing on Maundy Thursday


def test_MWW_2_day_0_is_the_date_the_concerns_are_put_in_writing() -> None:
    s = run(P, [OPEN], "2026-04-02T10:00")
    meet = item(s, "practitioners-meet")
    assert meet.anchor.kind is AnchorKind.CONCERN_RAISED
    assert meet.anchor.at == OPEN.at


def test_MWW_3_meet_within_5_working_days_across_easter() -> None:
    """2 Apr 2026 + 5 WD: 7, 8, 9, 10, 13 April (Good Friday and Easter Monday skipped)."""
    s = run(P, [OPEN], "2026-04-02T10:00")
    assert due(s, "practitioners-meet") == cob("2026-04-13")
    assert not item(s, "practitioners-meet").capped


def test_MWW_3_A4_protective_date_caps_the_meeting_whichever_is_less() -> None:
    opened = ev("opened", "2026-04-02T10:00", protective_date="2026-04-08")
    s = run(P, [opened], "2026-04-02T10:00")
    meet = item(s, "practitioners-meet")
    assert meet.due_at == cob("2026-04-08") and meet.capped
    assert meet.nominal_due_at == cob("2026-04-13")
    # A4: the cap applies only to the rows that say "whichever is less" - not to the MWW-5 limit
    assert due(s, "stage-1-limit") == cob("2026-04-20") and not item(s, "stage-1-limit").capped


def test_MWW_3_A4_a_later_protective_date_does_not_extend_the_deadline() -> None:
    s = run(P, [OPEN, ev("protective_date", "2026-04-03T09:00", date="2026-04-30")], "2026-04-03T09:00")
    assert due(s, "practitioners-meet") == cob("2026-04-13") and not item(s, "practitioners-meet").capped


def test_MWW_3_A4_protective_date_can_be_set_later_in_the_case() -> None:
    s = run(P, [OPEN, ev("protective_date", "2026-04-07T09:00", date="2026-04-09")], "2026-04-07T09:00")
    assert due(s, "practitioners-meet") == cob("2026-04-09") and s.protective_date == d("2026-04-09")


def test_MWW_5_stage_1_limit_10_working_days_from_the_start_date() -> None:
    """A5: 2 Apr + 10 WD = 20 April; its lapse makes escalation to line managers due."""
    s = run(P, [OPEN], "2026-04-20T16:59")
    limit = item(s, "stage-1-limit")
    assert limit.due_at == cob("2026-04-20") and limit.step.stage_deadline
    assert not s.escalation_due
    s = run(P, [OPEN], "2026-04-20T17:01")
    assert s.escalation_due and limit.step in [i.step for i in s.overdue]


def test_MWW_5_a_recorded_stage_1_failure_escalates_before_the_10_days() -> None:
    """A5: escalate at the earlier of a recorded Stage 1 failure or start + 10 WD."""
    s = run(P, [OPEN, ev("outcome", "2026-04-09T12:00", resolved=False)], "2026-04-09T12:00")
    assert s.stage.id == "line-managers" and s.status is Status.OPEN
    assert not has(s, "stage-1-limit")


def test_MWW_6_A5_line_managers_meet_within_10_working_days_of_the_escalation() -> None:
    """Stage 1 recorded unresolved on Fri 24 Apr 2026: 27, 28, 29, 30 Apr, 1 May, (4 May Early May
    bank holiday) 5, 6, 7, 8, 11 May."""
    s = run(P, [OPEN, ev("outcome", "2026-04-24T15:00", resolved=False)], "2026-04-24T15:00")
    meet = item(s, "managers-meet")
    assert meet.due_at == cob("2026-05-11")
    assert meet.anchor.kind is AnchorKind.STAGE_START
    assert "flowchart only" in (meet.step.reading or "")


def _to_stage_2_unresolved(on: str = "2026-05-11T16:00") -> list:
    return [
        OPEN,
        ev("outcome", "2026-04-24T15:00", resolved=False),
        ev("outcome", on, resolved=False),
    ]


def test_MWW_7_A7_exceptional_stage_waits_for_a_recorded_decision() -> None:
    s = run(P, _to_stage_2_unresolved(), "2026-05-12T09:00")
    assert s.status is Status.AWAITING_DECISION
    assert s.awaiting_stage.id == "senior-managers"
    assert s.stage.id == "line-managers"  # the case has not moved to Stage 3 on its own
    assert not has(s, "senior-review")
    assert Action.ESCALATE_EXCEPTIONAL in s.allowed and Action.RECORD_OUTCOME not in s.allowed


def test_MWW_7_A7_senior_review_10_wd_from_stage_2_completion_not_from_the_decision() -> None:
    """Stage 2 completed Mon 11 May 2026; the decision to escalate is recorded on 20 May.
    10 WD from 11 May: 12-15, 18-22, (25 May Spring bank holiday) 26 May."""
    events = [*_to_stage_2_unresolved(), ev("escalated", "2026-05-20T10:00", reason="continuing risk")]
    s = run(P, events, "2026-05-20T10:00")
    assert s.status is Status.OPEN and s.stage.id == "senior-managers"
    assert s.visits[-1].how == "decision" and s.visits[-1].reason == "continuing risk"
    review = item(s, "senior-review")
    assert review.anchor.kind is AnchorKind.PREVIOUS_STAGE_COMPLETED and review.anchor.stage_number == 2
    assert review.due_at == cob("2026-05-26")


def test_MWW_7_A4_protective_date_caps_the_senior_review() -> None:
    events = [
        *_to_stage_2_unresolved(),
        ev("protective_date", "2026-05-12T09:00", date="2026-05-21"),
        ev("escalated", "2026-05-13T10:00", reason="risk"),
    ]
    s = run(P, events, "2026-05-13T10:00")
    review = item(s, "senior-review")
    assert review.due_at == cob("2026-05-21") and review.capped and review.nominal_due_at == cob("2026-05-26")


def test_MWW_7_escalated_is_refused_unless_stage_2_ended_unresolved() -> None:
    with pytest.raises(TransitionError):
        run(P, [OPEN, ev("escalated", "2026-04-09T10:00", reason="x")], "2026-04-09T10:00")
    events = [OPEN, ev("outcome", "2026-04-24T15:00", resolved=False),
              ev("outcome", "2026-05-11T16:00", resolved=True), ev("escalated", "2026-05-12T10:00", reason="x")]
    with pytest.raises(TransitionError):
        run(P, events, "2026-05-12T10:00")


def test_MWW_4_A6_policy_gap_referral_10_wd_of_resolution_over_christmas() -> None:
    """Resolved Mon 21 Dec 2026 with a policy gap: 22, 23, 24, (25, 28 Dec bank holidays) 29, 30,
    31 Dec, (1 Jan) 4, 5, 6, 7 Jan 2027."""
    opened = ev("opened", "2026-12-14T10:00")
    events = [opened, ev("outcome", "2026-12-21T11:00", resolved=True, flags={"policy_gap": True})]
    s = run(P, events, "2026-12-21T11:00")
    ref = item(s, "policy-gap-referral")
    assert ref.due_at == cob("2027-01-07")
    assert ref.anchor.kind is AnchorKind.RESOLUTION
    assert ref.step.to == "pp-subgroup-rep"


def test_MWW_4_no_policy_gap_no_referral() -> None:
    events = [ev("opened", "2026-12-14T10:00"), ev("outcome", "2026-12-21T11:00", resolved=True)]
    s = run(P, events, "2026-12-21T11:00")
    assert not has(s, "policy-gap-referral")


def test_MWW_4_A6_applies_to_a_resolution_at_any_stage_and_to_a_flag_event() -> None:
    events = [
        OPEN,
        ev("outcome", "2026-04-24T15:00", resolved=False),
        ev("flag", "2026-04-27T09:00", name="policy_gap", value=True),
        ev("outcome", "2026-04-30T15:00", resolved=True),
    ]
    s = run(P, events, "2026-04-30T15:00")
    # 30 Apr + 10 WD: 1, (4 May) 5, 6, 7, 8, 11, 12, 13, 14, 15 May
    assert due(s, "policy-gap-referral") == cob("2026-05-15")


def test_MWW_N5_signed_record_on_resolution_at_stage_1() -> None:
    s = run(P, [OPEN, ev("outcome", "2026-04-09T12:00", resolved=True)], "2026-04-09T12:00")
    assert has(s, "record-to-safeguarding-lead")
    rec = P.stage("practitioners").records[0]
    assert rec.signed_by == ("raiser", "counterpart")


def test_MWW_8_9_quarterly_reporting_and_periodic_audit() -> None:
    assert P.reporting.cadence == "quarterly" and {"MWW-8", "MWW-9"} <= set(P.reporting.refs)
    assert P.reporting.quarter_numbering == "calendar"  # A19


def test_MWW_timetable_nominal_plan() -> None:
    """§1b.3: meeting by day 5, escalation by day 10, Stage 2 meeting day 20, Stage 3 day 30."""
    from protocol.engine import timetable

    cal = P.calendar()
    start = d("2026-03-02")
    rows = {r.step.id: r for r in timetable(P, start) if r.due_at is not None}
    days = {k: cal.working_days_between(start, r.due_at.date()) for k, r in rows.items()}
    assert days == {"practitioners-meet": 5, "stage-1-limit": 10, "managers-meet": 20, "senior-review": 30}
