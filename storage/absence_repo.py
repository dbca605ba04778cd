"""Repository of absences (who is away, until when, and who covers): the queries of bot/cases/cover.py. The session
is keyword-only.

An absence is in force at ``now`` when it has started, has not reached its ``ends_at`` (the midnight after its last
day, in the board's time zone) and was not ended early (``back``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence

from sqlalchemy import ColumnElement, event, func, select
from sqlalchemy.orm import Session

from storage.models import Absence, Person

_BOARD_CURRENT = "parley.absences_in_force"  # session.info: the board's absences read at a moment


def _in_force(now: dt.datetime) -> tuple[ColumnElement[bool], ...]:
    return (Absence.starts_at <= now, Absence.ends_at > now, Absence.ended_at.is_(None))


def current(person_id: int, now: dt.datetime, *, session: Session) -> Absence | None:
    """The person's absence in force at ``now`` (the latest set, should there be several)."""
    return session.scalar(select(Absence).where(Absence.person_id == person_id, *_in_force(now))
                          .order_by(Absence.id.desc()).limit(1))


def current_of(person_ids: Collection[int], now: dt.datetime, *, session: Session) -> dict[int, Absence]:
    """Each of these people's absence in force at ``now``, by person id (the people not away are left out)."""
    if not person_ids:
        return {}
    rows = session.scalars(select(Absence).where(Absence.person_id.in_(sorted(set(person_ids))), *_in_force(now))
                           .order_by(Absence.id)).all()
    return {a.person_id: a for a in rows}  # the latest of several wins


def board_current(board_id: str, now: dt.datetime, *, session: Session) -> Sequence[Absence]:
    """Every absence in force on the board at ``now``, in the order they were set. Read once per session and moment
    (a list of cases asks for each case): the session forgets it whenever it flushes, and while an absence is
    added or changed and not yet flushed it is read afresh."""
    pending = any(isinstance(o, Absence) for o in (*session.new, *session.dirty))
    cache = session.info.setdefault(_BOARD_CURRENT, {})
    key = (board_id, now)
    if pending or key not in cache:
        cache[key] = session.scalars(select(Absence).where(Absence.board_id == board_id, *_in_force(now))
                                     .order_by(Absence.id)).all()
    return cache[key]


@event.listens_for(Session, "after_flush")
def _forget(session: Session, _flush_context: object) -> None:
    session.info.pop(_BOARD_CURRENT, None)


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, _previous: object) -> None:
    session.info.pop(_BOARD_CURRENT, None)


def open_of(person_id: int, now: dt.datetime, *, session: Session) -> Sequence[Absence]:
    """The person's absences not ended and not over at ``now`` (in force, or starting later), to end on 'back' or
    when a new one replaces them."""
    return session.scalars(select(Absence).where(Absence.person_id == person_id, Absence.ended_at.is_(None),
                                                 Absence.ends_at > now).order_by(Absence.id)).all()


def of_person(person_id: int, *, session: Session) -> Sequence[Absence]:
    """All the person's absences, as set (their history)."""
    return session.scalars(select(Absence).where(Absence.person_id == person_id).order_by(Absence.id)).all()


def person_by_email(board_id: str, email: str, *, session: Session) -> Person | None:
    """The board's person with this e-mail address (compared in lower case)."""
    return session.scalar(select(Person).where(Person.board_id == board_id,
                                               func.lower(Person.email) == email.strip().lower()))
