"""Repository of the cases as sets and of their stored projection (``case_stage_results``): the queries of
bot/cases/projection.py, of the reprojection in bot/runtime.py and of the reports that count cases. Single cases
(by id, by reference, locked) are in :mod:`storage.repo`. The session is keyword-only.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Case


def cases_by_ids(ids: Collection[int], *, session: Session) -> Sequence[Case]:
    """The cases with these ids, by id."""
    return session.scalars(select(Case).where(Case.id.in_(list(ids))).order_by(Case.id)).all()



def case_ids(*, session: Session, board_id: str | None = None) -> list[int]:
    """The ids of every case (a board's when ``board_id``), in order."""
    q = select(Case.id).order_by(Case.id)
    return list(session.scalars(q.where(Case.board_id == board_id) if board_id else q))


def case_ids_with_status(statuses: Sequence[str], *, session: Session) -> Sequence[int]:
    """The ids of the cases with one of ``statuses``."""
    return session.scalars(select(Case.id).where(Case.status.in_(list(statuses)))).all()
