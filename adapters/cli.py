"""The `parley` command line (typer).

Each sub-command lives in a module of its own (adapters/cli_*.py) that is imported only when that sub-command runs
or shows its own help: ``parley --help`` lists them from :data:`COMMANDS` and imports none of them, and
``parley timetable`` opens no database and loads neither the chat platforms' libraries nor the renderers.
"""

from __future__ import annotations

import importlib
import sys
from functools import cache
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

# name: (the module that holds it, the typer.Typer of a group or the function of a command, what `parley --help`
# says of it: the start of its own help, which a test checks), in the order `parley --help` lists them
COMMANDS: dict[str, tuple[str, str, str]] = {
    "console": ("adapters.cli_console", "console",
                "Chat with Parley in the terminal, playing every role, on a simulated clock."),
    "scheduler": ("adapters.cli_serve", "scheduler",
                  "Run the scheduler alone: fire due nudges, escalations and digests into the outbox."),
    "serve": ("adapters.cli_serve", "serve",
              "Run the scheduler with every configured adapter (the console is not one: use `parley console`)."),
    "form": ("adapters.cli_reports", "form", "A protocol's form filled from the case."),
    "timetable": ("adapters.cli_protocols", "timetable",
                  "Every stage's and step's due date if each step completes on its last allowed day."),
    "db": ("adapters.cli_db", "db_app", "Database commands."),
    "demo": ("adapters.cli_db", "demo_app", "Demo directory."),
    "protocols": ("adapters.cli_protocols", "protocols_app", "Board protocol files."),
    "directory": ("adapters.cli_directory", "directory_app",
                  "The board's directory: import it from a spreadsheet, export it, check it."),
    "keys": ("adapters.cli_admin", "keys_app", "The keys that encrypt personal data at rest (PARLEY_DATA_KEYS)."),
    "audit": ("adapters.cli_admin", "audit_app", "The event history: check its hash chain, export a case's trail."),
    "retention": ("adapters.cli_admin", "retention_app",
                  "The retention policy: anonymise old resolved and closed cases."),
    "doctor": ("adapters.cli_admin", "doctor_app", "Check the configuration."),
    "board": ("adapters.cli_admin", "board_app", "Boards: mark one as a training board (docs/training.md)."),
    "export": ("adapters.cli_reports", "export_app", "Exports for the business unit."),
    "report": ("adapters.cli_reports", "report_app", "Reports for the business unit."),
    "teams": ("adapters.cli_teams", "teams_app", "Microsoft Teams app package."),
}


@cache
def load(name: str) -> TyperCommand | TyperGroup:
    """The sub-command ``name`` as the root app held it when every module was imported up front: a group added with
    ``add_typer``, or a command registered under its name. Imports its module."""
    module, attr, _ = COMMANDS[name]
    target = getattr(importlib.import_module(module), attr)
    holder = typer.Typer(add_completion=False)
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name)
        group = typer.main.get_command(holder)
        assert isinstance(group, TyperGroup)
        sub = group.commands[name]
    else:
        holder.command(name)(target)
        sub = typer.main.get_command(holder)
    assert isinstance(sub, (TyperCommand, TyperGroup))
    return sub


class LazyGroup(TyperGroup):
    """The root command: lists :data:`COMMANDS` by their summaries and imports a sub-command's module only to run it
    (or to show its own help)."""

    def __init__(self, **attrs: object):
        super().__init__(**attrs)  # type: ignore[arg-type]
        # what the root's own help lists (and typer's "did you mean" looks through): summaries, nothing imported
        self.commands = {name: TyperCommand(name, help=summary) for name, (_, _, summary) in COMMANDS.items()}
        self._listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> TyperCommand | TyperGroup | None:
        if cmd_name not in COMMANDS:
            return None
        return self.commands[cmd_name] if self._listing else load(cmd_name)  # type: ignore[return-value]

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(cls=LazyGroup, help="Parley: track professional-difference escalation protocols.",
                  no_args_is_help=True, add_completion=False)


@app.callback()
def parley() -> None:
    pass  # the root does nothing itself: each sub-command does the work


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
