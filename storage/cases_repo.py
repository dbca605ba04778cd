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
