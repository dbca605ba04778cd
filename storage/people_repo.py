"""Repository of joiners, leavers and movers: the queries of bot/admin/people.py (who has left, what they held, whom
they managed) and the one that stops messages still waiting for a leaver. The session is keyword-only."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, cast

from sqlalchemy import CursorResult, and_, func, or_, select, update
from sqlalchemy.orm import Session

from storage.models import Case, OutboxMessage, Person

OPEN_STATUSES = ("open", "awaiting_decision")


def person_by_email(board_id: str, email: str, *, session: Session) -> Person | None:
    """The board's person (active or not) with this e-mail address (case does not matter)."""
    return session.scalar(select(Person).where(Person.board_id == board_id,
                                               func.lower(Person.email) == email.strip().lower()))


def active_not_listed(board_id: str, emails: Collection[str], *, session: Session) -> Sequence[Person]:
    """The board's active people whose e-mail address (lower case) is not in ``emails``, by e-mail address; a person
    with no address cannot be listed, so is among them."""
    listed = {e.lower() for e in emails}
    people = session.scalars(select(Person).where(Person.board_id == board_id, Person.active.is_(True))
                             .order_by(Person.email, Person.id)).all()
    return [p for p in people if (p.email or "").lower() not in listed]


def open_cases_with_a_leaver(board_id: str, *, session: Session) -> Sequence[Case]:
    """The board's open cases (open, or awaiting a decision) whose raiser or counterpart is no longer active, oldest
    first."""
    gone = select(Person.id).where(Person.board_id == board_id, Person.active.is_(False))
    return session.scalars(select(Case).where(
        Case.board_id == board_id, Case.status.in_(OPEN_STATUSES),
        or_(Case.raising_person_id.in_(gone), Case.responding_person_id.in_(gone))).order_by(Case.id)).all()


def open_cases_held_by(person_id: int, *, session: Session) -> Sequence[Case]:
    """The open cases (open, or awaiting a decision) where the person is the raiser or the counterpart."""
    return session.scalars(select(Case).where(
        Case.status.in_(OPEN_STATUSES),
        or_(Case.raising_person_id == person_id, Case.responding_person_id == person_id)).order_by(Case.id)).all()


def managed_by_leavers(board_id: str, *, session: Session) -> Sequence[tuple[Person, Person]]:
    """(person, their line manager) for each of the board's active people whose line manager is no longer active,
    by the person's e-mail address."""
    rows = session.execute(select(Person, Person.line_manager_id).where(
        Person.board_id == board_id, Person.active.is_(True), Person.line_manager_id.in_(
            select(Person.id).where(Person.board_id == board_id, Person.active.is_(False))))
        .order_by(Person.email, Person.id)).all()
    out = []
    for person, manager_id in rows:
        manager = session.get(Person, manager_id)
        assert manager is not None
        out.append((person, manager))
    return out


def stop_waiting_messages(person_id: int, reason: str, *, session: Session) -> int:
    """Messages queued for a person and not sent yet (pending, or failed for now and to be retried) fail for good
    with ``reason``: a leaver is sent nothing more. Returns how many (one UPDATE)."""
    stmt = (update(OutboxMessage)
            .where(OutboxMessage.person_id == person_id, OutboxMessage.target_kind == "person",
                   or_(OutboxMessage.state == "pending",
                       and_(OutboxMessage.state == "failed", OutboxMessage.failure == "transient")))
            .values(state="failed", failure="permanent", last_error=reason)
            .execution_options(synchronize_session=False))
    res = cast("CursorResult[Any]", session.execute(stmt))
    return res.rowcount or 0
