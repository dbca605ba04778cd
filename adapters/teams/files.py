"""Files offered in Teams through a link: a form's PDF or HTML (and an image too large to go inline in a card).

An Adaptive Card cannot carry a file, so the Teams adapter stores the file through the runtime (in the database,
encrypted like the subject details, since a form carries them) and puts an ``Action.OpenUrl`` on the card
pointing at ``{PARLEY_PUBLIC_URL}/files/<token>``, which the Teams server (adapters/teams/server.py) serves. The
token is 256 random bits (``secrets.token_urlsafe(32)``), so a link cannot be guessed; the database keeps only
its SHA-256, so reading the database gives no working link. Each link expires (``PARLEY_FILE_LINK_DAYS``,
default 7 days): after that the server answers 404 and the file is deleted. Any process or replica can serve a
file another one produced (the scheduler delivering a Teams message, the server answering the click).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import secrets
from dataclasses import dataclass
from typing import Protocol

from bot.core.clock import Clock
from bot.core.messages import Attachment

log = logging.getLogger("parley.teams.files")
DEFAULT_TTL = dt.timedelta(days=7)
ROUTE = "/files/{token}"
TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")  # what secrets.token_urlsafe(32) gives


@dataclass(frozen=True)
class Link:
    url: str
    expires_at: dt.datetime


@dataclass(frozen=True)
class StoredFile:
    filename: str
    media_type: str
    title: str
    expires_at: dt.datetime
    data: bytes


class FileStore(Protocol):
    """Where link files live (bot.runtime.Runtime: the database)."""

    def put_file(self, token: str, *, filename: str, media_type: str, title: str, data: bytes,
                 expires_at: dt.datetime) -> None: ...

    def get_file(self, token: str, now: dt.datetime) -> tuple[str, str, str, dt.datetime, bytes] | None: ...

    def prune_files(self, now: dt.datetime) -> int: ...


class FileLinks:
    def __init__(self, store: FileStore, base_url: str, clock: Clock, ttl: dt.timedelta = DEFAULT_TTL):
        self.store = store
        self.base_url = base_url.rstrip("/")  # public URL of the Teams app's root (where /files/ is served)
        self.clock = clock
        self.ttl = ttl

    @property
    def available(self) -> bool:
        """Links can be given out only when the public address is configured."""
        return bool(self.base_url)

    def publish(self, attachment: Attachment) -> Link | None:
        """Store the file and return its link (None when no public address is configured)."""
        if not self.available:
            log.warning("PARLEY_PUBLIC_URL is not set: a file cannot be offered through a link")
            return None
        self.prune()
        token = secrets.token_urlsafe(32)
        expires = self.clock.now() + self.ttl
        self.store.put_file(token, filename=attachment.filename, media_type=attachment.media_type,
                            title=attachment.title, data=attachment.data, expires_at=expires)
        return Link(f"{self.base_url}{ROUTE.format(token=token)}", expires)

    def get(self, token: str) -> StoredFile | None:
        """The file behind a token, or None when the token is malformed, unknown or expired (an expired file is
        deleted)."""
        if not TOKEN.match(token or ""):
            return None
        found = self.store.get_file(token, self.clock.now())
        return StoredFile(*found) if found is not None else None

    def prune(self) -> int:
        """Delete every expired file; returns how many."""
        return self.store.prune_files(self.clock.now())


def from_environment(store: FileStore, clock: Clock, *, prefix: str = "") -> FileLinks:
    """FileLinks configured by PARLEY_PUBLIC_URL (plus ``prefix``, e.g. "/teams" when the Teams app is mounted
    beside Slack's) and PARLEY_FILE_LINK_DAYS."""
    public = os.environ.get("PARLEY_PUBLIC_URL", "").strip().rstrip("/")
    days = float(os.environ.get("PARLEY_FILE_LINK_DAYS") or DEFAULT_TTL.days)
    return FileLinks(store, f"{public}{prefix}" if public else "", clock, dt.timedelta(days=days))
