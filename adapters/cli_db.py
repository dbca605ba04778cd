"""``parley db`` and ``parley demo``: migrating the database, rebuilding the case projection, the demo directory."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from adapters.cli_base import DbOpt, fail
from adapters.cli_common import key_notice, runtime_for
from bot.runtime import Runtime

db_app = typer.Typer(help="Database commands.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo directory.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(db: DbOpt = None) -> None:
    """Apply migrations and load the boards' protocols."""
    rt = Runtime(db)
    rt.upgrade()
    key_notice(rt)
    boards = rt.sync_protocols()
    typer.echo(f"Database is up to date ({rt.url.split('://')[0]}); boards: {', '.join(boards)}")


@db_app.command("reproject")
def db_reproject(board: Annotated[Optional[str], typer.Option("--board", help="Only this board's cases")] = None,
                 check: Annotated[bool, typer.Option("--check", help="Only report cases whose stored projection "
                                                     "differs from a replay (exit 1 if any); change nothing")] = False,
                 db: DbOpt = None) -> None:
    """Rebuild the case projection (status, stage, next deadline, and what the quarterly data set counts: highest
    stage, bypass, policy-gap referral, each stage's result against its deadline) from the event history, the
    source of truth. Cases whose stored projection already matches a replay are left as they are."""
    rt = runtime_for(db)
    if not rt.is_current():
        fail("The database is not migrated: run `parley db upgrade` first.")
        return
    if board is not None and board not in rt.board_ids():
        fail(f"Unknown board {board!r}. Known boards: {', '.join(rt.board_ids())}")
        return
    report = rt.reproject(board, check=check)
    for ref, wrong in sorted(report.wrong.items()):
        for line in wrong:
            typer.echo(f"{ref}: {line}")
    if check:
        if report.wrong:
            typer.echo(f"{len(report.wrong)} of {report.checked} cases differ from a replay of their events: "
                       "run `parley db reproject` to rebuild them.")
            raise typer.Exit(1)
        typer.echo(f"All {report.checked} cases match a replay of their events.")
        return
    typer.echo(f"Checked {report.checked} cases; rebuilt the projection of {len(report.wrong)} from their events.")
    if report.wrong:
        typer.echo("Their timers follow when the scheduler next starts (it rebuilds timers from case state).")


@demo_app.command("load")
def demo_load(db: DbOpt = None) -> None:
    """Load the demo directory (agencies, people, channels) for every seed board."""
    rt = runtime_for(db)
    if not rt.is_current():
        rt.upgrade()
    counts = rt.load_demo()
    typer.echo(f"Demo directory loaded: {counts['agencies']} new agencies, {counts['people']} new people.")
