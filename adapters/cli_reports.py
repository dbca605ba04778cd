"""``parley export``, ``parley report`` and ``parley form``: the business unit's files (CSV, XLSX, HTML, PDF)."""

from __future__ import annotations

import datetime as dt
import os
from typing import Annotated, Optional

import typer

from adapters.cli_base import DbOpt, fail
from adapters.cli_common import out_path, runtime_for, write_private

export_app = typer.Typer(help="Exports for the business unit.", no_args_is_help=True)
report_app = typer.Typer(help="Reports for the business unit.", no_args_is_help=True)


@export_app.command("log")
def export_log(board: Annotated[str, typer.Option("--board", help="Board id")],
               date_from: Annotated[Optional[str], typer.Option("--from", help="First day raised, YYYY-MM-DD")] = None,
               date_to: Annotated[Optional[str], typer.Option("--to", help="Last day raised, YYYY-MM-DD")] = None,
               fmt: Annotated[str, typer.Option("--format", help="csv or xlsx")] = "csv",
               out: Annotated[Optional[str], typer.Option("--out", help="File to write")] = None,
               db: DbOpt = None) -> None:
    """The board's case log in its protocol's own columns (Cardiff & Vale: Date Raised ... Outcome; Swindon: a
    row a stage), as CSV or XLSX; without --out, into PARLEY_FILES_DIR (default ./parley-files)."""
    rt = runtime_for(db)
    try:
        start = dt.date.fromisoformat(date_from) if date_from else None
        end = dt.date.fromisoformat(date_to) if date_to else None
    except ValueError:
        fail("--from and --to must be dates like 2026-04-01")
        return
    if fmt not in ("csv", "xlsx"):
        fail("--format must be csv or xlsx")
        return
    if board not in rt.board_ids():
        fail(f"Unknown board {board!r}. Known boards: {', '.join(rt.board_ids())}")
        return
    path = rt.export_log(board, out_path(out, f"{board}-log.{fmt}"), fmt, start, end)
    os.chmod(path, 0o600)  # the summaries are free text
    typer.echo(f"Wrote {path.resolve()}")


def form(ref: Annotated[str, typer.Argument(help="Case reference, e.g. CV-2026-0001")],
         form_id: Annotated[str, typer.Argument(help="Form id from the board's protocol, e.g. appendix-1")],
         fmt: Annotated[str, typer.Option("--format", help="pdf or html")] = "pdf",
         out: Annotated[Optional[str], typer.Option("--out", help="File to write")] = None,
         db: DbOpt = None) -> None:
    """A protocol's form filled from the case (with the subject details: keep the file safe; it is written for
    its owner only); only a form the case has reached; without --out, into PARLEY_FILES_DIR."""
    if fmt not in ("pdf", "html"):
        fail("--format must be pdf or html")
        return
    rt = runtime_for(db)
    try:
        data = rt.render_form(ref, form_id, fmt)
    except ValueError as exc:
        fail(str(exc))
        return
    path = out_path(out, f"{ref}-{form_id}.{fmt}")
    write_private(path, data)
    typer.echo(f"Wrote {path.resolve()}")


@report_app.command("quarterly")
def report_quarterly(board: Annotated[str, typer.Option("--board", help="Board id")],
                     quarter: Annotated[str, typer.Option("--quarter", help="e.g. 2026Q3")],
                     fmt: Annotated[str, typer.Option("--format", help="html, csv or xlsx")] = "html",
                     out: Annotated[Optional[str], typer.Option("--out", help="File to write")] = None,
                     db: DbOpt = None) -> None:
    """The quarterly data set: counts by theme, agencies, area, stage reached, status, timeliness, bypasses
    and policy-gap referrals for the cases raised in the quarter; without --out, into PARLEY_FILES_DIR."""
    if fmt not in ("html", "csv", "xlsx"):
        fail("--format must be html, csv or xlsx")
        return
    rt = runtime_for(db)
    if board not in rt.board_ids():
        fail(f"Unknown board {board!r}. Known boards: {', '.join(rt.board_ids())}")
        return
    try:
        path = rt.export_quarterly(board, quarter, out_path(out, f"{board}-{quarter.strip().upper()}.{fmt}"), fmt)
    except ValueError as exc:
        fail(str(exc))
        return
    typer.echo(f"Wrote {path.resolve()}")
