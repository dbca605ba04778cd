"""Structured logs: one JSON object a line (or plain text for a terminal), never a subject detail or a
message body.

Parley's own log calls name things by id (case id, timer id, outbox id, action name), never by content. Two
guards make that hold for what libraries log too:

- the platform SDKs (slack_bolt, slack_sdk, botbuilder, aiohttp's access log) log whole request and response
  bodies at DEBUG; they are held at WARNING whatever ``PARLEY_LOG_LEVEL`` says;
- an exception's text can quote a payload (an API error echoing the message it refused, a refusal quoting
  what was typed): exceptions are logged as their type, an API error code or HTTP status where they carry
  one, and the frames they were raised from; never their text, and never traceback locals.

Configured by ``PARLEY_LOG_LEVEL`` (default INFO) and ``PARLEY_LOG_FORMAT`` (``json``, the default for the
servers and the scheduler, or ``text``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import traceback
from typing import TextIO

CHATTY = ("slack_bolt", "slack_sdk", "botbuilder", "botframework", "msrest", "aiohttp.access", "urllib3",
          "weasyprint", "fontTools", "matplotlib", "PIL")
STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
# extra fields Parley's code may attach (ids and counts only)
ALLOWED_EXTRA = {"case_id", "timer_id", "outbox_id", "prompt_id", "board", "platform", "action", "kind", "count",
                 "fired", "sent", "status", "attempt", "reason", "error", "boards", "rows", "retry_in"}


def _exception(record: logging.LogRecord) -> dict | None:
    """An exception as its type, an error code or HTTP status where the exception carries one, and where it
    was raised; never its text, which can quote what was being sent (an API error echoing a message)."""
    if not record.exc_info or record.exc_info[0] is None:
        return None
    etype, value, tb = record.exc_info
    frames = [f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} in {f.name}" for f in traceback.extract_tb(tb)]
    out: dict = {"type": etype.__name__, "at": frames[-6:]}
    response = getattr(value, "response", None)
    try:
        code = response.get("error") if response is not None and hasattr(response, "get") else None
    except Exception:  # noqa: BLE001 - a response object that is not a mapping
        code = None
    if isinstance(code, str) and len(code) <= 60 and code.replace("_", "").isalnum():
        out["error"] = code
    status = getattr(value, "status", None) or getattr(value, "status_code", None)
    if isinstance(status, int):
        out["status"] = status
    return out


OURS = ("parley", "__main__")
CUT = re.compile(r"""[(:\[{'"<]""")  # where a library's message starts quoting something (an error, a payload)


def message(record: logging.LogRecord) -> str:
    """The record's message without anything that could quote what was sent or stored: an exception given as an
    argument is named by its type; a library's message (slack_bolt writes "Failed to run listener function (error:
    <the exception's text>)", whose text can carry SQL parameters: a concern, a name) is kept up to where it
    starts quoting."""
    args = record.args
    if isinstance(args, tuple) and any(isinstance(a, BaseException) for a in args):
        args = tuple(type(a).__name__ if isinstance(a, BaseException) else a for a in args)
    try:
        text = str(record.msg) % args if args else str(record.msg)
    except (TypeError, ValueError):
        text = str(record.msg)
    if record.name.split(".")[0] in OURS:
        return text
    head = CUT.split(text, 1)[0].strip()
    return head if head == text.strip() else f"{head} (details withheld: they can quote what was sent)"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": message(record),
        }
        for key, value in record.__dict__.items():
            if key not in STANDARD and key in ALLOWED_EXTRA:
                out[key] = value if isinstance(value, (int, float, bool)) or value is None else str(value)[:100]
        exc = _exception(record)
        if exc:
            out["exception"] = exc
        return json.dumps(out, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(name)s %(levelname)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        exc = _exception(record)
        saved = record.exc_info, record.exc_text, record.msg, record.args
        record.exc_info, record.exc_text, record.msg, record.args = None, None, message(record), None
        try:
            line = super().format(record)
        finally:
            record.exc_info, record.exc_text, record.msg, record.args = saved
        if exc:
            code = exc.get("error") or exc.get("status") or ""
            line += f" [{exc['type']}{' ' + str(code) if code else ''} at {' < '.join(reversed(exc['at']))}]"
        return line


def configure(fmt: str | None = None, level: str | None = None, stream: TextIO | None = None) -> logging.Handler:
    """Replace the root logger's handlers with one structured handler; returns it."""
    fmt = (fmt or os.environ.get("PARLEY_LOG_FORMAT") or "json").lower()
    level_name = (level or os.environ.get("PARLEY_LOG_LEVEL") or "INFO").upper()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(TextFormatter() if fmt == "text" else JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level_name, logging.INFO))
    for name in CHATTY:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    return handler
