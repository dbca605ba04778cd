"""Wolverhampton (seed 004): every encoded timescale in timescales.md Table 1.4, by id.

Not case clocks: WOL-1 to WOL-7 and WOL-9 (qualitative / record-keeping), WOL-8 and WOL-14 (the
immediate-risk rule: see test_WOL_8_14).
"""

from __future__ import annotations

import datetime as dt

import pytest

from protocol.engine import timetable
from protocol.state import Status, TransitionError
from protocol.loader import load_board
from protocol.spec import StepKind
from protocol.timescales import AnchorKind
from tests.protocol.helpers import LONDON, cob, d, due, eod, ev, has, item, run, t

P = load_board("wolverhampton")
CAL = P.calendar()


def _opened(arose: str = "2026-04-02", **extra) -> list:
    return [ev("opened", f"{arose}T10:00", arose_on=arose, **extra)]


def test_WOL_10_A17_overall_milestone_10wd_across_easter() -> None:
    """2 Apr 2026 + 10 WD: 7-10, 13-17, 20 April."""
    s = run(P, _opened(), "2026-04-02T10:00")
    target = item(s, "overall-target")
    assert target.due_at == cob("2026-04-20")
    assert target.step.kind is StepKind.MILESTONE and not target.capped
    assert target not in s.completable()
    assert s.next_deadline.step.id == "raise"  # a milestone is shown, never "the next deadline"


def test_WOL_10_A4_protective_date_caps_the_milestone_whichever_is_shortest() -> None:
    s = run(P, _opened(protective_date="2026-04-14"), "2026-04-02T10:00")
    target = item(s, "overall-target")
    assert target.due_at == cob("2026-04-14") and target.capped and target.nominal_due_at == cob("2026-04-20")
    # ... and only the milestone: the stage clocks are not capped (A4)
    assert due(s, "raise") == cob("2026-04-08") and not item(s, "raise").capped


def test_WOL_10_milestone_covers_stages_1_to_3_only() -> None:
    events = [*_opened(), ev("outcome", "2026-04-10T12:00", resolved=False),
              ev("outcome", "2026-04-14T12:00", resolved=False)]
    assert has(run(P, events, "2026-04-14T12:00"), "overall-target")  # stage 3
    events.append(ev("outcome", "2026-04-17T12:00", resolved=False))
    s = run(P, events, "2026-04-17T12:00")
    assert s.stage.number == 4 and not has(s, "overall-target")


def test_WOL_11_raise_within_2wd_of_the_disagreement() -> None:
    s = run(P, _opened(), "2026-04-02T10:00")
    raise_ = item(s, "raise")
    assert raise_.due_at == cob("2026-04-08") and raise_.anchor.kind is AnchorKind.DISAGREEMENT


def test_WOL_12_receiving_agency_3wd_after_the_matter_is_raised() -> None:
    """Raised Wed 8 Apr 2026: 9, 10, 13 April (the prose's 3, not the table's '2 days')."""
    s = run(P, [*_opened(), ev("step_done", "2026-04-08T15:00", step="raise")], "2026-04-08T15:00")
    review = item(s, "receiving-review")
    assert review.due_at == cob("2026-04-13") and review.step.stage_deadline
    assert review.anchor.kind is AnchorKind.STEP


def test_WOL_13_A15_written_outcome_a_further_2wd_only_when_resolved_at_stage_1() -> None:
    """Resolved Thu 30 Apr 2026: 1, (4 May) 5 May."""
    events = [*_opened(), ev("outcome", "2026-04-30T12:00", resolved=True)]
    s = run(P, events, "2026-04-30T12:00")
    w = item(s, "stage-1-written-outcome")
    assert w.due_at == cob("2026-05-05") and w.anchor.kind is AnchorKind.RESOLUTION
    assert w.step.to == "disputing-agency"
    assert not has(s, "stage-2-written-outcome")
    # not while open, and not when Stage 1 ends unresolved
    assert not has(run(P, _opened(), "2026-04-03T12:00"), "stage-1-written-outcome")
    s = run(P, [*_opened(), ev("outcome", "2026-04-30T12:00", resolved=False)], "2026-04-30T12:00")
    assert not has(s, "stage-1-written-outcome")


def test_WOL_15_managers_2wd_after_stage_1_unresolved() -> None:
    """Stage 1 unresolved Fri 1 May 2026: (4 May) 5, 6 May."""
    s = run(P, [*_opened(), ev("outcome", "2026-05-01T12:00", resolved=False)], "2026-05-01T12:00")
    assert s.stage.id == "line-managers"
    assert due(s, "managers-resolve") == cob("2026-05-06")


def test_WOL_16_A15_confirm_outcome_a_further_2wd_only_when_agreed_at_stage_2() -> None:
    """Agreed Fri 22 May 2026: (25 May) 26, 27 May."""
    events = [*_opened(), ev("outcome", "2026-05-01T12:00", resolved=False),
              ev("outcome", "2026-05-22T12:00", resolved=True)]
    s = run(P, events, "2026-05-22T12:00")
    assert due(s, "stage-2-written-outcome") == cob("2026-05-27")
    assert not has(s, "stage-1-written-outcome")


def _stage_3(stage_2_end: str) -> list:
    """Stage 2 ends unresolved at ``stage_2_end`` (recorded 16:00 on 2 Apr 2026, with ``on``)."""
    return [*_opened("2026-03-25"), ev("outcome", "2026-03-30T12:00", resolved=False),
            ev("outcome", "2026-04-02T16:00", resolved=False, on=stage_2_end)]


def test_WOL_17_A3_written_referral_24_hours_from_a_datetime() -> None:
    """Stage 2 ended 15:30 on Maundy Thursday: due 15:30 on Good Friday (hours ignore holidays)."""
    s = run(P, _stage_3("2026-04-02T15:30:00+01:00"), "2026-04-02T16:00")
    assert s.stage.id == "senior-managers"
    ref = item(s, "written-referral")
    assert ref.due_at == t("2026-04-03T15:30") and ref.step.due.unit.value == "hours"


def test_WOL_17_A3_written_referral_24_hours_from_a_date_only_completion() -> None:
    """Only the date is known: the end of the next calendar day."""
    s = run(P, _stage_3("2026-04-02"), "2026-04-02T16:00")
    assert due(s, "written-referral") == eod("2026-04-03")


@pytest.mark.parametrize(
    "stage_2_end, expected",
    [
        ("2026-10-24T12:00:00+01:00", dt.datetime(2026, 10, 25, 11, 0, tzinfo=LONDON)),  # 24 elapsed hours
        ("2026-10-25", dt.datetime(2026, 10, 26, 23, 59, 59, tzinfo=LONDON)),  # the 25-hour day, date only
        ("2026-03-28T12:00:00+00:00", dt.datetime(2026, 3, 29, 13, 0, tzinfo=LONDON)),
    ],
)
def test_WOL_17_A3_24_hours_across_clock_changes(stage_2_end: str, expected: dt.datetime) -> None:
    recorded = f"{stage_2_end[:10]}T18:00"
    events = [ev("opened", "2026-03-02T10:00", arose_on="2026-03-02"),
              ev("outcome", "2026-03-05T12:00", resolved=False),
              ev("outcome", recorded, resolved=False, on=stage_2_end)]
    assert due(run(P, events, recorded), "written-referral") == expected


def test_WOL_18_senior_dialogue_2wd_after_the_written_referral() -> None:
    """Referral made on Good Friday (3 Apr 2026): Tue 7, Wed 8 April."""
    events = [*_stage_3("2026-04-02T15:30:00+01:00"),
              ev("step_done", "2026-04-03T10:00", step="written-referral")]
    s = run(P, events, "2026-04-03T10:00")
    assert due(s, "senior-dialogue") == cob("2026-04-08")
    assert item(s, "senior-dialogue").step.stage_deadline


def _stage_4(stage_3_end: str = "2026-12-23T12:00") -> list:
    return [*_stage_3("2026-04-02"), ev("outcome", stage_3_end, resolved=False)]


def test_WOL_19_raise_with_wsb_representative_a_further_2wd() -> None:
    """Stage 3 unresolved Wed 23 Dec 2026: 24, (25, 28 Dec) 29 Dec."""
    s = run(P, _stage_4(), "2026-12-23T12:00")
    assert s.stage.id == "directors" and s.status is Status.OPEN  # A16: not the exceptional route yet
    step = item(s, "raise-with-representative")
    assert step.due_at == cob("2026-12-29") and step.step.to == "wsb-representative"


def test_WOL_20_representatives_meet_a_further_2wd() -> None:
    """Raised Wed 30 Dec 2026: 31 Dec, (1 Jan 2027) Mon 4 Jan."""
    events = [*_stage_4(), ev("step_done", "2026-12-30T10:00", step="raise-with-representative")]
    s = run(P, events, "2026-12-30T10:00")
    assert due(s, "representatives-meet") == cob("2027-01-04")


def _stage_4_unresolved(on: str = "2026-08-27T15:00") -> list:
    return [*_stage_3("2026-04-02"), ev("outcome", "2026-08-20T12:00", resolved=False),
            ev("outcome", on, resolved=False)]


def test_WOL_21_A16_exceptional_route_after_stage_4_director_writes_within_2wd() -> None:
    """Stage 4 unresolved Thu 27 Aug 2026; decision recorded Tue 1 Sep. 2 WD from 27 Aug:
    28 Aug, (31 Aug Summer bank holiday) 1 Sep."""
    s = run(P, _stage_4_unresolved(), "2026-08-27T15:00")
    assert s.status is Status.AWAITING_DECISION and s.awaiting_stage.id == "independent-chair"
    events = [*_stage_4_unresolved(), ev("escalated", "2026-09-01T09:00", reason="concerns persist")]
    s = run(P, events, "2026-09-01T09:00")
    assert s.stage.id == "independent-chair" and s.stage.exceptional
    letter = item(s, "director-letter")
    assert letter.due_at == cob("2026-09-01") and letter.step.to == "wsb-chair"
    assert letter.anchor.kind is AnchorKind.PREVIOUS_STAGE_COMPLETED and letter.anchor.stage_number == 4


def test_WOL_22_chair_decision_5wd_of_receiving_the_letter() -> None:
    """Letter received Tue 1 Sep 2026: 2, 3, 4, 7, 8 Sep."""
    events = [*_stage_4_unresolved(), ev("escalated", "2026-09-01T09:00", reason="concerns persist"),
              ev("step_done", "2026-09-01T16:00", step="director-letter")]
    s = run(P, events, "2026-09-01T16:00")
    decision = item(s, "chair-decision")
    assert decision.due_at == cob("2026-09-08") and decision.step.stage_deadline
    # the Chair's decision is final: an unresolved outcome at the last stage closes the case
    s = run(P, [*events, ev("outcome", "2026-09-08T12:00", resolved=False)], "2026-09-08T12:00")
    assert s.status is Status.CLOSED


def test_WOL_21_A16_no_exceptional_route_from_stage_3() -> None:
    with pytest.raises(TransitionError):
        run(P, [*_stage_4(), ev("escalated", "2026-12-24T09:00", reason="x")], "2026-12-24T09:00")


def test_WOL_8_14_immediate_risk_same_working_day_and_tell_the_dsl() -> None:
    ir = P.immediate_risk
    assert ir.rule == "same_working_day" and ir.inform_safeguarding_lead
    assert {"WOL-14", "WOL-8"} <= set(ir.refs)
    assert "01902 555392" in {c.phone for c in ir.contacts}


@pytest.mark.parametrize(
    "start, expected",
    [
        ("2026-03-02", {"raise": "2026-03-04", "receiving-review": "2026-03-09", "managers-resolve": "2026-03-11",
                        "written-referral": "2026-03-12", "senior-dialogue": "2026-03-16",
                        "raise-with-representative": "2026-03-18", "representatives-meet": "2026-03-20",
                        "director-letter": "2026-03-24", "chair-decision": "2026-03-31",
                        "overall-target": "2026-03-16"}),
        ("2026-04-02", {"raise": "2026-04-08", "receiving-review": "2026-04-13", "managers-resolve": "2026-04-15",
                        "written-referral": "2026-04-16", "senior-dialogue": "2026-04-20",
                        "raise-with-representative": "2026-04-22", "representatives-meet": "2026-04-24",
                        "director-letter": "2026-04-28", "chair-decision": "2026-05-06",
                        "overall-target": "2026-04-20"}),
    ],
)
def test_WOL_cumulative_days_2_5_7_10_14_and_21(start: str, expected: dict[str, str]) -> None:
    """§1b.2: the cumulative column comes out of the prose (24 h counted as 1 day), with the
    written-outcome steps off the escalation path; the exceptional route ends on day 21."""
    rows = [r for r in timetable(P, d(start)) if r.due_at is not None]
    assert {r.step.id: r.due_at.date().isoformat() for r in rows} == expected
    ends = {r.step.id: CAL.working_days_between(d(start), r.due_at.date()) for r in rows}
    assert [ends[k] for k in ("raise", "receiving-review", "managers-resolve", "senior-dialogue",
                              "representatives-meet", "chair-decision")] == [2, 5, 7, 10, 14, 21]
    assert ends["overall-target"] == 10  # WOL-10 coincides with the end of Stage 3 (A17)
    assert all(r.condition is None for r in rows)
    w = [r for r in timetable(P, d(start), include_conditional=True) if r.step.id.endswith("written-outcome")]
    assert {r.condition for r in w} == {"resolved"}  # listed only as "if resolved"


def test_WOL_9_each_discussion_recorded_approved_and_dated() -> None:
    rec = P.stage("practitioners").records[0]
    assert "WOL-9" in rec.refs and "dated" in rec.title
