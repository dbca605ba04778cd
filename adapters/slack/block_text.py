"""What every Block Kit payload is built from: Slack's limits, Parley's own choices, and text (cleaning, mrkdwn
escaping, cutting to a limit counted as Slack counts, splitting into sections). See :mod:`adapters.slack.blocks`.
"""

from __future__ import annotations

from bot.core.routes import Route
import re

from slack_sdk.models.blocks import (
    MarkdownTextObject,
    PlainTextObject,
)



# -- Slack's limits (https://docs.slack.dev/reference/block-kit) ------------------------------------------
MESSAGE_MAX_BLOCKS = 50
VIEW_MAX_BLOCKS = 100
SECTION_TEXT_MAX = 3000
SECTION_FIELDS_MAX = 10
FIELD_TEXT_MAX = 2000
HEADER_TEXT_MAX = 150
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
ACTIONS_MAX_ELEMENTS = 25
CONTEXT_MAX_ELEMENTS = 10
ACTION_ID_MAX = 255
BLOCK_ID_MAX = 255
OPTIONS_MAX = 100
OPTION_GROUPS_MAX = 100
RADIO_OPTIONS_MAX = 10
OPTION_TEXT_MAX = 75
OPTION_VALUE_MAX = 150
VIEW_TITLE_MAX = 24  # also submit and close
CALLBACK_ID_MAX = 255
PRIVATE_METADATA_MAX = 3000
INPUT_LABEL_MAX = 2000
INPUT_HINT_MAX = 2000
PLACEHOLDER_MAX = 150
TEXT_INPUT_MAX = 3000
TEXT_OBJECT_MAX = 3000
MESSAGE_TEXT_MAX = 4000  # chat.postMessage ``text``: Slack's recommended maximum (it truncates at 40,000)

# -- Parley's own choices -------------------------------------------------------------------------------
MAX_TEXT_SECTIONS = 3  # longer message text is cut (with "View full record" when there is a case)
RADIO_MAX_CHOICES = 3  # a choice field with at most this many choices is shown as radio buttons
FALLBACK_MAX = 3000
VALUE_ACTION_ID = "value"  # the action_id of every input element in a modal
ANSWER_ACTION = Route.ANSWER
VIEW_ACTION = Route.VIEW
ELLIPSIS = "\u2026"


_STRIP = re.compile("[\u202a-\u202e\u2066-\u2069\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SUFFIX = re.compile(r"~\d+$")


# -- text -------------------------------------------------------------------------------------------------
def clean(text: str | None) -> str:
    """Drop bidi override/isolate controls and control characters (keeping tabs and newlines)."""
    return _STRIP.sub("", (text or "").replace("\r\n", "\n").replace("\r", "\n"))


def escape(text: str | None) -> str:
    """Escape user text for Slack mrkdwn: ``&`` ``<`` ``>`` become entities, so mention and link syntax is
    shown as typed and never pings or links anyone. Also :func:`clean`\\ s the text."""
    return clean(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def ulen(text: str) -> int:
    """Length in UTF-16 code units (an emoji outside the BMP counts 2): never less than Slack's count."""
    return len(text.encode("utf-16-le")) // 2


def _width(ch: str, escaped: bool) -> int:
    if escaped and ch in "&<>":
        return 5 if ch == "&" else 4
    return 2 if ord(ch) > 0xFFFF else 1


def _fit(text: str, limit: int, *, escaped: bool) -> tuple[int, bool]:
    """How many characters of ``text`` fit in ``limit`` units (after escaping when ``escaped``)."""
    used = 0
    for i, ch in enumerate(text):
        used += _width(ch, escaped)
        if used > limit:
            return i, False
    return len(text), True


def cut_to(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` units, without an ellipsis (for values that are data, not prose)."""
    return text[:_fit(text, limit, escaped=False)[0]]


def truncate(text: str | None, limit: int) -> str:
    """Cleaned ``text`` cut to ``limit`` units, ending in an ellipsis when cut (for plain_text)."""
    text = clean(text)
    _, whole = _fit(text, limit, escaped=False)
    return text if whole else text[:_fit(text, limit - 1, escaped=False)[0]].rstrip() + ELLIPSIS


def escape_truncate(text: str | None, limit: int) -> str:
    """:func:`escape` of ``text`` cut to ``limit`` units without splitting an entity (for mrkdwn)."""
    text = clean(text)
    _, whole = _fit(text, limit, escaped=True)
    if whole:
        return escape(text)
    return escape(text[:_fit(text, limit - 1, escaped=True)[0]].rstrip()) + ELLIPSIS


def text_chunks(text: str, limit: int, max_chunks: int) -> tuple[list[str], bool]:
    """Split cleaned text into at most ``max_chunks`` escaped pieces of at most ``limit`` units each,
    preferring line breaks, then spaces. Returns the pieces and whether anything was cut off."""
    text = clean(text).strip("\n")
    out: list[str] = []
    while text and len(out) < max_chunks:
        last = len(out) == max_chunks - 1
        n, whole = _fit(text, limit, escaped=True)
        if whole:
            out.append(escape(text))
            return out, False
        if last:
            n = _fit(text, limit - 1, escaped=True)[0]
        cut = text.rfind("\n", 0, n)
        if cut < n // 2:
            cut = text.rfind(" ", 0, n)
        if cut < n // 2:
            cut = n
        piece, text = text[:cut].rstrip(), text[cut:]
        if text[:1] in ("\n", " "):
            text = text[1:]
        if last:
            out.append(escape(piece) + ELLIPSIS)
            return out, True
        if piece:
            out.append(escape(piece))
    return out, bool(text)


def mrkdwn(text: str) -> MarkdownTextObject:
    """An mrkdwn object for text that is already escaped (verbatim: no auto-linking or mention parsing)."""
    return MarkdownTextObject(text=text or " ", verbatim=True)


def plain(text: str, limit: int) -> PlainTextObject:
    return PlainTextObject(text=truncate(text, limit) or "-", emoji=True)


def action_of(action_id: str) -> str:
    """The routing key of a Slack action_id: ``"case.view~2"`` → ``"case.view"``, ``"answer~3"`` → ``"answer"``."""
    return _SUFFIX.sub("", action_id or "")
