"""Conversation input and flow mechanics found by trying the console as a new user
(/work/shared/findings/console-journeys.md): choices by number and by name."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import time

from adapters.console.app import ConsoleApp
from bot.messages import Severity
from storage import repo
from storage.models import Case
from tests.adapters.test_slack_e2e import slack_env  # noqa: F401 - fixture
from tests.adapters.test_teams_e2e import teams_env  # noqa: F401 - fixture
from tests.bot.test_scheduler import open_case
from tests.conftest import LONDON, Chat, texts

START = dt.datetime(2026, 4, 2, 10, 0, tzinfo=LONDON)
TEXTS = ["The referral was closed after one visit", "Phoned the duty social worker", "Re-open and assess"]


def _console(runtime, board: str = "swindon") -> tuple[ConsoleApp, io.StringIO]:  # noqa: ANN001
    out = io.StringIO()
    return ConsoleApp(runtime, board, out=out, start=START), out


def _said(app: ConsoleApp, out: io.StringIO, line: str) -> str:
    """What the console printed for one line of input."""
    before = len(out.getvalue())
    app.handle_line(line)
    return out.getvalue()[before:]


def _number_of(shown: str, label: str) -> int:
    m = re.search(r"\[(\d+)\] " + re.escape(label), shown)
    assert m, f"{label!r} not offered in:\n{shown}"
    return int(m[1])


def _ids(runtime, board: str, agency: str, person: str) -> tuple[int, int]:  # noqa: ANN001
    with runtime.factory() as s:
        return (repo.agency_by_key(board, agency, session=s).id, repo.person_by_key(board, person, session=s).id)


# -- C1: a number is the option shown with that number ---------------------------------------------------------
def test_C1_console_number_records_the_agency_and_person_shown_with_it(sqlite_runtime) -> None:  # noqa: ANN001
    """Hana (health) raises a case: the agencies offered are ids 1, 2 and 4 in some order, so the option's value (a
    database id) and its position differ; pressing a number must still be the option printed with it."""
    police_id, sam_id = _ids(sqlite_runtime, "swindon", "police", "sam")
    app, out = _console(sqlite_runtime)
    _said(app, out, "/as hana")
    for line in ["new", "no", "no", "1", *TEXTS]:
        _said(app, out, line)
    menu = _said(app, out, "today")
    n = _number_of(menu, "Wiltshire Police")
    assert str(n) != str(police_id) and police_id <= 3  # the id is a number that is also a position in the menu
    people = _said(app, out, str(n))
    assert "Who is the professional you disagree with?" in people
    assert "Alice Hughes, Police Constable" in people and "Bob Evans" not in people
    k = _number_of(people, "Sam Patel, Police Sergeant")
    assert str(k) != str(sam_id)
    _said(app, out, str(k))
    check = _said(app, out, "skip")
    assert "With: Sam Patel (Wiltshire Police)" in check
    assert "Recorded as SWN-2026-0001." in _said(app, out, str(_number_of(check, "Submit")))
    with sqlite_runtime.factory() as s:
        case = repo.case_by_ref("SWN-2026-0001", session=s)
        assert (case.responding_agency_id, case.responding_person_id) == (police_id, sam_id)


def test_C1_a_pressed_answer_is_its_value_never_a_position(chat: Chat) -> None:
    """Slack and Teams buttons and the console send a choice's value as an 'answer' action: the value "3" is the
    option whose value is 3, whatever its place in the list."""
    police_id, _ = _ids(chat.rt, "swindon", "police", "sam")
    chat.say("hana", "new")
    reply = chat.script("hana", "no", "no", "1", *TEXTS, "today")
    offered = [c.value for c in reply.to_speaker[-1].prompt.choices]
    assert str(police_id) in offered and offered.index(str(police_id)) + 1 != police_id
    reply = chat.press("hana", "answer", str(police_id))
    assert "Alice Hughes, Police Constable" in texts(reply)
    # a value that is not offered is refused, never read as a position
    chat.say("hana", "back")
    reply = chat.press("hana", "answer", "99")
    assert reply.to_speaker[0].severity is Severity.ERROR


# -- C-UX2: a plain name picks -------------------------------------------------------------------------------------
def _at_agency_menu(chat: Chat, who: str = "hana") -> None:
    chat.say(who, "new")
    chat.script(who, "no", "no", "1", *TEXTS, "today")


def test_CUX2_an_agency_by_its_name_or_a_word_of_it(chat: Chat) -> None:
    for typed in ("Wiltshire Police", "police", "wiltshire", "CSC"):
        _at_agency_menu(chat)
        reply = chat.say("hana", typed)
        expected = "Bob Evans, Social Worker" if typed == "CSC" else "Alice Hughes, Police Constable"
        assert expected in texts(reply), typed
        chat.say("hana", "cancel")


def test_CUX2_a_person_by_name_without_their_role(chat: Chat) -> None:
    for typed in ("Bob Evans", "bob", "bob evans", "evans"):
        _at_agency_menu(chat, "alice")
        chat.say("alice", "Swindon Children's Social Care")
        reply = chat.say("alice", typed)
        assert "child's or adult's name" in reply.to_speaker[-1].text, typed  # the next question
        check = chat.say("alice", "skip")
        assert "With: Bob Evans (Swindon Children's Social Care)" in texts(check), typed
        chat.say("alice", "cancel")


def test_CUX2_several_matches_are_named_and_the_question_asked_again(chat: Chat) -> None:
    _at_agency_menu(chat)
    reply = chat.say("hana", "swindon")
    err = reply.to_speaker[0]
    assert err.severity is Severity.ERROR
    assert "More than one option matches 'swindon'" in err.text
    assert "Swindon Children's Social Care" in err.text and "Swindon Schools" in err.text
    assert "Wiltshire Police" not in err.text
    again = reply.to_speaker[-1]
    assert again.prompt is not None and again.prompt.field == "agency"
    # the numbers in the message are the menu's numbers
    for c_number, c in enumerate(again.prompt.choices, start=1):
        if c.label.startswith("Swindon"):
            assert f"[{c_number}] {c.label}" in err.text
    reply = chat.say("hana", "swindon schools")
    assert "Fay Bennett" in texts(reply)
    # people too: two managers in children's social care
    chat.say("hana", "back")
    chat.say("hana", "Swindon Children's Social Care")
    reply = chat.say("hana", "manager")
    assert "Mia Roberts, Team Manager" in reply.to_speaker[0].text and "Sean Davies" in reply.to_speaker[0].text
    assert "Bob Evans" not in reply.to_speaker[0].text


def test_CUX2_no_match_keeps_the_existing_message(chat: Chat) -> None:
    _at_agency_menu(chat)
    reply = chat.say("hana", "the fire service")
    assert reply.to_speaker[0].text == "Please choose one of the options (by its number or name)."
    assert reply.to_speaker[-1].prompt.field == "agency"


def _wait(predicate, timeout: float = 10.0):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_C1_slack_choice_button_is_the_option_on_it(slack_env) -> None:  # noqa: ANN001, F811
    rt, mock, slack, _clock, _adapter = slack_env
    with rt.factory() as s:
        ref = s.get(Case, open_case(rt, "swindon", START)).ref
    slack.event({"type": "message", "channel_type": "im", "channel": "DUALICE", "user": "UALICE",
                 "text": f"counterpart {ref}", "ts": "1.1"}, "Ev1")
    [asked] = mock.wait_for("chat.postMessage", lambda c: "Which agency" in json.dumps(c.args))
    blocks = asked.args["blocks"] if isinstance(asked.args["blocks"], list) else json.loads(asked.args["blocks"])
    buttons = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    health = next(e for e in buttons if e["text"]["text"] == "Great Western Hospitals NHS FT")
    assert health["action_id"] != f"answer~{health['value']}"  # its id is not its place in the list
    slack.click("UALICE", health["action_id"], health["value"])
    _wait(lambda: [c for c in mock.calls if "Hana Jones" in json.dumps(c.args)])
    assert not [c for c in mock.calls if "Fay Bennett" in json.dumps(c.args)]


def test_C1_teams_choice_button_is_the_option_on_it(teams_env) -> None:  # noqa: ANN001, F811
    rt, connector, teams, _clock, _server = teams_env
    with rt.factory() as s:
        ref = s.get(Case, open_case(rt, "swindon", START)).ref
    teams.send(teams.activity("alice", text=f"counterpart {ref}"))
    card = connector.wait(lambda c: [x for x in c.cards_to("a:personal-alice") if "Which agency" in json.dumps(x)])[-1]
    answers = [a for a in card["actions"] if a.get("verb") == "answer"]
    health = next(a for a in answers if a["title"] == "Great Western Hospitals NHS FT")
    assert answers.index(health) + 1 != int(health["data"]["value"])  # its id is not its place in the list
    shown = json.dumps(teams.invoke("alice", "answer", health["data"]))
    assert "Hana Jones" in shown and "Fay Bennett" not in shown
