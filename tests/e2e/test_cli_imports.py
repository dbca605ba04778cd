"""What a command imports (issue #17, fixed costs): `parley --help` imports none of the sub-commands' modules,
`parley timetable` opens no database code and loads neither the chat platforms' libraries nor the renderers, and the
chart module loads matplotlib only to draw a chart. Each is read from a real `parley` process
(``sys.modules`` as the process exits, through the entry point that the `parley` script calls), so it is about what
was imported, not about how long it took."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from adapters import cli

pytestmark = pytest.mark.e2e

# the libraries a light command must not load (babel too, where nothing is formatted)
HEAVY = {"matplotlib", "PIL", "numpy", "weasyprint", "openpyxl", "botbuilder", "botframework", "msrest",
         "slack_bolt", "slack_sdk", "aiohttp", "prometheus_client", "apscheduler"}
PLATFORMS = ("adapters.slack", "adapters.teams", "adapters.console", "adapters.webhook", "adapters.ops_http")
DATABASE = {"sqlalchemy", "alembic", "psycopg", "cryptography", "storage", "bot.runtime"}


# runs the `parley` console script's own entry point with the given arguments and, as the process exits, writes the
# name of every module it holds in sys.modules
WRAPPER = """
import atexit, json, sys
from importlib.metadata import entry_points
atexit.register(lambda: sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + "\\n"))
sys.argv = ["parley", *sys.argv[1:]]
entry_points(group="console_scripts")["parley"].load()()
"""


def imported(args: list[str]) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run `parley ARGS` and return what it printed and every module it had imported when it exited."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLACK_", "MICROSOFT_", "PARLEY_TEAMS", "PARLEY_OPS_PORT", "PARLEY_WEBHOOK_URL"))}
    done = subprocess.run([sys.executable, "-c", WRAPPER, *args], capture_output=True, text=True, timeout=120,
                          env=env)
    lines = [line for line in done.stderr.splitlines() if line.startswith("MODULES ")]
    assert len(lines) == 1, done.stderr[-2000:]
    return done, set(json.loads(lines[0].removeprefix("MODULES ")))


def loaded(modules: set[str], names: set[str] | tuple[str, ...]) -> set[str]:
    """The modules of ``modules`` that are one of ``names`` or inside one of them."""
    return {m for m in modules if any(m == n or m.startswith(n + ".") for n in names)}


def test_help_lists_every_command_without_importing_any() -> None:
    done, modules = imported(["--help"])
    assert done.returncode == 0, done.stderr[-2000:]
    assert {"typer", "adapters.cli"} <= modules
    listed = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("│ ") and len(line.split()) > 2
              and line.split()[1] in cli.COMMANDS]
    assert listed == list(cli.COMMANDS)  # every sub-command, in order
    assert not loaded(modules, (*HEAVY, "babel")), loaded(modules, (*HEAVY, "babel"))
    assert not loaded(modules, PLATFORMS)
    assert not loaded(modules, tuple(DATABASE))
    assert not {m for m in modules if m.startswith("adapters.cli_")}  # no sub-command's module
    assert not {m for m in modules if m == "bot" or m.startswith("bot.")}


def test_timetable_loads_the_protocol_and_nothing_of_the_database_or_the_platforms() -> None:
    done, modules = imported(["timetable", "swindon", "--start", "2026-04-02"])
    assert done.returncode == 0, done.stderr[-2000:]
    # Good Friday and Easter Monday are skipped: the command did its work
    assert "Stage 1  Internal discussion with your line manager: Wed 8 Apr 2026 (working day 2)" in done.stdout
    assert {"adapters.cli_protocols", "protocol.loader", "bot.admin.protocol_tools"} <= modules
    assert not loaded(modules, tuple(HEAVY)), loaded(modules, tuple(HEAVY))
    assert not loaded(modules, PLATFORMS)
    assert not loaded(modules, tuple(DATABASE)), loaded(modules, tuple(DATABASE))
    assert not {m for m in modules if m.startswith("adapters.cli_") and m != "adapters.cli_protocols"
                and m != "adapters.cli_base"}


def test_protocols_check_is_as_light() -> None:
    done, modules = imported(["protocols", "check", "wolverhampton"])
    assert done.returncode == 0, done.stderr[-2000:]
    assert "valid" in done.stdout.splitlines()[0]
    assert not loaded(modules, (*HEAVY, *DATABASE, *PLATFORMS))


def test_serve_loads_its_own_module_but_no_platform_it_is_not_configured_for() -> None:
    done, modules = imported(["serve", "--help"])
    assert done.returncode == 0, done.stderr[-2000:]
    assert {"adapters.cli_serve", "bot.escalation.scheduler", "bot.runtime"} <= modules
    # no Slack or Teams configured (the environment has none), so neither SDK nor the HTTP server; no renderer
    for absent in ("slack_bolt", "slack_sdk", "botbuilder", "botframework", "aiohttp", "matplotlib", "PIL",
                   "weasyprint", "openpyxl", "adapters.slack", "adapters.teams", "adapters.console"):
        assert not loaded(modules, (absent,)), absent


def test_a_scheduler_run_loads_no_platform_and_no_renderer(tmp_path) -> None:
    db = f"sqlite:///{tmp_path / 'p.db'}"
    done, _ = imported(["db", "upgrade", "--db", db])
    assert done.returncode == 0, done.stderr[-2000:]
    done, _ = imported(["demo", "load", "--db", db])
    assert done.returncode == 0, done.stderr[-2000:]
    done, modules = imported(["scheduler", "--db", db, "--until-idle", "--interval", "0.1"])
    assert done.returncode == 0, done.stderr[-2000:]
    assert {"adapters.cli_serve", "bot.escalation.scheduler", "apscheduler"} <= modules  # it did run
    # bank holidays: the library's UK module, not the other 250 countries' (protocol/calendar.py)
    assert loaded(modules, ("holidays.countries",)) <= {"holidays.countries.united_kingdom"}
    for absent in ("slack_bolt", "slack_sdk", "botbuilder", "botframework", "aiohttp", "matplotlib", "PIL",
                   "weasyprint", "openpyxl", "adapters.slack", "adapters.teams", "adapters.console",
                   "adapters.ops_http"):
        assert not loaded(modules, (absent,)), absent


def test_a_mistyped_command_is_still_suggested() -> None:
    done, modules = imported(["timetabel"])
    assert done.returncode == 2
    assert "Did you mean 'timetable'?" in done.stderr
    assert not {m for m in modules if m.startswith("adapters.cli_")}


def test_the_chart_module_loads_matplotlib_only_to_draw() -> None:
    script = (
        "import sys\n"
        "import bot.reporting.charts as charts, bot.escalation.scheduler, bot.reporting.digests\n"
        "print(sorted(m for m in ('matplotlib', 'PIL', 'numpy') if m in sys.modules))\n"
        "from bot.core.i18n import translator\n"
        "fig = charts.digest_figure(translator(), 't', 'w', [charts.StageBar('1', 2.0, 5, 3, 1)])\n"
        "data = charts.png(fig)\n"
        "print(data[:8] == b'\\x89PNG\\r\\n\\x1a\\n', 'matplotlib' in sys.modules, 'PIL' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["[]", "True True True"]


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_each_summary_is_the_start_of_the_command_s_own_help(name: str) -> None:
    command = cli.load(name)
    assert command.name == name
    _, _, summary = cli.COMMANDS[name]
    assert " ".join((command.help or "").split()).startswith(summary.removesuffix("."))
    assert not [p for p in command.params if p.name in ("install_completion", "show_completion")]


def test_the_root_help_names_the_commands_from_the_table() -> None:
    result = CliRunner().invoke(cli.app, ["--help"])
    assert result.exit_code == 0
    group = typer.main.get_command(cli.app)
    assert isinstance(group, cli.LazyGroup)
    for name, (_, _, summary) in cli.COMMANDS.items():
        assert name in result.output
        assert summary.split()[0] in result.output


def test_serve_with_slack_and_teams_loads_neither_the_renderers_nor_every_country(tmp_path) -> None:
    """`parley serve` as deployed (Slack over HTTP, Teams, the scheduler), stopped once ready: what it holds at
    idle. Renderers load when a file is made, and of the holidays library only the UK's module (issue #17)."""
    import socket
    import time
    import urllib.request

    db = f"sqlite:///{tmp_path / 'p.db'}"
    for args in (["db", "upgrade", "--db", db], ["demo", "load", "--db", db]):
        done, _ = imported(args)
        assert done.returncode == 0, done.stderr[-2000:]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MICROSOFT_", "PARLEY_OPS_PORT"))}
    env.update(SLACK_BOT_TOKEN="xoxb-test", SLACK_SIGNING_SECRET="s" * 32, SLACK_API_BASE_URL="http://127.0.0.1:9/",
               PARLEY_TEAMS="local", PARLEY_LOG_LEVEL="ERROR")
    proc = subprocess.Popen([sys.executable, "-c", WRAPPER, "serve", "--db", db, "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    lines = [line for line in err.splitlines() if line.startswith("MODULES ")]
    assert len(lines) == 1, err[-2000:]
    modules = set(json.loads(lines[0].removeprefix("MODULES ")))
    assert {"adapters.slack.server", "adapters.teams.server", "bot.escalation.scheduler", "aiohttp"} <= modules
    for absent in ("matplotlib", "PIL", "numpy", "weasyprint", "openpyxl", "adapters.console"):
        assert not loaded(modules, (absent,)), absent
    assert loaded(modules, ("holidays.countries",)) == {"holidays.countries.united_kingdom"}
