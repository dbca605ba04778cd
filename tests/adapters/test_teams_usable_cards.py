"""Teams cards a person can use (issue #13, teams.md T7, T9-T14): the welcome card's button, questions asked
with an input on the card, the outcome form naming its case, `list` paged under 28 KB at 150+ cases, the
intake's people picker under 28 KB at any directory size (agency first, then person), short bilingual button
labels, no yellow text; every card strictly valid Adaptive Card 1.5."""

from __future__ import annotations

import json

import pytest

from adapters.teams.card_checks import validate
from adapters.teams.card_parts import CARD_MAX_BYTES, short_label
from adapters.teams.cards import card_size, message_card
from bot.core.messages import Button, Message, Severity
from storage import repo
from storage.models import Person
from tests.adapters.test_teams_delivery import env  # noqa: F401 - the fixture

pytestmark = pytest.mark.e2e


def valid(card: dict) -> dict:
    assert validate(card, strict=True) == [], validate(card, strict=True)[:3]
    assert card_size(card) <= CARD_MAX_BYTES, card_size(card)
    assert '"filtered"' not in json.dumps(card) and '"warning"' not in json.dumps(card)
    return card


def actions(card: dict) -> list[dict]:
    out = list(card.get("actions", []))
    for el in _walk(card.get("body", [])):
        if el.get("type") == "ActionSet":
            out += el["actions"]
    return out


def _walk(items: list) -> list[dict]:
    found = []
    for el in items:
        if isinstance(el, dict):
            found.append(el)
            for key in ("items", "columns", "body"):
                found += _walk(el.get(key, []))
    return found


def _open_cases(rt, clock, n: int) -> None:
    from bot.cases.services import Ctx
    from bot.cases.opening import NewCase, open_case

    with rt.factory() as s:
        alice = repo.person_by_key("swindon", "alice", session=s)
        csc = repo.agency_by_key("swindon", "social-care", session=s)
        bob = repo.person_by_key("swindon", "bob", session=s)
        for _ in range(n):
            open_case(Ctx(alice, "console", clock.now()), NewCase(
                board_id="swindon", subject_kind="child", category="thresholds", what_happened="x",
                done_so_far="y", outcome_sought="z", arose_on=clock.now().date(), responding_agency_id=csc.id,
                responding_person_id=bob.id), session=s)
        s.commit()


def test_the_welcome_card_has_its_start_button(env) -> None:
    rt, connector, teams, clock, server = env
    teams.send(teams.activity("alice", "conversationUpdate", membersAdded=[{"id": "28:parley"}]))
    welcome = valid(connector.wait(lambda c: c.cards_to("a:personal-alice"))[-1])
    start = next(a for a in welcome["actions"] if a["title"] == "Raise a concern")
    risk = valid(teams.invoke("alice", start["verb"], start["data"]))
    assert "form.risk" in json.dumps(risk) and "immediate risk" in json.dumps(risk)


def test_buttons_that_ask_a_question_bring_the_input_it_needs(env) -> None:
    rt, connector, teams, clock, server = env
    _open_cases(rt, clock, 1)
    for verb in ("case.record_contact", "case.urgent_notice", "case.complete_step"):
        card = valid(teams.invoke("alice", verb, {"value": "SWN-2026-0001"}))
        inputs = [e for e in _walk(card["body"]) if e.get("type", "").startswith("Input.")]
        verbs = [a["verb"] for a in actions(card)]
        assert inputs and "Cancel" in [a["title"] for a in actions(card)], (verb, card)
        assert "reply" in verbs or "answer" in verbs, verb
        teams.invoke("alice", "reply", {"reply": "cancel"})  # leaves the question
    # answering on the card: the contact's date picked, then the rest, goes through like typing it
    card = teams.invoke("alice", "case.record_contact", {"value": "SWN-2026-0001"})
    (date,) = [e for e in _walk(card["body"]) if e.get("type") == "Input.Date"]
    nxt = valid(teams.invoke("alice", "reply", {"reply": "2026-04-02"}))
    assert "Who was it with" in nxt["fallbackText"]  # the date was taken: the next question, with its text box
    assert [e["type"] for e in _walk(nxt["body"]) if e.get("type", "").startswith("Input.")] == ["Input.Text"]


def test_the_outcome_form_names_its_case_and_parties(env) -> None:
    rt, connector, teams, clock, server = env
    _open_cases(rt, clock, 1)
    form = valid(teams.invoke("bob", "case.record_outcome", {"value": "SWN-2026-0001"}))
    title = form["body"][0]["text"]
    assert "SWN-2026-0001" in title and "Social Care" in title and "Police" in title, title


def test_list_is_paged_under_28kb_at_150_cases(env) -> None:
    rt, connector, teams, clock, server = env
    _open_cases(rt, clock, 155)
    teams.send(teams.activity("alice", text="list"))
    first = valid(connector.wait(lambda c: [x for x in c.cards_to("a:personal-alice") if "of 155" in json.dumps(x)])[-1])
    assert "Action.ShowCard" not in json.dumps(first)  # no "N more" menus
    assert "1\u201310 of 155" in first["body"][0]["text"]
    seen = [a["data"]["value"] for a in actions(first) if a["verb"] == "case.view"]
    page = first
    while any(a["verb"] == "list.page" and a["title"] == "Next" for a in page.get("actions", [])):
        nxt = next(a for a in page["actions"] if a["title"] == "Next")
        page = valid(teams.invoke("alice", nxt["verb"], nxt["data"]))
        seen += [a["data"]["value"] for a in actions(page) if a["verb"] == "case.view"]
    assert len(seen) == 155 and len(set(seen)) == 155
    assert "151\u2013155 of 155" in page["body"][0]["text"]
    back = next(a for a in page["actions"] if a["title"] == "Previous")
    assert "141\u2013150 of 155" in valid(teams.invoke("alice", back["verb"], back["data"]))["body"][0]["text"]


def test_the_intake_stays_under_28kb_with_a_500_person_directory(env) -> None:
    rt, connector, teams, clock, server = env
    with rt.factory() as s:
        agencies = list(repo.agencies("swindon", session=s))
        for i in range(500):
            s.add(Person(board_id="swindon", key=f"p{i}", name=f"Practitioner Number {i} Longname",
                         title="Social worker", role="practitioner", agency_id=agencies[i % len(agencies)].id,
                         email=f"p{i}@swindon.example"))
        s.commit()
        other = repo.agency_by_key("swindon", "social-care", session=s)  # not alice's own agency
    intake = valid(teams.invoke("alice", "form.risk", {"risk": "no", "context": ""}))
    picker = next(e for e in intake["body"] if e.get("id") == "person")
    assert picker["type"] == "Input.ChoiceSet" and picker["choices"] == []  # agency first
    more = next(a for a in intake["actions"] if a["title"] == "List its people")
    agency = next(e for e in intake["body"] if e.get("id") == "agency")
    other_choice = next(c for c in agency["choices"] if c["title"] == other.name)
    listed = valid(teams.invoke("alice", more["verb"], {**more["data"], "agency": other_choice["value"],
                                                        "what": "kept as typed"}))
    people = next(e for e in listed["body"] if e.get("id") == "person")["choices"]
    with rt.factory() as s:
        in_other = {str(p.id) for p in repo.people("swindon", session=s) if p.agency_id == other.id}
    assert people and {c["value"] for c in people} <= in_other and len(people) >= 50
    assert next(e for e in listed["body"] if e.get("id") == "what")["value"] == "kept as typed"
    assert next(e for e in listed["body"] if e.get("id") == "agency")["value"] == other_choice["value"]


def test_bilingual_button_labels_are_short_and_warnings_readable() -> None:
    assert short_label("Cydnabod / cymryd perchnogaeth | Acknowledge / take ownership") == "Cydnabod | Acknowledge"
    assert short_label("Record the outcome") == "Record the outcome"
    long = short_label("Cofnod ysgrifenedig o'r anghytundeb a'r camau a gymerwyd hyd yma gan y ddwy asiantaeth")
    assert len(long) <= 36 and long.endswith("\u2026")
    card = valid(message_card(Message("Deadline passed", title="Overdue", severity=Severity.WARNING, buttons=(
        Button("esc.ack", "Cydnabod / cymryd perchnogaeth | Acknowledge / take ownership", "1"),))))
    assert card["actions"][0]["title"] == "Cydnabod | Acknowledge"
    assert card["body"][0]["text"].startswith("\u26a0") and "color" not in card["body"][0]
