"""What an operator watches: the queries behind ``/readyz`` and ``/metrics`` (bot/admin/readiness.py).

Counts only, read in one short transaction; nothing here reads a message's content or a person's details.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage import repo
from storage.models import EscalationPrompt, OutboxMessage, Timer

LAST_SWEEP = "scheduler.last_sweep"  # the settings row every scheduler's sweep writes (any replica's counts)
UNDELIVERED = ("pending", "sending")


def beat(session: Session, now: dt.datetime) -> None:
    """A scheduler finished a sweep at ``now``."""
    repo.set_setting(LAST_SWEEP, now.astimezone(dt.timezone.utc).isoformat(), session=session)


def last_sweep(session: Session) -> dt.datetime | None:
    value = repo.get_setting(LAST_SWEEP, session=session)
    return dt.datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class Figures:
    outbox: dict[tuple[str, str], int] = field(default_factory=dict)  # (platform, state) -> rows
    sent: dict[str, int] = field(default_factory=dict)  # platform -> rows delivered, ever
    oldest_undelivered: dt.datetime | None = None  # created_at of the oldest pending or sending row
    timers_due: int = 0  # pending, due now or earlier
    timers_overdue: int = 0  # pending, due more than ``late_after`` ago: the scheduler is behind
    timers_failed: int = 0
    prompts_open: int = 0  # escalation prompts nobody has acknowledged
    oldest_open_prompt: dt.datetime | None = None
    deadlines_lapsed: int = 0  # stage deadlines that passed with no outcome (escalation timers fired)
    last_sweep: dt.datetime | None = None


def figures(session: Session, now: dt.datetime, late_after: dt.timedelta) -> Figures:
    outbox = {(p, st): n for p, st, n in session.execute(
        select(OutboxMessage.platform, OutboxMessage.state, func.count())
        .where(OutboxMessage.state != "sent").group_by(OutboxMessage.platform, OutboxMessage.state))}
    sent = {p: n for p, n in session.execute(
        select(OutboxMessage.platform, func.count()).where(OutboxMessage.state == "sent")
        .group_by(OutboxMessage.platform))}
    oldest = session.scalar(select(func.min(OutboxMessage.created_at))
                            .where(OutboxMessage.state.in_(UNDELIVERED)))
    pending = select(func.count()).select_from(Timer).where(Timer.state == "pending")
    prompts = select(func.count(), func.min(EscalationPrompt.created_at)).where(EscalationPrompt.state == "open")
    open_prompts, oldest_prompt = session.execute(prompts).one()
    return Figures(
        outbox=outbox, sent=sent, oldest_undelivered=_aware(oldest),
        timers_due=session.scalar(pending.where(Timer.due_at <= now)) or 0,
        timers_overdue=session.scalar(pending.where(Timer.due_at <= now - late_after)) or 0,
        timers_failed=session.scalar(select(func.count()).select_from(Timer).where(Timer.state == "failed")) or 0,
        prompts_open=open_prompts or 0, oldest_open_prompt=_aware(oldest_prompt),
        deadlines_lapsed=session.scalar(select(func.count()).select_from(Timer).where(
            Timer.kind == "escalation", Timer.state == "done")) or 0,
        last_sweep=last_sweep(session))


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    """``min()`` comes back without the column's type on SQLite: a naive UTC string or datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
