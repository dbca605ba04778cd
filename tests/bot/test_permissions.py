"""The written permission matrix (docs/permissions.md, generated from bot/cases/permissions.py) is what the services
enforce: every action x every role, through the services and through the channel-neutral conversation (the
Slack and Teams adapters call the same conversation; tests/adapters press buttons through them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cases import permissions, services
from bot.core.messages import Severity
from bot.cases.permissions import ACTION_NAMES, MATRIX, Act, Role
from bot.cases.services import Ctx
from bot.cases.errors import PermissionDenied
from storage import repo
from storage.db import keep_after_rollback
from storage.models import Person
from tests.bot.test_conversation import open_swindon_case
from tests.conftest import Chat

ROOT = Path(__file__).resolve().parents[2]
# one person for each role on a Swindon case raised by Alice (police) with Bob (social care)
PEOPLE = {Role.RAISER: "alice", Role.COUNTERPART: "bob", Role.MANAGER: "sam", Role.SAFEGUARDING_LEAD: "priya",
          Role.AGENCY_MANAGER: "dan", Role.BUSINESS_UNIT: "una", Role.CHAIR: "carl", Role.ADMIN: "zed",
          Role.OTHER: "hana"}


def test_the_document_is_the_matrix() -> None:
    assert (ROOT / "docs" / "permissions.md").read_text("utf-8") == permissions.matrix_markdown(), \
        "run `make permissions-doc`"


def test_every_service_action_is_in_the_matrix() -> None:
    import re

    used = set()
    for path in (ROOT / "bot").rglob("*.py"):
        used |= set(re.findall(r'require_may_act\(\w+, \w+, "(\w+)"', path.read_text("utf-8")))
    assert used and used <= set(ACTION_NAMES), used - set(ACTION_NAMES)
    assert set(ACTION_NAMES.values()) | permissions.BOARD_WIDE | {Act.VIEW_SUBJECT} == set(Act)  # via may_act


@pytest.fixture
def case_and_people(chat: Chat, runtime):
    ref = open_swindon_case(chat)
    with runtime.factory() as s:
        police = repo.person_by_key("swindon", "sam", session=s).agency_id
        s.add(Person(board_id="swindon", key="dan", name="Dan Shaw", title="Duty Sergeant", role="line_manager",
                     agency_id=police, email="dan@swindon.example"))
        s.commit()
    return ref


def _roles(runtime, ref: str, key: str) -> set[Role]:
    with runtime.factory() as s:
        return permissions.roles_of(repo.person_by_key("swindon", key, session=s), repo.case_by_ref(ref, session=s),
                                    session=s)


def test_the_people_hold_the_roles(case_and_people, runtime) -> None:
    for role, key in PEOPLE.items():
        assert role in _roles(runtime, case_and_people, key), (role, key)
    # another board's business unit has no part in this case
    with runtime.factory() as s:
        other_bu = repo.person_by_key("wolverhampton", "una", session=s)
        assert permissions.roles_of(other_bu, repo.case_by_ref(case_and_people, session=s), session=s) == {Role.OTHER}


@pytest.mark.parametrize("role", list(PEOPLE))
def test_services_enforce_the_matrix_for_every_action(case_and_people, runtime, clock, role) -> None:
    ref = case_and_people
    for action, act in ACTION_NAMES.items():
        with runtime.factory() as s:
            case = repo.case_by_ref(ref, session=s)
            actor = repo.person_by_key("swindon", PEOPLE[role], session=s)
            before = (case.version, len(repo.events_for(case.id, session=s)))
            ctx = Ctx(actor, "console", clock.now())
            if role in MATRIX[act]:
                services.require_may_act(ctx, case, action, session=s)
                assert (case.version, len(repo.events_for(case.id, session=s))) == before
                continue
            with pytest.raises(PermissionDenied) as err:
                services.require_may_act(ctx, case, action, session=s)
            assert ref in err.value.message and "can't" in err.value.message
            # the service neither writes nor commits in its caller's session; the unit of work's owner rolls back
            # and keeps the refusal's audit entry (storage.db.keep_after_rollback)
            assert len(repo.events_for(case.id, session=s)) == before[1]
            assert keep_after_rollback(err.value, s)
            s.commit()
            events = repo.events_for(case.id, session=s)
            assert case.version == before[0] and len(events) == before[1] + 1  # only the refusal, audited
            assert events[-1].kind == "refused" and events[-1].data["action"] == action
            assert events[-1].actor_id == actor.id


CASE_BUTTONS = ["view", "record_contact", "record_outcome", "complete_step", "escalate_exceptional", "bypass",
                "set_protective_date", "extend", "urgent_notice", "close", "name_counterpart", "send_written_outcome",
                "records", "new_record", "form"]


@pytest.mark.parametrize("role", list(PEOPLE))
def test_every_button_for_every_role_through_the_conversation(case_and_people, runtime, clock, role) -> None:
    """Pressing a case's buttons (e.g. on a card someone else received): a refusal goes to the presser only,
    is clear, and changes nothing but the audit trail; an allowed press is never refused."""
    ref = case_and_people
    chat = Chat(runtime, clock)
    for button in CASE_BUTTONS:
        act = ACTION_NAMES[button]
        with runtime.factory() as s:
            before = repo.case_by_ref(ref, session=s).version
        reply = chat.press(PEOPLE[role], f"case.{button}", ref)
        chat.say(PEOPLE[role], "cancel")  # leave any flow that started
        assert not reply.queued  # nothing is sent to anyone else
        refused = any(m.severity is Severity.ERROR and "you can't" in m.text for m in reply.to_speaker)
        assert refused == (role not in MATRIX[act]), (button, role, [m.text for m in reply.to_speaker])
        with runtime.factory() as s:
            assert repo.case_by_ref(ref, session=s).version == before


def test_signing_is_for_the_records_signatories_only(case_and_people, runtime, clock) -> None:
    ref = case_and_people
    chat = Chat(runtime, clock)
    chat.say("sam", f"record {ref}")  # a manager may draft it; the parties sign
    chat.script("sam", "today", "Alice, Bob, Sam", "Threshold", "Assessment", "none", "none")
    assert "Record 1 saved" in chat.say("sam", "submit").to_speaker[0].text
    for who in ("sam", "priya", "una", "carl", "dan"):
        reply = chat.say(who, f"sign {ref} 1")
        assert reply.to_speaker[0].severity is Severity.ERROR, who
    assert "You have signed record 1." in chat.say("alice", f"sign {ref} 1").to_speaker[0].text
    assert "it is locked" in chat.say("bob", f"sign {ref} 1").to_speaker[0].text


def test_registering_a_channel_is_for_the_business_unit_and_admins(runtime) -> None:
    from sqlalchemy import select

    from storage.models import AuditEntry

    with runtime.factory() as s:
        ids = {k: repo.person_by_key("swindon", k, session=s).id for k in ("alice", "sam", "una", "zed")}
    import datetime as dt

    from bot.admin import channels

    police = channels.parse("register managers police")
    now = dt.datetime(2026, 4, 2, 9, tzinfo=dt.timezone.utc)

    def register(key: str, channel: str) -> str:
        return channels.register(runtime.factory, ids[key], "slack", channel, police, now)

    for key in ("alice", "sam"):
        with pytest.raises(PermissionDenied, match="Only an administrator or the business unit"):
            register(key, "C0POLICE")
    with runtime.factory() as s:
        refusals = s.scalars(select(AuditEntry).where(AuditEntry.kind == "refused")).all()
        assert [(r.actor_id, r.data["action"]) for r in refusals] == [(ids["alice"], "register_channel"),
                                                                      (ids["sam"], "register_channel")]
    assert "Wiltshire Police" in register("una", "C0POLICE")
    assert "Wiltshire Police" in register("zed", "C0POLICE2")
