"""A small HTTP endpoint speaking the webhook transport's protocol, for the scheduler's process tests.

    with WebhookServer(post_delay=0.005) as server:
        env["PARLEY_WEBHOOK_URL"] = server.url
        ...
        server.posts          # every POST received, in order: Post(key, body, id)
        server.keys()         # the Idempotency-Key of each POST, in order (duplicates kept)

``POST /`` records the request (its ``Idempotency-Key`` header and JSON body) and answers
``{"id": "..."}``; ``GET /?key=K`` answers 200 ``{"id": ...}`` when a POST with that key was recorded,
else 404. Every POST is recorded, even a second one with the same key, so a test can count duplicates.
Failures, for the outbox's retries: ``fail(status, times=n, retry_after=s)`` (the next n POSTs answer
``status``: 429 with Retry-After, 500, 503 ...), ``refuse(address, status=403)`` (every POST to that address),
``slow(seconds, times=n)`` (the next n POSTs answer only after ``seconds``; nothing is recorded for them, as
when a platform drops a request it could not finish) and ``down(clock, until)`` (503 while
``clock.now() < until``, on a simulated clock). Nothing is recorded for a POST that fails.
The server is threaded (one thread per request) and binds 127.0.0.1 on an ephemeral port; the record is
guarded by a lock.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Post:
    key: str | None
    body: Any
    id: str


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the tests look at the record, not the log

    def _answer(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client was killed while waiting: what it sent stays recorded

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            self._answer(400, {"error": "not JSON"})
            return
        owner = self.server.owner
        failure = owner._failure(body)
        if failure is not None:
            status, delay, headers = failure
            if delay:
                time.sleep(delay)
            self._answer(status, {"error": "refused"}, headers)
            return
        if owner.post_delay:
            time.sleep(owner.post_delay)  # a slow platform: widens the window a kill can land in
        post = owner._record(self.headers.get("Idempotency-Key"), body)
        self._answer(200, {"id": post.id})

    def do_GET(self) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        key = (query.get("key") or [None])[0]
        owner = self.server.owner
        found = owner.find(key) if key is not None else None
        owner._note_lookup(key, found is not None)
        if found is None:
            self._answer(404, {"error": "no message with that key"})
        else:
            self._answer(200, {"id": found.id})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: WebhookServer


class WebhookServer:
    """Records POSTs; answers look-ups by idempotency key. Use as a context manager, or start()/stop()."""

    def __init__(self, post_delay: float = 0.0):
        self.post_delay = post_delay  # seconds to wait before answering each POST
        self._lock = threading.Lock()
        self._posts: list[Post] = []
        self._by_key: dict[str, Post] = {}
        self._lookups: list[tuple[str, bool]] = []
        self._failing: list[tuple[int, dict[str, str]]] = []
        self._slow: list[float] = []
        self.refused: dict[str, int] = {}
        self.outage: tuple[Any, Any] | None = None
        self.failed = 0  # POSTs answered with a failure
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._thread: threading.Thread | None = None

    # -- life ----------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> WebhookServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="webhook-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> WebhookServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- failures ------------------------------------------------------------------------------
    def fail(self, status: int, times: int = 1, retry_after: float | None = None) -> None:
        headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else {}
        with self._lock:
            self._failing.extend([(status, headers)] * times)

    def refuse(self, address: str, status: int = 403) -> None:
        with self._lock:
            self.refused[address] = status

    def slow(self, seconds: float, times: int = 1) -> None:
        with self._lock:
            self._slow.extend([seconds] * times)

    def down(self, clock: Any, until: Any) -> None:
        with self._lock:
            self.outage = (clock, until)

    def _failure(self, body: Any) -> tuple[int, float, dict[str, str]] | None:
        with self._lock:
            found: tuple[int, float, dict[str, str]] | None = None
            if self._slow:
                found = (503, self._slow.pop(0), {})
            elif self.outage is not None and self.outage[0].now() < self.outage[1]:
                found = (503, 0.0, {})
            elif self._failing:
                status, headers = self._failing.pop(0)
                found = (status, 0.0, headers)
            elif isinstance(body, dict) and body.get("address") in self.refused:
                found = (self.refused[body["address"]], 0.0, {})
            if found is not None:
                self.failed += 1
            return found

    # -- the record ----------------------------------------------------------------------------
    def _record(self, key: str | None, body: Any) -> Post:
        with self._lock:
            post = Post(key, body, f"wh-{len(self._posts) + 1}")
            self._posts.append(post)
            if key is not None:
                self._by_key.setdefault(key, post)  # a look-up answers with the first delivery's id
            return post

    def _note_lookup(self, key: str | None, found: bool) -> None:
        with self._lock:
            self._lookups.append((key or "", found))

    def find(self, key: str) -> Post | None:
        with self._lock:
            return self._by_key.get(key)

    @property
    def posts(self) -> list[Post]:
        with self._lock:
            return list(self._posts)

    def keys(self) -> list[str | None]:
        with self._lock:
            return [p.key for p in self._posts]

    def count(self) -> int:
        with self._lock:
            return len(self._posts)

    @property
    def lookups(self) -> list[tuple[str, bool]]:
        """Every GET ?key= look-up: (key, whether a POST with that key had been recorded)."""
        with self._lock:
            return list(self._lookups)
