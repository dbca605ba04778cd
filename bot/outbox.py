"""The outbox: every outbound message is written here first, with a unique idempotency key, then handed
to a platform by bot.delivery. Also: who owes a step (recipients) and where people and agencies are reached.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.messages import Message, message_to_data
from protocol.engine import Item
from protocol.spec import Level, Protocol, Side, Stage
from storage import repo
from storage.models import Agency, Case, OutboxMessage, Person

PERSON_PLATFORMS = ("slack", "teams", "webhook", "console")  # a person is messaged on one platform, in this order
LEVEL_ROLES = {
    Level.PRACTITIONER: {"practitioner"},
    Level.LINE_MANAGER: {"line_manager", "safeguarding_lead"},
    Level.SENIOR_MANAGER: {"senior_manager"},
    Level.DIRECTOR: {"director"},
    Level.BUSINESS_UNIT: {"business_unit"},
    Level.INDEPENDENT_CHAIR: {"chair"},
}


def person_address(person: Person, *, session: Session) -> tuple[str, str] | None:
    ids = {i.platform: i.external_id for i in repo.identities(person.id, session=session)}
    for platform in PERSON_PLATFORMS:
        if platform in ids:
            return platform, ids[platform]
    return None


def _at_level(party: Person, agency: Agency | None, level: Level, *, session: Session) -> list[Person]:
    """Who acts for ``party`` at ``level``: up their line until someone holds a role of that level;
    otherwise anyone in their agency who does; otherwise the agency's safeguarding lead."""
    roles = LEVEL_ROLES[level]
    if party.role in roles:
        return [party]
    for mgr in repo.managers_of(party, session=session):
        if mgr.role in roles:
            return [mgr]
    if agency is not None:
        same = [p for p in repo.people(party.board_id, session=session, agency_id=agency.id) if p.role in roles]
        if same:
            return same
        if agency.safeguarding_lead_id:
            lead = repo.get_person(agency.safeguarding_lead_id, session=session)
            if lead:
                return [lead]
    return []


def board_people(board_id: str, level: Level, *, session: Session) -> list[Person]:
    roles = LEVEL_ROLES.get(level, {"business_unit"})
    found = [p for p in repo.people(board_id, session=session) if p.role in roles]
    return found or [p for p in repo.people(board_id, session=session) if p.role == "business_unit"]


def owners(case: Case, item: Item, proto: Protocol, *, session: Session) -> list[Person]:
    """The people who owe ``item`` (its side and level), for nudges and reminders."""
    stage: Stage | None = item.stage or (proto.stage(case.stage_id) if case.stage_id else None)
    level = item.step.level or (stage.level if stage else Level.PRACTITIONER)
    side = item.step.by
    if side is Side.BOARD or level in (Level.BUSINESS_UNIT, Level.INDEPENDENT_CHAIR):
        return board_people(case.board_id, level, session=session)
    out: list[Person] = []
    sides = [Side.RAISING, Side.RESPONDING] if side is Side.BOTH else [side]
    for sd in sides:
        pid = case.raising_person_id if sd is Side.RAISING else case.responding_person_id
        aid = case.raising_agency_id if sd is Side.RAISING else case.responding_agency_id
        agency = repo.get_agency(aid, session=session) if aid else None
        party = repo.get_person(pid, session=session) if pid else None
        if party is not None:
            if level is Level.LINE_MANAGER:
                out.append(party)  # the practitioner brings it to their manager: both are reminded
            out.extend(_at_level(party, agency, level, session=session))
        elif agency is not None:
            roles = LEVEL_ROLES[level]
            out.extend(p for p in repo.people(case.board_id, session=session, agency_id=agency.id) if p.role in roles)
    seen: set[int] = set()
    return [p for p in out if not (p.id in seen or seen.add(p.id))]  # type: ignore[func-returns-value]


def queue(*, session: Session, key: str, platform: str, target_kind: str, address: str, message: Message,
          now: dt.datetime, case: Case | None = None, timer_id: int | None = None, person_id: int | None = None,
          prompt_id: int | None = None, update_of: OutboxMessage | None = None,
          board_id: str | None = None) -> OutboxMessage | None:
    """Write one outbound message unless one with the same idempotency key exists already."""
    if session.scalar(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key)) is not None:
        return None
    row = OutboxMessage(idempotency_key=key, board_id=case.board_id if case else board_id,
                        case_id=case.id if case else None, timer_id=timer_id,
                        prompt_id=prompt_id, platform=platform, target_kind=target_kind, address=address,
                        person_id=person_id, payload=message_to_data(message), update_of_id=update_of.id
                        if update_of else None, state="pending", attempts=0, next_attempt_at=now)
    session.add(row)
    session.flush()
    return row


def queue_to_person(person: Person, message: Message, *, session: Session, key: str, now: dt.datetime,
                    case: Case | None = None, timer_id: int | None = None) -> OutboxMessage | None:
    addr = person_address(person, session=session)
    if addr is None:
        return None
    platform, external = addr
    return queue(session=session, key=f"{key}:p{person.id}", platform=platform, target_kind="person",
                 address=external, person_id=person.id, message=message, now=now, case=case, timer_id=timer_id)


def queue_to_channel(platform: str, address: str, message: Message, *, session: Session, key: str,
                     now: dt.datetime, case: Case | None = None, timer_id: int | None = None,
                     prompt_id: int | None = None, board_id: str | None = None) -> OutboxMessage | None:
    return queue(session=session, key=f"{key}:c{platform}:{address}", platform=platform, target_kind="channel",
                 address=address, message=message, now=now, case=case, timer_id=timer_id, prompt_id=prompt_id,
                 board_id=board_id)
