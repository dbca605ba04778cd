"""Cardiff & Vale (seed 001): every encoded timescale in timescales.md Table 1.2, by id.

Not case clocks: CV-1 (informal precondition, see test_CV_1), CV-2/CV-3 (principles), CV-4
(discretion, the bypass), CV-17 (quarterly report), CV-18 (document review).
"""

from __future__ import annotations

import pytest
import yaml

from protocol.state import Action, Status, TransitionError
from protocol.loader import BOARDS_DIR, load_board, load_text
from protocol.timescales import AnchorKind
from tests.protocol.helpers import cob, due, eod, ev, has, item, run, t

P = load_board("cardiff-and-vale")
OPEN = ev("opened", "2026-04-02T11:00")


def _with_meetings(*dates: str):
    """The CV board with a Delivery Group calendar added, the way a business unit would: in YAML."""
    data = yaml.safe_load((BOARDS_DIR / "cardiff-and-vale.yaml").read_text("utf-8"))
    data["meetings"] = {"delivery-group": list(dates)}
    return load_text(yaml.safe_dump(data, sort_keys=False), source="cardiff-and-vale.yaml")


def test_CV_5_6_raise_with_manager_immediately() -> None:
    """CV-5: the staged actions are taken immediately; CV-6: raise with the immediate manager."""
    s = run(P, [OPEN], "2026-04-02T11:00")
    raise_ = item(s, "raise-with-manager")
    assert raise_.due_at == t("2026-04-02T11:00") and not raise_.overdue
    assert item(run(P, [OPEN], "2026-04-02T11:05"), "raise-with-manager").overdue


def test_CV_7_manager_attempt_2_working_days_from_raising_it_across_easter() -> None:
    """A12: 2 WD from the concern being raised with the manager (2 Apr): 7, 8 April."""
    s = run(P, [OPEN], "2026-04-02T11:00")
    assert item(s, "manager-attempt").due_at is None  # not raised with the manager yet
    s = run(P, [OPEN, ev("step_done", "2026-04-02T12:00", step="raise-with-manager")], "2026-04-02T12:00")
    attempt = item(s, "manager-attempt")
    assert attempt.due_at == cob("2026-04-08")
    assert attempt.anchor.kind is AnchorKind.STEP
    assert Action.EXTEND in s.allowed


def test_CV_7_extension_with_reason_for_process_issues() -> None:
    events = [
        OPEN,
        ev("step_done", "2026-04-02T12:00", step="raise-with-manager"),
        ev("extended", "2026-04-07T10:00", step="manager-attempt", until="2026-04-15", reason="process issues"),
    ]
    s = run(P, events, "2026-04-09T10:00")
    attempt = item(s, "manager-attempt")
    assert attempt.due_at == cob("2026-04-15") and attempt.nominal_due_at == cob("2026-04-08")
    assert attempt.extended_reason == "process issues"
    assert not attempt.overdue and not s.escalation_due


def test_CV_7_an_extension_never_shortens_and_only_extendable_steps_extend() -> None:
    events = [
        OPEN,
        ev("step_done", "2026-04-02T12:00", step="raise-with-manager"),
        ev("extended", "2026-04-07T10:00", step="manager-attempt", until="2026-04-07", reason="typo"),
    ]
    assert due(run(P, events, "2026-04-07T10:00"), "manager-attempt") == cob("2026-04-08")
    with pytest.raises(TransitionError):
        run(P, [OPEN, ev("extended", "2026-04-07T10:00", step="part-b-response", until="2026-05-01")],
            "2026-04-07T10:00")


def _stage_2(at: str = "2026-12-23T15:00") -> list:
    return [ev("opened", "2026-12-18T10:00"), ev("step_done", "2026-12-18T11:00", step="raise-with-manager"),
            ev("outcome", at, resolved=False)]


def test_CV_9_refer_to_business_unit_immediately_on_stage_1_unresolved() -> None:
    s = run(P, _stage_2(), "2026-12-23T15:00")
    assert s.stage.id == "escalated-to-cvsb"
    refer = item(s, "refer-to-business-unit")
    assert refer.due_at == t("2026-12-23T15:00") and refer.step.to == "business-unit"
    assert "appendix-1" in s.stage.forms


def test_CV_10_business_manager_acts_immediately_on_the_referral() -> None:
    events = [*_stage_2(), ev("step_done", "2026-12-23T15:45", step="refer-to-business-unit",
                              on="2026-12-23T15:30:00+00:00")]
    s = run(P, events, "2026-12-23T15:45")
    assert due(s, "form-sent-to-responder") == t("2026-12-23T15:30")


def _part_b_sent() -> list:
    return [
        *_stage_2(),
        ev("step_done", "2026-12-23T15:30", step="refer-to-business-unit"),
        ev("step_done", "2026-12-23T16:00", step="form-sent-to-responder"),
    ]


def test_CV_11_part_b_10_working_days_of_receipt_over_christmas() -> None:
    """A12: from the date the Business Unit sends the form (23 Dec 2026): 24, 29, 30, 31 Dec,
    4, 5, 6, 7, 8, 11 Jan 2027 (25, 28 Dec and 1 Jan are bank holidays)."""
    s = run(P, _part_b_sent(), "2026-12-23T16:00")
    part_b = item(s, "part-b-response")
    assert part_b.due_at == cob("2027-01-11") and part_b.step.stage_deadline
    assert part_b.step.by.value == "responding"
    assert not run(P, _part_b_sent(), "2027-01-11T16:00").escalation_due
    assert run(P, _part_b_sent(), "2027-01-11T17:30").escalation_due


def test_CV_12_next_delivery_group_without_meeting_dates_has_no_deadline() -> None:
    """A13: the seed gives no meeting calendar: an open item with no date, flagged as missing."""
    events = [*_part_b_sent(), ev("step_done", "2027-01-11T12:00", step="part-b-response")]
    s = run(P, events, "2027-01-11T12:00")
    dg = item(s, "delivery-group")
    assert dg.due_at is None and dg.meeting_missing and not dg.overdue
    assert s.next_deadline is None or s.next_deadline.step.id != "delivery-group"


def test_CV_12_next_delivery_group_with_a_meeting_calendar_in_yaml() -> None:
    """With dates injected in the YAML, the deadline is the first meeting after the anchor date."""
    p = _with_meetings("2027-01-05", "2027-01-11", "2027-03-10", "2027-01-20")
    events = [*_part_b_sent(), ev("step_done", "2027-01-11T12:00", step="part-b-response")]
    s = run(p, events, "2027-01-11T12:00")
    dg = item(s, "delivery-group")
    # 5 Jan is past; 11 Jan is the anchor day itself, which is not "the next meeting" (it may
    # already have happened); the list order in the YAML does not matter.
    assert dg.due_at == eod("2027-01-20") and not dg.meeting_missing


def test_CV_12_no_meeting_left_in_the_calendar() -> None:
    p = _with_meetings("2026-10-01")
    events = [*_part_b_sent(), ev("step_done", "2027-01-11T12:00", step="part-b-response")]
    dg = item(run(p, events, "2027-01-11T12:00"), "delivery-group")
    assert dg.due_at is None and dg.meeting_missing


def _stage_3() -> list:
    return [
        ev("opened", "2026-12-01T10:00"),
        ev("outcome", "2026-12-03T10:00", resolved=False),
        ev("outcome", "2026-12-15T10:00", resolved=False),
    ]


def test_CV_13_A2_inform_agencies_within_5_calendar_days_of_the_decision() -> None:
    """The Chair decides on Tue 22 Dec 2026: 5 *calendar* days is Sun 27 Dec (5 WD would be 31 Dec)."""
    s = run(P, _stage_3(), "2026-12-16T10:00")
    assert s.stage.id == "chair" and s.visits[-1].how == "escalation"
    assert item(s, "chair-decision").due_at is None  # A12: no deadline for the decision itself
    assert item(s, "inform-agencies").due_at is None  # its anchor has not happened
    s = run(P, [*_stage_3(), ev("step_done", "2026-12-22T14:00", step="chair-decision")], "2026-12-22T14:00")
    inform = item(s, "inform-agencies")
    assert inform.due_at == eod("2026-12-27")
    assert inform.step.due.unit.value == "calendar_days"


def test_CV_14_review_report_to_the_next_delivery_group_only_if_a_review_is_held() -> None:
    events = [*_stage_3(), ev("step_done", "2026-12-22T14:00", step="chair-decision")]
    s = run(P, events, "2026-12-22T14:00")
    assert not has(s, "case-review") and not has(s, "review-report")
    p = _with_meetings("2027-02-03", "2027-04-07")
    events += [ev("flag", "2026-12-22T14:05", name="review_required", value=True),
               ev("step_done", "2027-02-10T12:00", step="case-review")]
    s = run(p, events, "2027-02-10T12:00")
    report = item(s, "review-report")
    assert report.due_at == eod("2027-04-07") and report.step.to == "delivery-group"
    # the same case on the board as shipped (no meeting dates): no deadline, flagged
    s = run(P, events, "2027-02-10T12:00")
    assert item(s, "review-report").due_at is None and item(s, "review-report").meeting_missing


def test_CV_15_bypass_to_stage_3_with_a_recorded_reason() -> None:
    events = [OPEN, ev("bypassed", "2026-04-02T12:00", reason="death-serious-harm")]
    s = run(P, events, "2026-04-02T12:00")
    assert s.stage.id == "chair" and s.status is Status.OPEN
    assert s.visits[0].outcome == "bypassed"
    assert (s.visits[-1].how, s.visits[-1].reason) == ("bypass", "death-serious-harm")
    assert {r.id for r in P.bypass.reasons} == {"media-political", "death-serious-harm", "senior-coordination"}
    assert Action.BYPASS not in s.allowed  # already at the bypass stage


def test_CV_15_open_straight_at_stage_3() -> None:
    opened = ev("opened", "2026-04-02T11:00", bypass_to="chair", bypass_reason="media-political")
    s = run(P, [opened], "2026-04-02T11:00")
    assert s.stage.id == "chair" and s.visits[0].how == "bypass" and s.visits[0].reason == "media-political"


def test_CV_15_a_bypass_needs_a_reason() -> None:
    with pytest.raises(TransitionError, match="reason"):
        run(P, [OPEN, ev("bypassed", "2026-04-02T12:00")], "2026-04-02T12:00")
    with pytest.raises(TransitionError, match="reason"):
        run(P, [ev("opened", "2026-04-02T11:00", bypass_to="chair")], "2026-04-02T11:00")
    with pytest.raises(TransitionError):
        run(P, [ev("opened", "2026-04-02T11:00", bypass_to="escalated-to-cvsb", bypass_reason="x")],
            "2026-04-02T11:00")


def test_CV_16_discuss_with_safeguarding_lead_immediately_only_after_a_bypass() -> None:
    s = run(P, [OPEN, ev("bypassed", "2026-04-02T12:00", reason="senior-coordination")], "2026-04-02T12:00")
    duty = item(s, "discuss-with-safeguarding-lead")
    assert duty.due_at == t("2026-04-02T12:00") and duty.step.to == "safeguarding-lead"
    # reached by ordinary escalation: no such duty
    assert not has(run(P, _stage_3(), "2026-12-16T10:00"), "discuss-with-safeguarding-lead")


def test_CV_8_stage_1_record_to_business_unit_on_resolution() -> None:
    s = run(P, [OPEN, ev("outcome", "2026-04-07T10:00", resolved=True)], "2026-04-07T10:00")
    assert s.status is Status.RESOLVED
    rec = item(s, "stage-1-record-to-bu")
    assert rec.due_at is None and rec.step.to == "business-unit"


def test_CV_1_try_informally_first_is_a_precondition() -> None:
    pre = P.preconditions[0]
    assert pre.id == "tried-informally" and "CV-1" in pre.refs and not pre.on_no.block


def test_CV_17_quarterly_report() -> None:
    assert P.reporting.cadence == "quarterly" and "CV-17" in P.reporting.refs


def test_CV_2_4_advisory_immediate_risk_and_discretion_over_the_entry_stage() -> None:
    ir = P.immediate_risk
    assert ir.rule == "advisory" and {"CV-2", "CV-4"} <= set(ir.refs)  # A18: no same-working-day rule
    assert "CV-4" in P.bypass.refs


def test_CV_18_protocol_review_is_governance_not_a_case_clock() -> None:
    assert any("CV-18" in n for n in P.notes)
