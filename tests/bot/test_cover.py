"""Cover (bot/cases/cover.py, bot/conversation/cover_commands.py): 'away until DATE [cover NAME]', 'back' and
'who REF' in chat; who reads a person's messages while they are away (the chain followed once, never looping);
what a cover may do on the cases of the person they cover for; refusals for anyone else, audited. On SQLite and
PostgreSQL (the ``chat`` fixture's runtime). The journeys are in tests/journeys/test_cover_journey.py.

Who is who: tests/journeys/test_swindon_journey.py's docstring (the demo directory). The clock stands at
Thu 2 Apr 2026 10:00, London.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import delete, select

from bot.cases import cover, permissions, services
from bot.cases.errors import PermissionDenied, ServiceError
from bot.cases.permissions import ACTION_NAMES, MATRIX, Act, Role
from bot.cases.services import Ctx
from bot.conversation.cover_commands import parse_until
from bot.core.i18n import translator
from bot.core.messages import Severity
from storage import repo
from storage.models import Absence, AuditEntry, BoardChannel, OutboxMessage, Person, PersonIdentity
from tests.bot.test_conversation import open_swindon_case
from tests.conftest import LONDON, Chat

T = translator("en")


def said(reply) -> str:
    """The text of what the speaker was answered."""
    return "\n".join(m.text for m in reply.to_speaker)


def _ids(runtime, *keys: str, board: str = "swindon") -> dict[str, int]:
    with runtime.factory() as s:
        return {k: repo.person_by_key(board, k, session=s).id for k in keys}


def _outbox(runtime) -> list[tuple[int | None, str | None]]:
    """Every message queued, as (person id, kind), in order."""
    with runtime.factory() as s:
        return [(r.person_id, r.payload.get("kind")) for r in s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]


def _audit(runtime, kind: str) -> list[tuple[int | None, dict]]:
    with runtime.factory() as s:
        return [(e.actor_id, dict(e.data)) for e in s.scalars(select(AuditEntry).where(AuditEntry.kind == kind)
                                                               .order_by(AuditEntry.id))]


def _absences(runtime) -> list[Absence]:
    with runtime.factory() as s:
        rows = list(s.scalars(select(Absence).order_by(Absence.id)))
        s.expunge_all()
        return rows


# -- the date ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "today", "day"), [
    ("2027-01-15", dt.date(2026, 4, 2), dt.date(2027, 1, 15)),
    ("15/01/2027", dt.date(2026, 4, 2), dt.date(2027, 1, 15)),
    ("15.1.27", dt.date(2026, 4, 2), dt.date(2027, 1, 15)),
    ("15 Jan", dt.date(2026, 4, 2), dt.date(2027, 1, 15)),  # this year's 15 Jan has passed: next year's
    ("15 Jan", dt.date(2026, 1, 2), dt.date(2026, 1, 15)),
    ("15 January 2027", dt.date(2026, 4, 2), dt.date(2027, 1, 15)),
    ("3 Apr", dt.date(2026, 4, 2), dt.date(2026, 4, 3)),
    ("15 Ion", dt.date(2026, 4, 2), dt.date(2027, 1, 15)),  # Ionawr
    ("today", dt.date(2026, 4, 2), dt.date(2026, 4, 2)),
])
def test_the_last_day_away_is_read_in_the_usual_forms(text: str, today: dt.date, day: dt.date) -> None:
    assert parse_until(T, text, today) == day


def test_a_date_that_cannot_be_read_is_said_so() -> None:
    with pytest.raises(ServiceError) as err:
        parse_until(T, "someday", dt.date(2026, 4, 2))
    assert err.value.message == "I couldn't read 'someday' as a date. Try 2027-01-15, 15/01/2027 or 15 Jan."


# -- away and back ----------------------------------------------------------------------------------------------
def test_away_with_cover_then_back_recorded_audited_and_told(chat: Chat, runtime) -> None:
    ids = _ids(runtime, "sam", "priya")
    reply = chat.say("sam", "away until 15/01/2027 cover Priya")
    assert said(reply) == ("You are away until Fri 15 Jan 2027. Priya Shah covers: reminders, escalation prompts "
                            "and case messages go to them meanwhile. Type 'back' on return.")
    assert reply.to_speaker[0].severity is Severity.SUCCESS
    [absence] = _absences(runtime)
    assert (absence.person_id, absence.cover_id, absence.until, absence.created_by_id) == (
        ids["sam"], ids["priya"], dt.date(2027, 1, 15), ids["sam"])
    assert absence.starts_at == chat.clock.now()
    # the whole of Fri 15 Jan 2027 in London (GMT then): to midnight
    assert absence.ends_at == dt.datetime(2027, 1, 16, 0, 0, tzinfo=LONDON) and absence.ended_at is None
    assert _audit(runtime, "away_set") == [(ids["sam"], {"absence": absence.id, "person": ids["sam"],
                                                         "until": "2027-01-15", "cover": ids["priya"],
                                                         "replaced": []})]
    assert _outbox(runtime) == [(ids["priya"], "cover")]  # Priya is told, nobody else

    assert said(chat.say("sam", "away")).startswith("Sam Patel is away until Fri 15 Jan 2027; Priya Shah covers.")
    assert "Priya Shah covers for: Sam Patel." in said(chat.say("priya", "away"))

    reply = chat.say("sam", "back")
    assert said(reply) == "Welcome back: your messages come to you again."
    [absence] = _absences(runtime)
    assert absence.ended_at == chat.clock.now() and absence.ended_by_id == ids["sam"]
    assert _audit(runtime, "away_ended") == [(ids["sam"], {"person": ids["sam"], "absences": [absence.id]})]
    assert _outbox(runtime) == [(ids["priya"], "cover"), (ids["priya"], "cover")]
    # not away: said so, and nothing recorded or sent
    assert said(chat.say("sam", "back")) == "You are not marked as away."
    assert len(_audit(runtime, "away_ended")) == 1 and len(_outbox(runtime)) == 2


def test_a_new_absence_replaces_the_one_before(chat: Chat, runtime) -> None:
    ids = _ids(runtime, "sam", "priya", "ian")
    chat.say("sam", "away until 15/01/2027 cover Priya")
    reply = chat.say("sam", "away until 20 Jan 2027")  # no cover: Ian, his line manager, reads them
    assert said(reply).startswith("You are away until Wed 20 Jan 2027. Ian Morgan reads the messages meanwhile.")
    first, second = _absences(runtime)
    assert first.ended_at == chat.clock.now() and second.ended_at is None and second.cover_id is None
    assert _audit(runtime, "away_set")[-1][1]["replaced"] == [first.id]
    # Priya hears she no longer covers, and Ian that he reads Sam's messages now
    assert _outbox(runtime) == [(ids["priya"], "cover"), (ids["priya"], "cover"), (ids["ian"], "cover")]


PARSE_ERRORS = [
    ("away 15/01/2027", "I didn't understand that. Type 'away until DATE'"),
    ("away until", "Until when? Give the last day you will be away."),
    ("away until someday", "I couldn't read 'someday' as a date."),
    ("away until 1/4/2026", "Wed 1 Apr 2026 has already passed"),
    ("away until 1/1/2030", "Tue 1 Jan 2030 is more than two years away"),
    ("away until 15/01/2027 cover", "Who covers? Add their name after 'cover'"),
    ("away until 15/01/2027 cover alice", "Nobody can cover for themself"),
    ("away until 15/01/2027 cover zzz", "Nobody in the directory matches 'zzz'.\nIn the same agency:\n"
                                        "  \u2022 Cara Lewis, Chief Superintendent (Wiltshire Police)"),
    ("away until 15/01/2027 cover h", "More than one person matches 'h':\n"
                                      "  \u2022 Glen Harris, Head Teacher (Swindon Schools)\n"
                                      "  \u2022 Hana Jones, Health Visitor (Great Western Hospitals NHS FT)\n"
                                      "  \u2022 Hugh Williams, Named Nurse for Safeguarding (Great Western Hospitals "
                                      "NHS FT)\nType more of the name, or their e-mail address."),
    ("away nobody@swindon.example until 15/01/2027", "Nobody in the directory has the e-mail address"),
    ("back now", "I didn't understand that."),
]


@pytest.mark.parametrize(("typed", "answer"), PARSE_ERRORS, ids=[t for t, _ in PARSE_ERRORS])
def test_bad_input_gets_a_clear_message_and_changes_nothing(chat: Chat, runtime, typed: str, answer: str) -> None:
    reply = chat.say("alice", typed)
    assert reply.to_speaker[0].severity is Severity.ERROR
    assert answer in said(reply), said(reply)
    assert _absences(runtime) == [] and _outbox(runtime) == []


def test_a_name_means_someone_of_the_same_agency_first(chat: Chat, runtime) -> None:
    with runtime.factory() as s:
        police = repo.person_by_key("swindon", "alice", session=s).agency_id
        s.add(Person(board_id="swindon", key="ivy", name="Ivy Evans", title="Police Constable", role="practitioner",
                     agency_id=police, email="ivy@swindon.example"))
        s.flush()
        ivy = repo.person_by_key("swindon", "ivy", session=s)
        s.add(PersonIdentity(person_id=ivy.id, platform="console", external_id="swindon:ivy"))
        s.commit()
    # "evans": Bob Evans (social care) and Ivy Evans (police); for Alice (police), Ivy
    assert "Ivy Evans covers" in said(chat.say("alice", "away until 15/01/2027 cover evans"))
    # for Hana (health) neither is of her agency: both are listed
    reply = chat.say("hana", "away until 15/01/2027 cover evans")
    assert "More than one person matches 'evans'" in said(reply)
    assert "Bob Evans, Social Worker" in said(reply) and "Ivy Evans, Police Constable" in said(reply)
    # an e-mail address or a handle is exact
    assert "Bob Evans covers" in said(chat.say("hana", "away until 15/01/2027 cover bob@swindon.example"))


def test_the_cover_must_be_reachable(chat: Chat, runtime) -> None:
    with runtime.factory() as s:
        priya = repo.person_by_key("swindon", "priya", session=s)
        s.execute(delete(PersonIdentity).where(PersonIdentity.person_id == priya.id))
        s.commit()
    reply = chat.say("sam", "away until 15/01/2027 cover priya")
    assert reply.to_speaker[0].severity is Severity.ERROR
    assert said(reply).startswith("Parley cannot reach Priya Shah: no Slack, Teams or other account is linked")
    assert _absences(runtime) == [] and _outbox(runtime) == []


def test_only_the_business_unit_or_an_administrator_for_someone_else(chat: Chat, runtime) -> None:
    ids = _ids(runtime, "alice", "sam", "ian", "una", "zed")
    for typed, action in (("away sam@swindon.example until 15/01/2027", "away"),
                          ("away sam@swindon.example", "away"), ("back sam@swindon.example", "back")):
        reply = chat.say("alice", typed)
        assert reply.to_speaker[0].severity is Severity.ERROR
        assert said(reply).startswith("Sorry, only the business unit or an administrator can mark someone else")
        assert _audit(runtime, "refused")[-1] == (ids["alice"], {"action": action, "person": ids["sam"]})
    assert _absences(runtime) == [] and _outbox(runtime) == []

    reply = chat.say("una", "away sam@swindon.example until 15/01/2027 cover ian")
    assert said(reply).startswith("Sam Patel is away until Fri 15 Jan 2027. Ian Morgan covers")
    [absence] = _absences(runtime)
    assert (absence.person_id, absence.cover_id, absence.created_by_id) == (ids["sam"], ids["ian"], ids["una"])
    assert _audit(runtime, "away_set")[-1][0] == ids["una"]
    assert sorted(_outbox(runtime)) == sorted([(ids["ian"], "cover"), (ids["sam"], "cover")])  # each is told
    with runtime.factory() as s:
        told = {r.person_id: r.payload["text"] for r in s.scalars(select(OutboxMessage))}
    assert told[ids["sam"]].startswith("Una Wright has marked you away until Fri 15 Jan 2027. Ian Morgan covers")

    assert said(chat.say("zed", "back sam@swindon.example")) == "Sam Patel is back: their messages go to them again."
    assert _audit(runtime, "away_ended")[-1] == (ids["zed"], {"person": ids["sam"], "absences": [absence.id]})
    assert sorted(_outbox(runtime)[2:]) == sorted([(ids["ian"], "cover"), (ids["sam"], "cover")])
    # another board's business unit does not find Swindon's people
    other = Chat(runtime, chat.clock, "wolverhampton")
    assert "Nobody in the directory has the e-mail address" in said(other.say("una", "away sam@swindon.example "
                                                                                      "until 15/01/2027"))


def test_the_welsh_words(chat: Chat, runtime) -> None:
    with runtime.factory() as s:
        repo.person_by_key("swindon", "sam", session=s).language = "cy"
        s.commit()
    cy = translator("cy")
    reply = chat.say("sam", "absennol tan 15/01/2027 cyflenwi Priya")
    assert said(reply).startswith(cy("You are away until {date}.", date=cy.date(dt.date(2027, 1, 15))))
    assert len(_absences(runtime)) == 1
    assert said(chat.say("sam", "dychwelyd")) == cy("Welcome back: your messages come to you again.")
    assert _absences(runtime)[0].ended_at is not None


# -- who reads the messages --------------------------------------------------------------------------------------
def _reach(runtime, key: str, now: dt.datetime) -> tuple[str, str | None]:
    with runtime.factory() as s:
        r = cover.reach(repo.person_by_key("swindon", key, session=s), now, session=s)
        return r.reader.key, r.absent.key if r.absent else None


def test_the_chain_is_followed_once_and_never_loops(chat: Chat, runtime) -> None:
    now = chat.clock.now()
    assert _reach(runtime, "sam", now) == ("sam", None)
    chat.say("una", "away sam@swindon.example until 15/01/2027 cover priya")
    assert _reach(runtime, "sam", now) == ("priya", "sam")
    # Priya away too, covered by Cara: Cara reads Sam's
    chat.say("una", "away priya@swindon.example until 15/01/2027 cover cara")
    assert _reach(runtime, "sam", now) == ("cara", "sam")
    # Cara away as well: no third step; Sam's line manager Ian reads them
    chat.say("una", "away cara@swindon.example until 15/01/2027")
    assert _reach(runtime, "sam", now) == ("ian", "sam")
    # Priya covered by Sam while Sam is covered by Priya: no loop, each one's line manager (Ian for both)
    chat.say("una", "away priya@swindon.example until 15/01/2027 cover sam")
    assert _reach(runtime, "sam", now) == ("ian", "sam")
    assert _reach(runtime, "priya", now) == ("ian", "priya")
    # Cara (a director) is away with no cover and no line manager: her messages still reach her
    assert _reach(runtime, "cara", now) == ("cara", None)
    # once the last day is over, everyone reads their own
    later = dt.datetime(2027, 1, 16, 0, 0, tzinfo=LONDON)
    assert _reach(runtime, "sam", later - dt.timedelta(seconds=1)) == ("ian", "sam")
    assert [_reach(runtime, k, later) for k in ("sam", "priya", "cara")] == [("sam", None), ("priya", None),
                                                                              ("cara", None)]


# -- acting as cover ---------------------------------------------------------------------------------------------
def test_a_cover_may_act_as_the_absent_persons_manager_could(chat: Chat, runtime) -> None:
    """Hana, a health visitor, has no part in Alice's case; covering for Sam (Alice's line manager) she may do
    what a manager may, and nothing more; after Sam is back, nothing."""
    assert {a for a in Act if Role.COVER in MATRIX[a]} == {a for a in Act if Role.MANAGER in MATRIX[a]}
    ref = open_swindon_case(chat)
    chat.say("sam", "away until 15/01/2027 cover hana")
    with runtime.factory() as s:
        case = repo.case_by_ref(ref, session=s)
        hana = repo.person_by_key("swindon", "hana", session=s)
        now = chat.clock.now()
        assert permissions.roles_of(hana, case, session=s) == {Role.OTHER}
        assert cover.roles(hana, case, now, session=s) == {Role.COVER}
        for action, act in ACTION_NAMES.items():
            ctx = Ctx(hana, "console", now)
            if Role.MANAGER in MATRIX[act]:
                services.require_may_act(ctx, case, action, session=s)
                continue
            with pytest.raises(PermissionDenied):
                services.require_may_act(ctx, case, action, session=s)
        s.rollback()
    shown = said(chat.say("hana", f"case {ref}"))
    assert "Sam Patel is away until Fri 15 Jan 2027; Hana Jones covers." in shown
    chat.say("sam", "back")
    reply = chat.say("hana", f"case {ref}")
    assert reply.to_speaker[0].severity is Severity.ERROR and "Sorry, you can't do that on" in said(reply)


# -- who REF -----------------------------------------------------------------------------------------------------
def test_who_says_who_acts_next_by_when_and_who_covers(chat: Chat, runtime) -> None:
    ref = open_swindon_case(chat)
    # Stage 1, the internal discussion Alice owes with her line manager, is due Wed 8 Apr 2026 (2 working days after
    # Thu 2 Apr: Good Friday and Easter Monday are bank holidays)
    assert said(chat.say("bob", f"who {ref}")).splitlines() == [
        "Next: Stage 1 \u2014 Internal discussion with your line manager: due by Wed 8 Apr 2026 (2 working days "
        "after the disagreement arose on Thu 2 Apr)",
        "Who must act: Alice Hughes (Wiltshire Police); Sam Patel (Wiltshire Police)",
        "By: Wed 8 Apr 2026",
        f"Nobody on {ref} is away.",
    ]
    chat.say("sam", "away until 15/01/2027 cover Priya")
    lines = said(chat.say("bob", f"who {ref}")).splitlines()
    assert lines[1:5] == [
        "Who must act: Alice Hughes (Wiltshire Police); Sam Patel (Wiltshire Police), away until Fri 15 Jan 2027: "
        "Priya Shah covers",
        "By: Wed 8 Apr 2026",
        "Who covers whom:",
        "  \u2022 Sam Patel is away until Fri 15 Jan 2027; Priya Shah covers.",
    ]
    # someone away who is not on the case is not listed
    chat.say("hana", "away until 15/01/2027")
    assert said(chat.say("bob", f"who {ref}")).splitlines()[3:5] == lines[3:5]
    # in Welsh
    with runtime.factory() as s:
        repo.person_by_key("swindon", "bob", session=s).language = "cy"
        s.commit()
    cy = translator("cy")
    assert cy("Who covers whom:") in said(chat.say("bob", f"pwy {ref}"))
    # only for those who may see the case; the refusal is recorded on the case
    reply = chat.say("ed", f"who {ref}")
    assert reply.to_speaker[0].severity is Severity.ERROR and f"Sorry, you can't do that on {ref}" in said(reply)
    with runtime.factory() as s:
        last = repo.events_for(repo.case_by_ref(ref, session=s).id, session=s)[-1]
        assert (last.kind, last.data["action"]) == ("refused", "view")
    assert "Which case?" in said(chat.say("alice", "who"))


def test_a_delivery_alert_for_the_business_unit_by_direct_message_goes_to_its_cover(chat: Chat, runtime) -> None:
    """With no business-unit channel, a delivery alert goes to the business unit by direct message: Una is away,
    so to Carl, who covers for her (bot/delivery/outages.py)."""
    ids = _ids(runtime, "bob", "carl", "sam")
    with runtime.factory() as s:
        s.execute(delete(BoardChannel).where(BoardChannel.board_id == "swindon"))
        s.execute(delete(PersonIdentity).where(PersonIdentity.person_id == ids["bob"]))
        s.commit()
    chat.say("una", "away until 15/01/2027 cover carl")
    open_swindon_case(chat)  # Bob cannot be reached: the business unit is told
    with runtime.factory() as s:
        rows = [(r.person_id, r.payload.get("kind"), r.payload["text"]) for r in
                s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]
    assert sorted((p, k) for p, k, _ in rows) == sorted([(ids["carl"], "cover"), (ids["bob"], "case_opened"),
                                                         (ids["sam"], "case_opened"),
                                                         (ids["carl"], "delivery_alert")])
    alert = next(t for p, k, t in rows if k == "delivery_alert")
    assert alert.startswith("Covering for Una Wright: Parley has no way to reach these people")
