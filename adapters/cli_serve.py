"""``parley scheduler`` and ``parley serve``: the long-running processes. Slack (slack-bolt), Teams (botbuilder) and
the HTTP server (aiohttp) are imported only when the environment configures them."""

from __future__ import annotations

import logging
import os
from typing import Annotated, Any

import typer

from adapters.cli_base import DbOpt, fail
from adapters.cli_common import check_keys, key_notice, wait_for_database
from adapters.webhook import WebhookTransport
from bot.admin.datakeys import DataKeyError, require_real_keys
from bot.admin.readiness import OPS_PORT_ENV, Metrics, Readiness
from bot.core import logs
from bot.core.clock import Clock, SystemClock
from bot.delivery.outages import send_timeout
from bot.escalation.scheduler import SchedulerService
from bot.runtime import Runtime


def _transports() -> dict:
    """Delivery transports configured by environment variables (Slack and Teams join in later issues)."""
    transports: dict = {}
    if os.environ.get("PARLEY_WEBHOOK_URL"):
        transports["webhook"] = WebhookTransport(os.environ["PARLEY_WEBHOOK_URL"], timeout=send_timeout())
    return transports


def _ops(rt: Runtime, clock: Clock, web_app: Any) -> None:
    """/readyz and /metrics: on the chat server's app when there is one, else on PARLEY_OPS_PORT if set."""
    port = os.environ.get(OPS_PORT_ENV, "").strip()
    if web_app is None and not port:
        return
    from adapters.ops_http import attach, ops_app, serve_in_background  # aiohttp: only when something is served

    readiness, metrics = Readiness(rt.factory, rt.engine, clock), Metrics(rt.factory, clock)
    if web_app is not None:
        attach(web_app, readiness, metrics)
        return
    serve_in_background(ops_app(readiness, metrics), int(port))


def _started(db: str | None) -> tuple[Runtime, SystemClock]:
    """What `parley scheduler` and `parley serve` do first: logs, the database reached and migrated, the keys
    able to read it."""
    logs.configure()
    rt = Runtime(db)
    wait_for_database(rt)
    key_notice(rt)
    if not rt.is_current():
        fail("The database is not migrated: run `parley db upgrade` first.")
    check_keys(rt)
    return rt, SystemClock()


def _run_scheduler(db: str | None, interval: float, until_idle: bool, transports: dict) -> None:
    rt, clock = _started(db)
    _ops(rt, clock, None)
    SchedulerService(rt.factory, clock, transports, interval=interval, until_idle=until_idle).run()


IntervalOpt = Annotated[float, typer.Option("--interval", help="Seconds between sweeps")]
IdleOpt = Annotated[bool, typer.Option("--until-idle", help="Exit once nothing is due and the outbox is empty")]


def scheduler(db: DbOpt = None, interval: IntervalOpt = 30.0, until_idle: IdleOpt = False) -> None:
    """Run the scheduler alone: fire due nudges, escalations and digests into the outbox (and deliver
    what this process has a transport for)."""
    _run_scheduler(db, interval, until_idle, _transports())


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
    try:
        require_real_keys()  # never serve real people with the development key
    except DataKeyError as exc:
        fail(f"parley serve needs a real data key: {exc}")
    rt, clock = _started(db)
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
