"""A local stand-in for Slack: the Web API (every call recorded, realistic answers) and a request signer.

Point slack_sdk's WebClient at ``MockSlack.url`` (its ``base_url``). The server also accepts the
``response_url`` posts that slash-command ``respond()`` makes, and ``apps.connections.open`` returns the
URL of a Socket Mode server if one was given. File uploads (``files_upload_v2``) work as Slack's do:
``files.getUploadURLExternal`` hands out an upload URL on this server, the bytes are POSTed there (kept in
``uploads``), and ``files.completeUploadExternal`` shares the files into a channel, as a reply in the thread
when ``thread_ts`` is given (``conversations.replies`` returns them).

Failures, as strict as Slack's (for the outbox's retries):
- ``fail(method, status, times=n, retry_after=s)``: the next n calls answer HTTP ``status`` (429 with
  ``Retry-After``, 500, 503 ...);
- ``refuse(address, error="channel_not_found", status=200)``: every post to that channel (or ``conversations.open``
  of that user) answers ``ok: false`` with Slack's error (``status`` 403/404 for an HTTP refusal);
- ``slow(method, seconds, times=n)``: the next n calls answer only after ``seconds`` (a client with a shorter
  timeout gives up);
- ``down(clock, until)``: every call answers 503 while ``clock.now() < until`` (an outage on the simulated clock).

Tokens, as strict as Slack's: every Web API call must carry a token Slack issued (``not_authed`` without one,
``invalid_auth`` for one it never issued, ``token_expired`` past its expiry, ``token_revoked`` once revoked), a bot
token for the Web API and an app-level token (``xapp-``) for ``apps.connections.open``; each recorded ``Call`` says
which token it used. ``xoxb-test`` (workspace T1, never expires) and ``xapp-test`` exist from the start. A workspace's
members and channels (``member``, ``channel_in``) are reachable only with that workspace's token: another's answers
``user_not_found`` / ``channel_not_found``, as Slack does.

Several workspaces (OAuth v2): ``oauth_app(client_id, client_secret, redirect_url)`` registers the app. The browser's
visit to ``/oauth/v2/authorize?...&team=T&user=U`` (the authorize URL Parley's ``/slack/install`` redirects to, plus
the workspace and the installing user the test picks) answers 302 to the redirect URL with a one-time ``code`` and the
``state``; ``oauth.v2.access`` checks the client id and secret (HTTP Basic, as slack_sdk sends them), the code (once,
within 10 minutes, for that app) and the ``redirect_uri`` (the one given to authorize), and issues a bot token for the
workspace: with token rotation (the default) an expiring ``xoxe.xoxb-`` token (``lifetime`` seconds, 12 hours unless
set) and a refresh token; ``grant_type=refresh_token`` spends a refresh token (``invalid_refresh_token`` when used
again) for a new pair.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    at: float = field(default_factory=time.monotonic)
    token: str | None = None  # the Bearer token the call carried (oauth.v2.access: "basic:" and the client id)


@dataclass
class Token:
    team: str
    kind: str = "bot"  # bot | app
    expires_at: float | None = None  # time.time() seconds; None: never
    revoked: bool = False


@dataclass
class OAuthApp:
    client_secret: str
    redirect_urls: list[str]
    rotation: bool = True


@dataclass
class Grant:  # an authorization code, or a refresh token
    client_id: str
    team: str
    user: str
    scope: str
    redirect_uri: str | None = None
    at: float = field(default_factory=time.time)
    used: bool = False


NO_TOKEN = ("oauth.v2.access",)  # authenticated by the app's client id and secret instead
CODE_SECONDS = 600

class MockSlack:
    def __init__(self, emails: dict[str, str] | None = None, names: dict[str, str] | None = None,
                 locales: dict[str, str] | None = None):
        self.locales = locales or {}  # user -> Slack locale (users.info with include_locale)
        self.calls: list[Call] = []
        self.history: dict[str, list[dict[str, Any]]] = {}
        self.emails = emails or {}
        self.names = names or {}
        # conversations.info: channel id -> whether the bot is in it; a channel not listed is one Slack will not
        # show the bot (private, or unknown): channel_not_found, as Slack answers
        self.channels: dict[str, bool] = {}
        self.socket_url: str | None = None
        self.fail_next: dict[str, tuple[int, dict[str, str]]] = {}  # method -> (status, headers), once
        self.failing: dict[str, list[tuple[int, dict[str, str]]]] = {}  # method -> answers still to give
        self.refused: dict[str, tuple[str, int]] = {}  # channel or user -> (Slack error, HTTP status)
        self.slowness: dict[str, list[float]] = {}  # method -> delays still to apply
        self.outage: tuple[Any, Any] | None = None  # (clock, until)
        self.uploads: dict[str, bytes] = {}  # file id -> the bytes POSTed to its upload URL
        self.files: dict[str, dict[str, Any]] = {}  # file id -> {"id", "name", "length", "alt_txt", "title"}
        self.replies: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (channel, thread ts) -> replies
        self._files = itertools.count(1)
        self._ts = itertools.count(1)
        self._views = itertools.count(1)
        self.open_views: dict[str, str] = {}  # modals opened (views.open, views.push): id -> current hash
        self._issued = itertools.count(1)
        self._lock = threading.Lock()
        self.tokens: dict[str, Token] = {"xoxb-test": Token("T1"), "xapp-test": Token("T1", "app")}
        self.team_names: dict[str, str] = {"T1": "Test"}
        self.members: dict[str, str] = {}  # user id -> its workspace (users not listed: any workspace's)
        self.channel_teams: dict[str, str] = {}  # channel id -> its workspace (channels not listed: any)
        self.apps: dict[str, OAuthApp] = {}  # client id -> the OAuth app
        self.codes: dict[str, Grant] = {}
        self.refresh: dict[str, Grant] = {}
        self.lifetime = 43200  # seconds a rotating token lasts (Slack: 12 hours)
        mock = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                if self.path.startswith("/oauth/v2/authorize"):  # the installer's browser at Slack
                    status, location = mock.authorize(self.path)
                    self.send_response(status)
                    if location:
                        self.send_header("Location", location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length)
                if self.path.startswith("/upload/"):  # step 2 of files_upload_v2: the file's bytes
                    status = mock.receive_upload(self.path.rsplit("/", 1)[-1], data)
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain")
                    self.end_headers()
                    self.wfile.write(b"OK")
                    return
                raw = data.decode()
                ctype = self.headers.get("Content-Type", "")
                if "json" in ctype:
                    args = json.loads(raw or "{}")
                else:
                    args = {k: v[0] for k, v in urllib.parse.parse_qs(raw).items()}
                    for k, v in list(args.items()):
                        if isinstance(v, str) and v[:1] in "[{":
                            try:
                                args[k] = json.loads(v)
                            except ValueError:
                                pass
                method = self.path.strip("/").split("/", 1)[-1] if self.path.startswith("/api/") else self.path
                delay = mock.delay(method)
                if delay:
                    time.sleep(delay)
                status, body, headers = mock.answer(method, args, self.headers.get("Authorization"))
                payload = json.dumps(body).encode()
                try:
                    self._reply(status, headers, payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (its timeout): as with Slack, the call may have had effect

            def _reply(self, status: int, headers: dict[str, str], payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> MockSlack:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- failures -----------------------------------------------------------------------------------
    def fail(self, method: str, status: int, times: int = 1, retry_after: float | None = None) -> None:
        headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else {}
        with self._lock:
            self.failing.setdefault(method, []).extend([(status, headers)] * times)

    def refuse(self, address: str, error: str = "channel_not_found", status: int = 200) -> None:
        with self._lock:
            self.refused[address] = (error, status)

    def slow(self, method: str, seconds: float, times: int = 1) -> None:
        with self._lock:
            self.slowness.setdefault(method, []).extend([seconds] * times)

    def down(self, clock: Any, until: Any) -> None:
        with self._lock:
            self.outage = (clock, until)

    def delay(self, method: str) -> float:
        with self._lock:
            waits = self.slowness.get(method)
            return waits.pop(0) if waits else 0.0

    def _failure(self, method: str, args: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        if self.outage is not None and self.outage[0].now() < self.outage[1]:
            return 503, {"ok": False, "error": "service_unavailable"}, {}
        queued = self.failing.get(method)
        if queued:
            status, headers = queued.pop(0)
            return status, {"ok": False, "error": "ratelimited" if status == 429 else "fatal_error"}, headers
        target = args.get("channel") if method in ("chat.postMessage", "chat.update") else (
            args.get("users") if method == "conversations.open" else None)
        if target is not None and str(target) in self.refused:
            error, status = self.refused[str(target)]
            return status, {"ok": False, "error": error}, {}
        return None

    # -- workspaces, tokens and the OAuth app -----------------------------------------------------------
    def oauth_app(self, client_id: str, client_secret: str, redirect_url: str, rotation: bool = True) -> None:
        with self._lock:
            self.apps[client_id] = OAuthApp(client_secret, [redirect_url], rotation)

    def workspace(self, team: str, name: str, *, users: dict[str, str] | None = None,
                  channels: tuple[str, ...] = ()) -> None:
        """A workspace, its members (user id -> e-mail address) and its channels."""
        with self._lock:
            self.team_names[team] = name
            for user, email in (users or {}).items():
                self.members[user] = team
                self.emails[user] = email
            self.channel_teams.update({c: team for c in channels})

    def tokens_of(self, team: str) -> list[str]:
        """The bot tokens issued for a workspace, oldest first."""
        with self._lock:
            return [t for t, info in self.tokens.items() if info.team == team and info.kind == "bot"
                    and t != "xoxb-test"]

    def authorize(self, path: str) -> tuple[int, str | None]:
        """The installer approves the app in workspace ``team`` (as ``user``): a code for the redirect URL."""
        q = {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(path).query).items()}
        with self._lock:
            self.calls.append(Call("oauth/v2/authorize", q))
            app = self.apps.get(q.get("client_id", ""))
            if app is None or not q.get("scope") or not q.get("team"):
                return 400, None
            redirect = q.get("redirect_uri")
            if redirect is not None and redirect not in app.redirect_urls:
                return 400, None  # bad_redirect_uri
            code = f"code-{next(self._issued)}"
            self.codes[code] = Grant(q["client_id"], q["team"], q.get("user", "UINSTALLER"), q["scope"], redirect)
            target = redirect or app.redirect_urls[0]
            return 302, f"{target}?{urllib.parse.urlencode({'code': code, 'state': q.get('state', '')})}"

    def _issue(self, client_id: str, grant: Grant) -> dict[str, Any]:
        app = self.apps[client_id]
        n = next(self._issued)
        token = f"xoxe.xoxb-{grant.team}-{n}" if app.rotation else f"xoxb-{grant.team}-{n}"
        self.tokens[token] = Token(grant.team, expires_at=time.time() + self.lifetime if app.rotation else None)
        out: dict[str, Any] = {"ok": True, "access_token": token, "token_type": "bot", "scope": grant.scope,
                               "bot_user_id": f"UB{grant.team}", "app_id": "A0PARLEY",
                               "team": {"id": grant.team, "name": self.team_names.get(grant.team, grant.team)},
                               "enterprise": None, "is_enterprise_install": False}
        if app.rotation:
            refresh = f"xoxe-1-{grant.team}-{n}"
            self.refresh[refresh] = Grant(client_id, grant.team, grant.user, grant.scope)
            out.update(refresh_token=refresh, expires_in=self.lifetime)
        return out

    def _oauth_access(self, args: dict[str, Any], basic: tuple[str, str] | None) -> dict[str, Any]:
        client_id, secret = basic or (str(args.get("client_id", "")), str(args.get("client_secret", "")))
        app = self.apps.get(client_id)
        if app is None:
            return {"ok": False, "error": "invalid_client_id"}
        if secret != app.client_secret:
            return {"ok": False, "error": "bad_client_secret"}
        if args.get("grant_type") == "refresh_token":
            grant = self.refresh.get(str(args.get("refresh_token")))
            if grant is None or grant.used or grant.client_id != client_id:
                return {"ok": False, "error": "invalid_refresh_token"}
            grant.used = True  # Slack revokes a refresh token once it is used
            return self._issue(client_id, grant)
        grant = self.codes.pop(str(args.get("code")), None)  # a code works once
        if grant is None or grant.client_id != client_id or time.time() - grant.at > CODE_SECONDS:
            return {"ok": False, "error": "invalid_code"}
        if grant.redirect_uri is not None and args.get("redirect_uri") != grant.redirect_uri:
            return {"ok": False, "error": "bad_redirect_uri"}
        return {**self._issue(client_id, grant), "authed_user": {"id": grant.user}}

    def _auth_problem(self, method: str, token: str | None) -> str | None:
        if token is None:
            return "not_authed"
        found = self.tokens.get(token)
        if found is None:
            return "invalid_auth"
        if found.revoked:
            return "token_revoked"
        if found.expires_at is not None and time.time() >= found.expires_at:
            return "token_expired"
        if (found.kind == "app") != (method == "apps.connections.open"):
            return "not_allowed_token_type"
        return None

    def _elsewhere(self, method: str, args: dict[str, Any], team: str) -> str | None:
        """A user or channel of another workspace than the token's: Slack cannot see it."""
        user = args.get({"conversations.open": "users", "users.info": "user", "chat.postEphemeral": "user",
                         "views.publish": "user_id"}.get(method, ""))
        if user and self.members.get(str(user), team) != team:
            return "user_not_found"
        channel = args.get("channel_id" if method == "files.completeUploadExternal" else "channel")
        if channel:
            channel = str(channel)
            owner = self.channel_teams.get(channel) or (self.members.get(channel[1:]) if channel[:1] == "D" else None)
            if owner is not None and owner != team:
                return "channel_not_found"
        return None

    # -- answers ------------------------------------------------------------------------------------
    def answer(self, method: str, args: dict[str, Any], authorization: str | None = None
               ) -> tuple[int, dict[str, Any], dict[str, str]]:
        token, basic = None, None
        if authorization and authorization.startswith("Bearer "):
            token = authorization[len("Bearer "):]
        elif authorization and authorization.startswith("Basic "):
            client_id, _, secret = base64.b64decode(authorization[len("Basic "):]).decode().partition(":")
            basic = (client_id, secret)
        with self._lock:
            self.calls.append(Call(method, args, token=token or (f"basic:{basic[0]}" if basic else None)))
            if method in self.fail_next:
                status, headers = self.fail_next.pop(method)
                return status, {"ok": False, "error": "ratelimited" if status == 429 else "fatal_error"}, headers
            failure = self._failure(method, args)
            if failure is not None:
                return failure
            if method in NO_TOKEN:
                return 200, self._oauth_access(args, basic), {}
            if not method.startswith("/respond/"):
                problem = self._auth_problem(method, token)
                if problem is None and token is not None:
                    problem = self._elsewhere(method, args, self.tokens[token].team)
                if problem:
                    return 200, {"ok": False, "error": problem}, {}
            if method == "auth.test":
                if token == "xoxb-test":
                    return 200, {"ok": True, "user_id": "UBOT", "bot_id": "BBOT", "team_id": "T1", "team": "Test"}, {}
                team = self.tokens[token].team  # type: ignore[index]
                return 200, {"ok": True, "url": f"https://{team.lower()}.slack.com/", "team": self.team_names.get(
                    team, team), "team_id": team, "user_id": f"UB{team}", "bot_id": f"B{team}",
                             "is_enterprise_install": False}, {}
            if method == "conversations.open":
                return 200, {"ok": True, "channel": {"id": "D" + str(args.get("users"))}}, {}
            if method in ("chat.postMessage", "chat.update"):
                channel = args["channel"]
                ts = args.get("ts") or f"{1700000000 + next(self._ts)}.000100"
                msg = {"ts": ts, "text": args.get("text"), "blocks": args.get("blocks"), "user": "UBOT",
                       "metadata": args.get("metadata")}
                hist = self.history.setdefault(channel, [])
                if method == "chat.update":
                    for i, m in enumerate(hist):
                        if m["ts"] == ts:
                            hist[i] = {**m, **{k: v for k, v in msg.items() if v is not None}}
                else:
                    hist.insert(0, msg)
                return 200, {"ok": True, "channel": channel, "ts": ts, "message": msg}, {}
            if method == "chat.postEphemeral":
                return 200, {"ok": True, "message_ts": f"{1700000000 + next(self._ts)}.000200"}, {}
            if method == "views.update":  # as Slack: only a view it opened, at its current hash when one is given
                view_id = str(args.get("view_id") or "")
                if view_id not in self.open_views:
                    return 200, {"ok": False, "error": "not_found"}, {}
                if args.get("hash") and args["hash"] != self.open_views[view_id]:
                    return 200, {"ok": False, "error": "hash_conflict"}, {}
                view = dict(args.get("view") or {})
                view.update(id=view_id, hash=f"h{next(self._views)}")
                self.open_views[view_id] = view["hash"]
                return 200, {"ok": True, "view": view}, {}
            if method in ("views.open", "views.push", "views.publish"):
                view = dict(args.get("view") or {})
                view.update(id=f"V{next(self._views)}", hash=f"h{next(self._views)}")
                if method != "views.publish":
                    self.open_views[view["id"]] = view["hash"]
                return 200, {"ok": True, "view": view}, {}
            if method == "conversations.info":
                channel = str(args.get("channel"))
                if channel not in self.channels:
                    return 200, {"ok": False, "error": "channel_not_found"}, {}
                return 200, {"ok": True, "channel": {"id": channel, "is_channel": True,
                                                     "is_member": self.channels[channel]}}, {}
            if method == "users.info":
                user = args.get("user")
                found = {"id": user, "real_name": self.names.get(user, f"User {user}"),
                         "profile": {"email": self.emails.get(user)}}
                if str(args.get("include_locale")).lower() in ("true", "1") and user in self.locales:
                    found["locale"] = self.locales[user]
                return 200, {"ok": True, "user": found}, {}
            if method == "files.getUploadURLExternal":
                fid = f"F{next(self._files):04d}"
                self.files[fid] = {"id": fid, "name": args.get("filename"), "length": int(args.get("length") or 0),
                                   "alt_txt": args.get("alt_txt")}
                base = self.url.rsplit("/api/", 1)[0]
                return 200, {"ok": True, "upload_url": f"{base}/upload/{fid}", "file_id": fid}, {}
            if method == "files.completeUploadExternal":
                shared = []
                for f in args.get("files") or []:
                    info = self.files.get(f.get("id"))
                    if info is None or info["id"] not in self.uploads:
                        return 200, {"ok": False, "error": "file_not_found"}, {}
                    info["title"] = f.get("title")
                    shared.append(dict(info))
                channel = args.get("channel_id")
                if channel:
                    msg = {"ts": f"{1700000000 + next(self._ts)}.000300", "user": "UBOT", "files": shared,
                           "text": args.get("initial_comment") or ""}
                    thread = args.get("thread_ts")
                    if thread:
                        msg["thread_ts"] = thread
                        self.replies.setdefault((channel, thread), []).append(msg)
                        for parent in self.history.get(channel, []):
                            if parent["ts"] == thread:
                                parent["reply_count"] = len(self.replies[(channel, thread)])
                    else:
                        self.history.setdefault(channel, []).insert(0, msg)
                return 200, {"ok": True, "files": shared}, {}
            if method == "conversations.replies":
                channel, ts = args.get("channel"), args.get("ts")
                parent = [m for m in self.history.get(channel, []) if m["ts"] == ts]
                return 200, {"ok": True, "messages": parent + self.replies.get((channel, ts), [])}, {}
            if method == "conversations.history":
                return 200, {"ok": True, "messages": self.history.get(args.get("channel"), [])}, {}
            if method == "apps.connections.open":
                return 200, {"ok": True, "url": self.socket_url}, {}
            if method.startswith("/respond/"):
                return 200, {"ok": True}, {}
            return 200, {"ok": False, "error": "unknown_method"}, {}

    def receive_upload(self, file_id: str, data: bytes) -> int:
        with self._lock:
            self.calls.append(Call("upload", {"file_id": file_id, "length": len(data)}))
            if "upload" in self.fail_next:
                return self.fail_next.pop("upload")[0]
            info = self.files.get(file_id)
            if info is None or info["length"] != len(data):
                return 400
            self.uploads[file_id] = data
            return 200

    def shared_files(self, channel: str) -> list[dict[str, Any]]:
        """Every file shared in ``channel``, in its messages and their threads, oldest first."""
        with self._lock:
            msgs = list(reversed(self.history.get(channel, [])))
            msgs += [r for (c, _), rs in self.replies.items() if c == channel for r in rs]
            return [{**f, "data": self.uploads.get(f["id"]), "thread_ts": m.get("thread_ts")}
                    for m in msgs for f in m.get("files") or []]

    # -- queries --------------------------------------------------------------------------------------
    def of(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def forms(self, predicate=lambda view: True, timeout: float = 10.0, count: int = 1) -> list[dict[str, Any]]:
        """The forms shown in modals (a view with a callback_id, opened or filled in with views.open or
        views.update), oldest first, once ``count`` match."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = [c.args["view"] for c in self.calls if c.method in ("views.open", "views.update")
                         and (c.args.get("view") or {}).get("callback_id") and predicate(c.args["view"])]
            if len(found) >= count or time.monotonic() >= deadline:
                break
            time.sleep(0.02)
        assert len(found) >= count, f"no form in a modal after {timeout}s; calls: {[c.method for c in self.calls]}"
        return found

    def wait_for(self, method: str, predicate=lambda c: True, timeout: float = 10.0, count: int = 1
                 ) -> list[Call]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [c for c in self.of(method) if predicate(c)]
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"no {method} call matching after {timeout}s; calls: "
                             f"{[c.method for c in self.calls]}")


def sign(secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack sends with a request: v0 HMAC-SHA256 of 'v0:{timestamp}:{body}'."""
    ts = str(timestamp if timestamp is not None else int(time.time()))
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}
