"""Reaching a person: through their linked platform address, else a failed row (and an outage the business unit
hears of) until they are linked, when the rows still worth delivering move to their new address. Every direct
message goes through :func:`queue_to_person`, which also sends a message for someone away to whoever covers for
them (bot.cases.cover).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from bot.cases import cover
from bot.core.i18n import translator
from bot.core.messages import Message
from bot.delivery import outages, outbox
from storage import outbox_repo
from storage.models import Case, OutboxMessage, Person

COVERING_FOR = "covering_for"  # in a row's payload: the id of the person away whom the reader covers for


def queue_to_person(person: Person, message: Message, *, session: Session, key: str, now: dt.datetime,
                    case: Case | None = None, timer_id: int | None = None, prompt_id: int | None = None,
                    reach: cover.Reach | None = None, redirect: bool = True, board_id: str | None = None
                    ) -> OutboxMessage | None:
    """Queue ``message`` for ``person``; while they are away, for whoever covers for them instead (``reach``: who
    that is, when the caller has already asked, e.g. to write the message in the reader's language), opening
    "Covering for NAME:". The idempotency key ends with the reader's id. ``redirect=False``: to the person
    themself whatever their absence (the reply to something they just typed). ``board_id``: the board of a message
    about no case."""
    if redirect:
        reach = reach if reach is not None else cover.reach(person, now, session=session)
        if reach.absent is not None:
            message = cover.covering(translator(reach.reader.language), message, reach.absent)
            person = reach.reader
    addr = outbox.person_address(person, session=session)
    if addr is None:
        row = _unreachable(person, message, session=session, key=key, now=now, case=case, timer_id=timer_id,
                           prompt_id=prompt_id)
    else:
        platform, external = addr
        row = outbox.queue(session=session, key=f"{key}:p{person.id}", platform=platform, target_kind="person",
                           address=external, person_id=person.id, message=message, now=now, case=case,
                           timer_id=timer_id, prompt_id=prompt_id, board_id=board_id)
    if row is not None and reach is not None and reach.absent is not None:
        row.payload = {**row.payload, COVERING_FOR: reach.absent.id}  # an update in place says it too
    return row


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
