"""Repository of the escalation prompts, the timers and the timer plans: the queries of bot/escalation/ (prompts, the
scheduler's sweep), of bot/cases/timers.py and of bot/cases/plans.py. The session is keyword-only.

A timer claim skips the rows another scheduler holds (``FOR UPDATE SKIP LOCKED``); acknowledging a prompt is one
conditional UPDATE, so of two managers pressing at once exactly one wins.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, and_, func, or_, select, update
from sqlalchemy.orm import Session

from storage.models import Case, EscalationPrompt, Timer, TimerPlan


# -- escalation prompts -----------------------------------------------------------------------------------------
def open_prompts(case_id: int, *, session: Session, by_id: bool = False) -> Sequence[EscalationPrompt]:
    """The case's open prompts (in id order with ``by_id``)."""
    q = select(EscalationPrompt).where(EscalationPrompt.case_id == case_id, EscalationPrompt.state == "open")
    if by_id:
        q = q.order_by(EscalationPrompt.id)
    return session.scalars(q).all()


def prompt_ids(case_id: int, *, session: Session) -> set[int]:
    """The ids of every prompt ever posted about the case."""
    return set(session.scalars(select(EscalationPrompt.id).where(EscalationPrompt.case_id == case_id)))


def open_siblings(prompt: EscalationPrompt, *, session: Session) -> Sequence[EscalationPrompt]:
    """The other agencies' open prompts for the same lapse (the same timer)."""
    return session.scalars(select(EscalationPrompt).where(EscalationPrompt.timer_id == prompt.timer_id,
                                                          EscalationPrompt.id != prompt.id,
                                                          EscalationPrompt.state == "open")).all()


def answer_if_open(prompt_id: int, state: str, by_id: int, at: dt.datetime, *, session: Session) -> bool:
    """Set an open prompt's state (acknowledged, superseded) and who answered it when, in one conditional UPDATE;
    True when it was still open (this call won)."""
    res = session.execute(update(EscalationPrompt).where(EscalationPrompt.id == prompt_id,
                                                         EscalationPrompt.state == "open")
                          .values(state=state, acknowledged_by_id=by_id, acknowledged_at=at))
    return cast("CursorResult[Any]", res).rowcount == 1


# -- timers -----------------------------------------------------------------------------------------------------
def pending_for_case(case_id: int, *, session: Session) -> Sequence[Timer]:
    return session.scalars(select(Timer).where(Timer.case_id == case_id, Timer.state == "pending")).all()


def existing_keys(keys: Collection[str], *, session: Session) -> set[str]:
    """Which of ``keys`` are timers already (in any state)."""
    return set(session.scalars(select(Timer.key).where(Timer.key.in_(list(keys)))))


def key_exists(key: str, *, session: Session) -> bool:
    return session.scalar(select(Timer.id).where(Timer.key == key)) is not None


def get_timer(timer_id: int | None, *, session: Session) -> Timer | None:
    """The timer with this id, read from the database (a query, not the identity map's copy)."""
    return session.scalar(select(Timer).where(Timer.id == timer_id))


Offsets = Mapping[str, dt.timedelta]  # a training board's clock: how far ahead of the real time it is


def _due_by(now: dt.datetime, retry: bool) -> ColumnElement[bool]:
    due = Timer.due_at <= now
    return and_(due, or_(Timer.retry_at.is_(None), Timer.retry_at <= now)) if retry else due


def _due(now: dt.datetime, offsets: Offsets | None, board_id: str | None, *, retry: bool) -> ColumnElement[bool]:
    """Due by ``now`` (the real time) on a real board, and by its own time (``now`` plus its offset) on a training
    board whose clock has moved; only ``board_id``'s timers when given; with ``retry``, not waiting for a retry."""
    moved = dict(offsets or {})
    if board_id is not None:
        return and_(Timer.board_id == board_id, _due_by(now + moved.get(board_id, dt.timedelta(0)), retry))
    if not moved:
        return _due_by(now, retry)
    return or_(and_(Timer.board_id.not_in(list(moved)), _due_by(now, retry)),
               *(and_(Timer.board_id == board, _due_by(now + ahead, retry)) for board, ahead in moved.items()))


def claim_due(now: dt.datetime, batch: int, *, session: Session, offsets: Offsets | None = None,
              board_id: str | None = None) -> Sequence[Timer]:
    """Pending timers due by ``now`` (a training board's: by its own time, see ``offsets``) and not waiting for a
    retry, soonest first, at most ``batch``, of ``board_id`` only when given, locked: ``FOR UPDATE SKIP LOCKED``."""
    return session.scalars(select(Timer).where(Timer.state == "pending", _due(now, offsets, board_id, retry=True))
                           .order_by(Timer.due_at, Timer.id).limit(batch)
                           .with_for_update(skip_locked=True)).all()


def later_nudge(t: Timer, now: dt.datetime, *, session: Session) -> int | None:
    """The id of another pending reminder for the same case and deadline, due after ``t`` and by ``now``."""
    return session.scalar(select(Timer.id).where(Timer.case_id == t.case_id, Timer.kind == "nudge",
                                                 Timer.state == "pending", Timer.deadline_at == t.deadline_at,
                                                 Timer.due_at > t.due_at, Timer.due_at <= now, Timer.id != t.id))


def next_due_at(*, session: Session, offsets: Offsets | None = None) -> dt.datetime | None:
    """When the soonest pending timer is due, in real time (a training board's timer is due ``offsets[board]``
    before its own time says)."""
    moved = dict(offsets or {})
    q = select(Timer.due_at).where(Timer.state == "pending")
    if moved:
        q = q.where(Timer.board_id.not_in(list(moved)))
    found = [session.scalar(q.order_by(Timer.due_at).limit(1))]
    if moved:
        rows = session.execute(select(Timer.board_id, func.min(Timer.due_at)).where(
            Timer.state == "pending", Timer.board_id.in_(list(moved))).group_by(Timer.board_id))
        found += [due - moved[board] for board, due in rows if due is not None]
    return min((d for d in found if d is not None), default=None)


def any_due(now: dt.datetime, *, session: Session, offsets: Offsets | None = None) -> bool:
    return session.scalar(select(Timer.id).where(Timer.state == "pending", _due(now, offsets, None, retry=False))
                          .limit(1)) is not None


# -- timer plans (what each case's timers were planned from) ---------------------------------------------------
def timer_plans(case_ids: Collection[int], *, session: Session) -> Sequence[TimerPlan]:
    """The plans of these cases (those that have one), loaded in one query: a list of cases then reads each case's
    plan from the session."""
    return session.scalars(select(TimerPlan).where(TimerPlan.case_id.in_(list(case_ids)))).all()


def reread_timer_plan(case_id: int, *, session: Session) -> TimerPlan | None:
    """The case's plan as the database holds it now (another unit of work may have written it meanwhile)."""
    return session.scalar(select(TimerPlan).where(TimerPlan.case_id == case_id)
                          .execution_options(populate_existing=True))


def cases_to_replan(statuses: Collection[str], rules: str, *, session: Session) -> list[int]:
    """The ids of the cases with one of ``statuses`` whose timers have no plan, or one made from another version of
    the case, another protocol snapshot or other ``rules``, in order: one query, however many cases are up to date."""
    q = (select(Case.id).outerjoin(TimerPlan, TimerPlan.case_id == Case.id)
         .where(Case.status.in_(list(statuses)),
                or_(TimerPlan.case_id.is_(None), TimerPlan.case_version != Case.version,
                    TimerPlan.snapshot_id != Case.snapshot_id, TimerPlan.rules != rules))
         .order_by(Case.id))
    return list(session.scalars(q))
