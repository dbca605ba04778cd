"""Conversation input and flow mechanics found by trying the console as a new user
(/work/shared/findings/console-journeys.md): choices by number and by name, kept answers after a late refusal,
date hints, required answers, overlong answers, extension dates, cancel after the risk route, revising a record,
console help and form questions."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import time

from adapters.console.app import ConsoleApp
from bot.cases import services
from bot.conversation.engine import MIN_DESCRIPTION
from bot.core.messages import PromptKind, Severity
from bot.cases.services import Ctx
from storage import repo
from storage.models import Case
from tests.adapters.test_slack_e2e import slack_env  # noqa: F401 - fixture
from tests.adapters.test_teams_e2e import teams_env  # noqa: F401 - fixture
from tests.bot.test_conversation import INTAKE_SWINDON, open_swindon_case
from tests.bot.test_documents import _cv_case_at_stage_2
from tests.bot.test_records import MEETING
from tests.bot.test_scheduler import open_case
from tests.conftest import LONDON, Chat, texts

START = dt.datetime(2026, 4, 2, 10, 0, tzinfo=LONDON)
TEXTS = ["The referral was closed after one visit", "Phoned the duty social worker", "Re-open and assess"]


def _console(runtime, board: str = "swindon") -> tuple[ConsoleApp, io.StringIO]:
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


def _ids(runtime, board: str, agency: str, person: str) -> tuple[int, int]:
    with runtime.factory() as s:
        return (repo.agency_by_key(board, agency, session=s).id, repo.person_by_key(board, person, session=s).id)


# -- C1: a number is the option shown with that number ---------------------------------------------------------
def test_C1_console_number_records_the_agency_and_person_shown_with_it(sqlite_runtime) -> None:
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


def _wait(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_C1_slack_choice_button_is_the_option_on_it(slack_env) -> None:
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


def test_C1_teams_choice_button_is_the_option_on_it(teams_env) -> None:
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


# -- C9: a refusal at the end of a flow keeps the answers, and 'back' works -------------------------------------------
def _cv_case_at_extension(chat: Chat) -> str:
    """A Cardiff & Vale case whose manager-attempt step (extendable, due Wed 8 Apr 2026) is running."""
    chat.say("alice", "new")
    chat.script("alice", "no", "yes", "A child", "Differing views on thresholds", *TEXTS, "today",
                "Cardiff Council Children's Services", "Bob Evans, Social Worker", "skip")
    ref = chat.say("alice", "submit").to_speaker[0].case_ref
    chat.say("alice", f"done {ref}")
    chat.script("alice", "Raise your concerns with your immediate manager (or seek advice from your safeguarding "
                         "lead)", "today")
    return ref


def test_C9_after_a_late_refusal_back_changes_an_answer_and_the_flow_finishes(runtime, clock) -> None:
    chat = Chat(runtime, clock, board="cardiff-and-vale")
    ref = _cv_case_at_extension(chat)
    chat.say("sam", f"extend {ref}")
    chat.script("sam", "1", "10/4/2026")
    # meanwhile the deadline is extended further elsewhere: Sam's date is no longer later than it
    with runtime.factory() as s:
        case = repo.case_by_ref(ref, session=s)
        ian = repo.person_by_key("cardiff-and-vale", "sam", session=s)
        services.extend_step(Ctx(ian, "console", clock.now()), case, "manager-attempt", until=dt.date(2026, 4, 13),
                             reason="Manager on leave", session=s)
        s.commit()
    reply = chat.say("sam", "Counterpart's manager on leave")
    assert reply.to_speaker[0].severity is Severity.ERROR
    assert "An extension must be later than the current deadline." in reply.to_speaker[0].text
    assert "type 'back'" in reply.to_speaker[0].text
    reply = chat.say("sam", "back")
    assert reply.to_speaker[-1].prompt is not None and reply.to_speaker[-1].prompt.field == "until", texts(reply)
    assert "Mon 13 Apr 2026" in reply.to_speaker[-1].text  # the deadline as it is now
    chat.say("sam", "14/4/2026")
    reply = chat.say("sam", "Counterpart's manager on leave")
    assert "Extension recorded." in reply.to_speaker[0].text
    assert "due by Tue 14 Apr 2026" in reply.to_speaker[0].text
    with runtime.factory() as s:
        case = repo.case_by_ref(ref, session=s)
        extended = [e.data["until"] for e in repo.events_for(case.id, session=s) if e.kind == "extended"]
    assert extended == ["2026-04-13", "2026-04-14"]  # the refused attempt wrote nothing


def test_C9_cancel_after_a_late_refusal(runtime, clock) -> None:
    chat = Chat(runtime, clock, board="cardiff-and-vale")
    ref = _cv_case_at_extension(chat)
    chat.say("sam", f"extend {ref}")
    chat.script("sam", "1", "10/4/2026")
    with runtime.factory() as s:
        case = repo.case_by_ref(ref, session=s)
        sam = repo.person_by_key("cardiff-and-vale", "sam", session=s)
        services.extend_step(Ctx(sam, "console", clock.now()), case, "manager-attempt", until=dt.date(2026, 4, 13),
                             reason="Manager on leave", session=s)
        s.commit()
    chat.say("sam", "Counterpart's manager on leave")
    assert chat.say("sam", "cancel").to_speaker[0].text == "Cancelled. Nothing was recorded."


# -- C20: an extension date is checked at the question -------------------------------------------------------------
def test_C20_extension_dates_refused_at_the_question(runtime, clock) -> None:
    chat = Chat(runtime, clock, board="cardiff-and-vale")
    ref = _cv_case_at_extension(chat)
    reply = chat.say("sam", f"extend {ref}")
    reply = chat.say("sam", "1")
    asked = reply.to_speaker[-1]
    assert "The deadline is now Wed 8 Apr 2026" in asked.text
    assert asked.prompt.hint == "(a working day after it, e.g. 9/4/2026)"
    for typed, why in [
        ("1/4/2026", "Wed 1 Apr 2026 has passed; the new deadline must be a later day."),
        ("7/4/2026", "An extension must be later than the current deadline, Wed 8 Apr 2026."),
        ("8/4/2026", "An extension must be later than the current deadline, Wed 8 Apr 2026."),
        ("11/4/2026", "Sat 11 Apr 2026 is not a working day; the next working day is Mon 13 Apr 2026."),
        ("4/5/2026", "Mon 4 May 2026 is not a working day; the next working day is Tue 5 May 2026."),  # a bank holiday
    ]:
        reply = chat.say("sam", typed)
        assert reply.to_speaker[0].severity is Severity.ERROR
        assert reply.to_speaker[0].text == why
        assert reply.to_speaker[-1].prompt.field == "until"  # asked again: no 'back' needed
    reply = chat.say("sam", "13/4/2026")
    assert "Why is more time needed" in reply.to_speaker[-1].text


# -- C13 / C-UX5: date hints ----------------------------------------------------------------------------------------
def _intake_messages(chat: Chat, who: str, answers: list[str]) -> list:
    msgs = list(chat.say(who, "new").to_speaker)
    for a in answers:
        msgs.extend(chat.say(who, a).to_speaker)
    return msgs


def test_C13_date_hints_are_in_welsh_for_a_welsh_speaker(chat: Chat, sqlite_runtime) -> None:
    chat.say("alice", "language cy")
    msgs = _intake_messages(chat, "alice", ["na", "na", "1", *TEXTS])
    hint = msgs[-1].prompt.hint
    assert msgs[-1].prompt.kind is PromptKind.DATE
    assert hint == "(dyddiad: heddiw, ddoe, 2026-04-08 neu 8/4/2026)"
    # and the console prints that hint, not an English one
    app, out = _console(sqlite_runtime)  # the same database when the chat's is SQLite: someone else speaks
    _said(app, out, "/as ed")
    _said(app, out, "language cy")
    for line in ["newydd", "na", "na", "1", *TEXTS[:2]]:
        _said(app, out, line)
    shown = _said(app, out, TEXTS[2])
    assert "(dyddiad: heddiw, ddoe" in shown and "a date" not in shown and "today" not in shown


def test_CUX5_each_date_question_has_one_hint_that_fits_it(chat: Chat, sqlite_runtime) -> None:
    msgs = _intake_messages(chat, "alice", ["no", "no", "1", *TEXTS])
    arose = msgs[-1]
    assert "today" not in arose.text  # the hint says it, once
    assert arose.prompt.hint == "(a date: today, yesterday, 2026-04-08 or 8/4/2026)"
    msgs = [m for a in ["today", "Swindon Children's Social Care", "Bob Evans", "Jamie Doe"]
            for m in chat.say("alice", a).to_speaker]
    dob = msgs[-1]
    assert dob.prompt.field == "subject_dob" and dob.prompt.hint == "(a date, e.g. 8/4/2015)"
    # a protective date (Wolverhampton asks one) is a day to come
    wol = Chat(chat.rt, chat.clock, board="wolverhampton")
    msgs = _intake_messages(wol, "alice", ["no", "A child", "1", *TEXTS, "today", "City of Wolverhampton Council Social Care",
                                           "Bob Evans"])
    protective = msgs[-1]
    assert protective.prompt.field == "protective_date"
    assert protective.prompt.hint == "(today or a later date, e.g. 16/4/2026)"
    # the console shows the question's hint once
    app, out = _console(sqlite_runtime)
    _said(app, out, "/as hana")
    for line in ["new", "no", "no", "1", *TEXTS[:2]]:
        _said(app, out, line)
    shown = _said(app, out, TEXTS[2])
    assert shown.count("today") == 1 and "(a date: today, yesterday, 2026-04-08 or 8/4/2026)" in shown


# -- C15: a required form field refuses 'skip' -------------------------------------------------------------------
def test_C15_skip_is_refused_for_a_required_form_field(runtime, clock) -> None:
    ref = _cv_case_at_stage_2(runtime)
    chat = Chat(runtime, clock, board="cardiff-and-vale")
    clock.set(dt.datetime(2026, 4, 9, 10, 0, tzinfo=LONDON))
    chat.say("alice", f"form {ref} appendix-1 part-a")
    reply = chat.script("alice", "1 High Street, Cardiff", "skip", "Mother: Sam Doe, 3/3/1990")
    assert "Contact number" in reply.to_speaker[-1].text
    reply = chat.say("alice", "skip")
    assert reply.to_speaker[0].severity is Severity.ERROR
    assert reply.to_speaker[0].text == "This question has to be answered: it can't be skipped."
    assert "Contact number" in reply.to_speaker[-1].text
    reply = chat.say("alice", "01234 567890")
    assert "Contact number: 01234 567890" in texts(reply)
    assert "Contact number: skip" not in texts(reply)


# -- C-UX3: form fields asked as questions ----------------------------------------------------------------------
def test_CUX3_form_fields_say_which_part_and_question_they_are(runtime, clock) -> None:
    ref = _cv_case_at_stage_2(runtime)
    chat = Chat(runtime, clock, board="cardiff-and-vale")
    clock.set(dt.datetime(2026, 4, 9, 10, 0, tzinfo=LONDON))
    first = chat.say("alice", f"form {ref} appendix-1 part-a").to_speaker[-1].text
    assert first == "Part A, question 1 of 4 \u2014 Address:"
    reply = chat.script("alice", "1 High Street, Cardiff")
    assert reply.to_speaker[-1].text.startswith("Part A, question 2 of 4 \u2014 ")
    assert reply.to_speaker[-1].text.endswith("(optional: 'skip' to leave it empty)")
    reply = chat.script("alice", "skip", "Mother: Sam Doe, 3/3/1990")
    assert reply.to_speaker[-1].text == "Part A, question 4 of 4 \u2014 Contact number:"


# -- C19: an overlong answer is kept, with the real length and the limit -------------------------------------------
def test_C19_an_overlong_answer_is_kept_and_can_be_used_or_replaced(chat: Chat) -> None:
    chat.say("alice", "new")
    chat.script("alice", "no", "no", "1")
    pasted = "The referral was closed. " * 200 + "THE END"  # 5007 characters
    reply = chat.say("alice", pasted)
    err = reply.to_speaker[0]
    assert err.severity is Severity.ERROR
    assert err.text.startswith(f"That is {len(pasted)} characters long; the limit here is {services.MAX_TEXT}.")
    assert "type 'same' to use them" in err.text
    assert reply.to_speaker[-1].prompt.field == "what"  # asked again
    reply = chat.say("alice", "same")
    assert "What have you already done" in reply.to_speaker[-1].text
    chat.script("alice", *TEXTS[1:], "today", "Swindon Children's Social Care", "Bob Evans", "skip")
    ref = chat.say("alice", "submit").to_speaker[0].case_ref
    with chat.rt.factory() as s:
        assert repo.case_by_ref(ref, session=s).what_happened == pasted[:services.MAX_TEXT].strip()
    # or a shorter answer replaces what was kept
    chat.say("alice", "new")
    chat.script("alice", "no", "no", "1", pasted)
    reply = chat.say("alice", "A shorter description of it")
    assert "What have you already done" in reply.to_speaker[-1].text


def test_C19_console_says_when_the_terminal_cut_a_paste(sqlite_runtime) -> None:
    app, out = _console(sqlite_runtime)
    app.note_cut("x" * 4094)
    assert "Your terminal passes at most 4095 characters in one line" in out.getvalue()
    assert "Parley received the first 4094." in out.getvalue()
    out.truncate(0)
    out.seek(0)
    app.note_cut("x" * 3000)
    assert out.getvalue() == ""


# -- C21: cancel after the immediate-risk route -----------------------------------------------------------------
def test_C21_cancel_after_the_risk_route_says_what_was_kept(chat: Chat) -> None:
    chat.say("alice", "new")
    chat.say("alice", "yes")
    reply = chat.say("alice", "cancel")
    text = reply.to_speaker[0].text
    assert "Nothing was recorded" not in text
    assert text == ("Cancelled: the disagreement was not recorded. That you were shown the immediate-risk route is "
                    "kept on record.")
    with chat.rt.factory() as s:
        assert repo.cases_for_board("swindon", session=s) == []
    # without the route, nothing was recorded, and it says so
    chat.say("alice", "new")
    chat.say("alice", "no")
    assert chat.say("alice", "cancel").to_speaker[0].text == "Cancelled. Nothing was recorded."


# -- C-UX4: revising a record shows each current value and keeps it --------------------------------------------------
def test_CUX4_revise_shows_the_current_value_and_keep_keeps_it(chat: Chat, sqlite_runtime) -> None:
    ref = open_swindon_case(chat)
    chat.say("alice", f"record {ref}")
    chat.script("alice", *MEETING, "submit")
    reply = chat.press("alice", "case.revise_record", f"{ref} 1")
    date_q = reply.to_speaker[-1]
    assert date_q.prompt.hint.endswith("Now: Wed 1 Apr 2026 (type 'same' to keep it)")
    reply = chat.say("alice", "keep")
    assert reply.to_speaker[-1].prompt.hint == f"Now: {MEETING[1]} (type 'same' to keep it)"
    reply = chat.script("alice", "keep", "cadw", "A joint visit on Tuesday", "same", "keep")
    shown = texts(reply)
    assert "A joint visit on Tuesday" in shown and MEETING[1] in shown and MEETING[2] in shown
    assert ": keep" not in shown and ": cadw" not in shown
    # the console prints the current value under the question
    app, out = _console(sqlite_runtime)
    _said(app, out, "/as hana")
    for line in ["new", *INTAKE_SWINDON]:
        _said(app, out, line)
    ref2 = re.search(r"Recorded as (SWN-\d{4}-\d{4})", _said(app, out, "submit"))[1]
    _said(app, out, f"record {ref2}")
    for line in MEETING:
        _said(app, out, line)
    _said(app, out, "submit")
    shown = _said(app, out, f"revise {ref2} 1")
    assert "Now: Wed 1 Apr 2026 (type 'same' to keep it)" in shown


# -- C-UX24: a description needs a few words ----------------------------------------------------------------------
def test_CUX24_a_two_character_description_is_refused(chat: Chat) -> None:
    chat.say("alice", "new")
    chat.script("alice", "no", "no", "1")
    reply = chat.say("alice", "ok")
    assert reply.to_speaker[0].severity is Severity.ERROR
    assert f"at least {MIN_DESCRIPTION} characters" in reply.to_speaker[0].text
    assert reply.to_speaker[-1].prompt.field == "what"
    reply = chat.say("alice", "skip")
    assert reply.to_speaker[0].text == "This question has to be answered: it can't be skipped."
    reply = chat.say("alice", TEXTS[0])
    assert reply.to_speaker[-1].prompt.field == "done"
    reply = chat.say("alice", "ok")
    assert "Please say a little more (at least 5 characters)." == reply.to_speaker[0].text
    reply = chat.say("alice", "Phoned")
    assert reply.to_speaker[-1].prompt.field == "sought"


# -- C-UX1: console /help shows what a user can say too ------------------------------------------------------------
def test_CUX1_console_help_lists_console_commands_and_what_you_can_say(sqlite_runtime) -> None:
    app, out = _console(sqlite_runtime)
    _said(app, out, "/as hana")
    shown = _said(app, out, "/help")
    assert "/as NAME" in shown and "/clock" in shown
    assert "new \u2014 raise a concern" in shown and "case REF" in shown and "language cy" in shown
    # in the speaker's language
    _said(app, out, "language cy")
    shown = _said(app, out, "/help")
    assert "/as NAME" in shown and "new \u2014 raise a concern" not in shown
