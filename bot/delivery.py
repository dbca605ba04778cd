"""Handing outbox rows to platforms, exactly once in the normal case.

A row goes pending -> sending (claimed, with a lease) -> sent | failed. Rows are claimed with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so replicas never deliver the same row; SQLite serialises
writers, which is correct for its single-process use.

The crash window: a worker that dies after the platform accepted a message but before the row is marked
sent leaves the row in ``sending``. When its lease expires another worker reclaims it and first asks the
transport ``find_sent(row)`` whether the platform already has it (Slack: the message metadata carries the
outbox key; a transport that cannot tell returns None and the message is sent again). That residual
duplicate, only for a platform with no way to look a message up, is the one remaining window.

Transient failures (HTTP 429 with Retry-After, 5xx, timeouts) are retried with exponential backoff; one
failing row never blocks the others.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol as TypingProtocol

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.messages import Message, message_from_data
from storage.models import OutboxMessage

log = logging.getLogger("parley.delivery")
MAX_ATTEMPTS = 8
LEASE = dt.timedelta(seconds=60)


class DeliveryError(Exception):
    def __init__(self, message: str, *, retry_after: float | None = None, permanent: bool = False):
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent


@dataclass(frozen=True)
class Outgoing:
    id: int
    key: str
    platform: str
    target_kind: str  # channel | person
    address: str
    person_id: int | None
    case_id: int | None
    message: Message
    update_of_external_id: str | None  # set for an in-place update of an earlier message


class Transport(TypingProtocol):
    platform: str

    def send(self, msg: Outgoing) -> str:
        """Deliver; return the platform's id for the message. Raise DeliveryError on failure."""

    def update(self, msg: Outgoing) -> str:
        """Replace the message ``msg.update_of_external_id`` in place."""

    def find_sent(self, msg: Outgoing) -> str | None:
        """The platform id of an earlier delivery of this exact message, if the platform can tell."""


def _backoff(attempts: int, retry_after: float | None) -> dt.timedelta:
    wait = min(2 ** attempts, 600)
    return dt.timedelta(seconds=max(wait, retry_after or 0))


class Deliverer:
    def __init__(self, factory: sessionmaker[Session], transports: Mapping[str, Transport], clock: Clock,
                 worker: str, batch: int = 50, board_id: Callable[[], str | None] | None = None):
        self.board_id = board_id  # when set, only that board's messages (the console shows one board)
        self.factory = factory
        self.transports = dict(transports)
        self.clock = clock
        self.worker = worker
        self.batch = batch

    def _claim(self) -> list[tuple[Outgoing, bool]]:
        now = self.clock.now()
        with self.factory() as s:
            q = (select(OutboxMessage)
                 .where(OutboxMessage.platform.in_(list(self.transports)))
                 .where(OutboxMessage.board_id == self.board_id() if self.board_id else True)
                 .where(or_(and_(OutboxMessage.state == "pending", OutboxMessage.next_attempt_at <= now),
                            and_(OutboxMessage.state == "sending", OutboxMessage.lease_until < now)))
                 .order_by(OutboxMessage.id).limit(self.batch)
                 .with_for_update(skip_locked=True))
            rows = s.scalars(q).all()
            out = []
            for r in rows:
                original = s.get(OutboxMessage, r.update_of_id) if r.update_of_id else None
                if original is not None and original.state != "sent":
                    r.next_attempt_at = now + dt.timedelta(seconds=1)  # update waits for the original
                    continue
                reclaimed = r.state == "sending"
                r.state, r.claimed_by, r.lease_until = "sending", self.worker, now + LEASE
                r.attempts += 1
                out.append((Outgoing(r.id, r.idempotency_key, r.platform, r.target_kind, r.address, r.person_id,
                                     r.case_id, message_from_data(r.payload),
                                     original.external_id if original else None), reclaimed))
            s.commit()
            return out

    def _finish(self, row_id: int, *, external_id: str | None = None, error: DeliveryError | None = None) -> None:
        now = self.clock.now()
        with self.factory() as s:
            r = s.get(OutboxMessage, row_id)
            assert r is not None
            if error is None:
                r.state, r.external_id, r.sent_at, r.lease_until, r.last_error = "sent", external_id, now, None, None
            elif error.permanent or r.attempts >= MAX_ATTEMPTS:
                r.state, r.last_error, r.lease_until = "failed", str(error)[:2000], None
                # the reason can quote the message (an API echoing what it refused): it stays in the database
                log.error("outbox %s failed for good after %d attempts (reason in outbox_messages.last_error)",
                          r.id, r.attempts, extra={"outbox_id": r.id, "attempt": r.attempts})
            else:
                r.state, r.last_error, r.lease_until = "pending", str(error)[:2000], None
                r.next_attempt_at = now + _backoff(r.attempts, error.retry_after)
            s.commit()

    def _still_mine(self, row_id: int) -> bool:
        """Renew this worker's lease on a claimed row just before sending it. False when another worker has
        reclaimed it meanwhile, which happens when working through the batch took longer than LEASE."""
        now = self.clock.now()
        with self.factory() as s:
            res = s.execute(update(OutboxMessage).where(OutboxMessage.id == row_id,
                                                        OutboxMessage.state == "sending",
                                                        OutboxMessage.claimed_by == self.worker)
                            .values(lease_until=now + LEASE))
            s.commit()
            return res.rowcount == 1

    def deliver(self) -> int:
        """Deliver everything deliverable now; returns how many messages were sent."""
        sent = 0
        while True:
            claimed = self._claim()
            if not claimed:
                return sent
            for msg, reclaimed in claimed:
                transport = self.transports[msg.platform]
                # Fix: a batch is claimed at once with one lease; rows still waiting when the lease ran out
                # (a slow platform, timeouts) were reclaimed and sent by another worker, then sent again here.
                if not self._still_mine(msg.id):
                    continue
                try:
                    if reclaimed:
                        found = transport.find_sent(msg)
                        if found is not None:
                            self._finish(msg.id, external_id=found)
                            continue
                    ext = transport.update(msg) if msg.update_of_external_id else transport.send(msg)
                except DeliveryError as exc:
                    self._finish(msg.id, error=exc)
                    continue
                except Exception as exc:  # noqa: BLE001 - an adapter bug must not stop other messages
                    log.exception("outbox %s: transport error", msg.id, extra={"outbox_id": msg.id})
                    self._finish(msg.id, error=DeliveryError(f"{type(exc).__name__}: {exc}"))
                    continue
                self._finish(msg.id, external_id=ext)
                sent += 1
