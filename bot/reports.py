"""Exports for the business unit, built from the event history (never typed twice).

The case log in Cardiff & Vale's columns (001's final table, CV-N19): Date Raised (DD.MM.YY), Name of
person/Case Ref, LA Area (Cardiff/Vale), Name of agency raising concern, Summary of concern and Themes
identified, Name of responding agency, Date resolved, Outcome. Parley fills "Name of person/Case Ref" with the
case reference: the child's or adult's name stays in the case record.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

from sqlalchemy.orm import Session

from bot import services, views
from bot.i18n import N_, translator
from protocol.engine import Status
from storage import repo

LOG_COLUMNS = (N_("Date Raised"), N_("Name of person/Case Ref"), N_("LA Area (Cardiff/Vale)"),
               N_("Name of agency raising concern"), N_("Summary of concern and Themes identified"),
               N_("Name of responding agency"), N_("Date resolved"), N_("Outcome"))
SUMMARY_LIMIT = 500


def _ddmmyy(day: dt.date | None) -> str:
    return day.strftime("%d.%m.%y") if day else ""


def log_rows(board_id: str, *, session: Session, start: dt.date | None = None, end: dt.date | None = None,
             now: dt.datetime | None = None) -> list[list[str]]:
    """One row a case raised between ``start`` and ``end`` (inclusive), oldest first."""
    T = translator()
    now = now or dt.datetime.now(dt.timezone.utc)
    proto = services.board_protocol(board_id, session=session)
    cal = proto.calendar()
    rows = []
    for case in repo.cases_for_board(board_id, session=session):
        raised = cal.local_date(case.opened_at)
        if (start and raised < start) or (end and raised > end):
            continue
        st = services.state_of(case, now, session=session)
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
        rows.append([
            _ddmmyy(raised), case.ref, case.la_area or "",
            services.agency_name(case.raising_agency_id, session=session), summary,
            services.agency_name(case.responding_agency_id, session=session),
            _ddmmyy(resolved_day) if st.status is Status.RESOLVED else "", outcome,
        ])
    return rows


def _safe(cell: str) -> str:
    """Cells starting with = + - @ would be formulas in a spreadsheet: neutralise them (CSV/XLSX injection)."""
    return "'" + cell if cell[:1] in ("=", "+", "-", "@") else cell


def write_log(rows: list[list[str]], fmt: str, out: Path) -> Path:
    header = [translator()(c) for c in LOG_COLUMNS]
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(header)
        writer.writerows([[_safe(c) for c in r] for r in rows])
        out.write_text(buf.getvalue(), encoding="utf-8")
        return out
    if fmt == "xlsx":
        from openpyxl import Workbook

        wb = Workbook()
        ws = wb.active
        ws.title = "Log"
        ws.append(header)
        for r in rows:
            ws.append([_safe(c) for c in r])
        wb.save(out)
        return out
    raise ValueError(f"unknown format {fmt!r}: use csv or xlsx")


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


def _stage_timeliness(proto, events) -> list[tuple[int, bool]]:  # noqa: ANN001
    """(stage number, completed on time?) for every stage that ended, judged against that stage's own deadline
    as it stood when the stage ended (replaying the history up to that moment)."""
    from protocol.engine import evaluate

    out = []
    for k, ev in enumerate(events):
        if ev.kind not in ("outcome", "bypassed", "closed"):
            continue
        before = evaluate(proto, events[:k], ev.at)
        deadline = before.stage_deadline
        if before.stage is None or deadline is None or deadline.due_at is None:
            continue
        done = ev.effective
        done_at = done if isinstance(done, dt.datetime) else proto.calendar().close_of_business(done)
        out.append((before.stage.number, done_at <= deadline.due_at))
    return out


def quarterly(board_id: str, quarter: str, *, session: Session, now: dt.datetime | None = None
              ) -> tuple[str, list[tuple[str, list[tuple[str, int]]]]]:
    """The quarter's label and, for each table, (row label, count) pairs. Channel-safe: no names, only counts."""
    from collections import Counter

    T = translator()
    now = now or dt.datetime.now(dt.timezone.utc)
    proto = services.board_protocol(board_id, session=session)
    cal = proto.calendar()
    year, number = parse_quarter(quarter)
    first, last = quarter_dates(year, number, proto.reporting.quarter_numbering)
    tables: dict[str, Counter[str]] = {name: Counter() for name in QUARTERLY_TABLES}
    for case in repo.cases_for_board(board_id, session=session):
        if not first <= cal.local_date(case.opened_at) <= last:
            continue
        cproto = services.protocol_for(case, session=session)
        events = services.engine_events(case, session=session)
        st = services.state_of(case, now, session=session)
        tables["Category / theme"][views._category(cproto, case.category)] += 1
        tables["Raising agency"][services.agency_name(case.raising_agency_id, session=session)] += 1
        tables["Responding agency"][services.agency_name(case.responding_agency_id, session=session)] += 1
        tables["Local authority area"][case.la_area or T("Not recorded")] += 1
        top = max((v.stage.number for v in st.visits), default=0)
        tables["Highest stage reached"][T("Stage {n}", n=top)] += 1
        tables["Status"][services.status_label(T, st.status)] += 1
        for stage_number, on_time in _stage_timeliness(cproto, events):
            label = T("Stage {n} on time", n=stage_number) if on_time else T("Stage {n} late", n=stage_number)
            tables["Stage deadlines"][label] += 1
        if any(v.how == "bypass" for v in st.visits):
            tables["Bypass to a higher stage"][T("Used")] += 1
        if st.flags.get("policy_gap"):
            tables["Policy-gap referrals"][T("Referred")] += 1
    label = T("{board}: Q{q} {year} ({first} to {last})", board=proto.name, q=number, year=year,
              first=T.date(first), last=T.date(last))
    return label, [(T(name), sorted(tables[name].items())) for name in QUARTERLY_TABLES]


def write_quarterly(label: str, tables: list[tuple[str, list[tuple[str, int]]]], fmt: str, out: Path) -> Path:
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow([label])
        w.writerow(["Table", "Row", "Count"])
        for name, rows in tables:
            for row, n in rows:
                w.writerow([_safe(name), _safe(row), n])
        out.write_text(buf.getvalue(), encoding="utf-8")
        return out
    if fmt == "xlsx":
        from openpyxl import Workbook

        wb = Workbook()
        ws = wb.active
        ws.title = "Quarterly"
        ws.append([label])
        for name, rows in tables:
            ws.append([])
            ws.append([_safe(name), "Count"])
            for row, n in rows:
                ws.append([_safe(row), n])
        wb.save(out)
        return out
    if fmt == "html":
        from html import escape

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
