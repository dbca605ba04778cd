"""Adaptive Cards 1.5 rendering of the channel-neutral message model (bot.core.messages) for Microsoft Teams.

Cards are plain dicts (no card library): :func:`message_card` for a message, :func:`form_card` for a form,
:func:`attachment` wraps either as a Bot Framework attachment (``CardFactory.adaptive_card``). Teams renders
Adaptive Cards up to 1.5, so every card says ``"version": "1.5"`` and :func:`validate` checks it against the
official 1.5 schema (``../shared/schemas/adaptive-card-1.5.schema.json``).

Routing (Universal Actions)
---------------------------
* A button is an ``Action.Execute`` with ``verb`` = ``Button.action`` and ``data`` = ``{"value": Button.value}``;
  a prompt's choices are ``Action.Execute`` with verb ``answer`` and ``data`` = ``{"value": choice value}``; a
  form's submit button has verb = ``Form.id`` and ``data`` = ``{"context": Form.context}``. Teams sends a click
  as an ``adaptiveCard/action`` invoke with ``value.action.verb`` and ``value.action.data`` (the card's inputs
  merged into ``data``).
* Every ``Action.Execute`` carries a ``fallback`` ``Action.Submit`` for clients without Universal Actions; its
  ``data`` holds the verb too (``{"verb": ..., "value": ...}`` or ``{"verb": ..., "context": ...}``), and the
  click arrives as a message activity whose ``value`` is that data (inputs merged in).
* :func:`form_values` reads the submitted inputs out of either shape; :func:`context_of` the form's context.
  ``verb``, ``value``, ``context`` and ``msteams`` are reserved data keys, so no form field may use them as id.

Safety and limits
-----------------
* ``TextBlock`` and ``FactSet`` text is rendered with a markdown subset, so every piece of text that lands there
  goes through :func:`md_escape`: ``<at>…</at>`` mention tags are removed; the characters that make emphasis,
  code, links or autolinks (``\\ * _ ` ~ [ ] <``), entity references (``&name;``) and line-start block markers
  (``#``, ``>``, ``-``, ``+``, ``=``, ``1.``/``1)``) are backslash-escaped, and ``{{`` (the TextBlock
  ``{{DATE()}}``/``{{TIME()}}`` functions) is broken with a zero-width space. Each line of text is its own
  TextBlock, so multi-line markdown constructs cannot form and line breaks show on every client. Only the
  characters that need it are escaped, because some mobile clients have shown backslash escapes literally.
* Action titles, input labels, choice titles and input values are plain text (never markdown): they are cleaned
  (mention tags and controls removed) but not escaped, so nothing shows a stray backslash and what a person typed
  is given back to them unchanged.
* Bidirectional-override and isolate controls (U+202A–U+202E, U+2066–U+2069) and other control characters are
  removed from all text (as in the Slack renderer), so a reference, name or date cannot be visually reordered.
* Teams caps a message at about 28 KB, so text is budgeted in UTF-8 bytes (of the escaped text): long text is
  cut with an ellipsis (and, for a case, a "View full record" action with verb ``case.view``), never rejected.
  Teams shows at most 6 actions on a card: the rest go into an ``Action.ShowCard`` "N more" submenu (nested
  again when it has more than 6). :func:`check_limits` checks these rules on any card.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from adapters.teams.files import Link
from adapters.teams.package import schemas_dir
from bot.core.i18n import Translator, translator
from bot.core.messages import (
    SEVERITY_EMOJI,
    Attachment,
    Field,
    FieldKind,
    Form,
    FormField,
    Message,
    Prompt,
    PromptKind,
    Severity,
    iso_date_or_none,
)

if TYPE_CHECKING:
    from botbuilder.schema import Attachment as BotAttachment

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

ANSWER_ACTION = "answer"
REPLY_ACTION = "reply"  # a typed answer (or a picked date) to the question on a message card
REPLY_INPUT = "reply"
VIEW_ACTION = "case.view"
RESERVED_KEYS = frozenset({"verb", "value", "context", "card", "msteams"})
ELLIPSIS = "\u2026"

# A warning keeps the default colour with its ⚠ (Teams' "warning" colour is yellow on white: unreadable)
# warning and success keep the default colour: Teams' "warning" (yellow) and "good" (light green) are hard to read
# on a white card; their emoji carry the meaning
SEVERITY_COLOR = {Severity.URGENT: "attention", Severity.ERROR: "attention"}
BUTTON_STYLE = {"primary": "positive", "danger": "destructive"}

_STRIP = re.compile("[\u202a-\u202e\u2066-\u2069\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
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
    return _STRIP.sub("", _AT_TAG.sub("", _STRIP.sub("", text)))


def clean_value(text: str | None) -> str:
    """Controls removed, nothing else changed: for input values given back to the person who typed them."""
    return _STRIP.sub("", (text or "").replace("\r\n", "\n").replace("\r", "\n"))


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


def _cut(text: str, limit: int) -> str:
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


def _text_block(text: str, **extra: Any) -> dict:
    return {"type": "TextBlock", "text": text or ELLIPSIS, "wrap": True, **extra}


def _prefix(severity: Severity | None) -> str:
    emoji = SEVERITY_EMOJI.get(severity) if severity else None
    return f"{emoji} " if emoji else ""


def _text_blocks(text: str | None, budget: int, *, prefix: str = "",
                 color: str | None = None) -> tuple[list[dict], bool]:
    lines, cut = _lines(text, budget - nbytes(prefix))
    blocks = []
    for i, (line, gap) in enumerate(lines):
        extra: dict[str, Any] = {}
        if i and not gap:
            extra["spacing"] = "none"
        if color:
            extra["color"] = color
        blocks.append(_text_block((prefix if i == 0 else "") + line, **extra))
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
    return _execute(title, verb, data, style)


def _execute(title: str, verb: str, data: dict[str, str], style: str | None = None) -> dict:
    """An ``Action.Execute`` with its ``Action.Submit`` fallback (whose data also carries the verb)."""
    title = truncate(short_label(clean(title)), ACTION_TITLE_MAX) or ELLIPSIS
    styled = {"style": style} if style in ("positive", "destructive") else {}
    return {"type": "Action.Execute", "title": title, "verb": verb, "data": dict(data), **styled,
            "fallback": {"type": "Action.Submit", "title": title, "data": {"verb": verb, **data}, **styled}}


def _button(label: str, verb: str, value: str, style: str | None = None) -> dict:
    return _execute(label or value or ELLIPSIS, verb, {"value": _cut(clean_value(value), DATA_VALUE_MAX)},
                    BUTTON_STYLE.get(style or ""))


def _fit_actions(actions: list[dict], more_title: Any) -> list[dict]:
    """At most :data:`MAX_ACTIONS`: the first five, then an ``Action.ShowCard`` holding the rest (nested)."""
    if len(actions) <= MAX_ACTIONS:
        return actions
    head, rest = actions[:MAX_ACTIONS - 1], actions[MAX_ACTIONS - 1:]
    return head + [{"type": "Action.ShowCard", "title": truncate(more_title(len(rest)), ACTION_TITLE_MAX),
                    "card": {"type": "AdaptiveCard", "body": [], "actions": _fit_actions(rest, more_title)}}]


# -- messages ---------------------------------------------------------------------------------------------
def message_card(m: Message, T: Translator | None = None,
                 link: Callable[[Attachment], Link | None] | None = None) -> dict:
    """The message as an Adaptive Card: a bold title (severity emoji; urgent in the attention colour), the text
    one TextBlock per line, the fields as a FactSet, the attachments, the prompt's hint, then the prompt's choices
    and the buttons as actions (more than six: the rest under "N more"). A card that would exceed Teams' 28 KB is
    rebuilt with less text (cut with an ellipsis; "View full record" for a case); the actions are always kept.

    Attachments: a PNG is shown inline as an ``Image`` with a ``data:`` URI (``altText`` = its title) when the
    card still fits in 28 KB, else as an ``Image`` loaded from its link; any other file gets an
    ``Action.OpenUrl`` "Open <title>" to its link. ``link`` stores a file and gives its expiring URL
    (adapters/teams/files.py); it is asked at most once per file, and only for files that need one. Without a
    link a file is named on the card as not available here."""
    T = T or translator()
    links = _Links(link)
    if not _images(m):
        tries = [(scale, True) for scale in SHRINK]
    elif link is not None:  # the whole text with the image inline, else with the image from its link, shrinking
        tries = [(1.0, True)] + [(scale, False) for scale in SHRINK]
    else:  # inline while shrinking the text; at worst the image is only named
        tries = [(scale, True) for scale in SHRINK] + [(SHRINK[-1], False)]
    for scale, inline in tries:
        card = _message_card(m, T, scale, links, inline)
        if card_size(card) <= CARD_MAX_BYTES:
            break
    return card


LIST_PAGE = 10  # cases on one page of a list card
PAGE_ACTION = "list.page"


def is_case_list(m: Message) -> bool:
    """A list of cases (the ``list`` command): one line and one View button a case."""
    lines = (m.text or "").split("\n")
    return bool(m.buttons) and all(b.action == VIEW_ACTION for b in m.buttons) and len(lines) == len(m.buttons) \
        and not m.prompt and not m.attachments


def case_list_card(m: Message, page: int = 0, T: Translator | None = None) -> dict:
    """A list of cases one page at a time (:data:`LIST_PAGE` cases, each a line with its View button), with
    Previous and Next: any number of cases stays far under 28 KB, and no "N more" menus inside menus."""
    T = T or translator()
    lines = (m.text or "").split("\n")
    pages = max(1, -(-len(m.buttons) // LIST_PAGE))
    page = min(max(page, 0), pages - 1)
    first = page * LIST_PAGE
    shown = list(zip(lines, m.buttons))[first:first + LIST_PAGE]
    title = clean(m.title).strip() or T("Your cases")
    if pages > 1:
        title = T("{title} ({first}\u2013{last} of {total})", title=title, first=first + 1,
                  last=first + len(shown), total=len(m.buttons))
    body: list[dict] = [_text_block(escape_truncate(title, TITLE_MAX), weight="bolder", size="medium",
                                    style="heading")]
    for line, button in shown:
        body.append({"type": "ColumnSet", "separator": True, "columns": [
            {"type": "Column", "width": "stretch", "items": [_text_block(escape_truncate(line, FACT_VALUE_MAX))]},
            {"type": "Column", "width": "auto", "verticalContentAlignment": "center", "items": [
                {"type": "ActionSet", "actions": [_button(T("View"), button.action, button.value)]}]}]})
    actions = []
    if page > 0:
        actions.append(_button(T("Previous"), PAGE_ACTION, str(page - 1)))
    if page < pages - 1:
        actions.append(_button(T("Next"), PAGE_ACTION, str(page + 1), "primary"))
    card = {"type": "AdaptiveCard", "$schema": CARD_SCHEMA_URL, "version": CARD_VERSION, "body": body,
            "fallbackText": escape_truncate(title, FALLBACK_TEXT_MAX) or ELLIPSIS}
    if actions:
        card["actions"] = actions
    return card


INLINE_TYPES = ("image/png",)


def _images(m: Message) -> list[Attachment]:
    return [a for a in m.attachments if a.media_type in INLINE_TYPES]


class _Links:
    """Each attachment's link, asked of ``link`` once and remembered (by position in the message)."""

    def __init__(self, link: Callable[[Attachment], Link | None] | None):
        self.link = link
        self.got: dict[int, Link | None] = {}

    def __call__(self, i: int, a: Attachment) -> Link | None:
        if self.link is None:
            return None
        if i not in self.got:
            self.got[i] = self.link(a)
        return self.got[i]


def _attachments(m: Message, T: Translator, links: _Links, inline: bool) -> tuple[list[dict], list[dict]]:
    """The card elements and actions for the message's files (see :func:`message_card`)."""
    body: list[dict] = []
    actions: list[dict] = []
    for i, a in enumerate(m.attachments):
        title = clean(a.title or a.filename).strip() or a.filename
        alt = truncate(title, IMAGE_ALT_MAX)
        if a.media_type in INLINE_TYPES and inline:
            body.append({"type": "Image", "url": f"data:{a.media_type};base64,{base64.b64encode(a.data).decode()}",
                         "altText": alt})
            continue
        found = links(i, a)
        if found is None:
            body.append(_text_block(escape_truncate("\U0001f4ce " + T("{title} cannot be opened here: ask your "
                                                                        "board's business unit for a copy.",
                                                                        title=title), HINT_MAX), isSubtle=True))
            continue
        if a.media_type in INLINE_TYPES:
            body.append({"type": "Image", "url": found.url, "altText": alt})
            continue
        until = T.datetime(found.expires_at.astimezone(LINK_ZONE))
        body.append(_text_block(escape_truncate("\U0001f4ce " + T("{title}: the link works until {until}.",
                                                                    title=title, until=until), HINT_MAX),
                                isSubtle=True, size="small"))
        actions.append({"type": "Action.OpenUrl", "title": truncate(T("Open {title}", title=title),
                                                                     ACTION_TITLE_MAX) or ELLIPSIS,
                        "url": found.url})
    return body, actions


def _message_card(m: Message, T: Translator, scale: float, links: _Links | None = None,
                  inline: bool = True) -> dict:
    def budget(n: int) -> int:
        return max(int(n * scale), 60)

    prefix = _prefix(m.severity)
    color = SEVERITY_COLOR.get(m.severity)
    title = clean(m.title).strip()
    body: list[dict] = []
    if title:
        body.append(_text_block(prefix + escape_truncate(title, budget(TITLE_MAX) - nbytes(prefix)),
                                weight="bolder", size="medium", style="heading", **({"color": color} if color else {})))
    text_blocks, cut = _text_blocks(m.text, budget(TEXT_MAX), prefix="" if title else prefix,
                                    color=color if not title and m.severity is Severity.URGENT else None)
    body += text_blocks

    fields = list(m.fields)
    facts_max = max(int(FACTS_MAX * scale), 3)
    if len(fields) > facts_max:
        more = len(fields) - (facts_max - 1)
        fields = fields[:facts_max - 1] + [Field(ELLIPSIS, T("{n} more", n=more))]
    if fields:
        body.append({"type": "FactSet", "facts": [_fact(f, budget(FACT_TITLE_MAX), budget(FACT_VALUE_MAX))
                                                  for f in fields]})

    file_blocks, file_actions = _attachments(m, T, links or _Links(None), inline)
    body += file_blocks

    hint = clean(m.prompt.hint).strip() if m.prompt and m.prompt.hint else ""
    if hint:
        body.append(_text_block(escape_truncate(hint, budget(HINT_MAX)), isSubtle=True, size="small"))
    if not body:  # an empty message still needs something to show
        body.append(_text_block(prefix + ELLIPSIS))

    actions: list[dict] = []
    long_choice = m.prompt is not None and m.prompt.kind is PromptKind.CHOICE and any(
        len(clean(c.label)) > BUTTON_FIT for c in m.prompt.choices)
    if m.prompt and m.prompt.kind is PromptKind.CHOICE and not long_choice:
        actions += [_button(c.label, ANSWER_ACTION, c.value) for c in m.prompt.choices]
    elif m.prompt:
        # a question is answered on the card itself (T10): a list that wraps for long choices (a step's title),
        # a date picker or a text box for the rest; Send, and Cancel to leave the question
        body.append(_answer_input(m.prompt, T))
        verb = ANSWER_ACTION if m.prompt.kind is PromptKind.CHOICE else REPLY_ACTION
        actions.append(_execute(T("Send"), verb, {}, "positive"))
        cancel = _execute(T("Cancel"), REPLY_ACTION, {REPLY_INPUT: "cancel"})
        cancel["associatedInputs"] = cancel["fallback"]["associatedInputs"] = "none"
        actions.append(cancel)
    actions += [_button(b.label, b.action, b.value, b.style) for b in m.buttons]
    has_view = any(b.action == VIEW_ACTION and b.value == m.case_ref for b in m.buttons)
    if cut and m.case_ref and not has_view:
        actions.append(_button(T("View full record"), VIEW_ACTION, m.case_ref))
    actions += file_actions

    return {"type": "AdaptiveCard", "$schema": CARD_SCHEMA_URL, "version": CARD_VERSION, "body": body,
            "actions": _fit_actions(actions, lambda n: T("{n} more", n=n)),
            "fallbackText": fallback_text(m, budget(FALLBACK_TEXT_MAX))}


def _answer_input(prompt: Prompt, T: Translator) -> dict:
    """The input for a question asked on a message card. A choice answers as ``value`` (as a pressed choice
    button does); anything else as ``reply``, the text typed (or the date picked)."""
    label = {"label": T("Your answer")}
    required = {} if prompt.optional else {"isRequired": True, "errorMessage": T("Please fill this in.")}
    if prompt.kind is PromptKind.CHOICE:
        return {"type": "Input.ChoiceSet", "id": "value", **label, **required, "style": "expanded", "wrap": True,
                "choices": _choices([(c.value, c.label) for c in prompt.choices])}
    if prompt.kind is PromptKind.DATE:
        return {"type": "Input.Date", "id": REPLY_INPUT, **label, **required}
    element = {"type": "Input.Text", "id": REPLY_INPUT, **label, **required, "maxLength": TEXT_INPUT_MAX}
    if prompt.kind is PromptKind.LONG_TEXT:
        element["isMultiline"] = True
    return element


def _fact(f: Field, title_max: int = FACT_TITLE_MAX, value_max: int = FACT_VALUE_MAX) -> dict:
    label = clean(f.label).strip()
    value = " ".join(line.strip() for line in clean(f.value).split("\n") if line.strip())
    return {"title": escape_truncate(label, title_max) or "-", "value": escape_truncate(value, value_max) or "-"}


def fallback_text(m: Message, limit: int = FALLBACK_TEXT_MAX) -> str:
    """The card's ``fallbackText`` (shown by clients that cannot render 1.5; may be markdown): escaped, short."""
    head = " ".join(p for p in (_prefix(m.severity).strip(), clean(m.title).strip()) if p)
    raw = "\n".join(p for p in (head, clean(m.text).strip()) if p)
    return escape_truncate(raw, limit) or ELLIPSIS


def card_size(card: dict) -> int:
    """The card's size as Bot Framework sends it (compact JSON, non-ASCII escaped)."""
    return len(json.dumps(card, separators=(",", ":")))


def attachment(card: dict) -> BotAttachment:
    """The card as a Bot Framework attachment (``application/vnd.microsoft.card.adaptive``)."""
    from botbuilder.core import CardFactory

    return CardFactory.adaptive_card(card)


# -- forms ------------------------------------------------------------------------------------------------

def _choices(pairs: Sequence[tuple[str, str]]) -> list[dict]:
    out = []
    for value, label in pairs:
        value = clean_value(value)
        if nbytes(value) > CHOICE_VALUE_MAX:
            raise ValueError(f"choice value longer than {CHOICE_VALUE_MAX} bytes: {value[:40]}…")
        out.append({"title": truncate(label or value, CHOICE_TITLE_MAX) or value or ELLIPSIS, "value": value})
    return out


def _input(f: FormField, value: str | None, people: Sequence[tuple[str, str]] | None, T: Translator) -> dict:
    base: dict[str, Any] = {"id": f.id, "label": truncate(f.label or f.id, LABEL_MAX) or f.id}
    if not f.optional:
        base.update(isRequired=True, errorMessage=T("Please fill this in."))
    if f.kind is FieldKind.CHOICE or (f.kind is FieldKind.PERSON and people is not None):
        pairs = [(c.value, c.label) for c in f.choices] if f.kind is FieldKind.CHOICE else list(people or ())
        choices = _choices(pairs)
        # (no "filtered" style for PERSON fields: it is not Adaptive Cards 1.5 and has no 1.5 fallback; the people
        # offered are kept few by the adapter instead: the chosen agency's, see adapters/teams/app.py)
        style = "expanded" if len(choices) <= EXPANDED_MAX_CHOICES and f.kind is FieldKind.CHOICE else "compact"
        element = {"type": "Input.ChoiceSet", **base, "choices": choices, "style": style, "wrap": True}
        if f.kind is FieldKind.PERSON and not choices:  # the people are listed once an agency is chosen
            element["placeholder"] = T("Choose the agency above, then press List its people")
        if value is not None and value in {c["value"] for c in choices}:
            element["value"] = value
        return element
    if f.kind in (FieldKind.TEXT, FieldKind.LONG_TEXT, FieldKind.PERSON):
        max_length = f.max_length or (TEXT_INPUT_MAX if f.kind is FieldKind.LONG_TEXT else None)
        element = {"type": "Input.Text", **base}
        if f.kind is FieldKind.LONG_TEXT:
            element["isMultiline"] = True
        if max_length:
            element["maxLength"] = max_length
        if value:
            value = clean_value(value)
            if f.kind is not FieldKind.LONG_TEXT:
                value = value.replace("\n", " ")
            element["value"] = value[:max_length] if max_length else _cut(value, TEXT_INPUT_MAX)
        return element
    if f.kind is FieldKind.DATE:
        element = {"type": "Input.Date", **base}
        if iso_date_or_none(value):
            element["value"] = iso_date_or_none(value)
        return element
    raise ValueError(f"unknown field kind {f.kind!r}")


def form_card(form: Form, *, errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
              people: list[tuple[str, str]] | None = None, T: Translator | None = None,
              extra_actions: Sequence[dict] = ()) -> dict:
    """The form as an Adaptive Card: its title, problems that belong to no field, the intro (🚨 in an attention
    container when urgent), then one input per field (id = field id) with its hint and its error under it, and a
    submit ``Action.Execute`` (verb = form id, data = ``{"context": form.context}``).

    ``errors`` (field id → message; any other key, such as ``""``, is shown at the top) and ``values`` (what
    was submitted: shown again so nothing typed is lost) re-render a submission with problems. ``people``
    ((value, label) pairs) turn PERSON fields into a list (an empty one waits for an agency to be chosen: see
    ``extra_actions``, e.g. "List its people"); without them they are text inputs."""
    T = T or translator()
    errors = dict(errors or {})
    values = dict(values or {})
    ids = [f.id for f in form.fields]
    if len(set(ids)) != len(ids):
        raise ValueError(f"form {form.id} has duplicate field ids")
    clash = RESERVED_KEYS & set(ids)
    if clash:
        raise ValueError(f"form {form.id}: field ids {sorted(clash)} are reserved card data keys")
    context = clean_value(form.context)
    if nbytes(context) > CONTEXT_MAX:
        raise ValueError(f"form {form.id}: context longer than {CONTEXT_MAX} bytes")

    body: list[dict] = []
    title = clean(form.title).strip()
    if title:
        body.append(_text_block(escape_truncate(title, TITLE_MAX), weight="bolder", size="medium", style="heading"))
    for key, msg in errors.items():
        if key not in ids:
            body.append(_error(msg))
    if form.intro:
        severity = form.intro_severity
        prefix = _prefix(severity)
        blocks, _ = _text_blocks(form.intro, TEXT_MAX, prefix=prefix, color=SEVERITY_COLOR.get(severity)
                                 if severity is Severity.URGENT else None)
        if severity is Severity.URGENT:
            body.append({"type": "Container", "style": "attention", "items": blocks})
        else:
            body += blocks
    for f in form.fields:
        value = values.get(f.id, f.initial)  # what was submitted, even if emptied, wins
        body.append(_input(f, value, people, T))
        if f.hint and f.hint.strip():
            body.append(_text_block(escape_truncate(f.hint, HINT_MAX), isSubtle=True, size="small",
                                    spacing="small"))
        if f.id in errors:
            body.append(_error(errors[f.id], spacing="small"))
    # "card": this rendering of the form, so the same card submitted twice is recognised (adapters/teams/app.py)
    submit = _execute(form.submit_label or T("Submit"), form.id, {"context": context, "card": secrets.token_hex(8)},
                      "positive")
    return {"type": "AdaptiveCard", "$schema": CARD_SCHEMA_URL, "version": CARD_VERSION, "body": body,
            "actions": [submit, *extra_actions],
            "fallbackText": escape_truncate(form.title or form.id, FALLBACK_TEXT_MAX) or ELLIPSIS}


def _error(message: str, **extra: Any) -> dict:
    return _text_block(escape_truncate(_prefix(Severity.ERROR) + clean(message).strip(), ERROR_MAX),
                       color="attention", **extra)


# -- submissions ------------------------------------------------------------------------------------------
def _as_text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return ",".join(_as_text(x) for x in v)
    if isinstance(v, dict):
        return ""
    return str(v)


def form_values(data: Any, form: Form | None = None) -> dict[str, str]:
    """The submitted input values as {field id: string}, from an invoke's ``value.action.data`` or an
    Action.Submit message's ``value`` (inputs merged into the action's data). The reserved keys (``verb``,
    ``value``, ``context``, ``msteams``) are not inputs and are left out. With ``form``, exactly its fields
    (missing → ``""``)."""
    out: dict[str, str] = {f.id: "" for f in form.fields} if form else {}
    if not isinstance(data, dict):
        return out
    for key, v in data.items():
        if key in RESERVED_KEYS or (form is not None and key not in out):
            continue
        out[str(key)] = _as_text(v)
    return out


def context_of(data: Any) -> str:
    """The submitted form's context (what :func:`form_card` put in the submit action's data)."""
    value = data.get("context", "") if isinstance(data, dict) else ""
    return value if isinstance(value, str) else ""


def verb_of(data: Any) -> str:
    """The verb carried in an ``Action.Submit`` fallback's data (an ``Action.Execute`` has it beside the data)."""
    value = data.get("verb", "") if isinstance(data, dict) else ""
    return value if isinstance(value, str) else ""


# -- checks -----------------------------------------------------------------------------------------------
@lru_cache(maxsize=2)
def _validator(strict: bool) -> Any:
    from jsonschema import Draft6Validator, validators

    folder = schemas_dir()
    if folder is None or not (folder / SCHEMA_FILE).is_file():
        raise FileNotFoundError(f"{SCHEMA_FILE} not found: expected ../shared/schemas next to the repository, "
                                "or set PARLEY_SHARED_DIR")
    schema = json.loads((folder / SCHEMA_FILE).read_text("utf-8"))
    # The schema declares draft-06, and validator_for() picks Draft6Validator from its "$schema". Draft 6 can
    # express everything this schema uses (no const/if-then, no $ref with sibling keywords); its draft-04-style
    # top-level "id" is ignored by draft 6, which is harmless because every $ref is local ("#/definitions/…").
    cls = validators.validator_for(schema, default=Draft6Validator)
    cls.check_schema(schema)  # the 1.5 schema passes its metaschema (the 1.6 one would not)
    # No exemptions: the "filtered" ChoiceSet style once exempted here is no longer used (it is not 1.5).
    return cls(schema)


def validate(card: dict, *, strict: bool = False) -> list[str]:
    """Problems with the card against the official Adaptive Cards 1.5 schema (empty = valid), each as
    "path: reason". A card-level ``msteams`` object (a Teams extension the schema does not know) is left out.
    ``strict`` drops the one exemption (ChoiceSet style ``filtered``; see :func:`_validator`)."""
    card = {k: v for k, v in card.items() if k != "msteams"}
    out: list[str] = []
    for error in _validator(strict).iter_errors(card):
        for e in _reasons(error):
            line = f"{'/'.join(map(str, e.absolute_path)) or '(card)'}: {e.message}"
            if line not in out:
                out.append(line)
    return out


def _branch_type(branch: dict) -> str:
    ref = ((branch.get("allOf") or [{}])[0].get("$ref") or branch.get("$ref") or "")
    return ref.rsplit("/", 1)[-1]


def _reasons(error: Any) -> list[Any]:
    """The schema wraps every element, action and the card itself in ``anyOf`` (one branch per type), which
    reports only "not valid under any of the given schemas". Descend into the branch for the object's own
    ``type`` (else the most relevant one), so each problem is reported where it is."""
    from jsonschema.exceptions import best_match

    if error.validator != "anyOf" or not error.context:
        return [error]
    kind = error.instance.get("type") if isinstance(error.instance, dict) else None
    branches = [i for i, b in enumerate(error.validator_value) if kind and _branch_type(b) == kind]
    sub = [e for e in error.context if e.relative_schema_path and e.relative_schema_path[0] in branches]
    if not sub:
        best = best_match(error.context)
        sub = [best] if best is not None else []
    return [r for e in sub for r in _reasons(e)] or [error]


def _walk_strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in [k, *_walk_strings(v)] if isinstance(s, str)]
    if isinstance(node, list):
        return [s for v in node for s in _walk_strings(v)]
    return [node] if isinstance(node, str) else []


def check_limits(card: dict) -> list[str]:
    """The Teams rules the schema cannot express (empty = fine): version 1.5, at most six actions per card or
    ShowCard card, at most 28 KB, unique input ids, every ``Action.Execute`` with an ``Action.Submit`` fallback
    carrying its verb, and no bidi or control characters anywhere."""
    problems: list[str] = []
    if card.get("version") != CARD_VERSION:
        problems.append(f"version: {card.get('version')!r} (Teams renders up to {CARD_VERSION})")
    size = card_size(card)
    if size > CARD_MAX_BYTES:
        problems.append(f"size: {size:,} bytes (max {CARD_MAX_BYTES:,})")
    ids: set[str] = set()

    def elements(path: str, items: list) -> None:
        for i, e in enumerate(items or []):
            p = f"{path}[{i}]"
            if not isinstance(e, dict):
                continue
            if str(e.get("type", "")).startswith("Input."):
                if not e.get("id"):
                    problems.append(f"{p}: an input needs an id")
                elif e["id"] in ids:
                    problems.append(f"{p}.id: {e['id']!r} is used twice")
                ids.add(e.get("id", ""))
            elements(f"{p}.items", e.get("items") or [])

    def actions(path: str, acts: list) -> None:
        if len(acts or []) > MAX_ACTIONS:
            problems.append(f"{path}: {len(acts)} actions (Teams shows at most {MAX_ACTIONS})")
        for i, a in enumerate(acts or []):
            p = f"{path}[{i}]"
            if a.get("type") == "Action.Execute":
                fb = a.get("fallback")
                if not isinstance(fb, dict) or fb.get("type") != "Action.Submit":
                    problems.append(f"{p}: Action.Execute without an Action.Submit fallback")
                elif (fb.get("data") or {}).get("verb") != a.get("verb"):
                    problems.append(f"{p}.fallback.data.verb: does not match the verb {a.get('verb')!r}")
            if a.get("type") == "Action.ShowCard":
                sub = a.get("card") or {}
                elements(f"{p}.card.body", sub.get("body") or [])
                actions(f"{p}.card.actions", sub.get("actions") or [])

    elements("body", card.get("body") or [])
    actions("actions", card.get("actions") or [])
    bad = [s for s in _walk_strings(card) if _STRIP.search(s)]
    if bad:
        problems.append(f"text: {len(bad)} strings hold bidi or control characters (first: {bad[0][:40]!r})")
    return problems
