"""The outbox: every outbound message is written here first, with a unique idempotency key, then handed
to a platform by bot.delivery.delivery. Also: where a person is reached. Who is told what is bot.notify.notify's.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from collections.abc import Sequence
from dataclasses import replace

from bot.cases import protocols
from bot.core.i18n import DEFAULT_LANGUAGE, translator
from bot.core.messages import Message, message_to_data
from storage import outbox_repo, repo
from storage.models import Case, OutboxMessage, Person

PERSON_PLATFORMS = ("slack", "teams", "webhook", "console")  # a person is messaged on one platform, in this order
# The platform of a message to someone Parley has no address for (no Slack, Teams, webhook or console identity):
# the row is kept, failed, and the business unit is told (bot.delivery.outages); when the person is linked later, the
# rows still worth delivering move to their new address (bot.delivery.addressing.readdress).
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
    """Write one outbound message unless one with the same idempotency key exists already. ``now`` is the real time
    (the process's clock: the retries count from it). A training board's message is marked as training."""
    if outbox_repo.key_exists(key, session=session):
        return None
    board_key = case.board_id if case else board_id
    board = repo.get_board(board_key, session=session) if board_key else None
    if board is not None and board.training:
        reader = repo.get_person(person_id, session=session) if target_kind == "person" and person_id else None
        message = training_mark(message, [reader.language] if reader else
                                protocols.board_protocol(board.id, session=session).channel_languages)
    row = OutboxMessage(idempotency_key=key, board_id=case.board_id if case else board_id,
                        case_id=case.id if case else None, timer_id=timer_id,
                        prompt_id=prompt_id, platform=platform, target_kind=target_kind, address=address,
                        person_id=person_id, payload=message_to_data(message), update_of_id=update_of.id
                        if update_of else None, state="pending", attempts=0, next_attempt_at=now,
                        created_at=now)  # the retry period counts from here (on the same clock as the retries)
    session.add(row)
    session.flush()
    return row


def training_mark(message: Message, languages: Sequence[str]) -> Message:
    """``message`` marked as a training board's, so nobody takes a rehearsal for a real case: "[Training]" (in each
    of ``languages``: "[Hyfforddiant | Training]") before its title, or before its text when it has none. Marking a
    marked message changes nothing. Slack's and Teams' limits hold: the adapters cut a title or text to fit."""
    words = dict.fromkeys(translator(lang)("Training") for lang in languages or [DEFAULT_LANGUAGE])
    tag = "[" + " | ".join(words) + "]"
    if message.title:
        return message if message.title.startswith(tag) else replace(message, title=f"{tag} {message.title}")
    return message if message.text.startswith(tag) else replace(message, text=f"{tag} {message.text}")


def queue_to_channel(platform: str, address: str, message: Message, *, session: Session, key: str,
                     now: dt.datetime, case: Case | None = None, timer_id: int | None = None,
                     prompt_id: int | None = None, board_id: str | None = None) -> OutboxMessage | None:
    return queue(session=session, key=f"{key}:c{platform}:{address}", platform=platform, target_kind="channel",
                 address=address, message=message, now=now, case=case, timer_id=timer_id, prompt_id=prompt_id,
                 board_id=board_id)


def unreachable_address(person_id: int) -> str:
    return f"person:{person_id}"


