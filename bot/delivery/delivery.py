"""Handing outbox rows to platforms, exactly once in the normal case.

A row goes pending -> sending (claimed, with a lease) -> sent | failed. Rows are claimed with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so replicas never deliver the same row; SQLite serialises
writers, which is correct for its single-process use.

The crash window: a worker that dies after the platform accepted a message but before the row is marked
sent leaves the row in ``sending``. When its lease expires another worker reclaims it and first asks the
transport ``find_sent(row)`` whether the platform already has it (Slack: the message metadata carries the
outbox key; a transport that cannot tell returns None and the message is sent again). That residual
duplicate, only for a platform with no way to look a message up, is the one remaining window.

Transient failures (HTTP 429 with Retry-After, 5xx, timeouts, an unreachable platform) are retried with
exponential backoff capped at 15 minutes (``Policy.backoff_cap``; a longer Retry-After is honoured), for at least
72 hours (``PARLEY_RETRY_HOURS``) and for as long as the message's case is open; one failing row never blocks the
others. A row whose retry period ran out is ``failed`` with ``failure = "transient"`` and goes back to pending when
its platform accepts a message again, or at the hourly recovery sweep. A permanent failure of an address (HTTP
403/404, Slack's channel_not_found ...) fails the row at once (``failure = "permanent"``). Either way
bot.delivery.outages keeps the address's outage and tells the board's business unit, once per outage (docs/delivery.md).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol as TypingProtocol

from sqlalchemy.orm import Session, sessionmaker

from bot.core.clock import Clock
from bot.core.messages import Message, message_from_data
from bot.delivery import outages
from bot.delivery.outages import Policy
from storage import outbox_repo
from storage.db import writing
from storage.models import Case, OutboxMessage

log = logging.getLogger("parley.delivery")
LEASE = dt.timedelta(seconds=60)
SAFE_REASON = re.compile(r"[A-Za-z0-9 _./-]{1,60}")  # a code or status, never text the platform echoed


class DeliveryError(Exception):
    """A failed attempt. ``permanent``: the platform refused the address for good (no retry); otherwise it is
    retried, after ``retry_after`` seconds at least when the platform said so. ``reason`` is a short code for
    logs and the business unit's alert (e.g. "HTTP 503", "channel_not_found", "timeout"): never message text."""

    def __init__(self, message: str, *, retry_after: float | None = None, permanent: bool = False,
                 reason: str | None = None):
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent
        code = (reason or message.split(":", 1)[0]).strip()
        self.reason = code if SAFE_REASON.fullmatch(code) else "error"


class Deferred(DeliveryError):
    """Not a failure: the transport holds the message back for ``retry_after`` seconds (its own pacing)."""


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


def _backoff(attempts: int, retry_after: float | None, cap: dt.timedelta) -> dt.timedelta:
    wait = min(2.0 ** min(attempts, 30), cap.total_seconds())
    return dt.timedelta(seconds=max(wait, retry_after or 0))


class Deliverer:
    def __init__(self, factory: sessionmaker[Session], transports: Mapping[str, Transport], clock: Clock,
                 worker: str, batch: int = 50, board_id: Callable[[], str | None] | None = None,
                 policy: Policy | None = None):
        self.board_id = board_id  # when set, only that board's messages (the console shows one board)
        self.factory = factory
        self.transports = dict(transports)
        self.clock = clock
        self.worker = worker
        self.batch = batch
        self.policy = policy or Policy.from_env()
        self._last_recovery: dt.datetime | None = None

    def _claim(self) -> list[tuple[Outgoing, bool]]:
        now = self.clock.now()
        with self.factory() as s:
            writing(s)  # claims are exclusive on SQLite too (storage.db.writing); PostgreSQL skips locked rows
            rows = outbox_repo.claim(self.transports, now, self.batch, session=s, by_board=bool(self.board_id),
                                     board_id=self.board_id() if self.board_id else None)
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

    def _gave_up(self, s: Session, r: OutboxMessage, now: dt.datetime) -> bool:
        """A transient failure is final only after the retry period, and never while the message's case is open."""
        if now - r.created_at < self.policy.retry_for:
            return False
        case = s.get(Case, r.case_id) if r.case_id else None
        return case is None or case.status not in outages.OPEN_STATUSES

    def _finish(self, row_id: int, *, external_id: str | None = None, error: DeliveryError | None = None) -> None:
        now = self.clock.now()
        with self.factory() as s:
            r = s.get(OutboxMessage, row_id)
            assert r is not None
            if error is None:
                r.state, r.external_id, r.sent_at, r.lease_until, r.last_error = "sent", external_id, now, None, None
                r.failure = None
                if outages.note_success(s, r.platform, r.address, now):
                    log.info("delivery recovered", extra={"platform": r.platform, "outbox_id": r.id})
            elif isinstance(error, Deferred):  # the transport's own pacing: not an attempt, not a failure
                r.state, r.lease_until, r.attempts = "pending", None, max(r.attempts - 1, 0)
                r.next_attempt_at = now + dt.timedelta(seconds=error.retry_after or 1)
            else:
                final = error.permanent or self._gave_up(s, r, now)
                r.last_error, r.lease_until = str(error)[:2000], None
                if final:
                    r.state, r.failure = "failed", "permanent" if error.permanent else "transient"
                    # the reason can quote the message (an API echoing what it refused): it stays in the database
                    log.error("outbox %s failed after %d attempts (%s; details in outbox.last_error)",
                              r.id, r.attempts, "permanent" if error.permanent else "retry period over",
                              extra={"outbox_id": r.id, "attempt": r.attempts, "reason": error.reason,
                                     "platform": r.platform})
                else:
                    r.state = "pending"
                    r.next_attempt_at = now + _backoff(r.attempts, error.retry_after, self.policy.backoff_cap)
                outages.note_failure(s, r, reason=error.reason, permanent=error.permanent, now=now,
                                     policy=self.policy)
            s.commit()

    def recover(self) -> int:
        """Rows failed transiently go back to pending (the hourly recovery sweep; also after a platform recovers)."""
        now = self.clock.now()
        self._last_recovery = now
        with self.factory() as s:
            n = outages.retry_failed(s, now, platforms=list(self.transports), policy=self.policy)
            s.commit()
        return n

    def _still_mine(self, row_id: int) -> bool:
        """Renew this worker's lease on a claimed row just before sending it. False when another worker has
        reclaimed it meanwhile, which happens when working through the batch took longer than LEASE."""
        now = self.clock.now()
        with self.factory() as s:
            mine = outbox_repo.renew_lease(row_id, self.worker, now + LEASE, session=s)
            s.commit()
            return mine

    def deliver(self) -> int:
        """Deliver everything deliverable now; returns how many messages were sent."""
        sent = 0
        if self._last_recovery is None or self.clock.now() - self._last_recovery >= self.policy.recovery_sweep:
            self.recover()
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
                except Exception as exc:
                    log.exception("outbox %s: transport error", msg.id, extra={"outbox_id": msg.id})
                    self._finish(msg.id, error=DeliveryError(f"{type(exc).__name__}: {exc}"))
                    continue
                self._finish(msg.id, external_id=ext)
                sent += 1
