"""``parley protocols check`` and ``parley timetable``: a board's protocol file on its own, without a database."""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from adapters.cli_base import fail
from bot.admin.protocol_tools import ProtocolError, describe, load_board, timetable_rows
from bot.core.i18n import translator

if TYPE_CHECKING:
    from bot.core.i18n import Translator

protocols_app = typer.Typer(help="Board protocol files.", no_args_is_help=True)


@protocols_app.command("check")
def protocols_check(file: Annotated[str, typer.Argument(help="A board YAML file or board id")]) -> None:
    """Validate a protocol file and print its stage and deadline table."""
    try:
        proto = load_board(file)
    except ProtocolError as exc:
        fail(f"Not valid:\n{exc}")
        return
    for line in describe(proto):
        typer.echo(line)


def timetable(board: Annotated[str, typer.Argument(help="Board id or path to a YAML file")],
              start: Annotated[str, typer.Option("--start", help="Day 0, YYYY-MM-DD, or the moment the case "
                                                 "starts, YYYY-MM-DDTHH:MM (board's local time)")],
              as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
              if_resolved: Annotated[bool, typer.Option("--if-resolved", help="Also list the steps that "
                                                        "apply if a stage resolves the matter")] = False,
              protective: Annotated[Optional[str], typer.Option("--protective", help="A protective date set "
                                                                "from the start, YYYY-MM-DD")] = None) -> None:
    """Every stage's and step's due date if each step completes on its last allowed day.

    Steps with no timescale in the protocol are listed without a date in the text view and left out of
    --json (which lists dated steps only). With --protective, the steps the protocol caps by a protective
    date are due by 17:00 on it when that is sooner.
    """
    day0: dt.date | dt.datetime
    try:
        day0 = dt.datetime.fromisoformat(start) if "T" in start or " " in start.strip() \
            else dt.date.fromisoformat(start)
    except ValueError:
        fail(f"--start must be a date like 2026-04-02 or a date-time like 2026-04-02T14:30, not {start!r}")
        return
    cap: dt.date | None = None
    if protective is not None:
        try:
            cap = dt.date.fromisoformat(protective)
        except ValueError:
            fail(f"--protective must be a date like 2026-04-14, not {protective!r}")
            return
    try:
        proto = load_board(board)
    except ProtocolError as exc:
        fail(str(exc))
        return
    rows = timetable_rows(proto, day0, if_resolved, protective=cap)
    if as_json:
        typer.echo(json.dumps([r for r in rows if r["due"] is not None], indent=2))
        return
    T = translator()
    when = T.datetime(day0) if isinstance(day0, dt.datetime) else T.date(day0)
    head = f"{proto.name}: timetable from {when} (day 0)"
    if cap is not None:
        head += f", protective date {T.date(cap)}"
    typer.echo(f"{head}, every step on its last allowed day")
    for r in rows:
        cond = " [if resolved]" if r.get("condition") else ""
        if r["due"] is None:
            due = "no timescale"
        else:
            due = _due_text(T, r["due"])
            if r.get("non_working_day"):
                off = r["non_working_day"]
                off = off.replace(" (observed)", ", substitute day")  # "Boxing Day, substitute day"
                due += " (a weekend)" if off == "weekend" else f" (a bank holiday, {off})"
            due += f" (working day {r['working_day']})"
        stage = f"Stage {r['stage']}" if r["stage"] else "Case"
        reason = ""
        if r["from"] and r["due"]:
            if r.get("applies"):
                reason = f" \u2014 {r['applies']} after {r['from']} ({r['timescale']})"
            else:
                reason = f" \u2014 {r['timescale']} after {r['from']}"
            if r.get("capped"):
                reason += f", brought forward to the protective date (otherwise {_due_text(T, r['nominal_due'])})"
                if r.get("overdue_at_start"):
                    reason += ("; the protective date has passed before this step starts, "
                               "so it is overdue from the start")
        typer.echo(f"{stage:<8} {r['title']}{cond}: {due}{reason}  [{', '.join(r['refs'])}]")


def _due_text(T: Translator, iso: str) -> str:
    """An ISO date ('Wed 8 Apr 2026') or date-time ('Fri 25 Dec 2026 17:00') from the timetable rows."""
    moment = dt.datetime.fromisoformat(iso) if "T" in iso else dt.date.fromisoformat(iso)
    return T.datetime(moment) if isinstance(moment, dt.datetime) else T.date(moment)
