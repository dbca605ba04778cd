"""Business-unit digests posted to the board's channel: case references, agencies and stages only."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from sqlalchemy.orm import Session

from bot import services, views
from bot.i18n import Translator
from bot.messages import Message
from protocol.engine import Status
from storage import repo


def weekly_digest(T: Translator, board_id: str, now: dt.datetime, *, session: Session) -> Message:
    proto = services.board_protocol(board_id, session=session)
    week_ago = now - dt.timedelta(days=7)
    cases = repo.cases_for_board(board_id, session=session)
    open_by_stage: Counter[str] = Counter()
    overdue_lines: list[str] = []
    new = resolved = 0
    for case in cases:
        st = services.state_of(case, now, session=session)
        if case.opened_at >= week_ago:
            new += 1
        if st.status is Status.RESOLVED and st.resolved_at is not None:
            at = st.resolved_at if isinstance(st.resolved_at, dt.datetime) else proto.calendar().close_of_business(
                st.resolved_at)
            if at >= week_ago:
                resolved += 1
        if st.status in (Status.OPEN, Status.AWAITING_DECISION):
            open_by_stage[views.stage_title(T, services.protocol_for(case, session=session), case.stage_id)] += 1
            for item in st.overdue:
                overdue_lines.append(f"  \u2022 {views.case_headline(T, case, proto, session=session)}: "
                                     f"{item.step.title} ({views.due_phrase(T, item, proto)})")
    lines = [T("New this week: {n}. Resolved this week: {r}. Open: {o}.", n=new, r=resolved,
               o=sum(open_by_stage.values()))]
    for stage, n in sorted(open_by_stage.items()):
        lines.append(f"  {stage}: {n}")
    if overdue_lines:
        lines.append(T("Overdue deadlines:"))
        lines.extend(overdue_lines)
    else:
        lines.append(T("No deadline is overdue."))
    return Message("\n".join(lines), title=T("Weekly digest \u2014 {board}, week to {date}", board=proto.name,
                                             date=T.date(proto.calendar().local_date(now))))


def quarter_of(day: dt.date, numbering: str) -> tuple[int, int, dt.date, dt.date]:
    """(label year, quarter number, first day, last day) of the quarter *before* ``day``'s quarter."""
    q_start_month = ((day.month - 1) // 3) * 3 + 1
    this_start = dt.date(day.year, q_start_month, 1)
    prev_end = this_start - dt.timedelta(days=1)
    prev_start = dt.date(prev_end.year, ((prev_end.month - 1) // 3) * 3 + 1, 1)
    number = (prev_start.month - 1) // 3 + 1
    year = prev_start.year
    if numbering == "financial":  # Q1 = Apr-Jun; the year is the financial year's first year
        number = (number - 2) % 4 + 1
        year = prev_start.year if prev_start.month >= 4 else prev_start.year - 1
    return year, number, prev_start, prev_end


def quarterly_summary(T: Translator, board_id: str, now: dt.datetime, *, session: Session) -> Message:
    """The quarterly data set for the quarter just ended, as posted to the business-unit channel (counts only:
    no case is named). The same tables as `parley report quarterly`."""
    from bot import reports

    proto = services.board_protocol(board_id, session=session)
    year, number, _first, _last = quarter_of(proto.calendar().local_date(now), proto.reporting.quarter_numbering)
    label, tables = reports.quarterly(board_id, f"{year}Q{number}", session=session, now=now)
    lines = []
    for name, rows in tables:
        lines.append(f"{name}: " + (", ".join(f"{row} {n}" for row, n in rows) if rows else T("none")))
    lines.append(T("The full data set: parley report quarterly --board {board} --quarter {q}", board=board_id,
                   q=f"{year}Q{number}"))
    return Message("\n".join(lines), title=T("Quarterly data set \u2014 {label}", label=label))
