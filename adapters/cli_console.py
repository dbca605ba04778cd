"""``parley console``: the conversation in a terminal (adapters/console)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from adapters.cli_base import DbOpt, fail
from adapters.cli_common import check_keys, key_notice
from adapters.console.app import ConsoleApp
from bot.runtime import Runtime


def console(board: Annotated[Optional[str], typer.Option("--board", help="Board id, e.g. swindon")] = None,
            db: DbOpt = None,
            clock: Annotated[Optional[str], typer.Option(
                "--clock", help="Set the simulated time first, e.g. '2026-04-02 10:00' (Europe/London)")] = None
            ) -> None:
    """Chat with Parley in the terminal, playing every role, on a simulated clock."""
    rt = Runtime(db)
    if not rt.is_current():
        rt.upgrade()
    key_notice(rt)  # says loudly, once for this database, when it falls back to the development key
    check_keys(rt)  # and refuses a key that cannot read what is stored, before writing anything with it
    if not rt.board_ids() or not rt.people(board or rt.board_ids()[0]):
        rt.load_demo()
    start = None
    if clock:
        try:
            start = rt.parse_local_time(board or rt.board_ids()[0], clock)
        except ValueError:
            fail(f"--clock must look like 2026-04-02 10:00, not {clock!r}")
    ConsoleApp(rt, board, start=start).run()
