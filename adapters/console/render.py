"""Render bot.core.messages objects as terminal text. Buttons and choices become numbered options; a message's files
(a digest's chart, a form) are saved in the console's files folder and their paths printed."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from bot.core.i18n import Translator, translator
from bot.core.messages import Attachment, Message, Severity
from bot.core.routes import Route

DEFAULT_FILES_DIR = "parley-files"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def files_dir() -> Path:
    """Where the console saves files: PARLEY_FILES_DIR, default ./parley-files."""
    return Path(os.environ.get("PARLEY_FILES_DIR") or DEFAULT_FILES_DIR)


def save_attachment(a: Attachment, folder: Path) -> Path:
    """Save the file as ``<first 12 hex of its SHA-256>-<its name>`` (only safe characters), so the same file is
    saved once however often it is shown, and two files of the same name never overwrite each other."""
    name = _UNSAFE.sub("-", Path(a.filename).name).strip(".-") or "file"
    path = folder / f"{hashlib.sha256(a.data).hexdigest()[:12]}-{name}"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(a.data)
        os.replace(tmp, path)
    return path.resolve()

ICONS = {
    Severity.INFO: "",
    Severity.SUCCESS: "\u2714 ",
    Severity.WARNING: "\u26a0 ",
    Severity.URGENT: "\U0001f6a8 ",
    Severity.ERROR: "\u2716 ",
}


@dataclass(frozen=True)
class Option:
    kind: str  # "answer" (a prompt choice) | "button"
    action: str
    value: str


def render(message: Message, indent: str = "", T: Translator | None = None,
           files: Path | None = None) -> tuple[str, list[Option]]:
    """Text for the message and the numbered options it offers, in order. Its files are saved in ``files``
    (default: :func:`files_dir`) and listed with their paths."""
    T = T or translator()
    lines: list[str] = []
    options: list[Option] = []
    icon = ICONS.get(message.severity, "")
    if message.title:
        title = f"{icon}{message.title}"
        lines.append(title.upper() if message.severity is Severity.URGENT else title)
        icon = ""
    if message.text:
        for i, line in enumerate(message.text.splitlines()):
            lines.append(f"{icon if i == 0 else ''}{line}")
    for f in message.fields:
        lines.append(f"  {f.label}: {f.value}")
    if message.prompt and message.prompt.choices:
        for c in message.prompt.choices:
            options.append(Option("answer", Route.ANSWER, c.value))
            lines.append(f"  [{len(options)}] {c.label}")
    if message.prompt and message.prompt.hint:  # in the reader's language: how to answer, or the answer kept so far
        lines.extend("  " + ln for ln in message.prompt.hint.splitlines())
    for a in message.attachments:
        path = save_attachment(a, files if files is not None else files_dir())
        lines.append("  \U0001f4ce " + T("{title}: saved to {path}", title=a.title or a.filename, path=path))
    if message.buttons:
        labels = []
        for b in message.buttons:
            options.append(Option("button", b.action, b.value))
            labels.append(f"[{len(options)}] {b.label}")
        lines.append("  " + "   ".join(labels))
    return "\n".join(indent + ln for ln in lines), options
