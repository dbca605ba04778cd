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
