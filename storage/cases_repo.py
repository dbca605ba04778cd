"""Repository of the cases as sets and of their stored projection (``case_stage_results``): the queries of
bot/cases/projection.py, of the reprojection in bot/runtime.py and of the reports that count cases. Single cases
(by id, by reference, locked) are in :mod:`storage.repo`. The session is keyword-only.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from storage.models import Agency, Case, CaseEvent, CaseStageResult, Person, ProtocolSnapshot


def cases_by_ids(ids: Collection[int], *, session: Session) -> Sequence[Case]:
    """The cases with these ids, by id."""
    return session.scalars(select(Case).where(Case.id.in_(list(ids))).order_by(Case.id)).all()


def named_by(cases: Collection[Case], *, session: Session) -> list[Agency | Person | ProtocolSnapshot]:
    """The agencies, people and protocol snapshots these cases name, loaded in at most three queries: a list of cases
    shown while the caller holds them finds each in the session instead of asking the database case by case."""
    agency_ids = {a for c in cases for a in (c.raising_agency_id, c.responding_agency_id) if a}
    person_ids = {p for c in cases for p in (c.raising_person_id, c.responding_person_id) if p}
    snapshot_ids = {c.snapshot_id for c in cases}
    out: list[Agency | Person | ProtocolSnapshot] = []
    if agency_ids:
        out.extend(session.scalars(select(Agency).where(Agency.id.in_(agency_ids))))
    if person_ids:
        out.extend(session.scalars(select(Person).where(Person.id.in_(person_ids))))
    if snapshot_ids:
        out.extend(session.scalars(select(ProtocolSnapshot).where(ProtocolSnapshot.id.in_(snapshot_ids))))
    return out


def case_ids(*, session: Session, board_id: str | None = None) -> list[int]:
    """The ids of every case (a board's when ``board_id``), in order."""
    q = select(Case.id).order_by(Case.id)
    return list(session.scalars(q.where(Case.board_id == board_id) if board_id else q))


def cases(*, session: Session, board_id: str | None = None) -> list[Case]:
    """Every case (a board's when ``board_id``), by id."""
    q = select(Case).order_by(Case.id)
    if board_id:
        q = q.where(Case.board_id == board_id)
    return list(session.scalars(q))


def cases_with_event(board_id: str, kind: str, *, session: Session) -> set[int]:
    """The ids of the board's cases whose history holds an event of this kind."""
    return set(session.scalars(select(CaseEvent.case_id).join(Case, Case.id == CaseEvent.case_id).where(
        Case.board_id == board_id, CaseEvent.kind == kind)))


# -- the stored projection --------------------------------------------------------------------------------------
def stale_projections(version: int, *, session: Session, board_id: str | None = None) -> list[Case]:
    """Cases (a board's when ``board_id``) whose projection is missing or written by rules older than
    ``version``, by id."""
    q = select(Case).where(or_(Case.projection_version != version, Case.highest_stage.is_(None)))
    if board_id:
        q = q.where(Case.board_id == board_id)
    return list(session.scalars(q.order_by(Case.id)))


def stage_results(case_id: int, *, session: Session) -> list[CaseStageResult]:
    """The case's stored stage results, by visit."""
    return list(session.scalars(select(CaseStageResult).where(CaseStageResult.case_id == case_id)
                                .order_by(CaseStageResult.visit)))
