"""Loading board YAML: every board loads; every mistake is reported with file, path and reason."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from protocol.engine import evaluate, timetable
from protocol.state import Status
from protocol.loader import (
    BOARDS_DIR,
    ProtocolError,
    board_ids,
    from_snapshot,
    load_board,
    load_data,
    load_file,
    load_text,
    snapshot,
)
from protocol.timescales import AnchorKind, Duration, DurationError, Unit
from tests.protocol.helpers import cob, ev, item, t

BOARDS = ["cardiff-and-vale", "mid-and-west-wales", "swindon", "wolverhampton"]

# A complete small board, written as YAML only (the same example as docs/protocol-format.md).
NEW_BOARD = """\
format: 1
id: new-town
name: New Town Safeguarding Partnership
version: "2026-01"
ref_prefix: NTP
calendar:
  nation: scotland
scope: [children, adults]
categories:
  - {id: thresholds, title: "Thresholds"}
  - {id: other, title: "Other"}
immediate_risk:
  rule: same_working_day
  text: "If someone is at immediate risk of significant harm, refer to the front door today or dial 999."
  contacts:
    - {label: "Police emergency", phone: "999", serves: both}
recipients:
  business-unit: "New Town Partnership Business Unit"
stages:
  - id: practitioners
    number: 1
    title: "Practitioners"
    level: practitioner
    steps:
      - id: discuss
        title: "Discuss the concern with the other practitioner"
        due: 3 working days
        from: disagreement
        stage_deadline: true
  - id: managers
    number: 2
    title: "Managers"
    level: line_manager
    steps:
      - id: managers-meet
        title: "Managers meet"
        due: 5 working days
        from: previous_stage_completed
        stage_deadline: true
      - id: tell-business-unit
        title: "Tell the Business Unit"
        due: same working day
        from: stage_start
        kind: duty
        to: business-unit
after_resolution:
  - id: outcome-letter
    title: "Confirm the outcome in writing"
    due: 2 working days
    from: resolution
    kind: duty
    to: business-unit
"""


def _problems(exc: pytest.ExceptionInfo[ProtocolError]) -> dict[str, str]:
    return {path: msg for path, msg in exc.value.problems}


def _mutate(edit, board: str = "swindon") -> dict:
    data = yaml.safe_load((BOARDS_DIR / f"{board}.yaml").read_text("utf-8"))
    edit(data)
    return data


def _write(tmp_path: Path, data: dict | str, name: str = "board.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False), "utf-8")
    return path


# -- the four boards ----------------------------------------------------------------------------
def test_all_four_boards_are_listed() -> None:
    assert board_ids() == BOARDS


@pytest.mark.parametrize("board", BOARDS)
def test_each_board_loads(board: str) -> None:
    p = load_board(board)
    assert p.id == board
    assert p.nation == "england-and-wales" and p.timezone == "Europe/London"
    assert (p.day_start, p.day_end) == (dt.time(9), dt.time(17))
    assert p.stages and not p.stages[0].exceptional
    assert p.immediate_risk.text.strip()
    # a timescale id cited by every stage, and every step carries refs back to timescales.md
    for _, step in p.all_steps():
        assert step.refs, step.id
        assert all(r.startswith(p.ref_prefix + "-") for r in step.refs), step.id
    # loading by path gives the same protocol
    assert load_file(BOARDS_DIR / f"{board}.yaml") == p


def test_board_shapes() -> None:
    shapes = {b: [(s.number, s.exceptional) for s in load_board(b).stages] for b in BOARDS}
    assert shapes["mid-and-west-wales"] == [(1, False), (2, False), (3, True)]
    assert shapes["cardiff-and-vale"] == [(1, False), (2, False), (3, False)]
    assert shapes["swindon"] == [(1, False), (2, False), (3, False), (4, False), (5, False), (6, True)]
    assert shapes["wolverhampton"] == [(1, False), (2, False), (3, False), (4, False), (5, True)]


def test_unknown_board_names_the_known_ones() -> None:
    with pytest.raises(ProtocolError) as exc:
        load_board("atlantis")
    assert "atlantis" in str(exc.value) and "swindon" in str(exc.value)


# -- duration strings ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, unit, amount",
    [
        ("5 working days", Unit.WORKING_DAYS, 5),
        ("1 working day", Unit.WORKING_DAYS, 1),
        ("a further 2 working days", Unit.WORKING_DAYS, 2),
        ("5 days", Unit.CALENDAR_DAYS, 5),
        ("24 hours", Unit.HOURS, 24),
        ("a month", Unit.MONTHS, 1),
        ("3 months", Unit.MONTHS, 3),
        ("same working day", Unit.SAME_WORKING_DAY, 0),
        ("immediately", Unit.IMMEDIATELY, 0),
        ("none", Unit.NONE, 0),
        ("  5   Working   Days ", Unit.WORKING_DAYS, 5),
    ],
)
def test_duration_strings(text: str, unit: Unit, amount: int) -> None:
    parsed = Duration.parse(text)
    assert (parsed.unit, parsed.amount) == (unit, amount)


def test_next_meeting_duration_names_the_meeting() -> None:
    parsed = Duration.parse("next meeting of delivery-group")
    assert parsed.unit is Unit.NEXT_MEETING and parsed.meeting == "delivery-group"


@pytest.mark.parametrize("text", ["5 workin days", "five working days", "0 working days", "2 weeks", "soon", ""])
def test_bad_duration_strings(text: str) -> None:
    with pytest.raises(DurationError):
        Duration.parse(text)


# -- validation errors name the file, the path and the problem -----------------------------------
def test_bad_duration_string_in_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _mutate(lambda d: d["stages"][1]["steps"][0].update(due="5 workin days"))
    (tmp_path / "drafts").mkdir()
    _write(tmp_path / "drafts", data, "swindon.yaml")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ProtocolError) as exc:
        load_file("drafts/swindon.yaml")
    text = str(exc.value)
    assert text.startswith("drafts/swindon.yaml: stages[1].steps[0].due: ")  # the file's path as given
    assert "'5 workin days' is not a duration" in text
    assert exc.value.source == "drafts/swindon.yaml"


def test_unknown_anchor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _mutate(lambda d: d["stages"][0]["steps"][0].update({"from": "the-day-after"}))
    _write(tmp_path, data, "swindon.yaml")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ProtocolError) as exc:
        load_file("swindon.yaml")
    msg = _problems(exc)["stages[0].steps[0].from"]
    assert "'the-day-after' is not an anchor" in msg and "previous_stage_completed" in msg
    assert str(exc.value).startswith("swindon.yaml: stages[0].steps[0].from: ")


def test_step_anchored_on_a_missing_step() -> None:
    data = _mutate(lambda d: d["stages"][4]["steps"][2].update({"from": "step:resolution-meeeting"}))
    with pytest.raises(ProtocolError) as exc:
        load_data(data, source="swindon.yaml")
    assert _problems(exc)["stages[4].steps[2].from"] == "step 'resolution-meeeting' does not exist"


def test_step_anchored_on_a_step_of_another_stage() -> None:
    data = _mutate(lambda d: d["stages"][4]["steps"][2].update({"from": "step:internal-discussion"}))
    with pytest.raises(ProtocolError) as exc:
        load_data(data, source="swindon.yaml")
    assert "its own stage" in _problems(exc)["stages[4].steps[2].from"]


def test_step_anchored_on_itself() -> None:
    data = _mutate(lambda d: d["stages"][4]["steps"][2].update({"from": "step:learning"}))
    with pytest.raises(ProtocolError) as exc:
        load_data(data, source="swindon.yaml")
    assert "itself" in _problems(exc)["stages[4].steps[2].from"]


def test_undeclared_recipient() -> None:
    data = _mutate(lambda d: d["stages"][1]["steps"][1].update(to="the-partnership"))
    with pytest.raises(ProtocolError) as exc:
        load_data(data, source="swindon.yaml")
    assert _problems(exc)["stages[1].steps[1].to"] == "recipient 'the-partnership' is not declared under recipients:"


def test_undeclared_recipient_for_urgent_notice() -> None:
    data = _mutate(lambda d: d["urgent_notice"].update(to="nobody"))
    with pytest.raises(ProtocolError) as exc:
        load_data(data, source="swindon.yaml")
    assert "nobody" in _problems(exc)["urgent_notice.to"]


def test_duplicate_step_ids_name_both_places() -> None:
    data = _mutate(lambda d: d["stages"][2]["steps"][0].update(id="inter-agency-discussion"))
    with pytest.raises(ProtocolError) as exc:
        load_data(data, source="swindon.yaml")
    msg = _problems(exc)["stages[2].steps[0].id"]
    assert "'inter-agency-discussion'" in msg and "stages[1].steps[0]" in msg and "unique" in msg


def test_duplicate_ids_between_a_stage_and_after_resolution() -> None:
    data = _mutate(lambda d: d["after_resolution"][0].update(id="raise"), board="wolverhampton")
    with pytest.raises(ProtocolError) as exc:
        load_data(data, source="wolverhampton.yaml")
    assert "stages[0].steps[0]" in _problems(exc)["after_resolution[0].id"]


def test_duplicate_stage_ids() -> None:
    data = _mutate(lambda d: d["stages"][1].update(id="internal-discussion"))
    with pytest.raises(ProtocolError) as exc:
        load_data(data, source="swindon.yaml")
    assert "'internal-discussion' is used twice" in _problems(exc)["stages"]


def test_bad_nation() -> None:
    data = _mutate(lambda d: d["calendar"].update(nation="wales"))
    with pytest.raises(ProtocolError) as exc:
        load_data(data, source="swindon.yaml")
    msg = _problems(exc)["calendar.nation"]
    assert "'wales'" in msg and "england-and-wales" in msg
    assert str(exc.value).startswith("swindon.yaml: calendar.nation: ")


def test_yaml_syntax_error_names_line_and_column(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (BOARDS_DIR / "swindon.yaml").read_text("utf-8").replace(
        "  nation: england-and-wales", "  nation: [england-and-wales", 1)
    _write(tmp_path, text, "broken.yaml")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ProtocolError) as exc:
        load_file("broken.yaml")
    [(where, msg)] = exc.value.problems
    assert where.startswith("line ") and "column" in where
    assert "not valid YAML" in msg
    assert str(exc.value).startswith("broken.yaml: line ")


def test_not_a_mapping() -> None:
    with pytest.raises(ProtocolError) as exc:
        load_text("- just\n- a list\n", source="list.yaml")
    assert "must contain a mapping" in str(exc.value)


@pytest.mark.parametrize(
    "edit, path, fragment",
    [
        (lambda d: d.pop("immediate_risk"), "", "'immediate_risk' is a required property"),
        (lambda d: d["stages"][0].pop("title"), "stages[0]", "'title' is a required property"),
        (lambda d: d["stages"][0]["steps"][0].pop("due"), "stages[0].steps[0]", "'due' is a required property"),
        (lambda d: d["calendar"].pop("nation"), "calendar", "'nation' is a required property"),
    ],
)
def test_missing_required_key(edit, path: str, fragment: str) -> None:
    with pytest.raises(ProtocolError) as exc:
        load_data(_mutate(edit), source="swindon.yaml")
    assert fragment in _problems(exc)[path]
    if not path:
        assert str(exc.value).startswith("swindon.yaml: (top level): ")


def test_unknown_key_is_rejected() -> None:
    data = _mutate(lambda d: d["stages"][0]["steps"][0].update(deadline="2 working days"))
    with pytest.raises(ProtocolError) as exc:
        load_data(data, source="swindon.yaml")
    assert "deadline" in _problems(exc)["stages[0].steps[0]"]


def test_next_meeting_without_a_meetings_calendar() -> None:
    data = _mutate(lambda d: d.pop("meetings"), board="cardiff-and-vale")
    with pytest.raises(ProtocolError) as exc:
        load_data(data, source="cardiff-and-vale.yaml")
    probs = _problems(exc)
    assert probs["stages[1].steps[3].due"] == "no meeting calendar 'delivery-group' under meetings:"
    assert "delivery-group" in probs["stages[2].steps[5].due"]


def test_bad_meeting_date() -> None:
    data = _mutate(lambda d: d["meetings"].update({"delivery-group": ["2026-13-01"]}), board="cardiff-and-vale")
    with pytest.raises(ProtocolError) as exc:
        load_data(data, source="cardiff-and-vale.yaml")
    assert "YYYY-MM-DD" in _problems(exc)["meetings"]


def test_bypass_to_a_missing_stage() -> None:
    data = _mutate(lambda d: d["bypass"].update(to="stage-3"), board="cardiff-and-vale")
    with pytest.raises(ProtocolError) as exc:
        load_data(data, source="cardiff-and-vale.yaml")
    assert "'stage-3' does not exist" in _problems(exc)["bypass.to"]


def test_first_stage_cannot_be_exceptional_or_anchor_on_previous_stage() -> None:
    def edit(d):
        d["stages"][0]["exceptional"] = True
        d["stages"][0]["steps"][0]["from"] = "previous_stage_completed"

    with pytest.raises(ProtocolError) as exc:
        load_data(_mutate(edit), source="swindon.yaml")
    probs = _problems(exc)
    assert "exceptional" in probs["stages[0].exceptional"]
    assert "no previous stage" in probs["stages[0].steps[0].from"]


def test_resolution_anchor_needs_when_resolved() -> None:
    data = _mutate(lambda d: d["stages"][2]["steps"][2].pop("when"))
    with pytest.raises(ProtocolError) as exc:
        load_data(data, source="swindon.yaml")
    assert "when: resolved" in _problems(exc)["stages[2].steps[2].when"]


def test_protective_cap_needs_a_timescale_and_one_stage_deadline_per_stage() -> None:
    def edit(d):
        d["stages"][2]["steps"][1]["protective_cap"] = True  # 'immediately'
        d["stages"][2]["steps"][1]["stage_deadline"] = True  # a second stage deadline in stage 3

    with pytest.raises(ProtocolError) as exc:
        load_data(_mutate(edit), source="swindon.yaml")
    probs = _problems(exc)
    assert "stages[2].steps[1].protective_cap" in probs
    assert "at most one stage_deadline" in probs["stages[2]"]


def test_several_problems_are_reported_together() -> None:
    def edit(d):
        d["stages"][0]["steps"][0]["due"] = "2 workng days"
        d["stages"][1]["steps"][1]["to"] = "nobody"

    with pytest.raises(ProtocolError) as exc:
        load_data(_mutate(edit), source="swindon.yaml")
    assert {"stages[0].steps[0].due", "stages[1].steps[1].to"} <= set(_problems(exc))
    assert len(str(exc.value).splitlines()) == len(exc.value.problems)


def test_snapshot_with_an_unknown_version_is_refused() -> None:
    snap = snapshot(load_board("swindon"))
    with pytest.raises(ProtocolError, match="unsupported snapshot version"):
        from_snapshot({**snap, "schema_version": 99})


# -- a new board written as YAML alone ----------------------------------------------------------
def test_a_new_board_is_yaml_alone(tmp_path: Path) -> None:
    path = _write(tmp_path, NEW_BOARD, "new-town.yaml")
    p = load_board(path)
    assert p.id == "new-town" and p.nation == "scotland"
    step = p.step("managers-meet")
    assert step.anchor.kind is AnchorKind.PREVIOUS_STAGE_COMPLETED and step.due.amount == 5

    # a case under it, on the Scottish calendar: 2 Apr 2026 + 3 WD = 6 (Easter Monday is worked),
    # 7, 8 April; Stage 2 from Fri 12 June: 5 WD skipping Scotland's 15 June holiday -> Mon 22 June.
    events = [
        ev("opened", "2026-04-02T10:00", arose_on="2026-04-02"),
    ]
    s = evaluate(p, events, t("2026-04-02T10:00"))
    assert s.status is Status.OPEN and s.stage.id == "practitioners"
    assert item(s, "discuss").due_at == cob("2026-04-08")

    events.append(ev("outcome", "2026-06-12T16:00", resolved=False))
    s = evaluate(p, events, t("2026-06-12T16:00"))
    assert s.stage.id == "managers"
    assert item(s, "managers-meet").due_at == cob("2026-06-22")
    assert item(s, "tell-business-unit").due_at == cob("2026-06-12")  # same working day (before 17:00)

    events.append(ev("outcome", "2026-06-17T12:00", resolved=True))
    s = evaluate(p, events, t("2026-06-17T12:00"))
    assert s.status is Status.RESOLVED
    assert item(s, "outcome-letter").due_at == cob("2026-06-19")

    # and it gives a timetable like any built-in board
    rows = timetable(p, dt.date(2026, 3, 2))
    assert [(r.step.id, r.due_iso) for r in rows if r.due_at is not None and r.step.kind.value == "action"] == [
        ("discuss", "2026-03-05"),
        ("managers-meet", "2026-03-12"),
    ]


# -- the guide's example is a valid board and does what the guide says --------------------------
DOCS = Path(__file__).resolve().parents[2] / "docs" / "protocol-format.md"


def _doc_example() -> str:
    text = DOCS.read_text("utf-8")
    blocks = [b.split("```", 1)[0] for b in text.split("```yaml\n")[1:]]
    [complete] = [b for b in blocks if b.startswith("format: 1")]
    return complete


def test_the_complete_example_in_the_guide(tmp_path: Path) -> None:
    p = load_board(_write(tmp_path, _doc_example(), "new-town.yaml"))
    assert p.id == "new-town" and p.nation == "scotland" and p.reporting.quarter_numbering == "financial"
    opened = ev("opened", "2026-04-02T10:00", arose_on="2026-04-02")
    s = evaluate(p, [opened], t("2026-04-02T10:00"))
    assert item(s, "discuss").due_at == cob("2026-04-08")
    to_2 = [opened, ev("outcome", "2026-06-12T16:00", resolved=False)]
    s = evaluate(p, to_2, t("2026-06-12T16:00"))
    assert item(s, "tell-business-unit").due_at == cob("2026-06-12")
    assert item(s, "managers-meet").due_at == cob("2026-06-22")
    s = evaluate(p, [*to_2, ev("protective_date", "2026-06-15T09:00", date="2026-06-18")], t("2026-06-15T09:00"))
    assert item(s, "managers-meet").due_at == cob("2026-06-18")
    s = evaluate(p, [*to_2, ev("outcome", "2026-06-17T12:00", resolved=True, flags={"policy_gap": True})],
                 t("2026-06-17T12:00"))
    assert item(s, "written-outcome").due_at == cob("2026-06-19")
    assert item(s, "policy-gap").due_at == cob("2026-07-01")  # 18, 19, 22-26, 29, 30 Jun, 1 Jul


def test_every_schema_key_is_documented() -> None:
    import json

    schema = json.loads((BOARDS_DIR.parent / "protocol.schema.json").read_text("utf-8"))
    keys: set[str] = set()

    def walk(node) -> None:
        if isinstance(node, dict):
            keys.update(node.get("properties", {}))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(schema)
    doc = DOCS.read_text("utf-8")
    assert not {k for k in keys if f"`{k}`" not in doc}


# -- every problem in one run (issue #18) -------------------------------------------------------
def test_type_and_missing_key_errors_do_not_hide_the_rest() -> None:
    """Schema problems (a missing key, a wrong type, a misspelt key, a value not in the list) and the checks
    that need the whole file are reported together, and nothing is reported twice or as a consequence."""
    def edit(d):
        d["calendar"]["nation"] = "wales"                                 # not one of the nations
        d["stages"][0].pop("title")                                       # a required key missing
        d["stages"][0]["steps"][0]["deadline"] = "2 working days"         # a misspelt key
        d["stages"][1]["number"] = "two"                                  # a wrong type
        d["stages"][1]["steps"][1]["to"] = "nobody"                       # an undeclared recipient
        d["stages"][2]["level"] = "manager"                               # not one of the levels
        d["stages"][3]["steps"][0]["due"] = "5 workin days"               # not a duration
        d["stages"][4]["steps"][1]["from"] = "step:partnership-refferal"  # a step that does not exist

    with pytest.raises(ProtocolError) as exc:
        load_data(_mutate(edit), source="swindon.yaml")
    problems = _problems(exc)
    assert set(problems) == {
        "calendar.nation", "stages[0]", "stages[0].steps[0]", "stages[1].number", "stages[1].steps[1].to",
        "stages[2].level", "stages[3].steps[0].due", "stages[4].steps[1].from",
    }, problems
    assert "'title' is a required property" in problems["stages[0]"]
    assert "'two' is not of type 'integer'" in problems["stages[1].number"]
    assert "'nobody' is not declared" in problems["stages[1].steps[1].to"]
    assert "'5 workin days' is not a duration" in problems["stages[3].steps[0].due"]
    assert "'partnership-refferal' does not exist" in problems["stages[4].steps[1].from"]
    # one line a problem, each naming the file
    lines = str(exc.value).splitlines()
    assert len(lines) == len(exc.value.problems) == 8
    assert all(line.startswith("swindon.yaml: ") for line in lines)


def test_a_step_with_a_bad_timescale_can_still_be_anchored_on() -> None:
    """'resolution-meeting' has an unreadable timescale; 'learning' runs from it: only the timescale is wrong."""
    data = _mutate(lambda d: d["stages"][4]["steps"][1].update(due="after the meeting"))
    with pytest.raises(ProtocolError) as exc:
        load_data(data, source="swindon.yaml")
    assert list(_problems(exc)) == ["stages[4].steps[1].due"]


def test_a_step_missing_its_title_can_still_be_anchored_on() -> None:
    data = _mutate(lambda d: d["stages"][4]["steps"][1].pop("title"))
    with pytest.raises(ProtocolError) as exc:
        load_data(data, source="swindon.yaml")
    assert list(_problems(exc)) == ["stages[4].steps[1]"]


def test_a_wrong_type_of_recipients_is_one_problem() -> None:
    data = _mutate(lambda d: d.update(recipients=["partnership", "all-parties"]))
    with pytest.raises(ProtocolError) as exc:
        load_data(data, source="swindon.yaml")
    assert list(_problems(exc)) == ["recipients"]  # not also 'not declared' for every step sent to one


def test_a_bad_working_hours_time_is_one_problem_and_the_rest_is_still_checked() -> None:
    def edit(d):
        d["calendar"]["working_hours"] = {"start": "9am", "end": "17:00"}
        d["stages"][1]["steps"][1]["to"] = "nobody"

    with pytest.raises(ProtocolError) as exc:
        load_data(_mutate(edit), source="swindon.yaml")
    assert set(_problems(exc)) == {"calendar.working_hours.start", "stages[1].steps[1].to"}


def test_a_missing_stage_id_is_not_a_duplicate_and_the_rest_is_still_checked() -> None:
    def edit(d):
        d["stages"][0].pop("id")
        d["stages"][1].pop("id")
        d["stages"][2]["steps"][0]["due"] = "5 workin days"

    with pytest.raises(ProtocolError) as exc:
        load_data(_mutate(edit), source="swindon.yaml")
    assert set(_problems(exc)) == {"stages[0]", "stages[1]", "stages[2].steps[0].due"}


def test_a_structure_too_broken_to_check_further_still_reports_every_schema_problem() -> None:
    def edit(d):
        d["stages"][1] = "Stage 2: inter-agency discussion"  # not a mapping: the stages after it would shift
        d["categories"][0].pop("title")

    with pytest.raises(ProtocolError) as exc:
        load_data(_mutate(edit), source="swindon.yaml")
    problems = _problems(exc)
    assert set(problems) == {"stages[1]", "categories[0]"}
    assert "is not of type 'object'" in problems["stages[1]"]


def test_a_boards_id_must_be_its_file_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The id and the file name must agree (docs: 'the board's id, also its file name'); the mismatch is
    reported with the file's other problems."""
    data = _mutate(lambda d: d["stages"][1]["steps"][1].update(to="nobody"))
    _write(tmp_path, data, "swindon-draft.yaml")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ProtocolError) as exc:
        load_file("swindon-draft.yaml")
    problems = _problems(exc)
    assert set(problems) == {"id", "stages[1].steps[1].to"}
    assert "'swindon' does not match the file name 'swindon-draft.yaml'" in problems["id"]
    assert "swindon-draft.yaml: id: " in str(exc.value)
    # the same data under its own name loads, and a snapshot (no file) is not held to a name
    _write(tmp_path, _mutate(lambda d: None), "swindon.yaml")
    assert load_file("swindon.yaml").id == "swindon"
    assert load_data(_mutate(lambda d: None), source="snapshot").id == "swindon"
