"""Shapes other boards' protocols use (issue #18): 'a working week', two timescales 'whichever is sooner/later',
and several sub-steps in one stage each with its own conditional follow-up.

Every expected date is worked out by hand. England & Wales bank holidays used here: Good Friday 3 Apr 2026,
Easter Monday 6 Apr 2026, Early May 4 May 2026, Christmas Day Fri 25 Dec 2026, Boxing Day substitute
Mon 28 Dec 2026 (26 Dec is a Saturday), New Year's Day Fri 1 Jan 2027.
"""

from __future__ import annotations

import datetime as dt

import pytest

from protocol.engine import evaluate, timetable
from protocol.state import Status
from protocol.loader import ProtocolError, load_text
from protocol.timescales import Duration, DurationError, Unit
from tests.protocol.helpers import LONDON, cob, ev, has, item, t

# A board in the documented format with the three shapes (the example in docs/protocol-format.md).
SHAPES = """\
format: 1
id: other-shapes
name: Other Shapes Safeguarding Partnership
version: "2026-01"
ref_prefix: OSP
calendar:
  nation: england-and-wales
scope: [children]
categories:
  - {id: other, title: "Other"}
immediate_risk:
  rule: same_working_day
  text: "If a child is at immediate risk of significant harm, call the front door today or dial 999."
recipients:
  raising-agency: "The agency that raised the concern"
stages:
  - id: practitioners
    number: 1
    title: "Practitioners"
    level: practitioner
    steps:
      - id: discuss
        title: "Discuss the concern with the other practitioner"
        due: a working week
        from: disagreement
        stage_deadline: true
  - id: managers
    number: 2
    title: "Managers"
    level: line_manager
    steps:
      - id: managers-speak
        title: "Managers speak to each other"
        due: 2 working days
        from: stage_start
      - id: speak-outcome
        title: "Confirm the outcome of the managers' conversation in writing"
        due: 2 working days
        from: resolution
        when: resolved
        resolved_at: managers-speak
        kind: duty
        by: responding
        to: raising-agency
      - id: managers-meet
        title: "Managers meet"
        due: a further 5 working days
        from: step:managers-speak
        stage_deadline: true
        protective_cap: true
      - id: meet-outcome
        title: "Send the meeting's outcome in writing"
        due: 2 working days
        from: resolution
        when: resolved
        resolved_at: managers-meet
        kind: duty
        by: responding
        to: raising-agency
  - id: senior-managers
    number: 3
    title: "Senior managers"
    level: senior_manager
    steps:
      - id: refer-to-senior
        title: "Refer the matter to a senior manager"
        due: 48 hours or 2 working days, whichever is sooner
        from: previous_stage_completed
      - id: senior-decision
        title: "Senior managers decide"
        due: 2 working weeks
        from: step:refer-to-senior
        stage_deadline: true
"""

P = load_text(SHAPES, source="other-shapes.yaml")


def _step(due: str):
    from dataclasses import replace
    return replace(P.step("refer-to-senior"), due=Duration.parse(due))


# -- "a working week" -----------------------------------------------------------------------------
@pytest.mark.parametrize("text, days", [
    ("a working week", 5), ("a further working week", 5), ("1 working week", 5), ("2 working weeks", 10),
    ("a further 3 working weeks", 15), ("A  Working Week", 5),
])
def test_working_weeks_are_five_working_days_each(text: str, days: int) -> None:
    parsed = Duration.parse(text)
    assert (parsed.unit, parsed.amount) == (Unit.WORKING_DAYS, days)
    assert parsed.text == " ".join(text.lower().split())  # the file's words are kept for display


@pytest.mark.parametrize("text", ["a week", "2 weeks", "a calendar week", "0 working weeks",
                                  "a further a working week"])
def test_weeks_other_than_working_weeks_are_refused(text: str) -> None:
    with pytest.raises(DurationError):
        Duration.parse(text)


def test_plain_weeks_are_refused_with_a_hint() -> None:
    with pytest.raises(DurationError, match="working weeks"):
        Duration.parse("2 weeks")


def test_a_working_week_across_easter() -> None:
    """Arose Thu 2 Apr 2026. Fri 3 and Mon 6 Apr are bank holidays: Tue 7 is day 1, Wed 8 day 2, Thu 9 day 3,
    Fri 10 day 4, Mon 13 day 5."""
    s = evaluate(P, [ev("opened", "2026-04-02T10:00", arose_on="2026-04-02")], t("2026-04-02T10:00"))
    assert item(s, "discuss").due_at == cob("2026-04-13")


def test_a_working_week_across_christmas() -> None:
    """Arose Wed 23 Dec 2026: Thu 24 is day 1; Fri 25 and Mon 28 Dec are bank holidays; Tue 29 day 2,
    Wed 30 day 3, Thu 31 day 4; Fri 1 Jan 2027 is a bank holiday; Mon 4 Jan 2027 is day 5."""
    s = evaluate(P, [ev("opened", "2026-12-23T10:00", arose_on="2026-12-23")], t("2026-12-23T10:00"))
    assert item(s, "discuss").due_at == cob("2027-01-04")


def test_two_working_weeks_across_easter() -> None:
    """From Thu 2 Apr 2026: 7-10 Apr are days 1-4, 13-17 Apr days 5-9, Mon 20 Apr day 10."""
    cal = P.calendar()
    assert cal.due_working_days(dt.date(2026, 4, 2), Duration.parse("2 working weeks").amount) == cob("2026-04-20")


# -- two timescales, whichever is sooner / later ----------------------------------------------------
def test_parse_two_timescales() -> None:
    d = Duration.parse("48 hours or 2 working days, whichever is sooner")
    assert d.combined and d.pick == "sooner"
    assert [(a.unit, a.amount) for a in d.alternatives] == [(Unit.HOURS, 48), (Unit.WORKING_DAYS, 2)]
    # code that knows only one timescale sees the first named
    assert (d.unit, d.amount) == (Unit.HOURS, 48)
    assert Duration.parse("2 working days or 24 hours whichever is later").pick == "later"
    assert Duration.parse("a working week or 10 days, whichever is earlier").pick == "sooner"
    assert not Duration.parse("2 working days").combined


@pytest.mark.parametrize("text, fragment", [
    ("immediately or 2 working days, whichever is sooner", "cannot be combined"),
    ("none or 2 working days, whichever is sooner", "cannot be combined"),
    ("next meeting of board or 10 days, whichever is sooner", "cannot be combined"),
    ("48 hours or 2 workin days, whichever is sooner", "'2 workin days' is not a duration"),
    ("2 working days or 2 working days, whichever is later", "the same"),
    ("48 hours or 2 working days", "not a duration"),
    ("48 hours or 2 working days, whichever is best", "not a duration"),
])
def test_bad_two_timescale_rules(text: str, fragment: str) -> None:
    with pytest.raises(DurationError, match=fragment):
        Duration.parse(text)


def _refer(stage_2_ended: str, due: str | None = None):
    """The case reaches Stage 3 when Stage 2 ends unresolved at ``stage_2_ended``; the refer-to-senior item."""
    p = P
    if due is not None:
        from dataclasses import replace
        stages = list(P.stages)
        stages[2] = replace(stages[2], steps=(_step(due), *stages[2].steps[1:]))
        p = replace(P, stages=tuple(stages))
    events = [ev("opened", "2026-03-02T10:00", arose_on="2026-03-02"),
              ev("outcome", "2026-03-03T10:00", resolved=False),
              ev("outcome", stage_2_ended, resolved=False)]
    return item(evaluate(p, events, t(stage_2_ended)), "refer-to-senior")


def test_sooner_of_48_hours_and_2_working_days_before_easter() -> None:
    """Stage 2 ends Thu 2 Apr 2026 16:00. 48 hours: Sat 4 Apr 16:00. 2 working days: Fri 3 and Mon 6 are bank
    holidays, so Tue 7 (1), Wed 8 (2) 17:00. The sooner is the 48 hours."""
    i = _refer("2026-04-02T16:00")
    assert i.due_at == t("2026-04-04T16:00")
    assert i.due_rule == Duration.parse("48 hours")


def test_later_of_48_hours_and_2_working_days_before_easter() -> None:
    i = _refer("2026-04-02T16:00", "48 hours or 2 working days, whichever is later")
    assert i.due_at == cob("2026-04-08")
    assert i.due_rule == Duration.parse("2 working days")


def test_sooner_on_an_ordinary_week() -> None:
    """Stage 2 ends Mon 13 Apr 2026 10:00: 48 hours is Wed 15 Apr 10:00, 2 working days Wed 15 Apr 17:00."""
    i = _refer("2026-04-13T10:00")
    assert i.due_at == t("2026-04-15T10:00") and i.due_rule.unit is Unit.HOURS


def test_later_across_christmas() -> None:
    """Stage 2 ends Thu 24 Dec 2026 12:00. 48 hours: Sat 26 Dec 12:00. 2 working days: Fri 25 and Mon 28 Dec
    are bank holidays, so Tue 29 (1), Wed 30 Dec (2). The later is Wed 30 Dec 17:00."""
    i = _refer("2026-12-24T12:00", "48 hours or 2 working days, whichever is later")
    assert i.due_at == cob("2026-12-30") and i.due_rule.unit is Unit.WORKING_DAYS
    i = _refer("2026-12-24T12:00")
    assert i.due_at == t("2026-12-26T12:00") and i.due_rule.unit is Unit.HOURS


def test_a_tie_goes_to_the_first_named() -> None:
    """Stage 2 ends Mon 13 Apr 2026 at 17:00: 24 hours and 1 working day both end Tue 14 Apr 17:00."""
    i = _refer("2026-04-13T17:00", "24 hours or 1 working day, whichever is sooner")
    assert i.due_at == cob("2026-04-14") and i.due_rule.unit is Unit.HOURS
    i = _refer("2026-04-13T17:00", "1 working day or 24 hours, whichever is later")
    assert i.due_at == cob("2026-04-14") and i.due_rule.unit is Unit.WORKING_DAYS


def test_two_timescales_from_a_date_only_anchor_across_christmas() -> None:
    """From the date Thu 24 Dec 2026 (no time): 24 hours is the end of Fri 25 Dec; 1 working day skips
    Fri 25 and Mon 28 Dec: Tue 29 Dec 17:00. The later is Tue 29 Dec."""
    from protocol.engine import due_and_rule
    step = _step("24 hours or 1 working day, whichever is later")
    due, missing, rule = due_and_rule(step, dt.date(2026, 12, 24), P.calendar(), {})
    assert (due, missing, rule.unit) == (cob("2026-12-29"), False, Unit.WORKING_DAYS)
    step = _step("24 hours or 1 working day, whichever is sooner")
    due, _, rule = due_and_rule(step, dt.date(2026, 12, 24), P.calendar(), {})
    assert due == dt.datetime(2026, 12, 25, 23, 59, 59, tzinfo=LONDON) and rule.unit is Unit.HOURS


def test_a_protective_date_caps_a_two_timescale_rule() -> None:
    from dataclasses import replace
    step = replace(_step("2 working days or 48 hours, whichever is later"), protective_cap=True)
    stages = list(P.stages)
    stages[2] = replace(stages[2], steps=(step, *stages[2].steps[1:]))
    p = replace(P, stages=tuple(stages))
    # Stage 2 ends Thu 2 Apr 2026 16:00: the later is 2 working days, Wed 8 Apr; the protective date
    # Tue 7 Apr caps it at 17:00 that day
    events = [ev("opened", "2026-03-02T10:00", arose_on="2026-03-02", protective_date="2026-04-07"),
              ev("outcome", "2026-03-03T10:00", resolved=False), ev("outcome", "2026-04-02T16:00", resolved=False)]
    i = item(evaluate(p, events, t("2026-04-02T16:00")), "refer-to-senior")
    assert (i.due_at, i.nominal_due_at, i.capped) == (cob("2026-04-07"), cob("2026-04-08"), True)


# -- sub-steps of one stage, each with its own follow-up ---------------------------------------------
def _at_stage_2(entered: str) -> list:
    return [ev("opened", "2026-03-02T10:00", arose_on="2026-03-02"), ev("outcome", entered, resolved=False)]


def test_the_stage_keeps_its_number() -> None:
    assert [s.number for s in P.stages] == [1, 2, 3]
    assert [st.id for st in P.stage("managers").sub_steps()] == ["managers-speak", "managers-meet"]
    assert P.step("speak-outcome").resolved_at == "managers-speak"


def test_sub_step_deadlines_across_easter() -> None:
    """Stage 2 starts Thu 2 Apr 2026 16:00: managers speak within 2 working days (Tue 7, Wed 8 Apr, past
    Good Friday and Easter Monday); speaking recorded Wed 8 Apr, they meet within a further 5 working days:
    Thu 9, Fri 10, Mon 13, Tue 14, Wed 15 Apr."""
    events = _at_stage_2("2026-04-02T16:00")
    s = evaluate(P, events, t("2026-04-02T16:00"))
    assert item(s, "managers-speak").due_at == cob("2026-04-08")
    assert item(s, "managers-meet").due_at is None  # its clock has not started
    assert not has(s, "speak-outcome") and not has(s, "meet-outcome")  # owed only if resolved
    events.append(ev("step_done", "2026-04-08T15:00", step="managers-speak"))
    s = evaluate(P, events, t("2026-04-08T15:00"))
    assert item(s, "managers-meet").due_at == cob("2026-04-15")


def test_agreement_when_managers_speak_owes_the_speaking_follow_up_only() -> None:
    """Resolved Tue 7 Apr 2026 11:00 before the conversation is marked done: reached at 'managers-speak'.
    Its follow-up is due 2 working days later: Wed 8, Thu 9 Apr."""
    events = [*_at_stage_2("2026-04-02T16:00"), ev("outcome", "2026-04-07T11:00", resolved=True)]
    s = evaluate(P, events, t("2026-04-07T11:00"))
    assert s.status is Status.RESOLVED and s.resolved_step == "managers-speak"
    assert item(s, "speak-outcome").due_at == cob("2026-04-09")
    assert not has(s, "meet-outcome")


def test_agreement_at_the_meeting_owes_the_meeting_follow_up_only() -> None:
    """Speaking recorded Wed 8 Apr 2026, resolved at the meeting Tue 14 Apr 10:00: the meeting's follow-up is
    due Wed 15, Thu 16 Apr."""
    events = [*_at_stage_2("2026-04-02T16:00"), ev("step_done", "2026-04-08T15:00", step="managers-speak"),
              ev("outcome", "2026-04-14T10:00", resolved=True)]
    s = evaluate(P, events, t("2026-04-14T10:00"))
    assert s.resolved_step == "managers-meet"
    assert item(s, "meet-outcome").due_at == cob("2026-04-16")
    assert not has(s, "speak-outcome")
    # both sub-steps recorded done before the outcome: still the meeting (the last sub-step)
    events.insert(-1, ev("step_done", "2026-04-14T09:00", step="managers-meet"))
    s = evaluate(P, events, t("2026-04-14T10:00"))
    assert s.resolved_step == "managers-meet" and has(s, "meet-outcome") and not has(s, "speak-outcome")


def test_the_outcome_can_name_the_sub_step() -> None:
    """Speaking was marked done and agreement had been reached in that conversation: the outcome says so."""
    events = [*_at_stage_2("2026-04-02T16:00"), ev("step_done", "2026-04-08T15:00", step="managers-speak"),
              ev("outcome", "2026-04-08T15:00", resolved=True, at_step="managers-speak")]
    s = evaluate(P, events, t("2026-04-08T15:00"))
    assert s.resolved_step == "managers-speak"
    assert item(s, "speak-outcome").due_at == cob("2026-04-10")  # Thu 9, Fri 10 Apr
    assert not has(s, "meet-outcome")
    # a name that is not a sub-step of the stage is ignored
    events[-1] = ev("outcome", "2026-04-08T15:00", resolved=True, at_step="discuss")
    assert evaluate(P, events, t("2026-04-08T15:00")).resolved_step == "managers-meet"


def test_sub_steps_across_christmas() -> None:
    """Stage 2 starts Wed 23 Dec 2026 10:00: speak within 2 working days: Thu 24 (1), then Fri 25 and Mon 28
    are bank holidays, Tue 29 Dec (2). Speaking recorded Tue 29 Dec 16:00: meet within a further 5: Wed 30 (1),
    Thu 31 (2), Fri 1 Jan 2027 is a bank holiday, Mon 4 (3), Tue 5 (4), Wed 6 Jan 2027 (5). Resolved at the
    meeting Thu 31 Dec 12:00: its follow-up skips New Year's Day: Mon 4 (1), Tue 5 Jan 2027 (2)."""
    events = _at_stage_2("2026-12-23T10:00")
    assert item(evaluate(P, events, t("2026-12-23T10:00")), "managers-speak").due_at == cob("2026-12-29")
    events.append(ev("step_done", "2026-12-29T16:00", step="managers-speak"))
    assert item(evaluate(P, events, t("2026-12-29T16:00")), "managers-meet").due_at == cob("2027-01-06")
    events.append(ev("outcome", "2026-12-31T12:00", resolved=True))
    s = evaluate(P, events, t("2026-12-31T12:00"))
    assert item(s, "meet-outcome").due_at == cob("2027-01-05") and not has(s, "speak-outcome")


def test_a_stage_resolved_at_another_stage_owes_neither_follow_up() -> None:
    s = evaluate(P, [ev("opened", "2026-04-02T10:00"), ev("outcome", "2026-04-07T10:00", resolved=True)],
                 t("2026-04-07T10:00"))
    assert s.resolved_step == "discuss"
    assert not has(s, "speak-outcome") and not has(s, "meet-outcome")


def test_an_unknown_step_in_an_outcome_is_still_an_outcome() -> None:
    events = [*_at_stage_2("2026-04-02T16:00"), ev("outcome", "2026-04-07T11:00", resolved=True, at_step="nope")]
    assert evaluate(P, events, t("2026-04-07T11:00")).resolved_step == "managers-speak"


def test_timetable_if_resolved_lists_each_sub_steps_follow_up() -> None:
    """Timetable from Thu 2 Apr 2026: Stage 1 'a working week' ends Mon 13 Apr (see above). Stage 2 from
    Mon 13 Apr 17:00: speak by Wed 15 Apr (Tue 14, Wed 15); if agreed then, written by Fri 17 Apr (Thu 16,
    Fri 17). Meet a further 5 working days after Wed 15: Thu 16, Fri 17, Mon 20, Tue 21, Wed 22 Apr; if agreed
    then, written by Fri 24 Apr. Stage 3 from Wed 22 Apr 17:00: 48 hours (Fri 24 Apr 17:00) is sooner than
    2 working days (Fri 24 Apr 17:00 too: a tie, so the 48 hours named first applies); decision 2 working
    weeks later: Mon 27 Apr - Fri 1 May (5), Tue 5 - Fri 8 May (9, Mon 4 May is a bank holiday), Mon 11 May (10)."""
    rows = {r.step.id: r for r in timetable(P, dt.date(2026, 4, 2), include_conditional=True)}
    assert rows["discuss"].due_iso == "2026-04-13"
    assert rows["managers-speak"].due_iso == "2026-04-15"
    assert (rows["speak-outcome"].due_iso, rows["speak-outcome"].condition) == ("2026-04-17", "resolved")
    assert rows["speak-outcome"].anchor.at == cob("2026-04-15")
    assert rows["managers-meet"].due_iso == "2026-04-22"
    assert (rows["meet-outcome"].due_iso, rows["meet-outcome"].condition) == ("2026-04-24", "resolved")
    assert rows["refer-to-senior"].due_at == cob("2026-04-24") and rows["refer-to-senior"].due_rule.unit is Unit.HOURS
    assert rows["refer-to-senior"].due_iso == "2026-04-24T17:00:00+01:00"  # shown with its time: the hours applied
    assert rows["senior-decision"].due_iso == "2026-05-11"
    plain = [r.step.id for r in timetable(P, dt.date(2026, 4, 2))]
    assert "speak-outcome" not in plain and "meet-outcome" not in plain


# -- the checker on follow-ups ---------------------------------------------------------------------
@pytest.mark.parametrize("old, new, path, fragment", [
    ("        resolved_at: managers-speak\n", "        resolved_at: managers-spek\n",
     "stages[1].steps[1].resolved_at", "step 'managers-spek' does not exist"),
    ("        resolved_at: managers-speak\n", "        resolved_at: discuss\n",
     "stages[1].steps[1].resolved_at", "step 'discuss' is not a step of this stage"),
    ("        resolved_at: managers-speak\n", "        resolved_at: meet-outcome\n",
     "stages[1].steps[1].resolved_at", "'meet-outcome' is not a sub-step"),
    ("        when: resolved\n        resolved_at: managers-speak\n", "        resolved_at: managers-speak\n",
     "stages[1].steps[1].when", "add when: resolved"),
])
def test_checker_on_follow_ups(old: str, new: str, path: str, fragment: str) -> None:
    assert old in SHAPES
    with pytest.raises(ProtocolError) as exc:
        load_text(SHAPES.replace(old, new, 1), source="other-shapes.yaml")
    problems = dict(exc.value.problems)
    assert fragment in problems[path], problems


def test_checker_refuses_a_follow_up_outside_a_stage() -> None:
    text = SHAPES + """after_resolution:
  - id: debrief
    title: "Debrief"
    due: 10 working days
    resolved_at: managers-speak
"""
    with pytest.raises(ProtocolError) as exc:
        load_text(text, source="other-shapes.yaml")
    assert "inside a stage" in dict(exc.value.problems)["after_resolution[0].resolved_at"]


def test_the_guides_sub_step_example_is_the_stage_tested_here() -> None:
    """docs/protocol-format.md shows the Managers stage of this board (less its protective cap)."""
    from pathlib import Path

    import yaml

    doc = (Path(__file__).resolve().parents[2] / "docs" / "protocol-format.md").read_text("utf-8")
    section = doc[doc.index("## Several sub-steps in one stage"):]
    block = section[section.index("```yaml\n") + 8:section.index("```\n", section.index("```yaml\n") + 8)]
    [shown] = yaml.safe_load(block)
    tested = yaml.safe_load(SHAPES)["stages"][1]
    tested["steps"][2].pop("protective_cap")
    assert shown == tested
