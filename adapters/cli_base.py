"""What every command module shares without opening anything: the --db option and failing with a message."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

DbOpt = Annotated[Optional[str], typer.Option("--db", help="Database URL (default: DATABASE_URL or "
                                                           "sqlite:///parley.db)")]


def fail(message: str) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(1)
