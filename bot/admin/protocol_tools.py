"""Protocol-file tools for the CLI: validation summaries and the "Day 17" timetable view."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bot.core.i18n import translator
from bot.core.anchors import anchor_phrase
from protocol.engine import TIMED_UNITS, timetable
from protocol.loader import ProtocolError, load_board
from protocol.spec import Protocol, Step

__all__ = ["ProtocolError", "load_board", "describe", "timetable_rows"]


def _step_line(st: Step) -> str:
    bits = [f"{st.title}: {st.due.text} from {st.anchor.to_data()}"]
    if st.when:
        bits.append(f"only when {st.when}" + (f" at {st.resolved_at}" if st.resolved_at else ""))
    if st.protective_cap:
        bits.append("or a sooner protective date")
    if st.stage_deadline:
        bits.append("stage deadline")
    if st.refs:
        bits.append(", ".join(st.refs))
    return " | ".join(bits)


def describe(proto: Protocol) -> list[str]:
    """The stage and deadline table of a protocol, as lines of text."""
    out = [
        f"{proto.name} ({proto.id}, version {proto.version}): valid",
        f"Calendar: {proto.nation}, {proto.timezone}, working hours "
        f"{proto.day_start:%H:%M}-{proto.day_end:%H:%M}; scope: {', '.join(proto.scope)}",
    ]
    for stage in proto.stages:
        flag = " (exceptional: entered only by decision)" if stage.exceptional else ""
        out.append(f"Stage {stage.number}: {stage.title} [{stage.level.value}]{flag}")
        out.extend("  " + _step_line(st) for st in stage.steps)
    for title, items in (("Milestones", proto.milestones), ("After resolution", proto.after_resolution)):
        if items:
            out.append(f"{title}:")
            out.extend("  " + _step_line(st) for st in items)
    if proto.bypass:
        out.append(f"Bypass to {proto.stage(proto.bypass.to).title}: "
                   + "; ".join(r.text for r in proto.bypass.reasons))
    return out


def timetable_rows(proto: Protocol, start: dt.date | dt.datetime, if_resolved: bool = False,
                   protective: dt.date | None = None) -> list[dict[str, Any]]:
    """One dict a step: stage, step, title, due (ISO date, or datetime for hours), reason and refs.

    ``start`` is day 0, or the moment the case starts (a naive date-time is in the board's timezone);
    ``protective`` sets a protective date from the start. Keys that only some rows have: ``capped`` and
    ``nominal_due`` (brought forward to the protective date), ``overdue_at_start``, ``applies`` (which of a
    "whichever is sooner/later" rule's timescales gave the date) and ``non_working_day`` (a timed deadline on
    a bank holiday, named, or a "weekend")."""
    T = translator()
    cal = proto.calendar()
    if isinstance(start, dt.datetime):
        day0 = cal.local_date(start if start.tzinfo else start.replace(tzinfo=cal.tz))
    else:
        day0 = start
    rows = []
    for r in timetable(proto, start, include_conditional=if_resolved, protective_date=protective):
        row: dict[str, Any] = {
            "stage": r.stage_number,
            "step": r.step.id,
            "title": r.step.title,
            "due": r.due_iso,
            "timescale": r.step.due.text,
            "from": anchor_phrase(T, r.anchor) if r.anchor else None,
            "kind": r.step.kind.value,
            "refs": list(r.step.refs),
        }
        if r.condition:
            row["condition"] = r.condition
        if r.due_at is not None:
            row["working_day"] = cal.working_days_between(day0, cal.local_date(r.due_at))
        if r.step.due.combined and r.due_rule is not None:
            row["applies"] = r.due_rule.text
        if r.capped and r.nominal_due_at is not None:
            row["capped"] = True
            timed = (r.due_rule or r.step.due).unit in TIMED_UNITS
            row["nominal_due"] = (r.nominal_due_at.isoformat() if timed
                                  else cal.local_date(r.nominal_due_at).isoformat())
            if r.overdue_at_start:
                row["overdue_at_start"] = True
        if r.non_working_day:
            row["non_working_day"] = r.non_working_day
        rows.append(row)
    # by stage, then due (undated last); the sort is stable so same-day steps keep protocol order
    rows.sort(key=lambda r: (r["stage"] or 0, r["due"] is None, r["due"] or ""))
    return rows
