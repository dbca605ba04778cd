"""The notification table (bot/notify/notify.py) and its documentation; what each role means, checked on the demo
directory by hand (the journeys in tests/journeys/ check whole cases)."""

from __future__ import annotations

from pathlib import Path

from bot.notify import notify
from protocol.spec import Level
from storage import repo
from bot.cases import protocols

ROOT = Path(__file__).resolve().parents[2]


def test_docs_notifications_md_is_generated_from_the_table() -> None:
    assert (ROOT / "docs" / "notifications.md").read_text("utf-8") == notify.table_markdown(), \
        "docs/notifications.md is out of date: run `make notifications-doc`"


def test_every_event_has_a_rule_and_every_role_a_description() -> None:
    assert set(notify.TABLE) == set(notify.Event)
    assert set(notify.ROLE_TEXT) == set(notify.To)
    for event, rule in notify.TABLE.items():
        assert rule.to and rule.says, event


def test_changes_to_a_case_tell_the_whole_case_team() -> None:
    """Every change the issue lists tells the raiser, the counterpart, the stage's managers and the board."""
    for event in (notify.Event.RESOLVED, notify.Event.NOT_RESOLVED, notify.Event.BYPASSED, notify.Event.EXTENDED,
                  notify.Event.PROTECTIVE_DATE, notify.Event.URGENT_NOTICE, notify.Event.CLOSED,
                  notify.Event.ESCALATED, notify.Event.ACKNOWLEDGED):
        assert set(notify.CASE_TEAM) <= set(notify.TABLE[event].to), event


def test_stage_people_come_from_the_protocol_levels(sqlite_runtime) -> None:
    """Swindon: Stage 3 (line managers, both sides) is Sam and Mia; Stage 4 (directors) is Cara and Dora, found up
    each practitioner's line; Stage 1 (the raising side's line manager) is Sam only; Stage 2 nobody."""
    with sqlite_runtime.factory() as s:
        proto = protocols.board_protocol("swindon", session=s)
        alice = repo.person_by_key("swindon", "alice", session=s)
        bob = repo.person_by_key("swindon", "bob", session=s)

        class Case:  # the two fields stage_managers reads, as a case would hold them
            board_id = "swindon"
            raising_person_id, raising_agency_id = alice.id, alice.agency_id
            responding_person_id, responding_agency_id = bob.id, bob.agency_id

        def keys(stage_id: str) -> set[str]:
            return {p.key for p in notify.stage_managers(Case, proto.stage(stage_id), session=s)}  # type: ignore[arg-type]

        assert keys("internal-discussion") == {"sam"}
        assert keys("inter-agency-discussion") == set()
        assert keys("managers") == {"sam", "mia"}
        assert keys("heads-of-service") == {"cara", "dora"}
        assert keys("partnership") == set()
        assert {p.key for p in notify.board_people("swindon", Level.INDEPENDENT_CHAIR, session=s)} == {"carl", "una"}
        assert {p.key for p in notify.board_people("swindon", Level.BUSINESS_UNIT, session=s)} == {"una"}


def test_a_queued_message_keeps_its_question() -> None:
    """A reply that goes through the outbox (Slack's replies to the speaker) keeps its question and choices, so
    they still come as buttons."""
    from bot.core.messages import Choice, Message, Prompt, PromptKind, message_from_data, message_to_data

    m = Message("Which agency is the other professional in?", kind="reply", prompt=Prompt(
        "agency", PromptKind.CHOICE, (Choice("7", "Wiltshire Police"), Choice("9", "Swindon Schools")), False,
        "a hint"))
    assert message_from_data(message_to_data(m)) == m
