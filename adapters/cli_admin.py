"""``parley keys``, ``audit``, ``retention`` and ``doctor``: looking after the data (docs/cli.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from adapters.cli_base import DbOpt, fail
from adapters.cli_common import runtime_for
from bot.runtime import Runtime

keys_app = typer.Typer(help="The keys that encrypt personal data at rest (PARLEY_DATA_KEYS).", no_args_is_help=True)


def migrated(db: str | None) -> Runtime:
    rt = runtime_for(db)
    if not rt.is_current():
        fail("The database is not migrated: run `parley db upgrade` first.")
    return rt


@keys_app.command("generate")
def keys_generate() -> None:
    """Print a new data key: put it first in PARLEY_DATA_KEYS (comma-separated, newest first)."""
    from bot.admin import datakeys

    typer.echo(datakeys.generate())


@keys_app.command("rotate")
def keys_rotate(db: DbOpt = None) -> None:
    """Re-encrypt all personal data with the newest key in PARLEY_DATA_KEYS (all or nothing); then the older keys
    can be removed from the list."""
    from bot.admin import datakeys

    rt = migrated(db)
    try:
        result = datakeys.rotate(rt.factory)
    except datakeys.DataKeyError as exc:
        fail(str(exc))
        return
    typer.echo(f"Re-encrypted {result.rows} subject-details row(s) and {result.files} file(s) behind Teams links "
               f"with the newest key of {result.source.describe()}, and wrote a full audit checkpoint signed with the "
               "newest audit key.")
    if len(result.source.keys) > 1:
        typer.echo("Every row now uses the first key: the others can be removed from PARLEY_DATA_KEYS.")


audit_app = typer.Typer(help="The event history: check its hash chain, export a case's trail.", no_args_is_help=True)
BoardOpt = Annotated[Optional[str], typer.Option("--board", help="Only this board's cases")]


def known_board(rt: Runtime, board: str | None) -> None:
    if board is not None and board not in rt.board_ids():
        fail(f"Unknown board {board!r}. Known boards: {', '.join(rt.board_ids())}")


ExpectOpt = Annotated[Optional[str], typer.Option(
    "--expect", help="A fingerprint kept from an earlier run (SEQ:MAC): check that checkpoint is still there, "
                     "unchanged, with the history carrying on from it")]


@audit_app.command("verify")
def audit_verify(board: BoardOpt = None, db: DbOpt = None, expect: ExpectOpt = None) -> None:
    """Recompute the hash chain of every case's event history and check it against the signed checkpoints: report
    each changed, inserted or deleted event, case, audit entry or reference (exit 1 if any)."""
    from bot.admin import audit

    rt = migrated(db)
    known_board(rt, board)
    try:
        result = audit.verify(rt.factory, board, expect)
    except ValueError as exc:
        fail(str(exc))
        return
    for line in result.problems:
        typer.echo(line)
    scope = f" of {board}" if board else ""
    if result.problems:
        typer.echo(f"The event history{scope} has been tampered with: {len(result.problems)} problem(s) in "
                   f"{result.cases} cases ({result.events} events).")
        raise typer.Exit(1)
    for note in result.notes:
        typer.echo(f"Note: {note}")
    typer.echo(f"The event history{scope} is intact: {result.cases} cases, {result.events} events, "
               f"{result.checkpoints} signed checkpoints.")
    when = f", {result.latest_at:%Y-%m-%d %H:%M} UTC" if result.latest_at else ""
    typer.echo(f"Fingerprint: {result.fingerprint} (the latest signed checkpoint{when}). Keep it elsewhere; next "
               "time run `parley audit verify --expect` with it: a later fingerprint is expected, the one you "
               "kept must still be there.")


@audit_app.command("export")
def audit_export(ref: Annotated[str, typer.Argument(help="Case reference, e.g. SWN-2026-0001")],
                 fmt: Annotated[str, typer.Option("--format", help="json or csv")] = "json",
                 out: Annotated[Optional[str], typer.Option("--out", help="File to write (default: print it)")] = None,
                 db: DbOpt = None) -> None:
    """A case's full trail for a subject access request or an inspection: every event (who, when, via, what) in
    order, and the audit entries about the case such as refusals."""

    from bot.admin import audit

    if fmt not in ("json", "csv"):
        fail("--format must be json or csv")
    rt = migrated(db)
    try:
        text, data = audit.export(rt.factory, ref, fmt, Path(out) if out else None)
    except LookupError as exc:
        fail(str(exc.args[0]))
        return
    if text is not None:
        typer.echo(text, nl=False)
        return
    note = "" if data["chain"]["verified"] else " WARNING: its hash chain does not verify (see `parley audit verify`)."
    typer.echo(f"Wrote {out}: {len(data['events'])} events and {len(data['audit_entries'])} audit entries of "
               f"{data['case']['ref']}.{note}")


retention_app = typer.Typer(help="The retention policy: anonymise old resolved and closed cases.",
                            no_args_is_help=True)


@retention_app.command("apply")
def retention_apply(dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be anonymised; "
                                                          "change nothing")] = False,
                    board: BoardOpt = None, db: DbOpt = None) -> None:
    """Anonymise the resolved and closed cases whose resolution or closure is older than their board's retention
    period (protocol `retention.closed_case_years`): subject details and identifying free text erased, statistics
    kept, the anonymisation recorded in the case's history and the audit log."""
    from bot.admin import retention
    from bot.core.clock import SystemClock

    rt = migrated(db)
    known_board(rt, board)
    runs = retention.apply(rt.factory, SystemClock().now(), board_id=board, dry_run=dry_run)
    verb, total = ("would erase", "would be anonymised") if dry_run else ("erased", "anonymised")
    count = 0
    for run in runs:
        p = run.plan
        typer.echo(f"{p.board_name} ({p.board_id}): kept {p.years} years after resolution or closure, so cases "
                   f"resolved or closed before {p.cutoff.isoformat()} are anonymised.")
        for due, a in zip(p.due, run.done):
            parts = ["the subject details" if a.subject_details else "no subject details (none stored)"]
            if a.case_fields:
                parts.append(f"{', '.join(a.case_fields)}")
            parts.append(f"the free text of {a.events} event(s) and {a.messages} sent message(s)")
            typer.echo(f"  {a.ref} ({due.status} on {due.ended_on.isoformat()}): {verb} {'; '.join(parts)}")
        typer.echo(f"  {len(p.due)} case(s) {total}; {p.within} resolved or closed case(s) still within the period; "
                   f"{p.already} anonymised before.")
        count += len(p.due)
    if dry_run:
        typer.echo(f"Dry run: nothing was changed ({count} case(s) would be anonymised).")


doctor_app = typer.Typer(help="Check the configuration.", invoke_without_command=True)


@doctor_app.callback()
def doctor(db: DbOpt = None) -> None:
    """Check the configuration and say what is missing, one line a check, OK or PROBLEM (exit 1 on any PROBLEM).
    Secrets are reported as present or absent, never printed."""
    from bot.admin import doctor as checks

    results = checks.run(db)
    for c in results:
        typer.echo(c.line())
    note = checks.trying_out_note(results)
    if note:
        typer.echo(note)
    if not all(c.ok for c in results):
        raise typer.Exit(1)




board_app = typer.Typer(help="Boards: mark one as a training board (docs/training.md).", no_args_is_help=True)


@board_app.command("training")
def board_training(state: Annotated[str, typer.Argument(help="on (a training board) or off (a real board)")],
                   board: Annotated[str, typer.Option("--board", help="Board id")], db: DbOpt = None) -> None:
    """Mark a board as a training board (on) or a real one (off); audited. On a training board every message is
    marked [Training] and the business unit moves the board's own clock from chat (`clock +3wd`)."""
    from bot.admin import training
    from bot.core.clock import SystemClock

    if state.lower() not in ("on", "off"):
        fail("Say on or off, e.g. parley board training --board swindon-training on")
    rt = migrated(db)
    try:
        typer.echo(training.set_training(rt.factory, board, state.lower() == "on", SystemClock().now()))
    except (LookupError, ValueError) as exc:
        fail(str(exc.args[0]))
