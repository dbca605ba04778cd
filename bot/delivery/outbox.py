"""The outbox: every outbound message is written here first, with a unique idempotency key, then handed
to a platform by bot.delivery.delivery. Also: where a person is reached. Who is told what is bot.notify.notify's.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.messages import Message, message_to_data
from storage import repo
from storage.models import Case, OutboxMessage, Person

PERSON_PLATFORMS = ("slack", "teams", "webhook", "console")  # a person is messaged on one platform, in this order
# The platform of a message to someone Parley has no address for (no Slack, Teams, webhook or console identity):
# the row is kept, failed, and the business unit is told (bot.delivery.outages); when the person is linked later, the
# rows still worth delivering move to their new address (:func:`readdress`).
UNREACHABLE = "none"
NO_ADDRESS = "no Slack, Teams or other account is linked to this person"


def person_address(person: Person, *, session: Session) -> tuple[str, str] | None:
    ids = {i.platform: i.external_id for i in repo.identities(person.id, session=session)}
    for platform in PERSON_PLATFORMS:
        if platform in ids:
            return platform, ids[platform]
    return None


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
                        if update_of else None, state="pending", attempts=0, next_attempt_at=now,
                        created_at=now)  # the retry period counts from here (on the same clock as the retries)
    session.add(row)
    session.flush()
    return row


def queue_to_person(person: Person, message: Message, *, session: Session, key: str, now: dt.datetime,
                    case: Case | None = None, timer_id: int | None = None, prompt_id: int | None = None
                    ) -> OutboxMessage | None:
    addr = person_address(person, session=session)
    if addr is None:
        return _unreachable(person, message, session=session, key=key, now=now, case=case, timer_id=timer_id,
                            prompt_id=prompt_id)
    platform, external = addr
    return queue(session=session, key=f"{key}:p{person.id}", platform=platform, target_kind="person",
                 address=external, person_id=person.id, message=message, now=now, case=case, timer_id=timer_id,
                 prompt_id=prompt_id)


def queue_to_channel(platform: str, address: str, message: Message, *, session: Session, key: str,
                     now: dt.datetime, case: Case | None = None, timer_id: int | None = None,
                     prompt_id: int | None = None, board_id: str | None = None) -> OutboxMessage | None:
    return queue(session=session, key=f"{key}:c{platform}:{address}", platform=platform, target_kind="channel",
                 address=address, message=message, now=now, case=case, timer_id=timer_id, prompt_id=prompt_id,
                 board_id=board_id)


def unreachable_address(person_id: int) -> str:
    return f"person:{person_id}"


def _unreachable(person: Person, message: Message, *, session: Session, key: str, now: dt.datetime,
                 case: Case | None, timer_id: int | None, prompt_id: int | None) -> OutboxMessage | None:
    """A message for someone with no address: written all the same (failed, for good until they are linked),
    and the business unit told which reference and which person, once per outage."""
    from bot.delivery import outages

    row = queue(session=session, key=f"{key}:p{person.id}", platform=UNREACHABLE, target_kind="person",
                address=unreachable_address(person.id), person_id=person.id, message=message, now=now, case=case,
                timer_id=timer_id, prompt_id=prompt_id, board_id=person.board_id)
    if row is None:
        return None
    row.state, row.failure, row.last_error = "failed", "permanent", NO_ADDRESS
    outages.note_failure(session, row, reason="no linked account", permanent=True, now=now,
                         policy=outages.Policy.from_env())
    return row


def readdress(person: Person, *, session: Session, now: dt.datetime | None = None) -> int:
    """``person`` has just been linked to a platform: the messages that could not reach them go there now (those
    of cases still open, or younger than the retry period). Returns how many."""
    from bot.delivery import outages

    addr = person_address(person, session=session)
    if addr is None:
        return 0
    platform, external = addr
    policy = outages.Policy.from_env()
    moved = 0
    for row in session.scalars(select(OutboxMessage).where(OutboxMessage.platform == UNREACHABLE,
                                                           OutboxMessage.person_id == person.id,
                                                           OutboxMessage.state == "failed")
                               .order_by(OutboxMessage.id)):
        case = session.get(Case, row.case_id) if row.case_id else None
        if (now or row.created_at) - row.created_at > policy.retry_for and (
                case is None or case.status not in outages.OPEN_STATUSES):
            continue  # old news of a case closed since
        row.platform, row.address, row.state, row.failure, row.last_error = platform, external, "pending", None, None
        row.attempts, row.next_attempt_at = 0, row.created_at  # due at once, on whatever clock delivers it
        moved += 1
    outages.note_success(session, UNREACHABLE, unreachable_address(person.id),
                         now or dt.datetime.now(dt.timezone.utc))  # their outage is over
    return moved
