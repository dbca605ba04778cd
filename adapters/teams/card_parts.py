"""What every Teams card is built from: Teams' and Adaptive Cards' rules, Parley's budgets (in bytes as sent),
safe text (cleaning, markdown escaping, cutting to a budget, one TextBlock per line) and actions
(``Action.Execute`` with its ``Action.Submit`` fallback; more than six go under "N more"). See
:mod:`adapters.teams.cards` for the rules these follow.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.core.messages import SEVERITY_EMOJI, Severity
from bot.core.routes import Route

if TYPE_CHECKING:
    pass


# -- Teams' and Adaptive Cards' rules ------------------------------------------------------------------------
CARD_VERSION = "1.5"  # Teams clients render Adaptive Cards up to 1.5
CARD_SCHEMA_URL = "http://adaptivecards.io/schemas/adaptive-card.json"
SCHEMA_FILE = "adaptive-card-1.5.schema.json"
MAX_ACTIONS = 6  # Teams' host config shows at most 6 actions on a card (and on each ShowCard card)
CARD_MAX_BYTES = 28_000  # Teams rejects messages over about 28 KB

# -- Parley's own budgets, in bytes as sent (see :func:`nbytes`) ----------------------------------------------
TITLE_MAX = 400
TEXT_MAX = 6_000  # the whole of a message's text (or a form's intro) across its TextBlocks
TEXT_BLOCKS_MAX = 40  # one TextBlock per line; more lines than this are cut
FACTS_MAX = 15
FACT_TITLE_MAX = 120
FACT_VALUE_MAX = 500
HINT_MAX = 600
ERROR_MAX = 600
FALLBACK_TEXT_MAX = 1_000
ACTION_TITLE_MAX = 100
BUTTON_FIT = 36  # characters of a button title Teams shows before clipping it (at the narrowest, in a chat)
DATA_VALUE_MAX = 500  # a button's value (a case reference, a choice value)
CONTEXT_MAX = 2_000  # a form's context
LABEL_MAX = 600
CHOICE_TITLE_MAX = 300
CHOICE_VALUE_MAX = 300
TEXT_INPUT_MAX = 5_000  # characters: an Input.Text without its own maxLength
SHRINK = (1.0, 0.6, 0.35, 0.2, 0.1)  # a message card over 28 KB is rebuilt with its text budgets scaled down
EXPANDED_MAX_CHOICES = 3  # a choice field with at most this many choices is shown as radio buttons
IMAGE_ALT_MAX = 1_000
LINK_ZONE = ZoneInfo("Europe/London")  # a file link's expiry is shown in UK time

ANSWER_ACTION = Route.ANSWER
REPLY_ACTION = "reply"  # a typed answer (or a picked date) to the question on a message card
REPLY_INPUT = "reply"
VIEW_ACTION = Route.VIEW
RESERVED_KEYS = frozenset({"verb", "value", "context", "card", "msteams"})
ELLIPSIS = "\u2026"

# A warning keeps the default colour with its ⚠ (Teams' "warning" colour is yellow on white: unreadable)
# warning and success keep the default colour: Teams' "warning" (yellow) and "good" (light green) are hard to read
# on a white card; their emoji carry the meaning
SEVERITY_COLOR = {Severity.URGENT: "attention", Severity.ERROR: "attention"}
BUTTON_STYLE = {"primary": "positive", "danger": "destructive"}

CONTROL_CHARS = re.compile("[\u202a-\u202e\u2066-\u2069\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_AT_TAG = re.compile(r"</?\s*at\b[^>]*>", re.IGNORECASE)
_ALWAYS = re.compile(r"([\\`*_~\[\]<])")
_ENTITY = re.compile(r"&(?=#?[0-9A-Za-z]+;)")
_LINE_START = re.compile(r"^([#>+=-])")
_ORDERED = re.compile(r"^(\d{1,9})([.)])")


# -- text -------------------------------------------------------------------------------------------------
def clean(text: str | None) -> str:
    """Drop ``<at>``/``</at>`` mention tags, bidi override/isolate controls and control characters (keeping tabs
    and newlines). For plain text: titles, labels, choices."""
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    return CONTROL_CHARS.sub("", _AT_TAG.sub("", CONTROL_CHARS.sub("", text)))


def clean_value(text: str | None) -> str:
    """Controls removed, nothing else changed: for input values given back to the person who typed them."""
    return CONTROL_CHARS.sub("", (text or "").replace("\r\n", "\n").replace("\r", "\n"))


def _escape_line(line: str) -> str:
    line = _ALWAYS.sub(r"\\\1", line)
    line = _ENTITY.sub(r"\\&", line)
    line = line.replace("{{", "{\u200b{")
    if _ORDERED.match(line):
        return _ORDERED.sub(r"\1\\\2", line, count=1)
    return _LINE_START.sub(r"\\\1", line, count=1)


def md_escape(text: str | None) -> str:
    """:func:`clean` the text and escape what the TextBlock markdown subset would interpret (see the module
    docstring); leading whitespace of each line is dropped (four spaces would make a code block)."""
    return "\n".join(_escape_line(line.strip()) for line in clean(text).split("\n"))


def nbytes(text: str) -> int:
    """Bytes ``text`` takes in the JSON Bot Framework sends (``ensure_ascii``: a non-ASCII character is a
    6-byte ``\\uXXXX`` escape, an emoji two of them). Never less than its UTF-8 length."""
    return len(json.dumps(text)) - 2


def _prefix_fit(text: str, fits: Any) -> int:
    """The longest prefix length ``k`` of ``text`` with ``fits(text[:k])`` (``fits`` is monotone)."""
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(text[:mid]):
            lo = mid
        else:
            hi = mid - 1
    return lo


def escape_truncate(text: str | None, limit: int) -> str:
    """:func:`md_escape` of ``text`` within ``limit`` bytes, cut with an ellipsis when it does not fit."""
    whole = md_escape(text)
    if nbytes(whole) <= limit:
        return whole
    raw = clean(text)
    k = _prefix_fit(raw, lambda p: nbytes(md_escape(p.rstrip())) + nbytes(ELLIPSIS) <= limit)
    return md_escape(raw[:k].rstrip()) + ELLIPSIS


def truncate(text: str | None, limit: int) -> str:
    """Cleaned plain ``text`` within ``limit`` bytes, ending in an ellipsis when cut."""
    text = clean(text).strip()
    if nbytes(text) <= limit:
        return text
    k = _prefix_fit(text, lambda p: nbytes(p.rstrip()) + nbytes(ELLIPSIS) <= limit)
    return text[:k].rstrip() + ELLIPSIS


def cut_to(text: str, limit: int) -> str:
    """``text`` within ``limit`` bytes without an ellipsis (for values that are data, not prose)."""
    if nbytes(text) <= limit:
        return text
    return text[:_prefix_fit(text, lambda p: nbytes(p) <= limit)]


def _lines(text: str | None, budget: int, max_blocks: int = TEXT_BLOCKS_MAX) -> tuple[list[tuple[str, bool]], bool]:
    """Escaped lines of ``text`` within ``budget`` bytes in all and at most ``max_blocks`` lines, each with
    whether a blank line came before it. Returns the lines and whether anything was cut off."""
    raw = [line.strip() for line in clean(text).split("\n")]
    out: list[tuple[str, bool]] = []
    gap = False
    for i, line in enumerate(raw):
        if not line:
            gap = bool(out)
            continue
        escaped = md_escape(line)
        rest_nonblank = any(r for r in raw[i + 1:])
        last_slot = len(out) == max_blocks - 1
        if nbytes(escaped) <= budget and not (last_slot and rest_nonblank):
            out.append((escaped, gap))
            budget -= nbytes(escaped)
            gap = False
            continue
        # this line is cut (too long for what is left, or the last line allowed while more follow)
        if nbytes(escaped) + nbytes(ELLIPSIS) <= budget:
            out.append((escaped + ELLIPSIS, gap))
        elif budget > nbytes(ELLIPSIS) * 2:
            out.append((escape_truncate(line, budget), gap))
        elif out:
            text_, g = out[-1]
            out[-1] = (text_ + ELLIPSIS, g)
        else:
            out.append((ELLIPSIS, gap))
        return out, True
    return out, False


def text_block(text: str, **extra: Any) -> dict:
    return {"type": "TextBlock", "text": text or ELLIPSIS, "wrap": True, **extra}


def severity_prefix(severity: Severity | None) -> str:
    emoji = SEVERITY_EMOJI.get(severity) if severity else None
    return f"{emoji} " if emoji else ""


def budgeted_text_blocks(text: str | None, budget: int, *, prefix: str = "",
                 color: str | None = None) -> tuple[list[dict], bool]:
    lines, cut = _lines(text, budget - nbytes(prefix))
    blocks = []
    for i, (line, gap) in enumerate(lines):
        extra: dict[str, Any] = {}
        if i and not gap:
            extra["spacing"] = "none"
        if color:
            extra["color"] = color
        blocks.append(text_block((prefix if i == 0 else "") + line, **extra))
    return blocks, cut


# -- actions ----------------------------------------------------------------------------------------------
def short_label(label: str) -> str:
    """A button title Teams shows whole: a bilingual "Cymraeg | English" label keeps each language's first
    phrase ("Cydnabod / cymryd perchnogaeth | Acknowledge / take ownership" -> "Cydnabod | Acknowledge"), and
    anything still longer than :data:`BUTTON_FIT` characters is cut with an ellipsis (a long choice is offered
    as a list that wraps instead: see :func:`_message_card`)."""
    label = " ".join(label.split())
    if len(label) <= BUTTON_FIT:
        return label
    parts = [p.split(" / ")[0].split(" (")[0].strip() for p in label.split(" | ")]
    short = " | ".join(p for p in parts if p) or label
    if len(short) > BUTTON_FIT:
        short = short[:BUTTON_FIT - 1].rstrip() + ELLIPSIS
    return short


def execute(title: str, verb: str, data: dict[str, str], style: str | None = None) -> dict:
    """A button (``Action.Execute`` with its ``Action.Submit`` fallback) for the adapter's own cards."""
    return execute_action(title, verb, data, style)


def execute_action(title: str, verb: str, data: dict[str, str], style: str | None = None) -> dict:
    """An ``Action.Execute`` with its ``Action.Submit`` fallback (whose data also carries the verb)."""
    title = truncate(short_label(clean(title)), ACTION_TITLE_MAX) or ELLIPSIS
    styled = {"style": style} if style in ("positive", "destructive") else {}
    return {"type": "Action.Execute", "title": title, "verb": verb, "data": dict(data), **styled,
            "fallback": {"type": "Action.Submit", "title": title, "data": {"verb": verb, **data}, **styled}}


def button_action(label: str, verb: str, value: str, style: str | None = None) -> dict:
    return execute_action(label or value or ELLIPSIS, verb, {"value": cut_to(clean_value(value), DATA_VALUE_MAX)},
                    BUTTON_STYLE.get(style or ""))


def fit_actions(actions: list[dict], more_title: Any) -> list[dict]:
    """At most :data:`MAX_ACTIONS`: the first five, then an ``Action.ShowCard`` holding the rest (nested)."""
    if len(actions) <= MAX_ACTIONS:
        return actions
    head, rest = actions[:MAX_ACTIONS - 1], actions[MAX_ACTIONS - 1:]
    return head + [{"type": "Action.ShowCard", "title": truncate(more_title(len(rest)), ACTION_TITLE_MAX),
                    "card": {"type": "AdaptiveCard", "body": [], "actions": fit_actions(rest, more_title)}}]
