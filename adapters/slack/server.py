"""Running the Slack adapter: HTTP (Events API, interactivity and the slash command on one path, served by
aiohttp) or Socket Mode (when SLACK_APP_TOKEN is set: no public URL needed). One workspace with SLACK_BOT_TOKEN, or
several with SLACK_CLIENT_ID (OAuth mode, adapters/slack/oauth.py: over HTTP only, with ``/slack/install`` and
``/slack/oauth_redirect`` beside ``/slack/events``)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from contextlib import nullcontext
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web
from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler, ServerErrorRetryHandler

from adapters.slack.ackfirst import AckGate
from adapters.slack.app import SlackAdapter
from adapters.slack.oauth import INSTALL_PATH, REDIRECT_PATH, OAuthConfig
from bot.core.clock import Clock
from bot.delivery.outages import send_timeout
from bot.runtime import Runtime

if TYPE_CHECKING:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

log = logging.getLogger("parley.slack")
EVENTS_PATH = "/slack/events"
ACK_THREADS = int(os.environ.get("PARLEY_SLACK_ACK_THREADS", "32"))  # threads answering Slack's requests
DEFAULT_API = "https://slack.com/api/"


def web_client(token: str | None, base_url: str | None = None, timeout: float | None = None) -> WebClient:
    """A client answering within ``timeout`` seconds (PARLEY_SEND_TIMEOUT, 10 by default): a slower answer is a
    failed attempt, retried through the outbox."""
    client = WebClient(token=token, base_url=base_url or os.environ.get("SLACK_API_BASE_URL") or DEFAULT_API,
                       timeout=int(timeout if timeout is not None else send_timeout()) or 1)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
    client.retry_handlers.append(ServerErrorRetryHandler(max_retry_count=2))
    return client


def build_adapter(runtime: Runtime, clock: Clock, *, token: str | None, signing_secret: str,
                  base_url: str | None = None, oauth: OAuthConfig | None = None) -> SlackAdapter:
    """With ``oauth`` (several workspaces) ``token`` is None: each workspace's comes from the installation store."""
    return SlackAdapter(runtime, clock, web_client(token, base_url), signing_secret=signing_secret, oauth=oauth)


@dataclass
class Serving:
    adapter: SlackAdapter
    web_app: web.Application | None  # served over HTTP
    socket: SocketModeHandler | None  # or Socket Mode


def from_environment(runtime: Runtime, clock: Clock, env: Mapping[str, str] = os.environ) -> Serving | None:
    """The Slack adapter ``parley serve`` runs, as the environment says (None when Slack is not configured);
    ValueError, in words, for a configuration that cannot work."""
    token, secret = env.get("SLACK_BOT_TOKEN", "").strip(), env.get("SLACK_SIGNING_SECRET", "").strip()
    app_token, base_url = env.get("SLACK_APP_TOKEN", "").strip(), env.get("SLACK_API_BASE_URL") or None
    oauth = OAuthConfig.from_environment(env, base_url)
    if oauth is not None:
        if token:
            raise ValueError("Set SLACK_CLIENT_ID (several workspaces, each installed through /slack/install) or "
                             "SLACK_BOT_TOKEN (one workspace), not both.")
        if app_token:
            raise ValueError("With SLACK_CLIENT_ID Slack is served over HTTP (the install needs it): unset "
                             "SLACK_APP_TOKEN.")
        if not secret:
            raise ValueError("SLACK_SIGNING_SECRET is needed to check Slack's requests.")
        adapter = build_adapter(runtime, clock, token=None, signing_secret=secret, base_url=base_url, oauth=oauth)
        return Serving(adapter, http_app(adapter.app, gate=adapter.gate), None)
    if not token:
        return None
    if not secret and not app_token:
        raise ValueError("SLACK_SIGNING_SECRET is needed to check Slack's requests (or set SLACK_APP_TOKEN for "
                         "Socket Mode).")
    adapter = build_adapter(runtime, clock, token=token, signing_secret=secret or "unused", base_url=base_url)
    if app_token:
        return Serving(adapter, None, socket_mode_handler(adapter, app_token))
    return Serving(adapter, http_app(adapter.app, gate=adapter.gate), None)


def http_app(bolt_app: App, path: str = EVENTS_PATH, gate: AckGate | None = None) -> web.Application:
    """Slack's requests go through Bolt's dispatch (signature and replay-window checks included) in a worker
    thread; the adapter acks before any slow work, which runs on its pool after the acks. With ``gate`` (the
    adapter's), each request counts as being answered from its arrival, so the work after the acks waits for it."""

    # acks are answered on threads of their own: the work after them runs on the adapter's bounded pool
    acks = ThreadPoolExecutor(max_workers=ACK_THREADS, thread_name_prefix="parley-slack-ack")

    async def handle(request: web.Request) -> web.Response:
        with gate if gate is not None else nullcontext():
            return await answer(request)

    async def answer(request: web.Request) -> web.Response:
        body = await request.text()
        try:
            bolt_request = BoltRequest(body=body, query=request.query_string, headers=dict(request.headers))
        except (ValueError, TypeError, KeyError, AttributeError):
            # truncated or broken JSON: a plain 400 (logged without the body), never a 500 Slack would retry
            log.warning("malformed Slack request: the body could not be read", extra={"platform": "slack"})
            return web.json_response({"error": "malformed request: the body could not be read"}, status=400)
        loop = asyncio.get_running_loop()
        resp = await loop.run_in_executor(acks, bolt_app.dispatch, bolt_request)
        headers = {k: v for k, v in resp.first_headers_without_set_cookie().items() if k.lower() != "content-length"}
        return web.Response(status=resp.status, body=resp.body.encode() if isinstance(resp.body, str) else resp.body,
                            headers=headers)

    async def health(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post(path, handle)
    app.router.add_get("/healthz", health)
    flow = bolt_app.oauth_flow
    if flow is not None:  # several workspaces: the install link and Slack's answer to it

        def oauth_route(step: Callable[[BoltRequest], BoltResponse]
                        ) -> Callable[[web.Request], Awaitable[web.Response]]:
            async def handle_step(request: web.Request) -> web.Response:
                bolt_request = BoltRequest(body="", query=request.query_string, headers=dict(request.headers))
                resp = await asyncio.get_running_loop().run_in_executor(acks, step, bolt_request)
                out = web.Response(status=resp.status, body=resp.body, headers={
                    k: v for k, v in resp.first_headers_without_set_cookie().items() if k != "content-length"})
                for cookie in resp.headers.get("set-cookie", []):  # the install state's cookie, set and deleted
                    out.headers.add("Set-Cookie", cookie)
                return out

            return handle_step

        app.router.add_get(INSTALL_PATH, oauth_route(flow.handle_installation))
        app.router.add_get(REDIRECT_PATH, oauth_route(flow.handle_callback))
    return app


def socket_mode_handler(adapter: SlackAdapter, app_token: str) -> SocketModeHandler:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    return SocketModeHandler(adapter.app, app_token, web_client=adapter.client)
