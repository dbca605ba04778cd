"""Repository of the outbox and of the delivery addresses (their outages): the queries of bot/delivery/, and of the
scheduler and the escalation prompts where they read the outbox. The session is keyword-only.

Locking is the caller's choice as much as the query's: each function that locks says so in its name or docstring,
and a claim skips rows other workers hold (``FOR UPDATE SKIP LOCKED``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence

from typing import Any, cast

from sqlalchemy import CursorResult, Result, and_, or_, select, update
from sqlalchemy.orm import Session

from storage.models import OutboxMessage
from storage.platform_models import DeliveryAddress


def _cursor(result: Result[Any]) -> CursorResult[Any]:
    """An UPDATE's result (SQLAlchemy types it as a Result; only a CursorResult declares ``rowcount``)."""
    return cast("CursorResult[Any]", result)


# -- outbox rows ------------------------------------------------------------------------------------------------
def key_exists(key: str, *, session: Session) -> bool:
    """Whether an outbox row with this idempotency key exists already."""
    return session.scalar(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key)) is not None


def failed_unreachable(platform: str, person_id: int, *, session: Session) -> Sequence[OutboxMessage]:
    """The failed rows to a person on ``platform`` (the platform of nobody's address), oldest first."""
    return session.scalars(select(OutboxMessage).where(OutboxMessage.platform == platform,
                                                       OutboxMessage.person_id == person_id,
                                                       OutboxMessage.state == "failed")
                           .order_by(OutboxMessage.id)).all()


def people_with_failed(platform: str, board_id: str, *, session: Session) -> Sequence[int]:
    """The board's people with failed rows on ``platform`` (the platform of nobody's address)."""
    return [pid for pid in session.scalars(select(OutboxMessage.person_id).distinct().where(
        OutboxMessage.platform == platform, OutboxMessage.board_id == board_id, OutboxMessage.state == "failed",
        OutboxMessage.person_id.is_not(None)).order_by(OutboxMessage.person_id)) if pid is not None]


def claim(platforms: Collection[str], now: dt.datetime, batch: int, *, session: Session, by_board: bool = False,
          board_id: str | None = None) -> Sequence[OutboxMessage]:
    """Rows due now (pending and due, or sending with an expired lease) on ``platforms`` (and, when ``by_board``,
    of ``board_id`` only), oldest first, at most ``batch``, locked: ``FOR UPDATE SKIP LOCKED``."""
    q = select(OutboxMessage).where(OutboxMessage.platform.in_(list(platforms)))
    if by_board:
        q = q.where(OutboxMessage.board_id == board_id)
    q = (q.where(or_(and_(OutboxMessage.state == "pending", OutboxMessage.next_attempt_at <= now),
                     and_(OutboxMessage.state == "sending", OutboxMessage.lease_until < now)))
         .order_by(OutboxMessage.id).limit(batch)
         .with_for_update(skip_locked=True))
    return session.scalars(q).all()


def renew_lease(row_id: int, worker: str, lease_until: dt.datetime, *, session: Session) -> bool:
    """Extend ``worker``'s lease on a row it is sending; False when the row is no longer its (one conditional
    UPDATE)."""
    stmt = (update(OutboxMessage)
            .where(OutboxMessage.id == row_id, OutboxMessage.state == "sending", OutboxMessage.claimed_by == worker)
            .values(lease_until=lease_until))
    res = _cursor(session.execute(stmt))
    return res.rowcount == 1


def retry_failed(platforms: list[str], now: dt.datetime, created_after: dt.datetime, *, session: Session) -> int:
    """Rows on ``platforms`` failed transiently and created at or after ``created_after`` go back to pending, due
    ``now`` (one UPDATE). Returns how many."""
    stmt = (update(OutboxMessage)
            .where(OutboxMessage.platform.in_(platforms), OutboxMessage.state == "failed",
                   OutboxMessage.failure == "transient", OutboxMessage.created_at >= created_after)
            .values(state="pending", failure=None, next_attempt_at=now)
            .execution_options(synchronize_session=False))
    res = _cursor(session.execute(stmt))
    return res.rowcount or 0


def held_up(platform: str, address: str | None, *, session: Session) -> Sequence[OutboxMessage]:
    """Rows on ``platform`` (to ``address`` when given) tried and not delivered (pending, sending or failed with
    an error), oldest first."""
    q = select(OutboxMessage).where(OutboxMessage.platform == platform,
                                    OutboxMessage.state.in_(["pending", "sending", "failed"]),
                                    OutboxMessage.last_error.is_not(None))
    if address is not None:
        q = q.where(OutboxMessage.address == address)
    return session.scalars(q.order_by(OutboxMessage.id)).all()


def last_sent_to_channel(board_id: str, channel: str, *, session: Session) -> OutboxMessage | None:
    """The newest original message (not an update) delivered to a channel of this board."""
    return session.scalars(select(OutboxMessage).where(
        OutboxMessage.board_id == board_id, OutboxMessage.target_kind == "channel",
        OutboxMessage.address == channel, OutboxMessage.state == "sent",
        OutboxMessage.update_of_id.is_(None)).order_by(OutboxMessage.id.desc()).limit(1)).first()


def latest_sent_update(row_id: int, *, session: Session) -> OutboxMessage | None:
    """The newest delivered update of the row ``row_id``."""
    return session.scalars(select(OutboxMessage).where(OutboxMessage.update_of_id == row_id,
                                                       OutboxMessage.state == "sent")
                           .order_by(OutboxMessage.id.desc()).limit(1)).first()


def prompt_copies(prompt_id: int, *, session: Session, channels_only: bool = False) -> Sequence[OutboxMessage]:
    """The original rows (not updates) of an escalation prompt: its channel posts, re-posts and direct messages
    (only the channel posts with ``channels_only``)."""
    if channels_only:
        return session.scalars(select(OutboxMessage).where(OutboxMessage.prompt_id == prompt_id,
                                                           OutboxMessage.target_kind == "channel",
                                                           OutboxMessage.update_of_id.is_(None))).all()
    return session.scalars(select(OutboxMessage).where(OutboxMessage.prompt_id == prompt_id,
                                                       OutboxMessage.update_of_id.is_(None))).all()


def any_unsent(*, session: Session, platforms: Collection[str] | None = None) -> bool:
    """Whether a row is still pending or sending (on ``platforms`` when given)."""
    q = select(OutboxMessage.id).where(OutboxMessage.state.in_(["pending", "sending"]))
    if platforms is not None:
        q = q.where(OutboxMessage.platform.in_(list(platforms)))
    return session.scalar(q.limit(1)) is not None


# -- delivery addresses (outages) -------------------------------------------------------------------------------
def address_for_update(platform: str, address: str, *, session: Session) -> DeliveryAddress | None:
    """An address's outage row, locked (``FOR UPDATE``)."""
    return session.scalar(select(DeliveryAddress).where(DeliveryAddress.platform == platform,
                                                        DeliveryAddress.address == address).with_for_update())


def failing_addresses(platform: str, addresses: list[str], *, session: Session) -> Sequence[DeliveryAddress]:
    """The rows of ``addresses`` on ``platform`` that are failing now."""
    return session.scalars(select(DeliveryAddress).where(DeliveryAddress.platform == platform,
                                                         DeliveryAddress.address.in_(addresses),
                                                         DeliveryAddress.failing_since.is_not(None))).all()


def any_failing(platform: str, addresses: list[str], *, session: Session) -> bool:
    """Whether one of ``addresses`` on ``platform`` is failing now."""
    return session.scalar(select(DeliveryAddress.id).where(DeliveryAddress.platform == platform,
                                                           DeliveryAddress.address.in_(addresses),
                                                           DeliveryAddress.failing_since.is_not(None))) is not None


def all_failing(*, session: Session) -> Sequence[DeliveryAddress]:
    """Every address failing now, by platform and address."""
    return session.scalars(select(DeliveryAddress).where(DeliveryAddress.failing_since.is_not(None))
                           .order_by(DeliveryAddress.platform, DeliveryAddress.address)).all()
