"""What the command line's modules that open the database share (the rest is in adapters.cli_base)."""

from __future__ import annotations

from pathlib import Path

import typer

from adapters.cli_base import fail
from bot.runtime import Runtime


def key_notice(rt: Runtime) -> None:
    """With the development key: the full warning once per database, then a one-line reminder (on stderr)."""
    from bot.admin.datakeys import DataKeyError, development_notice

    try:
        line = development_notice(rt.factory)
    except DataKeyError as exc:
        fail(str(exc))
        return
    if line:
        typer.echo(line, err=True)


def check_keys(rt: Runtime) -> None:
    """Refuse to start (serve, scheduler, console) when the keys cannot read what is stored."""
    from bot.admin.datakeys import DataKeyError, check_startup

    try:
        check_startup(rt.factory)
    except DataKeyError as exc:
        fail(str(exc))


def runtime_for(db: str | None) -> Runtime:
    rt = Runtime(db)
    key_notice(rt)
    return rt


def wait_for_database(rt: Runtime) -> None:
    """Wait for the database at start-up instead of exiting (bot.runtime.Runtime.wait_for_database)."""
    rt.wait_for_database()


def out_path(out: str | None, name: str) -> Path:
    """Where a command writes its file: --out, or else the files folder (PARLEY_FILES_DIR, default
    ./parley-files, which is gitignored), never the current folder."""
    from pathlib import Path

    from adapters.console.render import files_dir

    if out:
        return Path(out)
    folder = files_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner can read (0600): a form carries the subject details."""
    import os

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # also when the file was already there
        os.write(fd, data)
    finally:
        os.close(fd)


