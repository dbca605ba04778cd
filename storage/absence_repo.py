"""Repository of absences (who is away, until when, and who covers): the queries of bot/cases/cover.py. The session
is keyword-only.

An absence is in force at ``now`` when it has started, has not reached its ``ends_at`` (the midnight after its last
day, in the board's time zone) and was not ended early (``back``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from storage.models import Absence, Person


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
    """Every absence in force on the board at ``now``, in the order they were set."""
    return session.scalars(select(Absence).where(Absence.board_id == board_id, *_in_force(now))
                           .order_by(Absence.id)).all()


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
