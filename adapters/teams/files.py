"""Files offered in Teams through a link: a form's PDF or HTML (and an image too large to go inline in a card).

An Adaptive Card cannot carry a file, so the Teams adapter keeps the file's bytes in a folder on disk and puts
an ``Action.OpenUrl`` on the card pointing at ``{PARLEY_PUBLIC_URL}/files/<token>``, which the Teams server
(adapters/teams/server.py) serves. The token is 256 random bits (``secrets.token_urlsafe(32)``), so a link
cannot be guessed, and each link expires (``PARLEY_FILE_LINK_DAYS``, default 7 days): after that the server
answers 404 and the file is deleted. Files are written with owner-only permissions, data first and then a small
JSON record (name, media type, title, expiry), each by an atomic rename, so a reader never sees half a file.

The folder is ``{PARLEY_FILES_DIR}/teams-links`` (default ``./parley-files/teams-links``). Whichever process
delivers Teams messages writes there and the process serving the Teams endpoint reads there: in ``parley serve``
they are the same process; replicas behind a load balancer need the folder on a volume they share.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from bot.clock import Clock
from bot.messages import Attachment

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


class FileLinks:
    def __init__(self, folder: Path | str, base_url: str, clock: Clock, ttl: dt.timedelta = DEFAULT_TTL):
        self.folder = Path(folder)
        self.base_url = base_url.rstrip("/")  # public URL of the Teams app's root (where /files/ is served)
        self.clock = clock
        self.ttl = ttl

    @property
    def available(self) -> bool:
        """Links can be given out only when the public address is configured."""
        return bool(self.base_url)

    def _paths(self, token: str) -> tuple[Path, Path]:
        return self.folder / f"{token}.bin", self.folder / f"{token}.json"

    def publish(self, attachment: Attachment) -> Link | None:
        """Store the file and return its link (None when no public address is configured)."""
        if not self.available:
            log.warning("PARLEY_PUBLIC_URL is not set: %s cannot be offered through a link", attachment.filename)
            return None
        self.prune()
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        token = secrets.token_urlsafe(32)
        expires = self.clock.now() + self.ttl
        data_path, meta_path = self._paths(token)
        _write(data_path, attachment.data)
        _write(meta_path, json.dumps({"filename": attachment.filename, "media_type": attachment.media_type,
                                      "title": attachment.title, "expires_at": expires.isoformat()}).encode())
        return Link(f"{self.base_url}{ROUTE.format(token=token)}", expires)

    def get(self, token: str) -> StoredFile | None:
        """The file behind a token, or None when the token is malformed, unknown or expired (an expired file is
        deleted)."""
        if not TOKEN.match(token or ""):
            return None
        data_path, meta_path = self._paths(token)
        try:
            meta = json.loads(meta_path.read_text("utf-8"))
            expires = dt.datetime.fromisoformat(meta["expires_at"])
            if self.clock.now() >= expires:
                self._remove(token)
                return None
            return StoredFile(meta["filename"], meta["media_type"], meta["title"], expires, data_path.read_bytes())
        except (OSError, ValueError, KeyError):
            return None

    def prune(self) -> int:
        """Delete every expired file; returns how many."""
        if not self.folder.is_dir():
            return 0
        now = self.clock.now()
        gone = 0
        for meta_path in self.folder.glob("*.json"):
            try:
                expired = now >= dt.datetime.fromisoformat(json.loads(meta_path.read_text("utf-8"))["expires_at"])
            except (OSError, ValueError, KeyError):
                continue
            if expired:
                self._remove(meta_path.stem)
                gone += 1
        return gone

    def _remove(self, token: str) -> None:
        for path in self._paths(token):
            path.unlink(missing_ok=True)


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def from_environment(clock: Clock, *, prefix: str = "") -> FileLinks:
    """FileLinks configured by PARLEY_PUBLIC_URL (plus ``prefix``, e.g. "/teams" when the Teams app is mounted
    beside Slack's), PARLEY_FILES_DIR and PARLEY_FILE_LINK_DAYS."""
    public = os.environ.get("PARLEY_PUBLIC_URL", "").strip().rstrip("/")
    folder = Path(os.environ.get("PARLEY_FILES_DIR") or "parley-files") / "teams-links"
    days = float(os.environ.get("PARLEY_FILE_LINK_DAYS") or DEFAULT_TTL.days)
    return FileLinks(folder, f"{public}{prefix}" if public else "", clock, dt.timedelta(days=days))
