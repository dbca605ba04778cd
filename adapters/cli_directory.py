"""``parley directory``: a board's directory from a spreadsheet and back, and what is missing to go live
(bot/admin/directory_io.py; the format is in docs/directory.md)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

if TYPE_CHECKING:
    from bot.runtime import Runtime

directory_app = typer.Typer(help="The board's directory: import it from a spreadsheet, export it, check it.",
                            no_args_is_help=True)
BoardOpt = Annotated[str, typer.Option("--board", help="Board id")]
DbOpt = Annotated[Optional[str], typer.Option("--db", help="Database URL (default: DATABASE_URL or "
                                                           "sqlite:///parley.db)")]


def _factory(db: str | None):  # noqa: ANN202 - sessionmaker
    from bot.runtime import Runtime

    return Runtime(db).factory


@directory_app.command("import")
def import_(path: Annotated[Path, typer.Argument(help="A folder with agencies.csv, people.csv, channels.csv, or "
                                                      "an .xlsx workbook with sheets of those names")],
            board: BoardOpt, dry_run: Annotated[bool, typer.Option("--dry-run", help="Report, change nothing")] = False,
            deactivate_missing: Annotated[bool, typer.Option(
                "--deactivate-missing", help="Deactivate the board's people the spreadsheet does not list (leavers: "
                                             "their open cases pass to their line manager)")] = False,
            db: DbOpt = None) -> None:
    """Add and change agencies, people (keyed by e-mail), line managers, safeguarding leads, Slack and Teams
    accounts and channels as the spreadsheet says. Nothing is written while any row has a problem."""
    from bot.admin.directory_io import import_directory

    result = import_directory(_factory(db), board, path, dry_run=dry_run, deactivate_missing=deactivate_missing)
    if result.problems:
        for p in result.problems:
            typer.echo(str(p), err=True)
        typer.echo(f"{len(result.problems)} problem(s): nothing was written.", err=True)
        raise typer.Exit(1)
    for change in result.changes:
        typer.echo(change)
    if not result.changes:
        typer.echo("Nothing to change: the directory already says this.")
    elif dry_run:
        typer.echo(f"Dry run: {len(result.changes)} change(s) above would be made; nothing was written.")
    else:
        typer.echo(f"{len(result.changes)} change(s) made.")
    for line in result.to_do:
        typer.echo(f"to do: {line}")


@directory_app.command("export")
def export(board: BoardOpt,
           out: Annotated[Path, typer.Option("--out", help="A folder (csv) or a .xlsx file to write")],
           fmt: Annotated[str, typer.Option("--format", help="csv or xlsx")] = "csv", db: DbOpt = None) -> None:
    """Write the directory in the format `parley directory import` reads."""
    from bot.admin.directory_io import export_directory

    try:
        for f in export_directory(_factory(db), board, fmt, out):
            typer.echo(f"Wrote {f.resolve()}")
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None


def _served(rt: Runtime, env: Mapping[str, str]) -> tuple[frozenset[str] | None, frozenset[str] | None]:
    """The Slack workspaces Parley serves (OAuth: those installed; else SLACK_TEAM_ID, when set) and the Microsoft
    365 tenants it accepts (None: any)."""
    from adapters.slack.oauth import CLIENT_ID_ENV
    from adapters.teams import tenants
    from bot.delivery import workspaces

    client_id = env.get(CLIENT_ID_ENV, "").strip()
    named = frozenset(t.strip() for t in env.get("SLACK_TEAM_ID", "").split(",") if t.strip())
    slack = frozenset(w.team_id for w in workspaces.installed(rt.engine, client_id)) if client_id else named or None
    return slack, tenants.allowed(env)


@directory_app.command("check")
def check(board: BoardOpt, db: DbOpt = None) -> None:
    """What is missing before the board goes live (exit status 1 when something is), including an agency whose
    Slack workspace Parley does not serve or whose Microsoft 365 tenant it does not accept, and who has been
    deactivated."""
    import os

    from bot.admin.directory_io import check_directory, deactivated
    from bot.runtime import Runtime

    rt = Runtime(db)
    factory = rt.factory
    slack, tenants = _served(rt, os.environ)
    try:
        missing = check_directory(factory, board, slack_workspaces=slack, teams_tenants=tenants)
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    for email in deactivated(factory, board):
        typer.echo(f"deactivated: {email} (kept with their history; told nothing; not exported)")
    for line in missing:
        typer.echo(f"missing: {line}")
    if missing:
        typer.echo(f"{len(missing)} thing(s) to do before {board} goes live.")
        raise typer.Exit(1)
    typer.echo(f"{board}: every agency has its manager channels and a safeguarding lead, and everyone can be reached.")
