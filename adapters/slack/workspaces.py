"""Which Slack client (which workspace's bot token) each call uses.

One workspace (SLACK_BOT_TOKEN): one client for everything. Several (OAuth mode, adapters/slack/oauth.py): a call
made while answering a request uses the bot token of the request's workspace (``acting_for``); a message the
outbox delivers, and an App Home refreshed for someone else, use the token of the workspace the recipient is in
(bot/delivery/workspaces.py: as Slack last said, else their agency's recorded workspace, else the only one
installed). Never another workspace's token: when the workspace cannot be told, or Parley is not installed there,
the message waits in the outbox and the business unit is told (bot.delivery.outages).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from slack_bolt.request.internals import extract_channel_id, extract_enterprise_id, extract_team_id, extract_user_id
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError, SlackTokenRotationError

from adapters.slack.oauth import OAuthConfig, ParleyAuthorize, Tokens, flow
from bot.core.i18n import translator
from bot.delivery import workspaces
from bot.delivery.delivery import DeliveryError, Outgoing
from bot.delivery.workspaces import Workspace
from bot.runtime import Runtime

log = logging.getLogger("parley.slack")
SEEN_MAX = 50_000  # addresses whose workspace this process remembers having recorded


def oauth_mode(rt: Runtime, config: OAuthConfig, client: WebClient, served: Callable[[str | None], bool],
               refused: Callable[[str | None], None]) -> tuple[Workspaces, dict[str, Any]]:
    """OAuth mode's workspaces, and the arguments that give Bolt's App the install flow and the authorize."""
    tokens = Tokens(rt, config, client)
    return Workspaces(rt, config, client, tokens), {
        "oauth_flow": flow(rt, config, tokens, client, served),
        "authorize": ParleyAuthorize(tokens, config, client, refused),
        "user_facing_authorize_error_message": translator()(
            "Parley is not installed in this Slack workspace: nothing was done. Ask your board's business unit to "
            "install it.")}


class NotReachable(Exception):
    """No workspace of Parley's can reach this address now; ``reason`` is a short code."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class OneWorkspace:
    """SLACK_BOT_TOKEN: one workspace, one client."""

    oauth = False

    def __init__(self, client: WebClient):
        self.base = client

    def client(self) -> WebClient:
        return self.base

    def for_user(self, user_id: str) -> WebClient:
        return self.base

    def for_message(self, msg: Outgoing) -> WebClient:
        return self.base

    @contextmanager
    def acting_for(self, body: dict) -> Iterator[None]:
        yield

    def remember(self, body: dict) -> None:
        pass


class Workspaces:
    """OAuth mode: a client per installed workspace, with that workspace's (refreshed) bot token."""

    oauth = True

    def __init__(self, rt: Runtime, config: OAuthConfig, base: WebClient, tokens: Tokens):
        self.rt = rt
        self.config = config
        self.base = base  # no token: its address, timeout and retry handlers are every workspace client's
        self.tokens = tokens
        self._local = threading.local()
        self._clients: dict[str, WebClient] = {}  # team -> the client of its current token
        self._seen: dict[tuple[str, str], Workspace] = {}
        self._lock = threading.Lock()

    @staticmethod
    def of_request(body: dict) -> Workspace | None:
        team = extract_team_id(body)
        return Workspace(team, extract_enterprise_id(body)) if team else None

    # -- clients ---------------------------------------------------------------------------------
    def client_for(self, ws: Workspace) -> WebClient:
        """The client with ``ws``'s bot token (refreshed first when it expires soon)."""
        try:
            found = self.tokens.installation(ws)
        except SlackTokenRotationError as exc:
            raise NotReachable("token_refresh_failed") from exc
        if found is None or not found.bot_token:
            raise NotReachable("not_installed")
        with self._lock:
            client = self._clients.get(ws.team_id)
            if client is None or client.token != found.bot_token:
                client = self._clients[ws.team_id] = WebClient(
                    token=found.bot_token, base_url=self.base.base_url, timeout=self.base.timeout,
                    retry_handlers=list(self.base.retry_handlers))
            return client

    def client(self) -> WebClient:
        """The client of the workspace whose request is being answered on this thread (no token outside one)."""
        ws = getattr(self._local, "workspace", None)
        if ws is None:
            return self.base
        try:
            return self.client_for(ws)
        except NotReachable:
            return self.base  # Bolt refused the request already; a call now answers not_authed

    def workspace_of(self, kind: str, address: str, person_id: int | None) -> Workspace:
        installed = workspaces.installed(self.rt.engine, self.config.client_id)
        ws = workspaces.workspace_of(self.rt.factory, kind, address, person_id, installed)
        if ws is None:
            raise NotReachable("no_workspace")
        return ws

    def for_user(self, user_id: str) -> WebClient:
        """The client for a Slack user (their App Home, a direct message), else the request's."""
        try:
            return self.client_for(self.workspace_of("person", user_id, None))
        except NotReachable:
            return self.client()

    def for_message(self, msg: Outgoing) -> WebClient:
        """The client of the workspace ``msg``'s recipient is in; a DeliveryError (retried) when there is none."""
        try:
            return self.client_for(self.workspace_of(msg.target_kind, msg.address, msg.person_id))
        except NotReachable as exc:
            raise DeliveryError(f"no Slack workspace of Parley's reaches this address: {exc.reason}",
                                reason=exc.reason) from None
        except (SlackApiError, SlackRequestError, OSError) as exc:  # Slack unreachable while refreshing: later
            raise DeliveryError("Slack did not answer while the token was refreshed", reason="unreachable") from exc

    # -- requests ----------------------------------------------------------------------------------
    @contextmanager
    def acting_for(self, body: dict) -> Iterator[None]:
        """Calls on this thread use the request's workspace until the block ends."""
        before = getattr(self._local, "workspace", None)
        self._local.workspace = self.of_request(body)
        try:
            yield
        finally:
            self._local.workspace = before

    def remember(self, body: dict) -> None:
        """Record the workspace of the request's user and channel (an authorised request: Slack signed it, and
        Parley is installed there), so that messages for them later use its token."""
        ws = self.of_request(body)
        if ws is None:
            return
        seen = {a: kind for kind, a in (("person", extract_user_id(body)), ("channel", extract_channel_id(body)))
                if a and self._seen.get((kind, a)) != ws}
        if not seen:
            return
        workspaces.remember(self.rt.factory, ws, seen)
        with self._lock:
            if len(self._seen) > SEEN_MAX:
                self._seen.clear()
            self._seen.update({(kind, a): ws for a, kind in seen.items()})
