"""`parley timetable` and `parley protocols check` (issue #18): the four seed boards' timetables pinned to golden
files, a date-time start, a protective date, deadlines on a weekend or bank holiday, and the checker's
every-problem report.

England & Wales bank holidays used here: Good Friday 3 Apr 2026, Easter Monday 6 Apr 2026, Early May
4 May 2026, Christmas Day Fri 25 Dec 2026, Boxing Day substitute Mon 28 Dec 2026, New Year's Day 1 Jan 2027.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from adapters.cli import app
from protocol.loader import BOARDS_DIR
from tests.protocol.test_other_shapes import SHAPES

GOLDEN = Path(__file__).parent / "golden"
BOARDS = ["cardiff-and-vale", "mid-and-west-wales", "swindon", "wolverhampton"]
# before and after a bank holiday or two, on a Saturday, and over Christmas and New Year
GOLDEN_STARTS = ["2026-01-02", "2026-04-02", "2026-04-04", "2026-05-01", "2026-08-27", "2026-12-15",
                 "2026-12-24"]
GOLDEN_VARIANTS = [[], ["--json"], ["--if-resolved"]]

runner = CliRunner()


def parley(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def golden_text(board: str) -> str:
    """Every golden start and variant of one board's timetable, as the CLI prints them."""
    out = []
    for start in GOLDEN_STARTS:
        for extra in GOLDEN_VARIANTS:
            code, text = parley("timetable", board, "--start", start, *extra)
            assert code == 0, text
            out.append(f"=== timetable {board} --start {start} {' '.join(extra)}".rstrip() + "\n" + text)
    return "".join(out)


@pytest.mark.parametrize("board", BOARDS)
def test_seed_timetables_match_the_golden_files(board: str) -> None:
    """The seed boards' timetables are byte-identical to those printed before issue #18, except where a timed
    deadline falls on a weekend or bank holiday and is now marked so (Cardiff and Vale's 'immediately' step
    on a Saturday start, Wolverhampton's 24-hour step on Christmas Day): the golden files hold those lines as
    they are now printed."""
    assert golden_text(board) == (GOLDEN / f"timetable-{board}.txt").read_text("utf-8")


def _line(output: str, fragment: str) -> str:
    [line] = [ln for ln in output.splitlines() if fragment in ln]
    return line


# -- a deadline in hours, or 'immediately', on a non-working day ----------------------------------------
def test_a_24_hour_step_on_christmas_day_is_marked() -> None:
    """Day 0 Tue 15 Dec 2026: raise by Thu 17 (2 WD); review by Tue 22 (Fri 18, Mon 21, Tue 22); Stage 2 by
    Thu 24 (Wed 23, Thu 24) at 17:00; the 24-hour written referral is then due Fri 25 Dec 17:00, Christmas
    Day. Its follow-on, 2 WD later, skips Christmas Day and the Boxing Day substitute (Mon 28): Tue 29 (1),
    Wed 30 Dec (2)."""
    code, out = parley("timetable", "wolverhampton", "--start", "2026-12-15")
    assert code == 0
    assert ("Refer the issue in writing to the relevant senior manager or designated professional: "
            "Fri 25 Dec 2026 17:00 (a bank holiday, Christmas Day) (working day 7) \u2014 24 hours after Stage 2 "
            "completed") in out
    assert "Senior managers engage in dialogue to resolve the issue: Wed 30 Dec 2026 (working day 9)" in out
    assert out.count("(a bank holiday") == 1 and "(a weekend)" not in out
    rows = {r["step"]: r for r in json.loads(parley("timetable", "wolverhampton", "--start", "2026-12-15",
                                                    "--json")[1])}
    assert rows["written-referral"]["due"] == "2026-12-25T17:00:00+00:00"
    assert rows["written-referral"]["non_working_day"] == "Christmas Day"
    assert "non_working_day" not in rows["senior-dialogue"]


def test_a_24_hour_step_on_a_working_day_is_not_marked() -> None:
    """Day 0 Mon 13 Apr 2026: raise Wed 15, review Mon 20 (Thu 16, Fri 17, Mon 20), Stage 2 Wed 22 17:00;
    24 hours later is Thu 23 Apr 17:00, a working day."""
    out = parley("timetable", "wolverhampton", "--start", "2026-04-13")[1]
    assert "designated professional: Thu 23 Apr 2026 17:00 (working day 8) \u2014 24 hours" in out
    assert "(a bank holiday" not in out and "(a weekend)" not in out


def test_immediately_on_a_saturday_is_at_once_and_marked() -> None:
    """Day 0 Sat 4 Apr 2026, taken as the start of business: 'immediately' is 09:00 that Saturday. The manager
    then has 2 working days: Mon 6 Apr is Easter Monday, so Tue 7 (1), Wed 8 Apr (2)."""
    out = parley("timetable", "cardiff-and-vale", "--start", "2026-04-04")[1]
    assert "safeguarding lead): Sat 4 Apr 2026 09:00 (a weekend) (working day 0) \u2014 immediately" in out
    assert "attempts to resolve: Wed 8 Apr 2026 (working day 2)" in out


def test_immediately_on_the_boxing_day_substitute_is_marked() -> None:
    """Day 0 Mon 28 Dec 2026, the substitute for Boxing Day (Sat 26 Dec): 'immediately' is 09:00 that day.
    The manager's 2 working days: Tue 29 (1), Wed 30 Dec (2)."""
    out = parley("timetable", "cardiff-and-vale", "--start", "2026-12-28")[1]
    assert ("safeguarding lead): Mon 28 Dec 2026 09:00 (a bank holiday, Boxing Day, substitute day) (working day 0) "
            "\u2014 immediately") in out
    assert "attempts to resolve: Wed 30 Dec 2026 (working day 2)" in out


# -- a date-time start ---------------------------------------------------------------------------------
def test_a_date_time_start() -> None:
    """The concern is raised at 14:30 on Sat 4 Apr 2026: 'immediately' is then, not 09:00."""
    code, out = parley("timetable", "cardiff-and-vale", "--start", "2026-04-04T14:30")
    assert code == 0
    assert out.splitlines()[0] == ("Cardiff and Vale Safeguarding Board: timetable from Sat 4 Apr 2026 14:30 "
                                   "(day 0), every step on its last allowed day")
    assert "safeguarding lead): Sat 4 Apr 2026 14:30 (a weekend) (working day 0)" in out
    assert "attempts to resolve: Wed 8 Apr 2026 (working day 2)" in out


def test_a_date_time_start_on_a_working_day() -> None:
    """Thu 2 Apr 2026 16:30: at once, Thu 16:30 (no mark); the manager by Wed 8 Apr (Tue 7, Wed 8)."""
    out = parley("timetable", "cardiff-and-vale", "--start", "2026-04-02T16:30")[1]
    assert "safeguarding lead): Thu 2 Apr 2026 16:30 (working day 0) \u2014 immediately" in out
    assert "attempts to resolve: Wed 8 Apr 2026 (working day 2)" in out
    # day-based timescales do not depend on the time of day: the Swindon chain is the same as from the date
    by_time = json.loads(parley("timetable", "swindon", "--start", "2026-04-02T16:30", "--json")[1])
    by_date = json.loads(parley("timetable", "swindon", "--start", "2026-04-02", "--json")[1])
    assert [(r["step"], r["due"]) for r in by_time] == [(r["step"], r["due"]) for r in by_date]


# -- a protective date ---------------------------------------------------------------------------------
def test_protective_date_mid_and_west_wales() -> None:
    """Day 0 Thu 2 Apr 2026, protective date Wed 8 Apr. Stage 1 'meet within 5 WD' (capped): Tue 7, Wed 8,
    Thu 9, Fri 10, Mon 13 -> brought forward to Wed 8 Apr 17:00. The Stage 1 limit (10 WD, not capped): Mon
    20 Apr. Stage 2 (10 WD, not capped): 21-24 Apr, 27 Apr-1 May, Tue 5 May (Mon 4 May is a bank holiday).
    Stage 3 (10 WD, capped) would be Tue 19 May, but the protective date has long passed: due Wed 8 Apr."""
    code, out = parley("timetable", "mid-and-west-wales", "--start", "2026-04-02", "--protective", "2026-04-08")
    assert code == 0
    assert out.splitlines()[0].endswith("timetable from Thu 2 Apr 2026 (day 0), protective date Wed 8 Apr 2026, "
                                        "every step on its last allowed day")
    assert ("professional difference with: Wed 8 Apr 2026 17:00 (working day 2) \u2014 5 working days after the "
            "concern was raised, brought forward to the protective date (otherwise Mon 13 Apr 2026)") in out
    assert "(Stage 2): Mon 20 Apr 2026 (working day 10) \u2014 10 working days after the concern was raised  [" in out
    assert ("resolve the differences: Tue 5 May 2026 (working day 20) \u2014 10 working days after Stage 2 "
            "started") in out
    assert ("decide an outcome: Wed 8 Apr 2026 17:00 (working day 2) \u2014 10 working days after Stage 2 completed, "
            "brought forward to the protective date (otherwise Tue 19 May 2026); the protective date has passed "
            "before this step starts, so it is overdue from the start") in out
    rows = {r["step"]: r for r in json.loads(parley("timetable", "mid-and-west-wales", "--start", "2026-04-02",
                                                    "--protective", "2026-04-08", "--json")[1])}
    assert rows["practitioners-meet"] | {"refs": []} == {
        "stage": 1, "step": "practitioners-meet", "title": rows["practitioners-meet"]["title"],
        "due": "2026-04-08T17:00:00+01:00", "timescale": "5 working days", "from": "the concern was raised",
        "kind": "action", "refs": [], "working_day": 2, "capped": True, "nominal_due": "2026-04-13"}
    assert rows["senior-review"]["overdue_at_start"] is True
    assert "capped" not in rows["stage-1-limit"]


def test_a_protective_date_brings_the_following_stages_forward() -> None:
    """Wolverhampton from Thu 2 Apr 2026 with a protective date of Tue 14 Apr: only the overall target (10 WD,
    Mon 20 Apr) is capped, to Tue 14 Apr 17:00; the stage clocks are not (A4), so Stage 1 still ends Mon 13 Apr
    (raise by Wed 8 = Tue 7, Wed 8; review Thu 9, Fri 10, Mon 13: working day 5)."""
    out = parley("timetable", "wolverhampton", "--start", "2026-04-02", "--protective", "2026-04-14")[1]
    assert ("Resolve through discussion (overall target for Stages 1-3): Tue 14 Apr 2026 17:00 (working day 6) "
            "\u2014 10 working days after the disagreement arose, brought forward to the protective date "
            "(otherwise Mon 20 Apr 2026)") in out
    assert "seeks a way forward: Mon 13 Apr 2026 (working day 5)" in out
    assert out.count("brought forward") == 1


def test_a_capped_stage_deadline_ends_the_stage_sooner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The other-shapes board from Thu 2 Apr 2026 with a protective date of Fri 17 Apr: Stage 1 (a working week)
    ends Mon 13 Apr; the managers speak by Wed 15 Apr; their meeting (a further 5 WD: Wed 22 Apr) is capped at
    Fri 17 Apr 17:00, so Stage 3 starts then: 48 hours is Sun 19 Apr 17:00, sooner than 2 working days (Tue 21
    Apr), and a weekend. Working days from day 0: 7-10 Apr are 1-4, 13-17 Apr 5-9."""
    (tmp_path / "other-shapes.yaml").write_text(SHAPES, "utf-8")
    monkeypatch.chdir(tmp_path)
    out = parley("timetable", "other-shapes.yaml", "--start", "2026-04-02", "--protective", "2026-04-17")[1]
    assert "Managers meet: Fri 17 Apr 2026 17:00 (working day 9) \u2014 a further 5 working days after" in out
    assert ("Refer the matter to a senior manager: Sun 19 Apr 2026 17:00 (a weekend) (working day 9) \u2014 48 hours "
            "after Stage 2 completed (48 hours or 2 working days, whichever is sooner)") in out


def test_sub_step_follow_ups_in_the_timetable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """From Thu 2 Apr 2026 (see test_other_shapes): speak by Wed 15 Apr, its follow-up Fri 17 Apr; meet by
    Wed 22 Apr, its follow-up Fri 24 Apr; both in Stage 2 (working days 9 and 14: 7-10, 13-17, 20-24 Apr)."""
    (tmp_path / "other-shapes.yaml").write_text(SHAPES, "utf-8")
    monkeypatch.chdir(tmp_path)
    out = parley("timetable", "other-shapes.yaml", "--start", "2026-04-02", "--if-resolved")[1]
    assert ("Stage 2  Confirm the outcome of the managers' conversation in writing [if resolved]: Fri 17 Apr 2026 "
            "(working day 9) \u2014 2 working days after the resolution") in out
    assert "Stage 2  Send the meeting's outcome in writing [if resolved]: Fri 24 Apr 2026 (working day 14)" in out
    rows = json.loads(parley("timetable", "other-shapes.yaml", "--start", "2026-04-02", "--json")[1])
    [refer] = [r for r in rows if r["step"] == "refer-to-senior"]
    assert refer["applies"] == "48 hours" and refer["timescale"] == "48 hours or 2 working days, whichever is sooner"
    assert "applies" not in [r for r in rows if r["step"] == "managers-meet"][0]


@pytest.mark.parametrize("args, message", [
    (["--start", "2026-13-01"], "--start must be a date like 2026-04-02 or a date-time like 2026-04-02T14:30"),
    (["--start", "2026-04-02T25:00"], "--start must be a date"),
    (["--start", "2026-04-02", "--protective", "next week"], "--protective must be a date like 2026-04-14"),
])
def test_bad_dates_are_refused(args: list[str], message: str) -> None:
    code, out = parley("timetable", "swindon", *args)
    assert code == 1 and message in out


# -- the checker ---------------------------------------------------------------------------------------
def test_check_reports_every_problem_with_the_path_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = yaml.safe_load((BOARDS_DIR / "swindon.yaml").read_text("utf-8"))
    data["stages"][0].pop("title")
    data["stages"][1]["number"] = "two"
    data["stages"][1]["steps"][1]["to"] = "nobody"
    (tmp_path / "drafts").mkdir()
    (tmp_path / "drafts" / "new-swindon.yaml").write_text(yaml.safe_dump(data, sort_keys=False), "utf-8")
    monkeypatch.chdir(tmp_path)
    code, out = parley("protocols", "check", "drafts/new-swindon.yaml")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "Not valid:"
    assert sorted(lines[1:]) == sorted([
        "drafts/new-swindon.yaml: stages[0]: 'title' is a required property",
        "drafts/new-swindon.yaml: stages[1].number: 'two' is not of type 'integer'",
        "drafts/new-swindon.yaml: stages[1].steps[1].to: recipient 'nobody' is not declared under recipients:",
        "drafts/new-swindon.yaml: id: the board id 'swindon' does not match the file name 'new-swindon.yaml': "
        "a board's id is its file name without .yaml (rename the file to 'swindon.yaml' or change id: to "
        "'new-swindon')",
    ])


def test_check_shows_a_follow_up_and_a_two_timescale_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "other-shapes.yaml").write_text(SHAPES, "utf-8")
    monkeypatch.chdir(tmp_path)
    code, out = parley("protocols", "check", "other-shapes.yaml")
    assert code == 0, out
    assert "Other Shapes Safeguarding Partnership (other-shapes, version 2026-01): valid" in out
    assert ("  Confirm the outcome of the managers' conversation in writing: 2 working days from resolution | "
            "only when resolved at managers-speak") in out
    assert "  Refer the matter to a senior manager: 48 hours or 2 working days, whichever is sooner from " \
           "previous_stage_completed" in out
