"""The `parley` command line (typer)."""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from adapters.cli_admin import audit_app, doctor_app, keys_app, retention_app
from adapters.cli_common import (
    DbOpt,
    check_keys,
    fail,
    key_notice,
    out_path,
    runtime_for,
    wait_for_database,
    write_private,
)
from adapters.cli_directory import directory_app
from bot.admin.protocol_tools import ProtocolError, describe, load_board, timetable_rows
from bot.core.i18n import translator
from bot.runtime import Runtime

if TYPE_CHECKING:

    from bot.core.clock import Clock
    from bot.core.i18n import Translator

app = typer.Typer(help="Parley: track professional-difference escalation protocols.", no_args_is_help=True,
                  add_completion=False)
db_app = typer.Typer(help="Database commands.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo directory.", no_args_is_help=True)
protocols_app = typer.Typer(help="Board protocol files.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
app.add_typer(protocols_app, name="protocols")
app.add_typer(directory_app, name="directory")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(retention_app, name="retention")
app.add_typer(doctor_app, name="doctor")

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


@app.command()
def console(board: Annotated[Optional[str], typer.Option("--board", help="Board id, e.g. swindon")] = None,
            db: DbOpt = None,
            clock: Annotated[Optional[str], typer.Option(
                "--clock", help="Set the simulated time first, e.g. '2026-04-02 10:00' (Europe/London)")] = None
            ) -> None:
    """Chat with Parley in the terminal, playing every role, on a simulated clock."""
    from adapters.console.app import ConsoleApp

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


def _transports() -> dict:
    """Delivery transports configured by environment variables (Slack and Teams join in later issues)."""
    import os

    transports: dict = {}
    if os.environ.get("PARLEY_WEBHOOK_URL"):
        from adapters.webhook import WebhookTransport

        from bot.delivery.outages import send_timeout

        transports["webhook"] = WebhookTransport(os.environ["PARLEY_WEBHOOK_URL"], timeout=send_timeout())
    return transports


def _ops(rt: Runtime, clock: Clock, web_app: Any) -> None:
    """/readyz and /metrics: on the chat server's app when there is one, else on PARLEY_OPS_PORT if set."""
    import os

    from adapters.ops_http import attach, ops_app, serve_in_background
    from bot.admin.readiness import OPS_PORT_ENV, Metrics, Readiness

    readiness, metrics = Readiness(rt.factory, rt.engine, clock), Metrics(rt.factory, clock)
    if web_app is not None:
        attach(web_app, readiness, metrics)
        return
    port = os.environ.get(OPS_PORT_ENV, "").strip()
    if port:
        serve_in_background(ops_app(readiness, metrics), int(port))


def _run_scheduler(db: str | None, interval: float, until_idle: bool, transports: dict) -> None:
    from bot.core import logs
    from bot.core.clock import SystemClock
    from bot.escalation.scheduler import SchedulerService

    logs.configure()
    rt = Runtime(db)
    wait_for_database(rt)
    key_notice(rt)
    if not rt.is_current():
        fail("The database is not migrated: run `parley db upgrade` first.")
    check_keys(rt)
    clock = SystemClock()
    _ops(rt, clock, None)
    SchedulerService(rt.factory, clock, transports, interval=interval, until_idle=until_idle).run()


IntervalOpt = Annotated[float, typer.Option("--interval", help="Seconds between sweeps")]
IdleOpt = Annotated[bool, typer.Option("--until-idle", help="Exit once nothing is due and the outbox is empty")]


@app.command()
def scheduler(db: DbOpt = None, interval: IntervalOpt = 30.0, until_idle: IdleOpt = False) -> None:
    """Run the scheduler alone: fire due nudges, escalations and digests into the outbox (and deliver
    what this process has a transport for)."""
    _run_scheduler(db, interval, until_idle, _transports())


@app.command()
def serve(db: DbOpt = None, interval: IntervalOpt = 30.0,
          port: Annotated[int, typer.Option("--port", envvar="PORT",
                                            help="HTTP port (Slack /slack/events, Teams /api/messages)")] = 3978
          ) -> None:
    """Run the scheduler with every configured adapter (the console is not one: use `parley console`).

    Slack: SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET, plus SLACK_APP_TOKEN for Socket Mode (otherwise Slack's
    requests are served over HTTP on --port at /slack/events); several workspaces: SLACK_CLIENT_ID and
    SLACK_CLIENT_SECRET instead of SLACK_BOT_TOKEN (installs at /slack/install). Teams: MICROSOFT_APP_ID,
    MICROSOFT_APP_PASSWORD and MICROSOFT_APP_TENANT_ID (POST /api/messages on --port, or /teams/api/messages
    beside Slack over HTTP); PARLEY_TEAMS=local accepts unauthenticated local traffic (Agents Playground), never
    with PARLEY_PRODUCTION. PARLEY_PUBLIC_URL (the public https address of this server) lets Teams cards link to
    files such as forms, and is Slack's redirect URL's host."""
    from bot.admin.datakeys import DataKeyError, require_real_keys

    try:
        require_real_keys()  # never serve real people with the development key
    except DataKeyError as exc:
        fail(f"parley serve needs a real data key: {exc}")
    import logging
    import os

    from bot.core import logs
    from bot.core.clock import SystemClock
    from bot.escalation.scheduler import SchedulerService

    logs.configure()
    rt = Runtime(db)
    wait_for_database(rt)
    key_notice(rt)
    if not rt.is_current():
        fail("The database is not migrated: run `parley db upgrade` first.")
    check_keys(rt)
    clock = SystemClock()
    transports = _transports()
    web_app = None
    socket = None
    if os.environ.get("SLACK_BOT_TOKEN") or os.environ.get("SLACK_CLIENT_ID"):
        from adapters.slack.server import from_environment as slack_serving

        try:
            slack = slack_serving(rt, clock)
        except ValueError as exc:
            fail(str(exc))
            return
        if slack is not None:
            transports["slack"] = slack.adapter.transport
            web_app, socket = slack.web_app, slack.socket
    teams_app = None
    if os.environ.get("MICROSOFT_APP_ID") or os.environ.get("PARLEY_TEAMS") == "local":
        from adapters.teams.files import from_environment
        from adapters.teams import tenants
        from adapters.teams.server import TeamsServer

        # links to files (forms) are served by the Teams app: under /teams when it sits beside Slack's HTTP app
        files = from_environment(rt, clock, prefix="/teams" if web_app is not None else "")
        if not files.available:
            logging.getLogger("parley.teams").warning(
                "PARLEY_PUBLIC_URL is not set: files other than charts cannot be offered on Teams cards")
        own_tenant, other_tenants = tenants.from_environment(os.environ)
        teams = TeamsServer(rt, clock, app_id=os.environ.get("MICROSOFT_APP_ID", ""),
                            app_password=os.environ.get("MICROSOFT_APP_PASSWORD", ""),
                            tenant_id=own_tenant, tenant_ids=other_tenants, files=files)
        transports["teams"] = teams.transport
        teams_app = teams.web_app()
    if os.environ.get("PARLEY_TEAMS") == "local" and not os.environ.get("MICROSOFT_APP_ID") and \
            os.environ.get("PARLEY_PRODUCTION", "").lower() in ("1", "true", "yes"):
        fail("PARLEY_PRODUCTION is set but MICROSOFT_APP_ID is not: refusing to accept unauthenticated Teams "
              "traffic (PARLEY_TEAMS=local is for the emulator and Agents Playground only).")
    if teams_app is not None:
        if web_app is None:
            web_app = teams_app
        else:
            web_app.add_subapp("/teams", teams_app)
    if not transports:
        typer.echo("No adapter is configured (see docs/configuration.md: SLACK_*, MICROSOFT_APP_*, "
                   "PARLEY_WEBHOOK_URL); "
                   "running the scheduler only: messages wait in the outbox until an adapter delivers them.",
                   err=True)
    _ops(rt, clock, web_app)
    service = SchedulerService(rt.factory, clock, transports, interval=interval,
                               background=web_app is not None or socket is not None)
    if socket is not None:
        service.start()
        socket.start()  # blocks
    elif web_app is not None:
        from aiohttp import web

        service.start()
        web.run_app(web_app, host="0.0.0.0", port=port)
    else:
        service.run()


export_app = typer.Typer(help="Exports for the business unit.", no_args_is_help=True)
app.add_typer(export_app, name="export")


@export_app.command("log")
def export_log(board: Annotated[str, typer.Option("--board", help="Board id")],
               date_from: Annotated[Optional[str], typer.Option("--from", help="First day raised, YYYY-MM-DD")] = None,
               date_to: Annotated[Optional[str], typer.Option("--to", help="Last day raised, YYYY-MM-DD")] = None,
               fmt: Annotated[str, typer.Option("--format", help="csv or xlsx")] = "csv",
               out: Annotated[Optional[str], typer.Option("--out", help="File to write")] = None,
               db: DbOpt = None) -> None:
    """The board's case log in its protocol's own columns (Cardiff & Vale: Date Raised ... Outcome; Swindon: a
    row a stage), as CSV or XLSX; without --out, into PARLEY_FILES_DIR (default ./parley-files)."""
    import os

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


@app.command("form")
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


report_app = typer.Typer(help="Reports for the business unit.", no_args_is_help=True)
app.add_typer(report_app, name="report")


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


teams_app_cli = typer.Typer(help="Microsoft Teams app package.", no_args_is_help=True)
app.add_typer(teams_app_cli, name="teams")


@teams_app_cli.command("package")
def teams_package(app_id: Annotated[str, typer.Option("--app-id", envvar="MICROSOFT_APP_ID",
                                                      help="The bot's Microsoft app id (a GUID)")],
                  out: Annotated[str, typer.Option("--out", help="Zip file to write")] = "parley-teams.zip",
                  version: Annotated[Optional[str], typer.Option(
                      "--version", help="The app's version, e.g. 1.2.0 (PARLEY_TEAMS_APP_VERSION; default 1.0.0)",
                  )] = None,
                  website: Annotated[Optional[str], typer.Option(
                      "--website", help="https:// address of the board's page about Parley (PARLEY_TEAMS_WEBSITE)",
                  )] = None,
                  privacy_url: Annotated[Optional[str], typer.Option(
                      "--privacy-url", help="Privacy notice (PARLEY_TEAMS_PRIVACY_URL; default WEBSITE/privacy)",
                  )] = None,
                  terms_url: Annotated[Optional[str], typer.Option(
                      "--terms-url", help="Terms of use (PARLEY_TEAMS_TERMS_URL; default WEBSITE/terms)",
                  )] = None,
                  domain: Annotated[Optional[str], typer.Option(
                      "--domain", help="Parley's host name (PARLEY_TEAMS_DOMAIN; default PARLEY_PUBLIC_URL's)",
                  )] = None,
                  ) -> None:
    """Build the uploadable Teams app package: the manifest filled in (app id, version, the board's addresses),
    the two icons and the Welsh localisation. Nothing to edit by hand."""
    from pathlib import Path

    from adapters.teams.package import Options, build_package

    try:
        options = Options.given(version=version, website=website, privacy_url=privacy_url, terms_url=terms_url,
                                domain=domain)
        path = build_package(app_id, Path(out), options=options)
    except ValueError as exc:
        fail(str(exc))
        return
    typer.echo(f"Wrote {path} (version {options.version}, {options.domain})")


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


@app.command()
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


# -- data protection (docs/data-protection.md): the data keys, the event history, retention, configuration ---
def main() -> None:
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
