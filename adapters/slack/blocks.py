"""Block Kit rendering of the channel-neutral message model (bot.core.messages) for Slack.

Everything here is built with slack_sdk's typed builders (``slack_sdk.models.blocks`` / ``.views``) and
returned as plain dicts (``.to_dict()``), ready for ``chat.postMessage``, ``views.open`` / ``views.publish``.

Safety and limits
-----------------
* Every piece of free text that lands in ``mrkdwn`` (and the ``text`` fallback of a message) goes through
  :func:`escape`: ``&``, ``<`` and ``>`` become entities, so ``<!channel>``, ``<!here>``, ``<@U123>``,
  ``<#C1>`` and ``<https://…|links>`` typed by a user are shown literally and never ping or link anyone.
  ``mrkdwn`` objects are also sent with ``verbatim: true`` so Slack does not auto-link or auto-parse mentions.
  ``plain_text`` objects (header, button, label, option texts) are never parsed for mentions by Slack, so they
  are not entity-escaped (that would show ``&amp;`` to the reader); they are cleaned like all text.
* Bidirectional-override and isolate controls (U+202A–U+202E, U+2066–U+2069) and other control characters
  are removed from all text, so a reference, name or date cannot be visually reordered ("trojan source").
* Slack's documented limits are kept by construction (truncating with an ellipsis where text may be cut) and
  can be checked on any payload with :func:`check_limits`. Lengths are counted in UTF-16 code units, which
  is never less than Slack's own count.

Routing
-------
A button's ``action_id`` is the model's ``Button.action`` (e.g. ``case.record_outcome``). Slack needs
action ids to be unique, so when the same action appears again in a message it is suffixed ``~2``, ``~3`` …;
a prompt's choices are buttons ``answer~1`` … ``answer~N`` whose value is the choice value. The Slack app
strips the suffix before routing: :func:`action_of` (``"case.view~2"`` → ``"case.view"``).

Attachments
-----------
Blocks cannot carry files: the transport uploads a message's attachments into its thread
(``adapters.slack.transport``), and the message ends with a context line naming them ("📎 In this message's
thread: …").

This module renders messages and the App Home; its siblings hold the rest: :mod:`adapters.slack.block_text`
(limits, text), :mod:`adapters.slack.modals` (forms) and :mod:`adapters.slack.block_checks` (:func:`check_limits`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.core.i18n import Translator, translator
from bot.core.messages import (
    SEVERITY_EMOJI,
    Button,
    Field,
    Message,
    PromptKind,
    Severity,
)
from adapters.slack.block_text import (
    ACTIONS_MAX_ELEMENTS,
    ACTION_ID_MAX,
    ANSWER_ACTION,
    BUTTON_TEXT_MAX,
    BUTTON_VALUE_MAX,
    ELLIPSIS,
    FALLBACK_MAX,
    FIELD_TEXT_MAX,
    HEADER_TEXT_MAX,
    MAX_TEXT_SECTIONS,
    MESSAGE_MAX_BLOCKS,
    SECTION_FIELDS_MAX,
    SECTION_TEXT_MAX,
    TEXT_OBJECT_MAX,
    VIEW_ACTION,
    VIEW_MAX_BLOCKS,
    clean,
    cut_to,
    escape,
    escape_truncate,
    mrkdwn,
    plain,
    text_chunks,
    ulen,
)


# -- messages ---------------------------------------------------------------------------------------------
def severity_prefix(severity: Severity | None) -> str:
    emoji = SEVERITY_EMOJI.get(severity) if severity else None
    return f"{emoji} " if emoji else ""


def _unique_ids(actions: Iterable[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for a in actions:
        a = a[:ACTION_ID_MAX - 4]
        seen[a] = seen.get(a, 0) + 1
        out.append(a if seen[a] == 1 else f"{a}~{seen[a]}")
    return out


def _button(label: str, action_id: str, value: str, style: str | None = None) -> ButtonElement:
    return ButtonElement(text=plain(label or value or ELLIPSIS, BUTTON_TEXT_MAX), action_id=action_id,
                         value=cut_to(clean(value), BUTTON_VALUE_MAX) or None,
                         style=style if style in ("primary", "danger") else None)


def _actions(elements: Sequence[ButtonElement]) -> list[Block]:
    return [ActionsBlock(elements=list(elements[i:i + ACTIONS_MAX_ELEMENTS]))
            for i in range(0, len(elements), ACTIONS_MAX_ELEMENTS)]


def _ceil(n: int, d: int) -> int:
    return -(-n // d)


def message_blocks(m: Message, T: Translator | None = None) -> list[dict]:
    """The message as Block Kit blocks (at most 50): header, text sections, field sections, the prompt's
    choices, a hint, then the buttons."""
    T = T or translator()
    prefix = severity_prefix(m.severity)
    title = clean(m.title).strip()
    head: list[Block] = [HeaderBlock(text=plain(prefix + title, HEADER_TEXT_MAX))] if title else []
    text_prefix = "" if title else prefix

    choices = m.prompt.choices if m.prompt and m.prompt.kind is PromptKind.CHOICE else ()
    hint = clean(m.prompt.hint).strip() if m.prompt and m.prompt.hint else ""
    buttons = list(m.buttons)
    has_view = any(b.action == VIEW_ACTION and b.value == m.case_ref for b in buttons)

    files = _files_note(m, T)
    # the block budget: actions first (they are what people act on), then text, then fields
    budget = MESSAGE_MAX_BLOCKS - len(head) - (1 if hint else 0) - (1 if files else 0)
    choice_blocks = min(_ceil(len(choices), ACTIONS_MAX_ELEMENTS), max(budget - 3, 0))
    choices = choices[:choice_blocks * ACTIONS_MAX_ELEMENTS]
    budget -= choice_blocks
    maybe_view = 1 if m.case_ref and not has_view else 0
    button_blocks = min(_ceil(len(buttons) + maybe_view, ACTIONS_MAX_ELEMENTS), max(budget - 2, 0))
    budget -= button_blocks
    field_blocks = _ceil(len(m.fields), SECTION_FIELDS_MAX)
    text_sections = max(1, min(MAX_TEXT_SECTIONS, budget - min(field_blocks, 1)))
    field_blocks = min(field_blocks, max(budget - text_sections, 0))

    body = m.text or ""
    chunks, cut = text_chunks(body, SECTION_TEXT_MAX - ulen(text_prefix), text_sections)
    if text_prefix:
        chunks = [text_prefix + (chunks[0] if chunks else "")] + chunks[1:]
    blocks: list[Block] = head + [SectionBlock(text=mrkdwn(c)) for c in chunks if c.strip()]

    fields = list(m.fields)
    if len(fields) > field_blocks * SECTION_FIELDS_MAX:
        keep = max(field_blocks * SECTION_FIELDS_MAX - 1, 0)
        more = len(fields) - keep
        fields = fields[:keep]
        if field_blocks:
            fields.append(Field(ELLIPSIS, T("{n} more", n=more)))
    for i in range(0, len(fields), SECTION_FIELDS_MAX):
        blocks.append(SectionBlock(fields=[mrkdwn(_field_text(f.label, f.value))
                                           for f in fields[i:i + SECTION_FIELDS_MAX]]))

    if choices:
        blocks += _actions([_button(c.label, f"{ANSWER_ACTION}~{i}", c.value)
                            for i, c in enumerate(choices, start=1)])
    if hint:
        blocks.append(ContextBlock(elements=[mrkdwn(escape_truncate(hint, TEXT_OBJECT_MAX))]))
    if files:
        blocks.append(files)

    room = button_blocks * ACTIONS_MAX_ELEMENTS
    if cut and m.case_ref and not has_view and room:
        buttons = buttons[:room - 1] + [Button(VIEW_ACTION, T("View full record"), m.case_ref)]
    buttons = buttons[:room]
    ids = _unique_ids(b.action for b in buttons)
    blocks += _actions([_button(b.label, aid, b.value, b.style) for b, aid in zip(buttons, ids)])

    if not blocks:  # an empty message still needs one block
        blocks.append(SectionBlock(text=mrkdwn(prefix + ELLIPSIS)))
    return [b.to_dict() for b in blocks[:MESSAGE_MAX_BLOCKS]]


def _files_note(m: Message, T: Translator) -> ContextBlock | None:
    """A line saying which files come with the message: the transport uploads them into its thread."""
    if not m.attachments:
        return None
    titles = ", ".join(clean(a.title or a.filename).strip() for a in m.attachments)
    return ContextBlock(elements=[mrkdwn(escape_truncate("\U0001f4ce " + T("In this message's thread: {files}",
                                                                            files=titles), TEXT_OBJECT_MAX))])


def _field_text(label: str, value: str) -> str:
    label = clean(label).strip().replace("*", "")
    head = f"*{escape_truncate(label, FIELD_TEXT_MAX // 4)}*\n" if label else ""
    return head + escape_truncate(value, FIELD_TEXT_MAX - ulen(head)) if (head or value) else "-"


def fallback_text(m: Message) -> str:
    """The ``text`` of chat.postMessage (notifications, screen readers, old clients): escaped, at most 3,000."""
    head = " ".join(p for p in (severity_prefix(m.severity).strip(), clean(m.title).strip()) if p)
    raw = "\n".join(p for p in (head, clean(m.text).strip()) if p)
    return escape_truncate(raw, FALLBACK_MAX) or ELLIPSIS


# -- App Home ---------------------------------------------------------------------------------------------
def home_view(title: str, messages: list[Message], T: Translator | None = None) -> dict:
    """The App Home tab: a header, then each message's blocks with dividers between, within 100 blocks; what
    does not fit is summarised in a last context block."""
    T = T or translator()
    blocks: list[dict] = [HeaderBlock(text=plain(title or "Parley", HEADER_TEXT_MAX)).to_dict()]
    shown = 0
    for i, m in enumerate(messages):
        part = ([DividerBlock().to_dict()] if shown else []) + message_blocks(m, T)
        room = VIEW_MAX_BLOCKS - len(blocks) - (0 if i == len(messages) - 1 else 1)
        if len(part) > room:
            break
        blocks += part
        shown += 1
    rest = len(messages) - shown
    if rest:
        text = T("1 more case: use /parley list") if rest == 1 else T("{n} more cases: use /parley list", n=rest)
        blocks.append(ContextBlock(elements=[mrkdwn(escape(text))]).to_dict())
    return View(type="home", blocks=blocks).to_dict()
