"""Serving the Teams bot: an aiohttp endpoint at POST /api/messages through botbuilder's CloudAdapter.

With MICROSOFT_APP_ID set, every request must carry a valid Bot Framework JWT (401 otherwise, nothing changes).
With it unset, local emulator / Agents Playground traffic is accepted: that is for local testing only, and
``parley serve`` refuses to start that way when PARLEY_PRODUCTION is set.

GET /files/<token> serves a file offered on a card through a link (a form's PDF or HTML): anyone with the link
can open it until it expires, after which it is 404 (see adapters/teams/files.py). The answers are never cached
and never sniffed; HTML is sandboxed (no scripts, no requests elsewhere).
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from collections.abc import Coroutine
from typing import Any

import jwt
from types import SimpleNamespace

from aiohttp import web
from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication

from adapters.teams import files as file_links
from adapters.teams.app import ParleyTeamsBot
from adapters.teams.connector import BoundedAuthentication, timeout_from_environment
from adapters.teams.files import FileLinks
from adapters.teams.roster import INTERVAL as ROSTER_INTERVAL
from adapters.teams.roster import Roster
from adapters.teams.transport import TeamsTransport
from bot.core.clock import Clock
from bot.delivery.delivery import Deliverer
from bot.runtime import Runtime

log = logging.getLogger("parley.teams")
INLINE = ("image/png", "application/pdf", "text/html")  # opened in the browser; anything else is downloaded


class TeamsServer:
    def __init__(self, runtime: Runtime, clock: Clock, *, app_id: str = "", app_password: str = "",
                 tenant_id: str = "", tenant_ids: tuple[str, ...] = (), files: FileLinks | None = None,
                 timeout: float | None = None, roster_interval: float | None = ROSTER_INTERVAL):
        config = SimpleNamespace(APP_ID=app_id, APP_PASSWORD=app_password,
                                 APP_TYPE="SingleTenant" if tenant_id else "MultiTenant", APP_TENANTID=tenant_id)
        self.app_id = app_id
        # every Bot Connector request bounded by PARLEY_TEAMS_TIMEOUT; the outbox's sends never retried inside
        # botbuilder (adapters/teams/connector.py)
        self.timeout = timeout or timeout_from_environment()
        self.adapter = CloudAdapter(BoundedAuthentication(ConfigurationBotFrameworkAuthentication(config),
                                                          self.timeout))
        # files offered through links (kept in the database): PARLEY_PUBLIC_URL, PARLEY_FILE_LINK_DAYS unless given
        self.files = files if files is not None else file_links.from_environment(runtime, clock)
        self.bot = ParleyTeamsBot(runtime, clock, self.files, tenant_id=tenant_id, tenant_ids=tenant_ids)
        self.transport = TeamsTransport(runtime, self.adapter, app_id, files=self.files, timeout=self.timeout)
        self.deliverer = Deliverer(runtime.factory, {"teams": self.transport}, clock, "teams-adapter")

        async def on_error(context: TurnContext, error: Exception) -> None:
            # a turn's own failure (the proactive sends catch theirs: adapters/teams/transport.py); by type only,
            # as an error's text can quote what was sent
            log.exception("Teams turn failed (%s)", type(error).__name__)

        self.adapter.on_turn_error = on_error

        def deliver_soon() -> None:  # e.g. an acknowledged prompt updated in place, after the turn
            asyncio.get_running_loop().run_in_executor(None, self.deliverer.deliver)

        self.bot.after_turn = deliver_soon
        # the rosters of the teams the app is in: fetched on install (and when people join) and every hour
        self.roster = Roster(runtime, self.adapter, app_id)
        self.roster_interval = roster_interval  # None: only on install (tests)
        self._tasks: set[asyncio.Task] = set()

        def team_changed(team_id: str) -> None:
            self._background(self._roster_then_deliver(team_id))

        self.bot.on_team_changed = team_changed
        self.deliver_soon = deliver_soon

    def _background(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _roster_then_deliver(self, team_id: str) -> None:
        try:
            await self.roster.sync_team(team_id)
        except Exception as exc:
            log.warning("Teams roster sync failed (%s)", type(exc).__name__)
            return
        self.deliver_soon()  # people just linked may have messages waiting

    def sync_rosters(self) -> int:
        """Fetch every installed team's roster now (from any thread but the server's loop); returns the number
        of members seen. ``parley serve`` does this every hour by itself."""
        return asyncio.run(self.roster.sync_all())

    def web_app(self) -> web.Application:
        async def messages(request: web.Request) -> web.Response:
            try:
                response = await self.adapter.process(request, self.bot)
            except (PermissionError, jwt.PyJWTError):
                return web.Response(status=401, text="Unauthorized")  # no valid Bot Framework token
            except Exception as exc:
                if _raised_checking_the_token(exc):
                    # a forged token (an unknown or missing key id, alg none, HS256, another issuer): botbuilder's
                    # checks raise IndexError or a bare Exception for those; refused alike, without a traceback
                    log.warning("Teams request refused: its token could not be accepted (%s)", type(exc).__name__)
                    return web.Response(status=401, text="Unauthorized")
                if not isinstance(exc, (ValueError, KeyError, TypeError, AttributeError)):
                    raise
                log.warning("malformed Teams request (%s)", type(exc).__name__)
                return web.Response(status=400, text="Malformed activity")
            if response is not None:
                return response
            return web.Response(status=201)

        async def health(_: web.Request) -> web.Response:
            return web.Response(text="ok")

        async def file(request: web.Request) -> web.Response:
            found = self.files.get(request.match_info["token"])
            headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
                       "Referrer-Policy": "no-referrer"}
            if found is None:
                return web.Response(status=404, text="Not found (or the link has expired)", headers=headers)
            plain = "".join(c for c in found.filename if c.isascii() and c.isprintable() and c not in '"\\')
            disposition = "inline" if found.media_type in INLINE else "attachment"
            headers["Content-Disposition"] = (f'{disposition}; filename="{plain or "file"}"; '
                                              f"filename*=UTF-8''{urllib.parse.quote(found.filename)}")
            if found.media_type == "text/html":
                headers["Content-Security-Policy"] = "sandbox; default-src 'none'; style-src 'unsafe-inline'; " \
                                                     "img-src data:; font-src data:"
            return web.Response(body=found.data, content_type=found.media_type, headers=headers)

        async def start_roster(_: web.Application) -> None:
            if self.roster_interval:
                self._background(self.roster.every(self.roster_interval))

        async def stop_background(_: web.Application) -> None:
            for task in list(self._tasks):
                task.cancel()

        app = web.Application()
        app.on_startup.append(start_roster)
        app.on_cleanup.append(stop_background)
        app.router.add_post("/api/messages", messages)
        app.router.add_get("/healthz", health)
        app.router.add_get(file_links.ROUTE, file)
        return app


def _raised_checking_the_token(exc: BaseException) -> bool:
    """True when ``exc`` was raised while botbuilder checked the request's Bot Framework token."""
    tb = exc.__traceback__
    while tb is not None:
        if "botframework/connector/auth" in tb.tb_frame.f_code.co_filename.replace("\\", "/"):
            return True
        tb = tb.tb_next
    return False
