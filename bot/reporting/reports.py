"""Exports for the business unit, built from the event history (never typed twice).

The case log, in each board's own columns (its protocol's ``reporting.log_columns``):

- Cardiff & Vale's (001's final table, CV-N19): Date Raised (DD.MM.YY), Name of person/Case Ref, LA Area
  (Cardiff/Vale), Name of agency raising concern, Summary of concern and Themes identified, Name of responding
  agency, Date resolved, Outcome. Parley fills "Name of person/Case Ref" with the case reference: the child's or
  adult's name stays in the case record.
- Swindon's stage log (SWN-9, SWN-N13: the stages of Appendix 1's contact table): one row a stage each case
  went through, the case reference first, then Stage, Start date, Who the concern was raised with (the contacts
  recorded at that stage), Outcome or resolution agreed.
- A board whose protocol names no columns: a general case log (the case reference, dates, agencies, summary,
  outcome), with a local authority area column only when the board's agencies have areas.

The quarterly data set (MWW-8, CV-17) is counted in SQL from the case projection (bot.cases.projection): the engine's
replay of each case's events, stored in the same transaction as each event and rebuildable from them.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter
from html import escape
from pathlib import Path

from sqlalchemy.orm import Session

from bot.cases import projection, protocols, services
from bot.core import views
from bot.core.i18n import N_, Translator, translator
from protocol.calendar import WorkingCalendar
from protocol.state import CaseState, Status
from protocol.spec import Protocol
from storage import repo, reporting_repo
from storage.models import Case

LOG_COLUMNS = (N_("Date Raised"), N_("Name of person/Case Ref"), N_("LA Area (Cardiff/Vale)"),
               N_("Name of agency raising concern"), N_("Summary of concern and Themes identified"),
               N_("Name of responding agency"), N_("Date resolved"), N_("Outcome"))
SUMMARY_LIMIT = 500


def _ddmmyy(day: dt.date | None) -> str:
    return day.strftime("%d.%m.%y") if day else ""


STAGE_LOG_COLUMNS = (N_("Stage"), N_("Start date"), N_("Who the concern was raised with"),
                     N_("Outcome or resolution agreed"))  # Swindon's reporting.log_columns
GENERIC_LOG_COLUMNS = (N_("Date raised"), N_("Case reference"), N_("Local authority area"), N_("Raising agency"),
                       N_("Summary of concern"), N_("Responding agency"), N_("Date resolved"), N_("Outcome"))
CASE_REF = N_("Case reference")


def _layout(board_id: str, *, session: Session) -> str:
    """'cv' (Cardiff & Vale's case log), 'stages' (a log a stage, Swindon's) or 'generic'."""
    columns = protocols.board_protocol(board_id, session=session).reporting.log_columns
    if tuple(columns) == LOG_COLUMNS:
        return "cv"
    if tuple(columns) == STAGE_LOG_COLUMNS:
        return "stages"
    return "generic"


def _has_areas(board_id: str, *, session: Session) -> bool:
    return any(a.la_area for a in repo.agencies(board_id, session=session))


def log_header(board_id: str, *, session: Session) -> list[str]:
    """The header row of the board's log, in its protocol's own words."""
    layout = _layout(board_id, session=session)
    if layout == "cv":
        return list(LOG_COLUMNS)
    if layout == "stages":
        return [CASE_REF, *STAGE_LOG_COLUMNS]
    return [c for c in GENERIC_LOG_COLUMNS
            if c != "Local authority area" or _has_areas(board_id, session=session)]


def log_rows(board_id: str, *, session: Session, start: dt.date | None = None, end: dt.date | None = None,
             now: dt.datetime | None = None) -> list[list[str]]:
    """The board's log (see :func:`log_header`) for the cases raised between ``start`` and ``end``
    (inclusive), oldest first: one row a case, or one row a stage for a stage log."""
    T = translator()
    now = now or dt.datetime.now(dt.timezone.utc)
    proto = protocols.board_protocol(board_id, session=session)
    cal = proto.calendar()
    layout = _layout(board_id, session=session)
    areas = _has_areas(board_id, session=session)
    rows = []
    for case in repo.cases_for_board(board_id, session=session):
        raised = cal.local_date(case.opened_at)
        if (start and raised < start) or (end and raised > end):
            continue
        st = services.state_of(case, now, session=session)
        if layout == "stages":
            rows.extend(_stage_rows(T, proto, case, st, session=session))
            continue
        outcome = ""
        for ev in repo.events_for(case.id, session=session):
            if ev.kind == "outcome" and ev.data.get("resolved"):
                outcome = str(ev.data.get("text", ""))
            elif ev.kind == "closed":
                outcome = T("Closed: {reason}", reason=ev.data.get("reason", ""))
        if st.status in (Status.OPEN, Status.AWAITING_DECISION):
            outcome = T("Open at {stage}", stage=views.stage_title(T, proto, case.stage_id))
        resolved = st.resolved_at
        resolved_day = cal.local_date(resolved) if resolved is not None else None
        summary = f"{views._category(proto, case.category)}: {case.what_happened}"
        if len(summary) > SUMMARY_LIMIT:
            summary = summary[: SUMMARY_LIMIT - 1] + "\u2026"
        row = [
            _ddmmyy(raised), case.ref, case.la_area or "",
            services.agency_name(case.raising_agency_id, session=session), summary,
            services.agency_name(case.responding_agency_id, session=session),
            _ddmmyy(resolved_day) if st.status is Status.RESOLVED else "", outcome,
        ]
        if layout == "generic":
            row[0] = _ddmmyyyy(raised)
            row[6] = _ddmmyyyy(resolved_day) if st.status is Status.RESOLVED else ""
            if not areas:
                del row[2]
        rows.append(row)
    return rows


def _ddmmyyyy(day: dt.date | None) -> str:
    return day.strftime("%d/%m/%Y") if day else ""


def _stage_rows(T: Translator, proto: Protocol, case: Case, st: CaseState, *, session: Session) -> list[list[str]]:
    """One row a stage the case went through: the stage, when it started, who the concern was raised with there
    (the contacts recorded at that stage) and how the stage ended."""
    cal = proto.calendar()
    contacts: dict[str, list[str]] = {}
    outcomes: list[tuple[bool, str]] = []
    closed = ""
    for ev in repo.events_for(case.id, session=session):
        if ev.kind == "contact" and ev.data.get("stage"):
            who = str(ev.data.get("who") or "")
            if who and who not in contacts.setdefault(ev.data["stage"], []):
                contacts[ev.data["stage"]].append(who)
        elif ev.kind == "outcome":
            outcomes.append((bool(ev.data.get("resolved")), str(ev.data.get("text", ""))))
        elif ev.kind == "closed":
            closed = str(ev.data.get("reason", ""))
    ended = iter(outcomes)  # the outcomes end the stage visits that ended resolved or unresolved, in order
    rows = []
    for i, visit in enumerate(st.visits):
        if visit.outcome in ("resolved", "unresolved"):
            resolved, text = next(ended, (visit.outcome == "resolved", ""))
            how = T("Resolved: {text}", text=text) if resolved else T("Not resolved, moved on: {text}", text=text)
        elif visit.outcome == "bypassed":
            how = T("Went straight to a higher stage")
        elif i == len(st.visits) - 1 and st.status is Status.CLOSED:
            how = T("Closed: {reason}", reason=closed)
        else:
            how = T("Open")
        entered = visit.entered_at if isinstance(visit.entered_at, dt.date) and not isinstance(
            visit.entered_at, dt.datetime) else cal.local_date(visit.entered_at)
        rows.append([case.ref, views.stage_title(T, proto, visit.stage.id), _ddmmyyyy(entered),
                     "; ".join(contacts.get(visit.stage.id, [])), how])
    return rows


def _safe(cell: str) -> str:
    """Cells starting with = + - @ would be formulas in a spreadsheet: neutralise them (CSV/XLSX injection)."""
    return "'" + cell if cell[:1] in ("=", "+", "-", "@") else cell


def _write_table(rows: list[list], fmt: str, out: Path, sheet: str) -> Path:
    """Rows to a CSV file or to one XLSX sheet; text cells a spreadsheet would run as formulas are neutralised."""
    cells = [[_safe(c) if isinstance(c, str) else c for c in r] for r in rows]
    if fmt == "csv":
        buf = io.StringIO()
        csv.writer(buf).writerows(cells)
        out.write_text(buf.getvalue(), encoding="utf-8")
        return out
    if fmt == "xlsx":
        from openpyxl import Workbook

        wb = Workbook()
        ws = wb.active
        ws.title = sheet
        for r in cells:
            ws.append(r)
        wb.save(out)
        return out
    raise ValueError(f"unknown format {fmt!r}: use csv or xlsx")


def write_log(rows: list[list[str]], fmt: str, out: Path, header: list[str] | None = None) -> Path:
    """The log with its header row (Cardiff & Vale's columns unless ``header``, from :func:`log_header`)."""
    return _write_table([[translator()(c) for c in (header or LOG_COLUMNS)], *rows], fmt, out, "Log")


# -- the quarterly data set (MWW-8 LOG quarterly data; CV-17 Quarterly Performance Data Report) ---------
QUARTERLY_TABLES = (N_("Category / theme"), N_("Raising agency"), N_("Responding agency"), N_("Local authority area"),
                    N_("Highest stage reached"), N_("Status"), N_("Stage deadlines"), N_("Bypass to a higher stage"),
                    N_("Policy-gap referrals"))


def parse_quarter(text: str) -> tuple[int, int]:
    """'2026Q3' -> (2026, 3)."""
    t = text.strip().upper()
    if len(t) != 6 or t[4] != "Q" or not t[:4].isdigit() or t[5] not in "1234":
        raise ValueError(f"{text!r} is not a quarter; write e.g. 2026Q3")
    return int(t[:4]), int(t[5])


def quarter_dates(year: int, number: int, numbering: str = "calendar") -> tuple[dt.date, dt.date]:
    """First and last day of a quarter; with financial numbering Q1 is April-June of ``year``."""
    month = (number - 1) * 3 + 1
    if numbering == "financial":
        month = (month + 2) % 12 + 1
        year = year if number < 4 else year + 1
    first = dt.date(year, month, 1)
    nxt = dt.date(year + (month + 3 > 12), (month + 2) % 12 + 1, 1)
    return first, nxt - dt.timedelta(days=1)


def quarter_bounds(first: dt.date, last: dt.date, cal: WorkingCalendar) -> tuple[dt.datetime, dt.datetime]:
    """The instants a case's ``opened_at`` must fall in (``start <= opened_at < end``) for its local date, in the
    board's timezone, to be between ``first`` and ``last`` inclusive: local midnight of ``first`` and of the day
    after ``last``."""
    return cal.at(first, dt.time(0)), cal.at(last + dt.timedelta(days=1), dt.time(0))


def quarterly(board_id: str, quarter: str, *, session: Session, now: dt.datetime | None = None,
              T: Translator | None = None) -> tuple[str, list[tuple[str, list[tuple[str, int]]]]]:
    """The quarter's label and, for each table, (row label, count) pairs. Channel-safe: no names, only counts.

    Counted in SQL from the case projection (bot.cases.projection: the engine's replay of each case's events, stored in
    the same transaction as each event), one GROUP BY over the quarter's cases and one over their stage results.
    If any case of the quarter has no projection or one written by older rules, those cases are rebuilt from their
    events (in the caller's session) and counted again. Every count depends only on the recorded events, so
    ``now`` changes nothing; it is accepted for the callers that pass the time of the run. ``T``: the labels'
    language (English by default; a Welsh board's channel post has a Welsh copy)."""
    del now  # the data set depends on the recorded events only
    T = T or translator()
    proto = protocols.board_protocol(board_id, session=session)
    cal = proto.calendar()
    year, number = parse_quarter(quarter)
    first, last = quarter_dates(year, number, proto.reporting.quarter_numbering)
    start, end = quarter_bounds(first, last, cal)
    per_case = reporting_repo.quarter_case_counts(board_id, start, end, session=session)
    if any(r.highest_stage is None or r.projection_version != projection.PROJECTION_VERSION for r in per_case):
        stale = reporting_repo.quarter_stale(board_id, start, end, projection.PROJECTION_VERSION, session=session)
        projection.rebuild(session, cases=stale)
        per_case = reporting_repo.quarter_case_counts(board_id, start, end, session=session)

    tables: dict[str, Counter[str]] = {name: Counter() for name in QUARTERLY_TABLES}
    agency_ids = {r[2] for r in per_case} | {r[3] for r in per_case if r[3] is not None}
    names = reporting_repo.agency_names(agency_ids, session=session)
    by_snapshot: dict[int, Protocol] = {}
    for snapshot_id, category, raising, responding, la_area, top, status, bypass, policy_gap, _, n in per_case:
        if snapshot_id not in by_snapshot:
            by_snapshot[snapshot_id] = protocols.protocol_of_snapshot(snapshot_id, session=session)
        tables["Category / theme"][views._category(by_snapshot[snapshot_id], category, T)] += n
        tables["Raising agency"][names.get(raising, "?")] += n
        tables["Responding agency"][names.get(responding, "?") if responding is not None else "?"] += n
        tables["Local authority area"][la_area or T("Not recorded")] += n
        tables["Highest stage reached"][T("Stage {n}", n=top)] += n
        tables["Status"][services.status_label(T, Status(status))] += n
        if bypass:
            tables["Bypass to a higher stage"][T("Used")] += n
        if policy_gap:
            tables["Policy-gap referrals"][T("Referred")] += n
    judged = reporting_repo.quarter_stage_timeliness(board_id, start, end, session=session)
    for stage_number, on_time, n in judged:
        label = T("Stage {n} on time", n=stage_number) if on_time else T("Stage {n} late", n=stage_number)
        tables["Stage deadlines"][label] += n
    label = T("{board}: Q{q} {year} ({first} to {last})", board=T.local(proto, "name"), q=number, year=year,
              first=T.date(first), last=T.date(last))
    return label, [(T(name), sorted(tables[name].items())) for name in QUARTERLY_TABLES]


def write_quarterly(label: str, tables: list[tuple[str, list[tuple[str, int]]]], fmt: str, out: Path) -> Path:
    if fmt == "csv":  # one flat table, its header row first (the board and quarter are in the file's name)
        return _write_table([["Table", "Row", "Count"],
                             *([name, row, n] for name, rows in tables for row, n in rows)], fmt, out, "Quarterly")
    if fmt == "xlsx":  # a block a table, one under the other
        blocks: list[list] = [[label]]
        for name, rows in tables:
            blocks += [[], [name, "Count"], *([row, n] for row, n in rows)]
        return _write_table(blocks, fmt, out, "Quarterly")
    if fmt == "html":
        parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{escape(label)}</title></head>",
                 f"<body><h1>{escape(label)}</h1>"]
        for name, rows in tables:
            parts.append(f"<h2>{escape(name)}</h2><table><thead><tr><th scope='col'>{escape(name)}</th>"
                         "<th scope='col'>Count</th></tr></thead><tbody>")
            parts.extend(f"<tr><td>{escape(r)}</td><td>{n}</td></tr>" for r, n in rows)
            if not rows:
                parts.append("<tr><td colspan='2'>None</td></tr>")
            parts.append("</tbody></table>")
        parts.append("</body></html>")
        out.write_text("".join(parts), encoding="utf-8")
        return out
    raise ValueError(f"unknown format {fmt!r}: use html, csv or xlsx")
