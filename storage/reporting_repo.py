"""Repository of the reports: the quarterly data set's GROUP BY queries over the case projection
(bot/reporting/reports.py). The session is keyword-only.

A quarter's cases are a board's cases opened from ``start`` (inclusive) to ``end`` (exclusive).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from typing import Any, Unpack

from sqlalchemy import ColumnElement, Row, func, or_, select
from sqlalchemy.orm import Session

from storage.models import Agency, Case, CaseStageResult

# the columns the quarterly case counts are grouped by, in this order (the count follows them)
QUARTER_KEYS = (Case.snapshot_id, Case.category, Case.raising_agency_id, Case.responding_agency_id, Case.la_area,
                Case.highest_stage, Case.status, Case.bypass_used, Case.policy_gap, Case.projection_version)


def _in_quarter(board_id: str, start: dt.datetime, end: dt.datetime) -> tuple[ColumnElement[bool], ...]:
    return Case.board_id == board_id, Case.opened_at >= start, Case.opened_at < end


def quarter_case_counts(board_id: str, start: dt.datetime, end: dt.datetime, *, session: Session
                        ) -> Sequence[Row[Unpack[tuple[Any, ...]]]]:
    """The quarter's cases counted by :data:`QUARTER_KEYS`: one row per group, the keys then the count."""
    return session.execute(select(*QUARTER_KEYS, func.count()).where(*_in_quarter(board_id, start, end))
                           .group_by(*QUARTER_KEYS)).all()


def quarter_stale(board_id: str, start: dt.datetime, end: dt.datetime, version: int, *, session: Session
                  ) -> Sequence[Case]:
    """The quarter's cases whose projection is missing or written by rules older than ``version``."""
    return session.scalars(select(Case).where(*_in_quarter(board_id, start, end), or_(
        Case.projection_version != version, Case.highest_stage.is_(None)))).all()


def agency_names(agency_ids: Collection[int], *, session: Session) -> dict[int, str]:
    """Agency id -> name, for these ids."""
    if not agency_ids:
        return {}
    return dict(session.execute(select(Agency.id, Agency.name).where(Agency.id.in_(agency_ids))).all())


def quarter_stage_timeliness(board_id: str, start: dt.datetime, end: dt.datetime, *, session: Session
                             ) -> Sequence[Row[int, bool | None, int]]:
    """(stage number, on time, count) over the judged stage results of the quarter's cases."""
    return session.execute(
        select(CaseStageResult.stage_number, CaseStageResult.on_time, func.count())
        .where(CaseStageResult.case_id.in_(select(Case.id).where(*_in_quarter(board_id, start, end))),
               CaseStageResult.on_time.is_not(None))
        .group_by(CaseStageResult.stage_number, CaseStageResult.on_time)).all()
