"""Swindon (seed 003): every encoded timescale in timescales.md Table 1.3, by id.

Not case clocks: SWN-1, -4, -5, -7 (qualitative), SWN-6 (same-working-day immediate-risk rule: see
test_SWN_6), SWN-9 (regular monitoring), SWN-14 (entry to Stage 4; its clock is SWN-15), SWN-21
(document review date).
"""

from __future__ import annotations

import datetime as dt

import pytest

from protocol.engine import timetable
from protocol.state import Action, Status
from protocol.loader import load_board
from protocol.timescales import AnchorKind
from tests.protocol.helpers import cob, d, due, eod, ev, has, item, run, t

P = load_board("swindon")
CAL = P.calendar()


def _opened(arose: str = "2026-04-02") -> list:
    return [ev("opened", f"{arose}T10:00", arose_on=arose)]


def _unresolved(*ons: str) -> list:
    """Stages 1..n each recorded unresolved on the given days (16:00 London)."""
    return [ev("outcome", f"{on}T16:00", resolved=False) for on in ons]


@pytest.mark.parametrize(
    "arose, expected",
    [
        ("2026-04-02", "2026-04-08"),  # Maundy Thursday: 7, 8 April
        ("2026-04-04", "2026-04-08"),  # Easter Saturday: Tue 7 is day 1 (A1)
        ("2026-03-07", "2026-03-10"),  # plain Saturday: Tuesday
        ("2026-12-23", "2026-12-29"),  # 24 Dec, (25, 28 Dec) 29 Dec
    ],
)
def test_SWN_10_internal_discussion_2wd_of_the_disagreement_arising(arose: str, expected: str) -> None:
    s = run(P, [ev("opened", "2026-04-06T10:00", arose_on=arose)], "2026-04-06T10:00")
    step = item(s, "internal-discussion")
    assert step.due_at == cob(expected)
    assert step.anchor.kind is AnchorKind.DISAGREEMENT and step.anchor.at == d(arose)


def test_SWN_11_inter_agency_discussion_5wd_after_stage_1_completed() -> None:
    """Stage 1 completed Thu 30 Apr 2026: 1, (4 May) 5, 6, 7, 8 May."""
    s = run(P, [*_opened(), *_unresolved("2026-04-30")], "2026-04-30T16:00")
    assert s.stage.id == "inter-agency-discussion"
    step = item(s, "inter-agency-discussion")
    assert step.due_at == cob("2026-05-08")
    assert step.anchor.kind is AnchorKind.PREVIOUS_STAGE_COMPLETED


def test_SWN_11_A8_anchored_on_the_recorded_completion_not_the_plan() -> None:
    """Stage 1 finished late (nominal day 2 was 8 Apr); the clock runs from the recorded 16 Apr."""
    s = run(P, [*_opened(), *_unresolved("2026-04-16")], "2026-04-16T16:00")
    assert due(s, "inter-agency-discussion") == cob("2026-04-23")


def test_SWN_12_line_managers_contact_5wd_after_stage_2_completed() -> None:
    """Stage 2 completed Wed 20 May 2026: 21, 22, (25 May) 26, 27, 28 May."""
    s = run(P, [*_opened(), *_unresolved("2026-04-30", "2026-05-20")], "2026-05-20T16:00")
    assert s.stage.id == "managers"
    assert due(s, "managers-contact") == cob("2026-05-28")


def test_SWN_8_line_management_contact_details_immediately_at_stage_3() -> None:
    s = run(P, [*_opened(), *_unresolved("2026-04-30", "2026-05-20")], "2026-05-20T16:00")
    duty = item(s, "line-management-contacts")
    assert duty.due_at == t("2026-05-20T16:00") and duty.step.to == "all-parties"


def test_SWN_14_15_heads_of_service_contact_5wd_after_stage_3_completed() -> None:
    """SWN-14: referred without delay on Stage 3 failing (the case moves to Stage 4 at once);
    SWN-15: Stage 3 completed Wed 26 Aug 2026: 27, 28, (31 Aug) 1, 2, 3 Sep."""
    s = run(P, [*_opened(), *_unresolved("2026-04-30", "2026-05-20", "2026-08-26")], "2026-08-26T16:00")
    assert s.stage.id == "heads-of-service"
    step = item(s, "heads-contact")
    assert step.due_at == cob("2026-09-03") and {"SWN-14", "SWN-15"} <= set(step.step.refs)
    assert s.visits[-1].entered_at == t("2026-08-26T16:00")  # SWN-14: no gap before Stage 4 starts


def test_SWN_17_referral_to_the_partnership_5wd_after_stage_4_completed() -> None:
    """Stage 4 completed Mon 21 Dec 2026: 22, 23, 24, (25, 28 Dec) 29, 30 Dec."""
    events = [*_opened(), *_unresolved("2026-04-30", "2026-05-20", "2026-08-26", "2026-12-21")]
    s = run(P, events, "2026-12-21T16:00")
    assert s.stage.id == "partnership"
    step = item(s, "partnership-referral")
    assert step.due_at == cob("2026-12-30")
    assert "appendix-1" in s.stage.forms
    assert P.forms[0].parts[0].due_step == "partnership-referral"


def _at_stage_5() -> list:
    return [*_opened(), *_unresolved("2026-04-30", "2026-05-20", "2026-08-26", "2026-12-21"),
            ev("step_done", "2026-12-29T10:00", step="partnership-referral")]


def test_SWN_18_A11_learning_within_a_month_of_the_meeting_clamped_to_month_end() -> None:
    """Resolution meeting on 31 Jan 2027: a calendar month later is clamped to 28 Feb 2027."""
    s = run(P, _at_stage_5(), "2027-01-20T10:00")
    assert item(s, "resolution-meeting").due_at is None  # A11: no deadline invented for the meeting
    assert item(s, "learning").due_at is None  # its anchor (the meeting) has not happened
    events = [*_at_stage_5(), ev("step_done", "2027-01-31T12:00", step="resolution-meeting", on="2027-01-31")]
    s = run(P, events, "2027-01-31T12:00")
    learning = item(s, "learning")
    assert learning.due_at == eod("2027-02-28") and learning.step.to == "all-parties"


def test_SWN_18_A11_leap_year_and_the_resolution_panel() -> None:
    events = [ev("opened", "2027-10-01T10:00", arose_on="2027-10-01"),
              *_unresolved("2027-10-05", "2027-10-12", "2027-10-19", "2027-10-26"),
              ev("step_done", "2028-01-31T12:00", step="resolution-meeting")]
    assert due(run(P, events, "2028-01-31T12:00"), "learning") == eod("2028-02-29")
    # A11: the same month rule for a Resolution Panel (exceptional Stage 6), whose meeting has no deadline
    events = [*_at_stage_5(), ev("outcome", "2027-03-01T10:00", resolved=False)]
    s = run(P, events, "2027-03-01T10:00")
    assert s.status is Status.AWAITING_DECISION and s.awaiting_stage.id == "resolution-panel"
    events += [ev("escalated", "2027-03-02T10:00", reason="no resolution"),
               ev("step_done", "2027-03-31T15:00", step="panel")]
    s = run(P, events, "2027-03-31T15:00")
    assert item(s, "panel").done_at is not None
    assert due(s, "panel-learning") == eod("2027-04-30")


def test_SWN_20_day_17_from_the_timetable() -> None:
    """Appendix 1 'Day 17' = 2 + 5 + 5 + 5 WD: the end of Stage 4 on the worst-case plan."""
    for start in (d("2026-03-02"), d("2026-04-02")):
        rows = {r.step.id: r for r in timetable(P, start)}
        assert CAL.working_days_between(start, rows["heads-contact"].due_at.date()) == 17
    assert {r.step.id: r.due_iso for r in timetable(P, d("2026-04-02"))}["heads-contact"] == "2026-04-29"


@pytest.mark.parametrize(
    "start, expected",
    [
        # a plain start (Mon 2 Mar 2026): no bank holidays before day 22
        ("2026-03-02", ["2026-03-04", "2026-03-11", "2026-03-18", "2026-03-25", "2026-04-01"]),
        # Thu 2 Apr 2026: Easter and Early May both fall inside the plan
        ("2026-04-02", ["2026-04-08", "2026-04-15", "2026-04-22", "2026-04-29", "2026-05-07"]),
    ],
)
def test_SWN_10_11_12_15_17_cumulative_days_2_7_12_17_22(start: str, expected: list[str]) -> None:
    rows = {r.step.id: r for r in timetable(P, d(start))}
    chain = ["internal-discussion", "inter-agency-discussion", "managers-contact", "heads-contact",
             "partnership-referral"]
    assert [rows[k].due_iso for k in chain] == expected
    assert [CAL.working_days_between(d(start), rows[k].due_at.date()) for k in chain] == [2, 7, 12, 17, 22]
    assert rows["partnership-referral"].due_at == cob(expected[-1])


def test_SWN_2_A9_urgent_notice_allowed_at_any_stage_without_moving_the_case() -> None:
    notice = P.urgent_notice
    assert notice is not None and notice.to == "partnership-executives" and "SWN-2" in notice.refs
    stages = [[], ["2026-04-30"], ["2026-04-30", "2026-05-20"], ["2026-04-30", "2026-05-20", "2026-08-26"]]
    for ons in stages:
        s = run(P, [*_opened(), *_unresolved(*ons)], "2026-09-01T10:00")
        assert Action.URGENT_NOTICE in s.allowed, s.stage.id
    # while a decision on the Resolution Panel is awaited, too
    s = run(P, [*_at_stage_5(), ev("outcome", "2027-03-01T10:00", resolved=False)], "2027-03-01T10:00")
    assert Action.URGENT_NOTICE in s.allowed
    # the bot records the notice as its own event kind; the engine ignores it and the stage stays
    events = [*_opened(), ev("urgent_notice", "2026-04-03T10:00", to="partnership-executives")]
    s = run(P, events, "2026-04-03T10:00")
    assert s.stage.id == "internal-discussion" and len(s.visits) == 1
    # not once the case is over
    s = run(P, [*_opened(), ev("outcome", "2026-04-07T10:00", resolved=True)], "2026-04-07T10:00")
    assert Action.URGENT_NOTICE not in s.allowed


def test_SWN_3_A10_cp_conference_precondition() -> None:
    cp, exhausted = P.preconditions
    assert cp.id == "cp-conference" and "SWN-3" in cp.refs
    assert exhausted.only_if == (("cp-conference", True),)
    assert exhausted.on_no.block and exhausted.on_no.advice
    assert exhausted.on_yes.ask_date  # A10: that date becomes the disagreement date
    # ... and a case opened with that date counts from it
    s = run(P, [ev("opened", "2026-04-09T10:00", arose_on="2026-04-02")], "2026-04-09T10:00")
    assert due(s, "internal-discussion") == cob("2026-04-08")
    assert item(s, "internal-discussion").overdue and s.escalation_due


@pytest.mark.parametrize(
    "ons, resolved_stage, duty",
    [
        (["2026-04-30", "2026-05-20"], "managers", "managers-feedback"),  # SWN-13
        (["2026-04-30", "2026-05-20", "2026-08-26"], "heads-of-service", "heads-feedback"),  # SWN-16
        (["2026-04-30", "2026-05-20", "2026-08-26", "2026-12-21"], "partnership", "partnership-feedback"),  # SWN-19
    ],
    ids=["SWN-13", "SWN-16", "SWN-19"],
)
def test_SWN_13_16_19_feed_back_immediately_only_when_resolved(ons, resolved_stage: str, duty: str) -> None:
    feedback = {"managers-feedback", "heads-feedback", "partnership-feedback"}
    before = run(P, [*_opened(), *_unresolved(*ons)], "2027-01-04T09:00")
    assert before.stage.id == resolved_stage
    assert not any(has(before, f) for f in feedback)  # not while the stage is unresolved
    events = [*_opened(), *_unresolved(*ons), ev("outcome", "2027-01-05T11:30", resolved=True)]
    s = run(P, events, "2027-01-05T11:30")
    assert s.status is Status.RESOLVED
    assert item(s, duty).due_at == t("2027-01-05T11:30")
    assert {f for f in feedback if has(s, f)} == {duty}  # only the resolving stage's duty
    # unresolved at the last ordinary stage: no feedback either
    if resolved_stage == "partnership":
        s = run(P, [*_opened(), *_unresolved(*ons), ev("outcome", "2027-01-05T11:30", resolved=False)],
                "2027-01-05T11:30")
        assert not any(has(s, f) for f in feedback)


def test_SWN_N12_partnership_copied_from_stage_2() -> None:
    s = run(P, [*_opened(), *_unresolved("2026-04-30")], "2026-04-30T16:00")
    copy = item(s, "copy-partnership")
    assert copy.step.standing and copy.step.to == "partnership" and copy.due_at is None
    assert copy not in s.completable()


def test_SWN_6_same_working_day_immediate_risk_rule() -> None:
    ir = P.immediate_risk
    assert ir.rule == "same_working_day" and "SWN-6" in ir.refs and "MASH" in ir.text
    # the rule's arithmetic: a concern at 17:30 on Maundy Thursday must be escalated by 17:00 Tuesday
    assert CAL.same_working_day(t("2026-04-02T17:30")) == dt.datetime(2026, 4, 7, 17, 0, tzinfo=CAL.tz)


def test_SWN_9_21_monitoring_and_review_date_are_not_case_clocks() -> None:
    assert P.reporting.cadence == "regular" and "SWN-9" in P.reporting.refs
    assert any("SWN-21" in n for n in P.notes)
