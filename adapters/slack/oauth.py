"""Parley in several Slack workspaces (OAuth mode, on when SLACK_CLIENT_ID is set): Slack's OAuth v2 install flow
through Bolt's ``OAuthFlow``, slack_sdk's installation and state stores in Parley's own database, and token
rotation.

- ``/slack/install`` sends the installer to Slack (with a one-time state, kept in the database and in a cookie);
  ``/slack/oauth_redirect`` takes Slack's answer, checks the state (a forged, reused or expired one is refused),
  exchanges the code at ``oauth.v2.access`` and stores the workspace's bot token, refresh token and expiry.
- Token rotation: a bot token is refreshed (``oauth.v2.access`` with ``grant_type=refresh_token``) when it expires
  within ``ROTATION_MINUTES``, by Bolt when a request comes in and by the outbox's deliveries
  (adapters/slack/workspaces.py), one refresh at a time per workspace (a thread lock, and on PostgreSQL an advisory
  lock across replicas), since Slack revokes a refresh token once it has been used. Each refresh is audited.
- A request from a workspace with no installation is refused (Bolt answers it plainly) and audited.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from slack_bolt import App, BoltResponse
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.authorize import InstallationStoreAuthorize
from slack_bolt.context import BoltContext
from slack_bolt.oauth import OAuthFlow
from slack_bolt.oauth.callback_options import CallbackOptions, FailureArgs, SuccessArgs
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.oauth.installation_store import Installation
from slack_sdk.oauth.token_rotation import TokenRotator

from bot.core.i18n import translator
from bot.delivery import workspaces
from bot.delivery.workspaces import Workspace
from bot.runtime import Runtime

log = logging.getLogger("parley.slack")
CLIENT_ID_ENV = "SLACK_CLIENT_ID"
CLIENT_SECRET_ENV = "SLACK_CLIENT_SECRET"
SCOPES_ENV = "SLACK_SCOPES"
PUBLIC_URL_ENV = "PARLEY_PUBLIC_URL"
INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
# the bot scopes of manifest/slack/manifest.yaml (tests/adapters/test_slack_oauth.py compares them)
DEFAULT_SCOPES = ("commands", "chat:write", "im:write", "im:history", "users:read", "users:read.email",
                  "channels:history", "groups:history", "files:write")
ROTATION_MINUTES = 120  # a bot token is refreshed when it expires within this (Bolt's default)
STATE_SECONDS = 600  # an install link's state lasts this long (Bolt's default)
REASON = re.compile(r"[a-z_]{1,40}")  # a failure reason safe to log and show (Slack's error codes are like this)


@dataclass(frozen=True)
class OAuthConfig:
    client_id: str
    client_secret: str
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    redirect_uri: str | None = None  # None: Slack uses the one redirect URL the app has
    authorize_url: str = "https://slack.com/oauth/v2/authorize"

    @classmethod
    def from_environment(cls, env: Mapping[str, str], api_base_url: str | None = None) -> OAuthConfig | None:
        """OAuth mode's settings, or None when SLACK_CLIENT_ID is not set (one workspace: SLACK_BOT_TOKEN)."""
        client_id = env.get(CLIENT_ID_ENV, "").strip()
        if not client_id:
            return None
        secret = env.get(CLIENT_SECRET_ENV, "").strip()
        if not secret:
            raise ValueError("SLACK_CLIENT_SECRET is needed with SLACK_CLIENT_ID (Basic Information → App "
                             "Credentials → Client Secret).")
        scopes = tuple(s.strip() for s in env.get(SCOPES_ENV, "").split(",") if s.strip()) or DEFAULT_SCOPES
        public = env.get(PUBLIC_URL_ENV, "").strip().rstrip("/")
        return cls(client_id, secret, scopes, f"{public}{REDIRECT_PATH}" if public else None,
                   authorize_url_for(api_base_url))


def authorize_url_for(api_base_url: str | None) -> str:
    """Slack's authorize page beside its Web API (https://slack.com/api/ -> https://slack.com/oauth/v2/authorize)."""
    base = (api_base_url or "https://slack.com/api/").rstrip("/")
    return (base[:-len("/api")] if base.endswith("/api") else base) + "/oauth/v2/authorize"


class Tokens:
    """Each installed workspace's bot token, refreshed before it expires: the one place both Bolt (requests) and the
    outbox (deliveries) get a token from."""

    def __init__(self, rt: Runtime, config: OAuthConfig, client: WebClient, minutes: int = ROTATION_MINUTES):
        self.rt = rt
        self.minutes = minutes
        self.store, self.states = workspaces.stores(rt.engine, config.client_id, STATE_SECONDS)
        self.rotator = TokenRotator(client_id=config.client_id, client_secret=config.client_secret, client=client)
        self._lock = threading.Lock()

    def _expiring(self, found: Installation) -> bool:
        expires = found.bot_token_expires_at
        return expires is not None and expires <= time.time() + self.minutes * 60

    def installation(self, ws: Workspace) -> Installation | None:
        """The workspace's installation with a bot token good for ``minutes`` yet, or None when not installed.
        Raises slack_sdk's SlackTokenRotationError when Slack refuses to refresh it."""
        found = self.store.find_installation(enterprise_id=ws.enterprise_id, team_id=ws.team_id)
        if found is None or found.bot_token is None:
            return None
        return self.refreshed(found) or found

    def refreshed(self, installation: Installation) -> Installation | None:
        """The installation with its bot token refreshed, when it expires soon (None when nothing changed). Read
        again under the lock: another thread or replica may have refreshed it already (its refresh token is then
        spent, and the new token is the one to use)."""
        if installation.bot_refresh_token is None or not self._expiring(installation):
            return None
        ws = Workspace(installation.team_id or "", installation.enterprise_id)
        with self._lock, workspaces.refresh_lock(self.rt.engine, ws):
            current = self.store.find_installation(enterprise_id=ws.enterprise_id, team_id=installation.team_id,
                                                   is_enterprise_install=installation.is_enterprise_install)
            if current is None or current.bot_token is None:
                return None
            if not self._expiring(current):
                return current if current.bot_token != installation.bot_token else None
            new = self.rotator.perform_token_rotation(installation=current, minutes_before_expiration=self.minutes)
            if new is None:
                return None
            self.store.save(new)
        log.info("Slack bot token refreshed", extra={"platform": "slack"})
        workspaces.audit(self.rt.factory, "slack_token_refreshed", ws, dt.datetime.now(dt.timezone.utc))
        return new


class ParleyAuthorize(InstallationStoreAuthorize):
    """Bolt's authorize for installed workspaces, with its token rotation done by ``Tokens`` (once per workspace
    at a time) and each refusal (no installation, a token Slack no longer accepts) audited."""

    def __init__(self, tokens: Tokens, config: OAuthConfig, client: WebClient, refused: Callable[[str | None], None]):
        super().__init__(logger=log, installation_store=tokens.store, client_id=config.client_id,
                         client_secret=config.client_secret, token_rotation_expiration_minutes=tokens.minutes,
                         cache_enabled=True, client=client)
        self.tokens = tokens
        self.refused = refused

    def _rotate_and_save_tokens_if_necessary(self, installation: Installation | None) -> Installation | None:
        return self.tokens.refreshed(installation) if installation is not None else None

    def __call__(self, *, context: BoltContext, enterprise_id: str | None, team_id: str | None,
                 user_id: str | None, **actors: Any) -> AuthorizeResult | None:
        result = super().__call__(context=context, enterprise_id=enterprise_id, team_id=team_id, user_id=user_id,
                                  **actors)
        if result is None:
            self.refused(team_id)
        return result


def _page(status: int, title: str, lines: list[str], cookie: str) -> BoltResponse:
    body = "".join(f"<p>{html.escape(line)}</p>" for line in lines)
    return BoltResponse(status=status, body=f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>'
                                            f'{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>'
                                            f"{body}</body></html>",
                        headers={"Content-Type": "text/html; charset=utf-8", "Set-Cookie": cookie})


def flow(rt: Runtime, config: OAuthConfig, tokens: Tokens, client: WebClient,
         served: Callable[[str | None], bool]) -> OAuthFlow:
    """Bolt's OAuthFlow with Parley's stores, pages (through the translator) and audit."""

    def success(args: SuccessArgs) -> BoltResponse:
        found = args.installation
        ws = Workspace(found.team_id or "", found.enterprise_id)
        workspaces.audit(rt.factory, "slack_installed", ws, dt.datetime.now(dt.timezone.utc))
        log.info("Parley installed in a Slack workspace", extra={"platform": "slack"})
        T = translator()
        lines = [T("Parley is now installed in the Slack workspace {name} ({team}).", name=found.team_name or "",
                   team=ws.team_id)]
        if not served(ws.team_id):
            lines.append(T("Before anyone there can use it, the business unit records {team} as the slack_team_id "
                           "of each agency that works in this workspace (agencies.csv, then parley directory "
                           "import).", team=ws.team_id))
        return _page(200, T("Parley is installed"), lines, args.settings.state_utils.build_set_cookie_for_deletion())

    def failure(args: FailureArgs) -> BoltResponse:
        reason = args.reason if REASON.fullmatch(args.reason or "") else "other"
        log.warning("Slack installation refused (%s)", reason, extra={"platform": "slack"})
        T = translator()
        return _page(args.suggested_status_code, T("Parley was not installed"),
                     [T("Slack's answer could not be accepted ({reason}): nothing was installed. Start again from "
                        "the install link, {link}.", reason=reason, link=INSTALL_PATH)],
                     args.settings.state_utils.build_set_cookie_for_deletion())

    settings = OAuthSettings(client_id=config.client_id, client_secret=config.client_secret,
                             scopes=list(config.scopes), user_scopes=[], redirect_uri=config.redirect_uri,
                             install_path=INSTALL_PATH, redirect_uri_path=REDIRECT_PATH,
                             install_page_rendering_enabled=False, authorization_url=config.authorize_url,
                             installation_store=tokens.store, token_rotation_expiration_minutes=tokens.minutes,
                             state_store=tokens.states, state_expiration_seconds=STATE_SECONDS,
                             callback_options=CallbackOptions(success=success, failure=failure), logger=log)
    # the flow's own warnings quote the code Slack sent: held back (the failure page logs its reason instead)
    quiet = logging.getLogger("parley.slack.oauth-flow")
    quiet.setLevel(logging.ERROR)
    return OAuthFlow(client=client, logger=quiet, settings=settings)


def register_uninstalls(app: App, rt: Runtime, tokens: Tokens) -> None:
    """A workspace that uninstalls Parley, or revokes its bot token, has its tokens deleted (audited)."""

    def gone(context: BoltContext) -> None:
        tokens.store.delete_all(enterprise_id=context.enterprise_id, team_id=context.team_id)
        workspaces.audit(rt.factory, "slack_uninstalled", Workspace(context.team_id or "", context.enterprise_id),
                         dt.datetime.now(dt.timezone.utc))

    def revoked(event: dict, context: BoltContext) -> None:
        if (event.get("tokens") or {}).get("bot"):
            gone(context)

    app.event("app_uninstalled")(gone)
    app.event("tokens_revoked")(revoked)
