"""Several Slack workspaces (OAuth mode) end to end over HTTP, against the Slack stand-in (tests/adapters/slack_mock.py,
strict about tokens and about which workspace a user or channel is in): Parley installed into two workspaces through
/slack/install -> Slack's authorize page -> /slack/oauth_redirect (the state checked; a forged, replayed or expired
state refused, nothing stored); requests from each workspace answered with that workspace's token, and each message
the outbox delivers sent with the token of the workspace its recipient is in (asserted on the token every call
carried); a token past its expiry refreshed (by Bolt for a request, by the outbox for a delivery; once, however many
threads need it) and the new one stored; a request from a workspace with no installation, or one the directory does
not record, refused and audited; an uninstall deleting the workspace's tokens."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_sdk.errors import SlackApiError
from sqlalchemy import select, update

from adapters.slack.oauth import DEFAULT_SCOPES, OAuthConfig, Tokens, authorize_url_for
from adapters.slack.server import build_adapter, from_environment, http_app
from bot.core.clock import FixedClock
from bot.delivery import workspaces
from bot.delivery.workspaces import Workspace
from bot.escalation.scheduler import Sweeper
from storage import repo
from storage.models import AgencyChannel, AuditEntry, OutboxMessage, PersonIdentity
from tests.adapters.slack_mock import MockSlack, sign
from tests.adapters.test_slack_e2e import Server
from tests.bot.test_conversation import open_swindon_case
from tests.conftest import LONDON, Chat, make_runtime

pytestmark = pytest.mark.e2e
SECRET = "oauth-signing-secret"
CLIENT_ID, CLIENT_SECRET = "1111.2222", "client-secret"
POLICE, COUNCIL, NHS, STRANGER = "TPOLICE", "TCOUNCIL", "TNHS", "TSTRANGER"
# who is in which workspace (the stand-in refuses another workspace's token for them, as Slack does)
MEMBERS = {POLICE: {"UALICE": "alice@swindon.example", "USAM": "sam@swindon.example"},
           COUNCIL: {"UBOB": "bob@swindon.example", "UMIA": "mia@swindon.example", "UUNA": "una@swindon.example"}}
CHANNELS = {POLICE: ("CPOLICEMGRS",), COUNCIL: ("CCSCMGRS",)}
LINKED = {"alice": "UALICE", "sam": "USAM", "bob": "UBOB", "mia": "UMIA"}  # una is found by e-mail
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def get(url: str, cookie: str | None = None) -> tuple[int, Any, str]:
    """A browser's GET, redirects not followed: (status, headers, body)."""
    req = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.build_opener(NoRedirect).open(req, timeout=10) as resp:
            return resp.status, resp.headers, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read().decode()


@dataclass
class Env:
    rt: Any
    mock: MockSlack
    server: Server
    adapter: Any
    clock: FixedClock

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    # -- the installer's browser -----------------------------------------------------------------
    def start_install(self) -> tuple[str, str]:
        """/slack/install: (Slack's authorize URL, the state cookie)."""
        status, headers, _ = get(f"{self.base}/slack/install")
        assert status == 302, status
        cookie = headers["Set-Cookie"].split(";")[0]
        assert cookie.startswith("slack-app-oauth-state=")
        return headers["Location"], cookie

    def approve(self, authorize_url: str, team: str, user: str = "UINSTALLER") -> str:
        """The installer approves Parley in ``team`` at Slack: Slack's redirect to Parley, with a code."""
        status, headers, _ = get(f"{authorize_url}&{urllib.parse.urlencode({'team': team, 'user': user})}")
        assert status == 302, status
        return headers["Location"]

    def install(self, team: str) -> tuple[int, str]:
        authorize, cookie = self.start_install()
        status, _, body = get(self.approve(authorize, team), cookie)
        return status, body

    # -- Slack's signed requests from one workspace ------------------------------------------------
    def post(self, body: str, ctype: str) -> tuple[int, str]:
        status, text, _ = self.server.post(body, ctype, sign(SECRET, body))
        return status, text

    def event(self, team: str, event: dict[str, Any]) -> tuple[int, str]:
        body = json.dumps({"token": "x", "team_id": team, "api_app_id": "A0PARLEY", "type": "event_callback",
                           "event_id": f"Ev{time.monotonic_ns()}", "event_time": int(time.time()), "event": event})
        return self.post(body, "application/json")

    def command(self, team: str, user: str, text: str, channel: str | None = None) -> tuple[int, str]:
        body = urllib.parse.urlencode({"token": "x", "team_id": team, "user_id": user, "command": "/parley",
                                       "text": text, "trigger_id": f"trig-{time.monotonic_ns()}",
                                       "response_url": self.mock.url.replace("/api/", "/respond/1"),
                                       "channel_id": channel or "D" + user})
        return self.post(body, "application/x-www-form-urlencoded")

    def click(self, team: str, user: str, action_id: str, value: str, channel: str, ts: str) -> tuple[int, str]:
        payload = {"type": "block_actions", "user": {"id": user, "team_id": team}, "team": {"id": team},
                   "api_app_id": "A0PARLEY", "trigger_id": f"trig-{time.monotonic_ns()}",
                   "channel": {"id": channel}, "container": {"type": "message", "channel_id": channel,
                                                             "message_ts": ts},
                   "actions": [{"action_id": action_id, "value": value, "type": "button", "block_id": "b",
                                "action_ts": str(time.time())}]}
        return self.post(urllib.parse.urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")

    # -- what happened ---------------------------------------------------------------------------------
    def stored_token(self, team: str) -> str | None:
        found = self.adapter.workspaces.tokens.store.find_installation(enterprise_id=None, team_id=team)
        return found.bot_token if found else None

    def audit(self, kind: str) -> list[dict]:
        with self.rt.factory() as s:
            return [a.data for a in s.scalars(select(AuditEntry).where(AuditEntry.kind == kind)
                                              .order_by(AuditEntry.id))]


def _setup_directory(rt) -> None:
    with rt.factory() as s:
        for key, uid in LINKED.items():
            s.add(PersonIdentity(person_id=repo.person_by_key("swindon", key, session=s).id, platform="slack",
                                 external_id=uid))
        for agency, channel, team in (("police", "CPOLICEMGRS", POLICE), ("social-care", "CCSCMGRS", COUNCIL)):
            a = repo.agency_by_key("swindon", agency, session=s)
            a.slack_team_id = team  # agencies.csv's slack_team_id
            s.add(AgencyChannel(agency_id=a.id, level="line_manager", platform="slack", address=channel))
        repo.agency_by_key("swindon", "health", session=s).slack_team_id = NHS  # recorded, never installed
        s.commit()


@contextmanager
def oauth_env(rt) -> Iterator[Env]:
    _setup_directory(rt)
    clock = FixedClock(dt.datetime(2026, 4, 2, 10, 0, tzinfo=LONDON))
    port = free_port()
    with MockSlack() as mock:
        for team, users in MEMBERS.items():
            mock.workspace(team, team.title(), users=users, channels=CHANNELS[team])
        mock.workspace(STRANGER, "Stranger", users={"UX": "x@elsewhere.example"})
        redirect = f"http://127.0.0.1:{port}/slack/oauth_redirect"  # PARLEY_PUBLIC_URL + /slack/oauth_redirect
        mock.oauth_app(CLIENT_ID, CLIENT_SECRET, redirect)
        config = OAuthConfig(CLIENT_ID, CLIENT_SECRET, DEFAULT_SCOPES, redirect, authorize_url_for(mock.url))
        adapter = build_adapter(rt, clock, token=None, signing_secret=SECRET, base_url=mock.url, oauth=config)
        adapter.transport.pace = 0
        server = Server(http_app(adapter.app), port=port)
        try:
            yield Env(rt, mock, server, adapter, clock)
        finally:
            server.stop()
            adapter.work.shutdown(wait=True, cancel_futures=True)


@pytest.fixture
def oauth(sqlite_runtime) -> Iterator[Env]:
    with oauth_env(sqlite_runtime) as env:
        yield env


@pytest.fixture
def oauth_any_db(runtime) -> Iterator[Env]:
    with oauth_env(runtime) as env:
        yield env


@pytest.fixture
def oauth_pg(pg_url: str) -> Iterator[Env]:
    rt = make_runtime(pg_url)
    try:
        with oauth_env(rt) as env:
            yield env
    finally:
        rt.engine.dispose()


def raise_case(env: Env) -> str:
    """Alice (police) raises a difference with Bob (council) in her Slack conversation with Parley."""
    return open_swindon_case(Chat(env.rt, env.clock, platform="slack"))


def team_of_token(env: Env, token: str | None) -> str | None:
    info = env.mock.tokens.get(token or "")
    return info.team if info else None


def where(env: Env, call) -> str | None:
    """The workspace a call's user or channel is in, as the stand-in (Slack) knows it: independent of Parley."""
    user = call.args.get("users") or call.args.get("user") or call.args.get("user_id")
    channel = str(call.args.get("channel") or "")
    if channel and channel in env.mock.channel_teams:
        return env.mock.channel_teams[channel]
    if channel.startswith("D"):
        return env.mock.members.get(channel[1:])
    return env.mock.members.get(str(user)) if user else None


def test_two_workspaces_installed_and_each_reached_with_its_own_token(oauth_any_db: Env) -> None:
    env, mock = oauth_any_db, oauth_any_db.mock
    for team in (POLICE, COUNCIL):
        status, page = env.install(team)
        assert status == 200 and f"installed in the Slack workspace {team.title()} ({team})" in page
        assert "slack_team_id" not in page  # the directory records both already
    # Slack was asked as it requires: the app's id and secret, the code, the redirect URL given to authorize
    exchanges = mock.of("oauth.v2.access")
    assert [c.token for c in exchanges] == [f"basic:{CLIENT_ID}"] * 2
    assert all(c.args["redirect_uri"] == f"{env.base}/slack/oauth_redirect" and c.args["code"] for c in exchanges)
    authorize = mock.of("oauth/v2/authorize")
    assert [c.args["scope"] for c in authorize] == [",".join(DEFAULT_SCOPES)] * 2
    assert {w.team_id for w in workspaces.installed(env.rt.engine, CLIENT_ID)} == {POLICE, COUNCIL}
    tokens = {team: env.stored_token(team) for team in (POLICE, COUNCIL)}
    assert tokens == {team: mock.tokens_of(team)[0] for team in (POLICE, COUNCIL)}
    assert all(t.startswith("xoxe.xoxb-") for t in tokens.values())  # token rotation is on
    assert env.audit("slack_installed") == [{"team": POLICE}, {"team": COUNCIL}]

    # a request from each workspace is answered with that workspace's token
    assert env.event(POLICE, {"type": "app_home_opened", "user": "UALICE", "tab": "home"})[0] == 200
    assert env.event(COUNCIL, {"type": "app_home_opened", "user": "UBOB", "tab": "home"})[0] == 200
    homes = {c.args["user_id"]: c.token for c in mock.wait_for("views.publish", count=2)}
    assert homes == {"UALICE": tokens[POLICE], "UBOB": tokens[COUNCIL]}
    # una (business unit, no agency) writes from the council's workspace: found by e-mail with its token
    assert env.event(COUNCIL, {"type": "message", "channel_type": "im", "user": "UUNA", "text": "help",
                               "channel": "DUUNA"})[0] == 200
    una = mock.wait_for("chat.postMessage", lambda c: c.args.get("channel") == "DUUNA")[0]
    assert una.token == tokens[COUNCIL]
    assert {c.token for c in mock.of("users.info") if c.args.get("user") == "UUNA"} == {tokens[COUNCIL]}

    # Alice (police) raises a difference with Bob (council), who has never written to Parley: the outbox reaches
    # him with the council's token (his agency's recorded workspace)
    raise_case(env)
    env.adapter.deliverer.deliver()
    to_bob = [c for c in mock.of("chat.postMessage") if c.args.get("channel") == "DUBOB"]
    assert to_bob and {c.token for c in to_bob} == {tokens[COUNCIL]}
    # the stage lapses: each agency's managers' channel gets its prompt through its own workspace
    env.clock.set(dt.datetime(2026, 4, 9, 9, 30, tzinfo=LONDON))
    Sweeper(env.rt.factory, env.clock).fire_due()
    env.adapter.deliverer.deliver()
    prompts = {c.args["channel"]: c for c in mock.of("chat.postMessage") if c.args["channel"].startswith("C")}
    assert {ch: c.token for ch, c in prompts.items()} == {"CPOLICEMGRS": tokens[POLICE],
                                                          "CCSCMGRS": tokens[COUNCIL]}
    # Sam acknowledges in the police channel: both prompts are updated in place, each with its workspace's token
    ack = next(e for b in prompts["CPOLICEMGRS"].args["blocks"] if b["type"] == "actions" for e in b["elements"]
               if e["action_id"].startswith("esc.ack"))
    ts = mock.history["CPOLICEMGRS"][0]["ts"]
    assert env.click(POLICE, "USAM", ack["action_id"], ack["value"], "CPOLICEMGRS", ts)[0] == 200
    updates = {c.args["channel"]: c.token for c in mock.wait_for("chat.update", count=2)}
    assert updates == {"CPOLICEMGRS": tokens[POLICE], "CCSCMGRS": tokens[COUNCIL]}
    assert mock.wait_for("chat.postEphemeral", lambda c: c.args.get("user") == "USAM")[0].token == tokens[POLICE]
    # every call Parley made used the token of the workspace its user or channel is in, and Slack accepted them all
    with mock._lock:
        calls = [c for c in mock.calls if c.token and not c.token.startswith("basic:")]
    assert calls and all(where(env, c) in (None, team_of_token(env, c.token)) for c in calls), \
        [(c.method, c.args.get("channel"), c.token) for c in calls if where(env, c) != team_of_token(env, c.token)]
    assert all(team_of_token(env, c.token) in (POLICE, COUNCIL) for c in calls)


def test_a_forged_replayed_or_expired_state_installs_nothing(oauth: Env) -> None:
    env, mock = oauth, oauth.mock
    authorize, cookie = env.start_install()
    back = env.approve(authorize, POLICE)
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(back).query)["code"][0]
    # a state Parley never issued, in the link and the cookie alike
    forged = f"{env.base}/slack/oauth_redirect?{urllib.parse.urlencode({'code': code, 'state': 'forged'})}"
    status, _, page = get(forged, "slack-app-oauth-state=forged")
    assert status == 401 and "Parley was not installed" in page and "invalid_state" in page
    # the real state without the installer's cookie (another browser)
    status, _, page = get(back)
    assert status == 400 and "invalid_browser" in page
    assert not mock.of("oauth.v2.access") and env.stored_token(POLICE) is None
    # the real one works once; replayed, it is refused
    status, _, page = get(back, cookie)
    assert status == 200 and env.stored_token(POLICE)
    status, _, page = get(back, cookie)
    assert status == 401 and "invalid_state" in page
    assert len(mock.of("oauth.v2.access")) == 1
    # a state past its expiry (600 s) is refused, and the code never exchanged
    authorize, cookie = env.start_install()
    back = env.approve(authorize, COUNCIL)
    with env.rt.engine.begin() as conn:  # the install link was opened 11 minutes ago
        states = workspaces.stores(env.rt.engine, CLIENT_ID, 600)[1].oauth_states
        conn.execute(update(states).values(expire_at=dt.datetime.now(dt.UTC).replace(tzinfo=None)
                                           - dt.timedelta(seconds=60)))
    status, _, page = get(back, cookie)
    assert status == 401 and "invalid_state" in page
    assert env.stored_token(COUNCIL) is None and len(mock.of("oauth.v2.access")) == 1
    # the installer cancels at Slack: Slack's error is shown, nothing stored
    status, _, page = get(f"{env.base}/slack/oauth_redirect?error=access_denied&state=x", cookie)
    assert status == 200 and "access_denied" in page and env.stored_token(COUNCIL) is None
    assert env.audit("slack_installed") == [{"team": POLICE}]


def test_requests_from_a_workspace_without_parley_or_unknown_to_the_directory_are_refused(oauth: Env) -> None:
    env, mock = oauth, oauth.mock
    assert env.install(POLICE)[0] == 200
    # NHS: recorded for the health agency, but Parley was never installed there
    status, body = env.event(NHS, {"type": "app_home_opened", "user": "UHANA", "tab": "home"})
    assert status == 200 and "not installed in this Slack workspace" in body
    assert env.command(NHS, "UHANA", "list")[0] == 200
    told = mock.wait_for("/respond/1")[0]
    assert "not installed in this Slack workspace" in json.dumps(told.args)
    # a stranger installs Parley into their own workspace: told the directory must record it; refused until then
    status, page = env.install(STRANGER)
    assert status == 200 and "records TSTRANGER as the slack_team_id" in page
    status, body = env.event(STRANGER, {"type": "message", "channel_type": "im", "user": "UX", "text": "list",
                                        "channel": "DUX"})
    assert status == 200 and body == ""
    time.sleep(0.5)
    assert not mock.of("views.publish") and not mock.of("chat.postMessage") and not mock.of("users.info")
    assert [(r["reason"], r["team"]) for r in env.audit("refused")] == [
        ("not_installed", NHS), ("not_installed", NHS), ("other_workspace", STRANGER)]
    # SLACK_TEAM_ID names a workspace no agency records (e.g. the board's own): then it is served
    env.adapter.teams = (STRANGER,)
    assert env.event(STRANGER, {"type": "app_home_opened", "user": "UX", "tab": "home"})[0] == 200
    assert mock.wait_for("views.publish")[0].token == env.stored_token(STRANGER)


def test_an_expired_token_is_refreshed_once_by_bolt_and_by_the_outbox(oauth: Env) -> None:
    env, mock = oauth, oauth.mock
    mock.lifetime = 2  # the tokens issued at install expire in 2 seconds
    assert env.install(POLICE)[0] == 200 and env.install(COUNCIL)[0] == 200
    first = {team: env.stored_token(team) for team in (POLICE, COUNCIL)}
    mock.lifetime = 43200  # the refreshed ones last 12 hours
    time.sleep(2.2)
    with pytest.raises(SlackApiError) as expired:  # Slack no longer takes it
        build_client(mock, first[POLICE]).auth_test()
    assert expired.value.response["error"] == "token_expired"
    # a request from the police workspace: Bolt refreshes its token, then answers with the new one
    assert env.event(POLICE, {"type": "app_home_opened", "user": "UALICE", "tab": "home"})[0] == 200
    home = mock.wait_for("views.publish")[0]
    assert home.token == env.stored_token(POLICE) != first[POLICE]
    assert home.token == mock.tokens_of(POLICE)[-1]
    # a delivery to Bob (council): the outbox refreshes the council's token, from several threads at once once
    ws = Workspace(COUNCIL)
    got: list[str | None] = []
    threads = [threading.Thread(target=lambda: got.append(env.adapter.workspaces.client_for(ws).token))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    refreshes = [c for c in mock.of("oauth.v2.access") if c.args.get("grant_type") == "refresh_token"]
    assert len(refreshes) == 2  # one a workspace: the police's (Bolt) and the council's (4 threads, one refresh)
    assert len(set(got)) == 1 and got[0] == env.stored_token(COUNCIL) == mock.tokens_of(COUNCIL)[-1]
    raise_case(env)
    env.adapter.deliverer.deliver()
    to_bob = mock.wait_for("chat.postMessage", lambda c: c.args.get("channel") == "DUBOB")
    assert {c.token for c in to_bob} == {env.stored_token(COUNCIL)}
    assert [r["team"] for r in env.audit("slack_token_refreshed")] == [POLICE, COUNCIL]
    # a refresh token once spent is refused by Slack: why two threads or replicas must never both refresh
    with pytest.raises(SlackApiError) as spent:
        build_client(mock, None).oauth_v2_access(client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                                                 grant_type="refresh_token",
                                                 refresh_token=refreshes[1].args["refresh_token"])
    assert spent.value.response["error"] == "invalid_refresh_token"


@pytest.mark.postgres
def test_two_replicas_refresh_a_workspaces_token_once(oauth_pg: Env) -> None:
    """Two Parley processes on one PostgreSQL database (each with its own thread lock) need the council's expired
    token at once: the advisory lock lets one refresh it; the other reads the new token."""
    env, mock = oauth_pg, oauth_pg.mock
    mock.lifetime = 2
    assert env.install(COUNCIL)[0] == 200
    mock.lifetime = 43200
    time.sleep(2.2)
    replicas = [env.adapter.workspaces.tokens, Tokens(env.rt, env.adapter.workspaces.config, env.adapter.workspaces.base)]
    got: list[str | None] = []
    threads = [threading.Thread(target=lambda r=r: got.append(r.installation(Workspace(COUNCIL)).bot_token))
               for r in replicas * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert len([c for c in mock.of("oauth.v2.access") if c.args.get("grant_type") == "refresh_token"]) == 1
    assert len(got) == 6 and set(got) == {env.stored_token(COUNCIL)} == {mock.tokens_of(COUNCIL)[-1]}


def test_the_outbox_refreshes_a_token_that_expired_while_nothing_happened(oauth: Env) -> None:
    env, mock = oauth, oauth.mock
    mock.lifetime = 2
    assert env.install(COUNCIL)[0] == 200
    first = env.stored_token(COUNCIL)
    mock.lifetime = 43200
    time.sleep(2.2)
    raise_case(env)  # Bob is told: a delivery, no request from Slack
    env.adapter.deliverer.deliver()
    to_bob = mock.wait_for("chat.postMessage", lambda c: c.args.get("channel") == "DUBOB")
    assert {c.token for c in to_bob} == {env.stored_token(COUNCIL)} and first != env.stored_token(COUNCIL)
    assert not [c for c in mock.calls if c.token == first and c.method != "auth.test"]


def test_a_message_for_a_workspace_parley_cannot_tell_waits_and_is_retried(oauth: Env) -> None:
    env, mock = oauth, oauth.mock
    assert env.install(POLICE)[0] == 200 and env.install(STRANGER)[0] == 200
    with env.rt.factory() as s:  # the council's workspace is no longer recorded, and Parley is not installed there
        repo.agency_by_key("swindon", "social-care", session=s).slack_team_id = None
        s.commit()
    raise_case(env)
    env.adapter.deliverer.deliver()
    assert not [c for c in mock.of("chat.postMessage") if c.args.get("channel") == "DUBOB"]
    assert not [c for c in mock.of("conversations.open") if c.args.get("users") == "UBOB"]  # no token was tried
    with env.rt.factory() as s:
        rows = s.scalars(select(OutboxMessage).where(OutboxMessage.address == "UBOB")).all()
        assert rows and all(r.state == "pending" and r.last_error and "no_workspace" in r.last_error for r in rows)
    # once the directory says where Bob's agency is, and Parley is installed there, the message goes
    with env.rt.factory() as s:
        repo.agency_by_key("swindon", "social-care", session=s).slack_team_id = COUNCIL
        s.commit()
    assert env.install(COUNCIL)[0] == 200
    with env.rt.factory() as s:  # its next attempt is due
        for r in s.scalars(select(OutboxMessage).where(OutboxMessage.address == "UBOB")):
            r.next_attempt_at = env.clock.now() - dt.timedelta(minutes=1)
        s.commit()
    env.adapter.deliverer.deliver()
    to_bob = mock.wait_for("chat.postMessage", lambda c: c.args.get("channel") == "DUBOB")
    assert {c.token for c in to_bob} == {env.stored_token(COUNCIL)}


def test_an_uninstalled_workspace_has_its_tokens_deleted_and_is_refused(oauth: Env) -> None:
    env, mock = oauth, oauth.mock
    assert env.install(POLICE)[0] == 200 and env.install(COUNCIL)[0] == 200
    assert env.event(COUNCIL, {"type": "app_uninstalled"})[0] == 200
    deadline = time.monotonic() + 5
    while env.stored_token(COUNCIL) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert env.stored_token(COUNCIL) is None and env.stored_token(POLICE)
    assert env.audit("slack_uninstalled") == [{"team": COUNCIL}]
    status, body = env.event(COUNCIL, {"type": "app_home_opened", "user": "UBOB", "tab": "home"})
    assert status == 200 and "not installed" in body
    assert env.event(POLICE, {"type": "app_home_opened", "user": "UALICE", "tab": "home"})[0] == 200
    assert mock.wait_for("views.publish")[0].token == env.stored_token(POLICE)


def build_client(mock: MockSlack, token: str | None):
    from slack_sdk import WebClient

    return WebClient(token=token, base_url=mock.url)


# -- configuration --------------------------------------------------------------------------------------------
def test_the_default_scopes_are_the_manifests_bot_scopes() -> None:
    manifest = yaml.safe_load((ROOT / "manifest" / "slack" / "manifest.yaml").read_text("utf-8"))
    assert DEFAULT_SCOPES == tuple(manifest["oauth_config"]["scopes"]["bot"])


def test_oauth_mode_is_on_when_slack_client_id_is_set() -> None:
    assert OAuthConfig.from_environment({"SLACK_BOT_TOKEN": "xoxb-1"}) is None
    config = OAuthConfig.from_environment({"SLACK_CLIENT_ID": " 1.2 ", "SLACK_CLIENT_SECRET": "s",
                                           "PARLEY_PUBLIC_URL": "https://parley.example.org/"})
    assert config == OAuthConfig("1.2", "s", DEFAULT_SCOPES, "https://parley.example.org/slack/oauth_redirect",
                                 "https://slack.com/oauth/v2/authorize")
    scoped = OAuthConfig.from_environment({"SLACK_CLIENT_ID": "1", "SLACK_CLIENT_SECRET": "s",
                                           "SLACK_SCOPES": "commands, chat:write"}, "http://127.0.0.1:9/api/")
    assert scoped is not None and scoped.scopes == ("commands", "chat:write") and scoped.redirect_uri is None
    assert scoped.authorize_url == "http://127.0.0.1:9/oauth/v2/authorize"
    with pytest.raises(ValueError, match="SLACK_CLIENT_SECRET"):
        OAuthConfig.from_environment({"SLACK_CLIENT_ID": "1"})


@pytest.mark.parametrize(("env", "problem"), [
    ({"SLACK_CLIENT_ID": "1", "SLACK_CLIENT_SECRET": "s", "SLACK_SIGNING_SECRET": "x", "SLACK_BOT_TOKEN": "xoxb-1"},
     "not both"),
    ({"SLACK_CLIENT_ID": "1", "SLACK_CLIENT_SECRET": "s", "SLACK_SIGNING_SECRET": "x", "SLACK_APP_TOKEN": "xapp-1"},
     "unset SLACK_APP_TOKEN"),
    ({"SLACK_CLIENT_ID": "1", "SLACK_CLIENT_SECRET": "s"}, "SLACK_SIGNING_SECRET is needed"),
    ({"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET is needed"),
])
def test_a_slack_configuration_that_cannot_work_is_refused_in_words(sqlite_runtime, env, problem) -> None:
    with pytest.raises(ValueError, match=problem):
        from_environment(sqlite_runtime, FixedClock(dt.datetime(2026, 4, 2, 10, tzinfo=LONDON)), env)


def test_serving_as_the_environment_says(sqlite_runtime) -> None:
    clock = FixedClock(dt.datetime(2026, 4, 2, 10, tzinfo=LONDON))
    assert from_environment(sqlite_runtime, clock, {}) is None
    several = from_environment(sqlite_runtime, clock, {"SLACK_CLIENT_ID": "1", "SLACK_CLIENT_SECRET": "s",
                                                       "SLACK_SIGNING_SECRET": "x"})
    assert several is not None and several.socket is None and several.web_app is not None
    routes = {r.resource.canonical for r in several.web_app.router.routes()}  # type: ignore[union-attr]
    assert {"/slack/events", "/slack/install", "/slack/oauth_redirect"} <= routes
    assert several.adapter.workspaces.oauth
    one = from_environment(sqlite_runtime, clock, {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "x"})
    assert one is not None and not one.adapter.workspaces.oauth and one.web_app is not None
    assert "/slack/install" not in {r.resource.canonical for r in one.web_app.router.routes()}  # type: ignore[union-attr]
    for serving in (several, one):
        serving.adapter.work.shutdown(wait=False)


def test_parley_serve_refuses_a_bot_token_and_a_client_id_at_once(tmp_path: Path) -> None:
    parley = Path(sys.executable).with_name("parley")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MICROSOFT_"))}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'p.db'}", SLACK_BOT_TOKEN="xoxb-1", SLACK_CLIENT_ID="1.2",
               SLACK_CLIENT_SECRET="s", SLACK_SIGNING_SECRET="x")
    subprocess.run([str(parley), "db", "upgrade"], env=env, check=True, capture_output=True, timeout=120)
    done = subprocess.run([str(parley), "serve", "--port", "0"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1 and "not both" in done.stderr, done.stderr


def test_a_refresh_slack_fails_keeps_the_message_for_the_next_attempt(oauth: Env) -> None:
    env, mock = oauth, oauth.mock
    mock.lifetime = 2
    assert env.install(COUNCIL)[0] == 200
    mock.lifetime = 43200
    time.sleep(2.2)
    mock.fail("oauth.v2.access", 503, times=3)  # the client's own two retries, then the outbox's
    raise_case(env)
    env.adapter.deliverer.deliver()
    assert not [c for c in mock.of("chat.postMessage") if c.args.get("channel") == "DUBOB"]
    with env.rt.factory() as s:
        rows = s.scalars(select(OutboxMessage).where(OutboxMessage.address == "UBOB")).all()
        assert rows and all(r.state == "pending" and "token_refresh_failed" in (r.last_error or "") for r in rows)
        for r in rows:  # the next attempt is due
            r.next_attempt_at = env.clock.now() - dt.timedelta(minutes=1)
        s.commit()
    env.adapter.deliverer.deliver()
    to_bob = mock.wait_for("chat.postMessage", lambda c: c.args.get("channel") == "DUBOB")
    assert {c.token for c in to_bob} == {env.stored_token(COUNCIL)} == {mock.tokens_of(COUNCIL)[-1]}
