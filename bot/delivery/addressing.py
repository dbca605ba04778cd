"""Reaching a person: through their linked platform address, else a failed row (and an outage the business unit
hears of) until they are linked, when the rows still worth delivering move to their new address.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from bot.core.messages import Message
from bot.delivery import outages, outbox
from storage import outbox_repo
from storage.models import Case, OutboxMessage, Person


def queue_to_person(person: Person, message: Message, *, session: Session, key: str, now: dt.datetime,
                    case: Case | None = None, timer_id: int | None = None, prompt_id: int | None = None
                    ) -> OutboxMessage | None:
    addr = outbox.person_address(person, session=session)
    if addr is None:
        return _unreachable(person, message, session=session, key=key, now=now, case=case, timer_id=timer_id,
                            prompt_id=prompt_id)
    platform, external = addr
    return outbox.queue(session=session, key=f"{key}:p{person.id}", platform=platform, target_kind="person",
                        address=external, person_id=person.id, message=message, now=now, case=case,
                        timer_id=timer_id, prompt_id=prompt_id)


def _unreachable(person: Person, message: Message, *, session: Session, key: str, now: dt.datetime,
                 case: Case | None, timer_id: int | None, prompt_id: int | None) -> OutboxMessage | None:
    """A message for someone with no address: written all the same (failed, for good until they are linked),
    and the business unit told which reference and which person, once per outage."""
    row = outbox.queue(session=session, key=f"{key}:p{person.id}", platform=outbox.UNREACHABLE,
                       target_kind="person", address=outbox.unreachable_address(person.id), person_id=person.id,
                       message=message, now=now, case=case, timer_id=timer_id, prompt_id=prompt_id,
                       board_id=person.board_id)
    if row is None:
        return None
    row.state, row.failure, row.last_error = "failed", "permanent", outbox.NO_ADDRESS
    outages.note_failure(session, row, reason="no linked account", permanent=True, now=now,
                         policy=outages.Policy.from_env())
    return row


def readdress(person: Person, *, session: Session, now: dt.datetime | None = None) -> int:
    """``person`` has just been linked to a platform: the messages that could not reach them go there now (those
    of cases still open, or younger than the retry period). Returns how many. Nothing goes to a leaver
    (bot/admin/people.py)."""
    addr = outbox.person_address(person, session=session)
    if addr is None or not person.active:
        return 0
    platform, external = addr
    policy = outages.Policy.from_env()
    moved = 0
    for row in outbox_repo.failed_unreachable(outbox.UNREACHABLE, person.id, session=session):
        case = session.get(Case, row.case_id) if row.case_id else None
        if (now or row.created_at) - row.created_at > policy.retry_for and (
                case is None or case.status not in outages.OPEN_STATUSES):
            continue  # old news of a case closed since
        row.platform, row.address, row.state, row.failure, row.last_error = platform, external, "pending", None, None
        row.attempts, row.next_attempt_at = 0, row.created_at  # due at once, on whatever clock delivers it
        moved += 1
    outages.note_success(session, outbox.UNREACHABLE, outbox.unreachable_address(person.id),
                         now or dt.datetime.now(dt.timezone.utc))  # their outage is over
    return moved
