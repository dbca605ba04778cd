"""Adaptive Cards 1.5 rendering of the channel-neutral message model (bot.core.messages) for Microsoft Teams.

Cards are plain dicts (no card library): :func:`message_card` for a message, :func:`form_card` for a form,
:func:`attachment` wraps either as a Bot Framework attachment (``CardFactory.adaptive_card``). Teams renders
Adaptive Cards up to 1.5, so every card says ``"version": "1.5"`` and :func:`validate` checks it against the
official 1.5 schema (``../shared/schemas/adaptive-card-1.5.schema.json``).

This module renders messages; its siblings hold the rest: :mod:`adapters.teams.card_parts` (limits, budgets, safe
text, actions), :mod:`adapters.teams.card_forms` (form cards, reading submissions) and
:mod:`adapters.teams.card_checks` (:func:`validate`, :func:`check_limits`).

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
from collections.abc import Callable
from typing import TYPE_CHECKING

from adapters.teams.files import Link
from bot.core.i18n import Translator, translator
from bot.core.messages import Attachment, Field, Message, Prompt, PromptKind, Severity

if TYPE_CHECKING:
    from botbuilder.schema import Attachment as BotAttachment
from adapters.teams.card_forms import choice_options
from adapters.teams.card_parts import (
    ACTION_TITLE_MAX,
    ANSWER_ACTION,
    BUTTON_FIT,
    CARD_MAX_BYTES,
    CARD_SCHEMA_URL,
    CARD_VERSION,
    ELLIPSIS,
    FACTS_MAX,
    FACT_TITLE_MAX,
    FACT_VALUE_MAX,
    FALLBACK_TEXT_MAX,
    HINT_MAX,
    IMAGE_ALT_MAX,
    LINK_ZONE,
    REPLY_ACTION,
    REPLY_INPUT,
    SEVERITY_COLOR,
    SHRINK,
    TEXT_INPUT_MAX,
    TEXT_MAX,
    TITLE_MAX,
    VIEW_ACTION,
    budgeted_text_blocks,
    button_action,
    clean,
    escape_truncate,
    execute_action,
    fit_actions,
    nbytes,
    severity_prefix,
    text_block,
    truncate,
)


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
    body: list[dict] = [text_block(escape_truncate(title, TITLE_MAX), weight="bolder", size="medium",
                                    style="heading")]
    for line, button in shown:
        body.append({"type": "ColumnSet", "separator": True, "columns": [
            {"type": "Column", "width": "stretch", "items": [text_block(escape_truncate(line, FACT_VALUE_MAX))]},
            {"type": "Column", "width": "auto", "verticalContentAlignment": "center", "items": [
                {"type": "ActionSet", "actions": [button_action(T("View"), button.action, button.value)]}]}]})
    actions = []
    if page > 0:
        actions.append(button_action(T("Previous"), PAGE_ACTION, str(page - 1)))
    if page < pages - 1:
        actions.append(button_action(T("Next"), PAGE_ACTION, str(page + 1), "primary"))
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
            body.append(text_block(escape_truncate("\U0001f4ce " + T("{title} cannot be opened here: ask your "
                                                                        "board's business unit for a copy.",
                                                                        title=title), HINT_MAX), isSubtle=True))
            continue
        if a.media_type in INLINE_TYPES:
            body.append({"type": "Image", "url": found.url, "altText": alt})
            continue
        until = T.datetime(found.expires_at.astimezone(LINK_ZONE))
        body.append(text_block(escape_truncate("\U0001f4ce " + T("{title}: the link works until {until}.",
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

    prefix = severity_prefix(m.severity)
    color = SEVERITY_COLOR.get(m.severity)
    title = clean(m.title).strip()
    body: list[dict] = []
    if title:
        body.append(text_block(prefix + escape_truncate(title, budget(TITLE_MAX) - nbytes(prefix)),
                                weight="bolder", size="medium", style="heading", **({"color": color} if color else {})))
    text_blocks, cut = budgeted_text_blocks(m.text, budget(TEXT_MAX), prefix="" if title else prefix,
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
        body.append(text_block(escape_truncate(hint, budget(HINT_MAX)), isSubtle=True, size="small"))
    if not body:  # an empty message still needs something to show
        body.append(text_block(prefix + ELLIPSIS))

    actions: list[dict] = []
    long_choice = m.prompt is not None and m.prompt.kind is PromptKind.CHOICE and any(
        len(clean(c.label)) > BUTTON_FIT for c in m.prompt.choices)
    if m.prompt and m.prompt.kind is PromptKind.CHOICE and not long_choice:
        actions += [button_action(c.label, ANSWER_ACTION, c.value) for c in m.prompt.choices]
    elif m.prompt:
        # a question is answered on the card itself (T10): a list that wraps for long choices (a step's title),
        # a date picker or a text box for the rest; Send, and Cancel to leave the question
        body.append(_answer_input(m.prompt, T))
        verb = ANSWER_ACTION if m.prompt.kind is PromptKind.CHOICE else REPLY_ACTION
        actions.append(execute_action(T("Send"), verb, {}, "positive"))
        cancel = execute_action(T("Cancel"), REPLY_ACTION, {REPLY_INPUT: "cancel"})
        cancel["associatedInputs"] = cancel["fallback"]["associatedInputs"] = "none"
        actions.append(cancel)
    actions += [button_action(b.label, b.action, b.value, b.style) for b in m.buttons]
    has_view = any(b.action == VIEW_ACTION and b.value == m.case_ref for b in m.buttons)
    if cut and m.case_ref and not has_view:
        actions.append(button_action(T("View full record"), VIEW_ACTION, m.case_ref))
    actions += file_actions

    return {"type": "AdaptiveCard", "$schema": CARD_SCHEMA_URL, "version": CARD_VERSION, "body": body,
            "actions": fit_actions(actions, lambda n: T("{n} more", n=n)),
            "fallbackText": fallback_text(m, budget(FALLBACK_TEXT_MAX))}


def _answer_input(prompt: Prompt, T: Translator) -> dict:
    """The input for a question asked on a message card. A choice answers as ``value`` (as a pressed choice
    button does); anything else as ``reply``, the text typed (or the date picked)."""
    label = {"label": T("Your answer")}
    required = {} if prompt.optional else {"isRequired": True, "errorMessage": T("Please fill this in.")}
    if prompt.kind is PromptKind.CHOICE:
        return {"type": "Input.ChoiceSet", "id": "value", **label, **required, "style": "expanded", "wrap": True,
                "choices": choice_options([(c.value, c.label) for c in prompt.choices])}
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
    head = " ".join(p for p in (severity_prefix(m.severity).strip(), clean(m.title).strip()) if p)
    raw = "\n".join(p for p in (head, clean(m.text).strip()) if p)
    return escape_truncate(raw, limit) or ELLIPSIS


def card_size(card: dict) -> int:
    """The card's size as Bot Framework sends it (compact JSON, non-ASCII escaped)."""
    return len(json.dumps(card, separators=(",", ":")))


def attachment(card: dict) -> BotAttachment:
    """The card as a Bot Framework attachment (``application/vnd.microsoft.card.adaptive``)."""
    from botbuilder.core import CardFactory

    return CardFactory.adaptive_card(card)
