"""Business-unit digests posted to the board's channel: case references, agencies, stages and counts only.

The weekly digest (``weekly_digest``) says what happened in the week to the moment it is posted (new cases,
cases resolved, open cases by stage, overdue deadlines with the case reference and agencies) and how long the
stages take: for each stage, the median working days of the stage visits that *ended* in the last
``STAGE_WINDOW_WEEKS`` weeks against the protocol's timescale for that stage, with a PNG chart of the same
figures attached. Nothing in it (text or chart) names, dates or places a child or adult.

How a stage's time is counted (written in the digest too): in working days on the board's calendar
(``WorkingCalendar.working_days_between``), from the start of the stage's clock to the day the stage ended
(resolved, not resolved, bypassed or closed). The stage's clock starts where the protocol starts it for the
stage's deadline: when the disagreement arose or the concern was raised for a first stage that counts from
those, otherwise when the stage was entered. The timescale is the protocol's: the working days of the stage
deadline step and the steps it is chained from within the stage ("immediately" and "the same working day"
count 0). A stage whose deadline is not counted in working days alone (e.g. "24 hours, then 2 working
days"), or that has no deadline, is shown with its timescale in words and no number.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from bot.cases import protocols, services
from bot.core import views
from bot.core.i18n import Translator
from bot.core.messages import Attachment, Message
from bot.reporting import charts, reports
from protocol.state import CaseState, StageVisit, Status
from protocol.spec import Protocol, Stage, Step
from protocol.timescales import AnchorKind, Duration, Unit
from storage import repo

if TYPE_CHECKING:
    from matplotlib.figure import Figure

STAGE_WINDOW_WEEKS = 12  # the stage times cover the stage visits that ended in this many weeks to the digest
NO_WORKING_DAYS = (Unit.IMMEDIATELY, Unit.SAME_WORKING_DAY)  # count as 0 working days in a stage's timescale


@dataclass(frozen=True)
class StageTimescale:
    root: AnchorKind  # where the stage's clock starts
    durations: tuple[Duration, ...]  # the chain of steps to the stage deadline, first first
    working_days: int | None  # their total in working days, None when one is not counted in working days


def stage_timescale(proto: Protocol, stage: Stage) -> StageTimescale | None:
    """The protocol's timescale for ``stage``: its stage-deadline step and the steps of the stage it is chained
    from (``from: step:...``), back to where the clock starts. None when the stage has no deadline."""
    last = next((st for st in stage.steps if st.stage_deadline), None)
    if last is None:
        return None
    own = {st.id: st for st in stage.steps}
    chain: list[Step] = [last]
    while chain[-1].anchor.kind is AnchorKind.STEP and chain[-1].anchor.step in own \
            and own[chain[-1].anchor.step] not in chain:
        chain.append(own[chain[-1].anchor.step or ""])
    chain.reverse()
    durations = tuple(st.due for st in chain)
    counted = all(d.unit is Unit.WORKING_DAYS or d.unit in NO_WORKING_DAYS for d in durations)
    total = sum(d.amount for d in durations if d.unit is Unit.WORKING_DAYS) if counted else None
    return StageTimescale(chain[0].anchor.kind, durations, total)


def visit_working_days(proto: Protocol, state: CaseState, visit: StageVisit, timescale: StageTimescale | None
                       ) -> int | None:
    """Working days from the start of the stage's clock to the day the visit ended (None: it has not ended)."""
    if visit.completed_at is None:
        return None
    start = visit.entered_at
    first = bool(state.visits) and state.visits[0] is visit
    if timescale is not None and first:
        if timescale.root is AnchorKind.DISAGREEMENT and state.arose_on is not None:
            start = state.arose_on
        elif timescale.root is AnchorKind.CONCERN_RAISED and state.raised_at is not None:
            start = state.raised_at
    cal = proto.calendar()
    return max(cal.working_days_between(cal.local_date(start), cal.local_date(visit.completed_at)), 0)


@dataclass(frozen=True)
class StageFigures:
    number: int
    title: str
    median: float | None  # None: no visit of this stage ended in the window
    visits: int
    timescale: StageTimescale | None
    open_cases: int


@dataclass(frozen=True)
class WeeklyFigures:
    board_name: str
    week_to: dt.date
    window_from: dt.date  # stage times: visits that ended after this day, up to week_to
    new: int
    resolved: int
    open_by_stage: tuple[tuple[str, int], ...]  # ("Stage 1: Internal discussion", n), in stage order
    overdue: tuple[str, ...]  # one line per overdue deadline: case reference, agencies, stage, step, due
    stages: tuple[StageFigures, ...]  # every stage of the board's protocol, in order
    closed: int = 0  # cases closed (without being resolved) in the week


def weekly_figures(T: Translator, board_id: str, now: dt.datetime, *, session: Session) -> WeeklyFigures:
    """What the weekly digest reports, computed from each case's state as the engine derives it."""
    proto = protocols.board_protocol(board_id, session=session)
    cal = proto.calendar()
    today = cal.local_date(now)
    week_ago = now - dt.timedelta(days=7)
    window_from = today - dt.timedelta(weeks=STAGE_WINDOW_WEEKS)
    timescales = {st.id: stage_timescale(proto, st) for st in proto.stages}
    open_by_stage: Counter[tuple[int, str]] = Counter()
    open_at: Counter[str] = Counter()
    overdue: list[str] = []
    durations: dict[str, list[int]] = {st.id: [] for st in proto.stages}
    new = resolved = closed = 0
    cases = list(repo.cases_for_board(board_id, session=session))
    for case, st in zip(cases, services.states_of(cases, now, session=session), strict=True):
        case_proto = protocols.protocol_for(case, session=session)
        if case.opened_at >= week_ago:
            new += 1
        if st.status is Status.RESOLVED and st.resolved_at is not None:
            at = st.resolved_at if isinstance(st.resolved_at, dt.datetime) else cal.close_of_business(st.resolved_at)
            if at >= week_ago:
                resolved += 1
        if st.status is Status.CLOSED and st.closed_at is not None:
            at = st.closed_at if isinstance(st.closed_at, dt.datetime) else cal.close_of_business(st.closed_at)
            if at >= week_ago:
                closed += 1
        if st.status in (Status.OPEN, Status.AWAITING_DECISION):
            number = case_proto.stage(case.stage_id).number if case.stage_id else 0
            open_by_stage[(number, views.stage_title(T, case_proto, case.stage_id))] += 1
            if case.stage_id:
                open_at[case.stage_id] += 1
            for item in views.overdue_items(st):
                overdue.append(f"{views.case_headline(T, case, proto, session=session)}: "
                               f"{T.local(item.step)} ({views.due_phrase(T, item, proto)})")
        for visit in st.visits:
            if visit.completed_at is None or visit.stage.id not in durations:
                continue
            if not window_from < cal.local_date(visit.completed_at) <= today:
                continue
            days = visit_working_days(case_proto, st, visit, timescales[visit.stage.id])
            if days is not None:
                durations[visit.stage.id].append(days)
    stages = tuple(StageFigures(s.number, s.title, statistics.median(durations[s.id]) if durations[s.id] else None,
                                len(durations[s.id]), timescales[s.id], open_at[s.id]) for s in proto.stages)
    return WeeklyFigures(T.local(proto, "name"), today, window_from, new, resolved,
                         tuple((label, n) for (_, label), n in sorted(open_by_stage.items())), tuple(overdue),
                         stages, closed)


def _days(T: Translator, n: float) -> str:
    shown = str(int(n)) if float(n).is_integer() else f"{n:.1f}"
    return T("1 working day") if n == 1 else T("{n} working days", n=shown)


def timescale_phrase(T: Translator, ts: StageTimescale | None) -> str:
    if ts is None:
        return T("no timescale")
    if ts.working_days is not None:
        return _days(T, ts.working_days)
    return T(", then ").join(views.duration_text(T, d) for d in ts.durations if d.unit not in NO_WORKING_DAYS)


def _window(T: Translator, f: WeeklyFigures) -> str:
    return T("the {weeks} weeks to {date}", weeks=STAGE_WINDOW_WEEKS, date=T.date(f.week_to))


def stage_lines(T: Translator, f: WeeklyFigures) -> list[str]:
    lines = [T("Time at each stage, in working days from the start of the stage's clock to the day the stage ended, "
               "for the stage visits that ended in {window}, against the protocol's timescale:", window=_window(T, f))]
    shown = [s for s in f.stages if s.median is not None]
    for s in shown:
        visits = T("1 stage visit") if s.visits == 1 else T("{n} stage visits", n=s.visits)
        lines.append("  " + T("Stage {n}: median {median} (timescale {timescale}) over {visits} that ended",
                              n=s.number, median=_days(T, s.median or 0), timescale=timescale_phrase(T, s.timescale),
                              visits=visits))
    if not shown:
        lines.append("  " + T("No stage visit ended in this period."))
    return lines


def chart(T: Translator, f: WeeklyFigures) -> Figure:
    """The digest's chart as a matplotlib Figure (see bot.reporting.charts)."""
    bars = [charts.StageBar(str(s.number), s.median,
                            s.timescale.working_days if s.timescale is not None else None, s.visits, s.open_cases)
            for s in f.stages]
    return charts.digest_figure(T, T("{board}: weekly digest, week to {date}", board=f.board_name,
                                     date=T.date(f.week_to)), _window(T, f), bars)


def chart_attachment(T: Translator, board_id: str, f: WeeklyFigures) -> Attachment:
    return Attachment(f"parley-weekly-digest-{board_id}-{f.week_to.isoformat()}.png", "image/png",
                      charts.png(chart(T, f)),
                      T("Chart: median working days at each stage against the protocol's timescale, and open cases "
                        "at each stage (the figures in the digest's text)"))


def weekly_digest(T: Translator, board_id: str, now: dt.datetime, *, session: Session) -> Message:
    f = weekly_figures(T, board_id, now, session=session)
    lines = [T("New this week: {n}. Resolved this week: {r}. Closed this week: {c}. Open: {o}.", n=f.new,
               r=f.resolved, c=f.closed, o=sum(n for _, n in f.open_by_stage))]
    for stage, n in f.open_by_stage:
        lines.append(f"  {stage}: {n}")
    if f.overdue:
        lines.append(T("Overdue deadlines:"))
        lines.extend(f"  \u2022 {line}" for line in f.overdue)
    else:
        lines.append(T("No deadline is overdue."))
    lines.extend(stage_lines(T, f))
    return Message("\n".join(lines), title=T("Weekly digest \u2014 {board}, week to {date}", board=f.board_name,
                                             date=T.date(f.week_to)),
                   attachments=(chart_attachment(T, board_id, f),))


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
    proto = protocols.board_protocol(board_id, session=session)
    year, number, _first, _last = quarter_of(proto.calendar().local_date(now), proto.reporting.quarter_numbering)
    label, tables = reports.quarterly(board_id, f"{year}Q{number}", session=session, now=now, T=T)
    lines = []
    for name, rows in tables:
        lines.append(f"{name}: " + (", ".join(f"{row} {n}" for row, n in rows) if rows else T("none")))
    lines.append(T("The full data set: parley report quarterly --board {board} --quarter {q}", board=board_id,
                   q=f"{year}Q{number}"))
    return Message("\n".join(lines), title=T("Quarterly data set \u2014 {label}", label=label))
