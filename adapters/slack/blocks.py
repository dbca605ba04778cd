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
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DatePickerElement,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    OptionGroup,
    PlainTextInputElement,
    PlainTextObject,
    RadioButtonsElement,
    SectionBlock,
    StaticSelectElement,
    UserSelectElement,
)
from slack_sdk.models.views import View

from bot.core.i18n import Translator, translator
from bot.core.messages import (
    SEVERITY_EMOJI,
    Button,
    Field,
    FieldKind,
    Form,
    FormField,
    Message,
    PromptKind,
    Severity,
    iso_date_or_none,
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
ANSWER_ACTION = "answer"
VIEW_ACTION = "case.view"
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


def _cut(text: str, limit: int) -> str:
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


def _chunks(text: str, limit: int, max_chunks: int) -> tuple[list[str], bool]:
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


def _mrkdwn(text: str) -> MarkdownTextObject:
    """An mrkdwn object for text that is already escaped (verbatim: no auto-linking or mention parsing)."""
    return MarkdownTextObject(text=text or " ", verbatim=True)


def _plain(text: str, limit: int) -> PlainTextObject:
    return PlainTextObject(text=truncate(text, limit) or "-", emoji=True)


def action_of(action_id: str) -> str:
    """The routing key of a Slack action_id: ``"case.view~2"`` → ``"case.view"``, ``"answer~3"`` → ``"answer"``."""
    return _SUFFIX.sub("", action_id or "")


# -- messages ---------------------------------------------------------------------------------------------
def _prefix(severity: Severity | None) -> str:
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
    return ButtonElement(text=_plain(label or value or ELLIPSIS, BUTTON_TEXT_MAX), action_id=action_id,
                         value=_cut(clean(value), BUTTON_VALUE_MAX) or None,
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
    prefix = _prefix(m.severity)
    title = clean(m.title).strip()
    head: list[Block] = [HeaderBlock(text=_plain(prefix + title, HEADER_TEXT_MAX))] if title else []
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
    chunks, cut = _chunks(body, SECTION_TEXT_MAX - ulen(text_prefix), text_sections)
    if text_prefix:
        chunks = [text_prefix + (chunks[0] if chunks else "")] + chunks[1:]
    blocks: list[Block] = head + [SectionBlock(text=_mrkdwn(c)) for c in chunks if c.strip()]

    fields = list(m.fields)
    if len(fields) > field_blocks * SECTION_FIELDS_MAX:
        keep = max(field_blocks * SECTION_FIELDS_MAX - 1, 0)
        more = len(fields) - keep
        fields = fields[:keep]
        if field_blocks:
            fields.append(Field(ELLIPSIS, T("{n} more", n=more)))
    for i in range(0, len(fields), SECTION_FIELDS_MAX):
        blocks.append(SectionBlock(fields=[_mrkdwn(_field_text(f.label, f.value))
                                           for f in fields[i:i + SECTION_FIELDS_MAX]]))

    if choices:
        blocks += _actions([_button(c.label, f"{ANSWER_ACTION}~{i}", c.value)
                            for i, c in enumerate(choices, start=1)])
    if hint:
        blocks.append(ContextBlock(elements=[_mrkdwn(escape_truncate(hint, TEXT_OBJECT_MAX))]))
    if files:
        blocks.append(files)

    room = button_blocks * ACTIONS_MAX_ELEMENTS
    if cut and m.case_ref and not has_view and room:
        buttons = buttons[:room - 1] + [Button(VIEW_ACTION, T("View full record"), m.case_ref)]
    buttons = buttons[:room]
    ids = _unique_ids(b.action for b in buttons)
    blocks += _actions([_button(b.label, aid, b.value, b.style) for b, aid in zip(buttons, ids)])

    if not blocks:  # an empty message still needs one block
        blocks.append(SectionBlock(text=_mrkdwn(prefix + ELLIPSIS)))
    return [b.to_dict() for b in blocks[:MESSAGE_MAX_BLOCKS]]


def _files_note(m: Message, T: Translator) -> ContextBlock | None:
    """A line saying which files come with the message: the transport uploads them into its thread."""
    if not m.attachments:
        return None
    titles = ", ".join(clean(a.title or a.filename).strip() for a in m.attachments)
    return ContextBlock(elements=[_mrkdwn(escape_truncate("\U0001f4ce " + T("In this message's thread: {files}",
                                                                            files=titles), TEXT_OBJECT_MAX))])


def _field_text(label: str, value: str) -> str:
    label = clean(label).strip().replace("*", "")
    head = f"*{escape_truncate(label, FIELD_TEXT_MAX // 4)}*\n" if label else ""
    return head + escape_truncate(value, FIELD_TEXT_MAX - ulen(head)) if (head or value) else "-"


def fallback_text(m: Message) -> str:
    """The ``text`` of chat.postMessage (notifications, screen readers, old clients): escaped, at most 3,000."""
    head = " ".join(p for p in (_prefix(m.severity).strip(), clean(m.title).strip()) if p)
    raw = "\n".join(p for p in (head, clean(m.text).strip()) if p)
    return escape_truncate(raw, FALLBACK_MAX) or ELLIPSIS


# -- modals -----------------------------------------------------------------------------------------------
def _option(value: str, label: str) -> Option:
    value = clean(value)
    if ulen(value) > OPTION_VALUE_MAX:
        raise ValueError(f"choice value longer than Slack's {OPTION_VALUE_MAX} characters: {value[:40]}…")
    return Option(value=value, text=_plain(label or value, OPTION_TEXT_MAX))


def _element(f: FormField, T: Translator) -> Any:
    initial = f.initial
    if f.kind is FieldKind.CHOICE:
        options = [_option(c.value, c.label) for c in f.choices]
        chosen = next((o for o in options if initial is not None and o.value == initial), None)
        if len(options) <= RADIO_MAX_CHOICES:
            return RadioButtonsElement(action_id=VALUE_ACTION_ID, options=options, initial_option=chosen)
        if len(options) <= OPTIONS_MAX:
            return StaticSelectElement(action_id=VALUE_ACTION_ID, options=options, initial_option=chosen)
        groups = [OptionGroup(label=_plain(T("Choices {first}\u2013{last}", first=i + 1,
                                               last=min(i + OPTIONS_MAX, len(options))), OPTION_TEXT_MAX),
                              options=options[i:i + OPTIONS_MAX])
                  for i in range(0, len(options), OPTIONS_MAX)]
        if len(groups) > OPTION_GROUPS_MAX:
            raise ValueError(f"{f.id}: more than {OPTIONS_MAX * OPTION_GROUPS_MAX} choices")
        return StaticSelectElement(action_id=VALUE_ACTION_ID, option_groups=groups, initial_option=chosen)
    if f.kind in (FieldKind.TEXT, FieldKind.LONG_TEXT):
        multiline = f.kind is FieldKind.LONG_TEXT
        max_length = min(f.max_length or TEXT_INPUT_MAX, TEXT_INPUT_MAX) if (multiline or f.max_length) else None
        value = clean(initial) if initial else None
        if value and max_length:
            value = _cut(value, max_length)
        return PlainTextInputElement(action_id=VALUE_ACTION_ID, multiline=multiline or None,
                                     max_length=max_length, initial_value=value or None)
    if f.kind is FieldKind.DATE:
        return DatePickerElement(action_id=VALUE_ACTION_ID, initial_date=iso_date_or_none(initial))
    if f.kind is FieldKind.PERSON:
        user = initial if initial and re.fullmatch(r"[UW][A-Z0-9]{2,}", initial) else None
        return UserSelectElement(action_id=VALUE_ACTION_ID, initial_user=user)
    raise ValueError(f"unknown field kind {f.kind!r}")



def modal_view(form: Form, *, callback_id: str | None = None, private_metadata: str | None = None,
               errors: dict[str, str] | None = None, close_label: str | None = None,
               T: Translator | None = None) -> dict:
    """A Slack modal for the form: intro first (🚨 when urgent), then one input block per field
    (block_id = field id, action_id = ``value``). ``errors`` (field id → message; any other key, such as
    ``""``, is a form-level error shown at the top) re-render the form with the problems marked."""
    T = T or translator()
    errors = dict(errors or {})
    metadata = form.context if private_metadata is None else private_metadata
    if ulen(metadata) > PRIVATE_METADATA_MAX:
        raise ValueError(f"private_metadata is longer than Slack's {PRIVATE_METADATA_MAX} characters")
    field_ids = {f.id for f in form.fields}
    blocks: list[Block] = []
    general = [msg for key, msg in errors.items() if key not in field_ids]
    for msg in general:
        blocks.append(SectionBlock(text=_mrkdwn(escape_truncate(_prefix(Severity.ERROR) + msg, SECTION_TEXT_MAX))))
    if form.intro:
        prefix = _prefix(form.intro_severity)
        chunks, _ = _chunks(form.intro, SECTION_TEXT_MAX - ulen(prefix), MAX_TEXT_SECTIONS)
        if chunks:
            chunks[0] = prefix + chunks[0]
        blocks += [SectionBlock(text=_mrkdwn(c)) for c in chunks]
    for f in form.fields:
        if ulen(f.id) > BLOCK_ID_MAX:
            raise ValueError(f"field id longer than Slack's {BLOCK_ID_MAX} characters: {f.id[:40]}…")
        blocks.append(InputBlock(block_id=f.id, label=_plain(f.label or f.id, INPUT_LABEL_MAX),
                                 element=_element(f, T), optional=True if f.optional else None,
                                 hint=_plain(f.hint, INPUT_HINT_MAX) if f.hint and f.hint.strip() else None))
        if f.id in errors:
            blocks.append(ContextBlock(elements=[_mrkdwn(escape_truncate(
                _prefix(Severity.ERROR) + errors[f.id], TEXT_OBJECT_MAX))]))
    if len(blocks) > VIEW_MAX_BLOCKS:
        raise ValueError(f"form {form.id} needs {len(blocks)} blocks; a modal holds {VIEW_MAX_BLOCKS}")
    view = View(type="modal", callback_id=(callback_id or form.id)[:CALLBACK_ID_MAX],
                title=_plain(form.title or "Parley", VIEW_TITLE_MAX),
                submit=_plain(form.submit_label or T("Submit"), VIEW_TITLE_MAX),
                close=_plain(close_label or T("Cancel"), VIEW_TITLE_MAX),
                private_metadata=metadata or None, blocks=blocks)
    return view.to_dict()


def errors_response(form: Form, errors: dict[str, str], **modal_kwargs: Any) -> dict:
    """The ``ack()`` arguments answering a view_submission with problems: Slack's inline ``errors`` when each
    one belongs to a field, else the form again with the problems shown (``response_action: update``)."""
    field_ids = {f.id for f in form.fields}
    if errors and set(errors) <= field_ids:
        return {"response_action": "errors",
                "errors": {k: truncate(v, INPUT_HINT_MAX) for k, v in errors.items()}}
    return {"response_action": "update", "view": modal_view(form, errors=errors, **modal_kwargs)}


def form_values(view_state_values: dict, form: Form | None = None) -> dict[str, str]:
    """A view_submission's ``view.state.values`` as {field id: string}: selected option value, typed text,
    ISO date, or the Slack user id picked (the app maps it to a directory person). Missing → ``""``.
    With ``form``, every field of the form is present."""
    out: dict[str, str] = {f.id: "" for f in form.fields} if form else {}
    for block_id, actions in (view_state_values or {}).items():
        if not isinstance(actions, dict) or not actions:
            continue
        state = actions.get(VALUE_ACTION_ID) or next(iter(actions.values()))
        out[block_id] = _state_value(state if isinstance(state, dict) else {})
    return out


def _state_value(s: dict) -> str:
    kind = s.get("type", "")
    if "selected_option" in s or kind in ("static_select", "radio_buttons", "external_select"):
        return str(((s.get("selected_option") or {}).get("value")) or "")
    if kind == "datepicker" or "selected_date" in s:
        return str(s.get("selected_date") or "")
    if kind == "users_select" or "selected_user" in s:
        return str(s.get("selected_user") or "")
    if "selected_options" in s:
        return ",".join(str(o.get("value", "")) for o in s.get("selected_options") or [])
    if "selected_users" in s:
        return ",".join(s.get("selected_users") or [])
    for key in ("selected_conversation", "selected_channel", "selected_time", "selected_date_time"):
        if key in s:
            return str(s.get(key) or "")
    return str(s.get("value") or "")


# -- App Home ---------------------------------------------------------------------------------------------
def home_view(title: str, messages: list[Message], T: Translator | None = None) -> dict:
    """The App Home tab: a header, then each message's blocks with dividers between, within 100 blocks; what
    does not fit is summarised in a last context block."""
    T = T or translator()
    blocks: list[dict] = [HeaderBlock(text=_plain(title or "Parley", HEADER_TEXT_MAX)).to_dict()]
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
        blocks.append(ContextBlock(elements=[_mrkdwn(escape(text))]).to_dict())
    return View(type="home", blocks=blocks).to_dict()


# -- limits -----------------------------------------------------------------------------------------------
def check_limits(payload: dict | list) -> list[str]:
    """Every Slack limit the payload breaks (empty when it is fine). ``payload`` is a message (a dict with
    ``blocks`` and/or ``text``), a view (``type`` modal or home), or a bare list of blocks."""
    problems: list[str] = []

    def over(path: str, what: str, n: int, limit: int) -> None:
        if n > limit:
            problems.append(f"{path}: {what} is {n:,} (max {limit:,})")

    def text_obj(path: str, obj: Any, limit: int, *, plain_only: bool = False) -> None:
        if obj is None:
            return
        if not isinstance(obj, dict) or obj.get("type") not in ("plain_text", "mrkdwn"):
            problems.append(f"{path}: not a text object")
            return
        if plain_only and obj["type"] != "plain_text":
            problems.append(f"{path}: must be plain_text")
        text = obj.get("text")
        if not isinstance(text, str) or not text:
            problems.append(f"{path}: text is empty")
            return
        over(path, "text length", ulen(text), limit)

    def option(path: str, o: dict) -> None:
        text_obj(f"{path}.text", o.get("text"), OPTION_TEXT_MAX, plain_only=True)
        over(f"{path}.value", "length", ulen(str(o.get("value", ""))), OPTION_VALUE_MAX)
        if "description" in o:
            text_obj(f"{path}.description", o["description"], OPTION_TEXT_MAX)

    def element(path: str, e: dict) -> None:
        kind = e.get("type")
        if "action_id" in e:
            over(f"{path}.action_id", "length", ulen(str(e["action_id"])), ACTION_ID_MAX)
        if "placeholder" in e:
            text_obj(f"{path}.placeholder", e["placeholder"], PLACEHOLDER_MAX, plain_only=True)
        if kind == "button":
            text_obj(f"{path}.text", e.get("text"), BUTTON_TEXT_MAX, plain_only=True)
            over(f"{path}.value", "length", ulen(str(e.get("value", ""))), BUTTON_VALUE_MAX)
            over(f"{path}.url", "length", ulen(str(e.get("url", ""))), 3000)
            if e.get("style") not in (None, "primary", "danger"):
                problems.append(f"{path}.style: {e.get('style')!r} is not primary or danger")
        options = e.get("options") or []
        groups = e.get("option_groups") or []
        if kind in ("radio_buttons", "checkboxes"):
            over(f"{path}.options", "count", len(options), RADIO_OPTIONS_MAX)
        elif kind == "overflow":
            over(f"{path}.options", "count", len(options), 5)
        else:
            over(f"{path}.options", "count", len(options), OPTIONS_MAX)
        over(f"{path}.option_groups", "count", len(groups), OPTION_GROUPS_MAX)
        if kind in ("static_select", "multi_static_select") and not options and not groups:
            problems.append(f"{path}: a static select needs options or option_groups")
        for j, o in enumerate(options):
            option(f"{path}.options[{j}]", o)
        for g, grp in enumerate(groups):
            text_obj(f"{path}.option_groups[{g}].label", grp.get("label"), OPTION_TEXT_MAX, plain_only=True)
            over(f"{path}.option_groups[{g}].options", "count", len(grp.get("options") or []), OPTIONS_MAX)
            for j, o in enumerate(grp.get("options") or []):
                option(f"{path}.option_groups[{g}].options[{j}]", o)
        if kind == "plain_text_input":
            max_length = e.get("max_length")
            if max_length is not None:
                over(f"{path}.max_length", "value", int(max_length), TEXT_INPUT_MAX)
            over(f"{path}.min_length", "value", int(e.get("min_length") or 0), TEXT_INPUT_MAX)
            if e.get("initial_value") is not None:
                over(f"{path}.initial_value", "length", ulen(e["initial_value"]), int(max_length or TEXT_INPUT_MAX))
        if kind == "datepicker" and e.get("initial_date") is not None and iso_date_or_none(e["initial_date"]) is None:
            problems.append(f"{path}.initial_date: {e['initial_date']!r} is not YYYY-MM-DD")

    def blocks_(path: str, blocks: list, max_blocks: int) -> None:
        over(f"{path}", "block count", len(blocks), max_blocks)
        block_ids: set[str] = set()
        for i, b in enumerate(blocks):
            p = f"{path}[{i}]"
            if not isinstance(b, dict):
                problems.append(f"{p}: not a block")
                continue
            kind = b.get("type")
            if "block_id" in b:
                bid = str(b["block_id"])
                over(f"{p}.block_id", "length", ulen(bid), BLOCK_ID_MAX)
                if bid in block_ids:
                    problems.append(f"{p}.block_id: {bid!r} is used twice")
                block_ids.add(bid)
            elements = [b["accessory"]] if isinstance(b.get("accessory"), dict) else []
            if kind == "header":
                text_obj(f"{p}.text", b.get("text"), HEADER_TEXT_MAX, plain_only=True)
            elif kind == "section":
                if b.get("text") is None and not b.get("fields"):
                    problems.append(f"{p}: a section needs text or fields")
                text_obj(f"{p}.text", b.get("text"), SECTION_TEXT_MAX)
                fields = b.get("fields") or []
                over(f"{p}.fields", "count", len(fields), SECTION_FIELDS_MAX)
                for j, fo in enumerate(fields):
                    text_obj(f"{p}.fields[{j}]", fo, FIELD_TEXT_MAX)
            elif kind == "actions":
                elements = list(b.get("elements") or [])
                over(f"{p}.elements", "count", len(elements), ACTIONS_MAX_ELEMENTS)
                if not elements:
                    problems.append(f"{p}: an actions block needs elements")
            elif kind == "context":
                ctx = b.get("elements") or []
                over(f"{p}.elements", "count", len(ctx), CONTEXT_MAX_ELEMENTS)
                for j, el in enumerate(ctx):
                    if el.get("type") in ("plain_text", "mrkdwn"):
                        text_obj(f"{p}.elements[{j}]", el, TEXT_OBJECT_MAX)
            elif kind == "input":
                text_obj(f"{p}.label", b.get("label"), INPUT_LABEL_MAX, plain_only=True)
                text_obj(f"{p}.hint", b.get("hint"), INPUT_HINT_MAX, plain_only=True)
                elements = [b["element"]] if isinstance(b.get("element"), dict) else []
                if not elements:
                    problems.append(f"{p}: an input block needs an element")
            action_ids: set[str] = set()
            where = {"actions": None, "input": "element"}.get(kind or "", "accessory")
            for j, e in enumerate(elements):
                ep = f"{p}.elements[{j}]" if where is None else f"{p}.{where}"
                element(ep, e)
                aid = e.get("action_id")
                if aid is not None:
                    if aid in action_ids:
                        problems.append(f"{ep}.action_id: {aid!r} is used twice in the block")
                    action_ids.add(aid)

    if isinstance(payload, list):
        blocks_("blocks", payload, MESSAGE_MAX_BLOCKS)
        return problems
    kind = payload.get("type")
    if kind in ("modal", "home"):
        blocks_("blocks", payload.get("blocks") or [], VIEW_MAX_BLOCKS)
        if not payload.get("blocks"):
            problems.append("blocks: a view needs at least one block")
        over("callback_id", "length", ulen(str(payload.get("callback_id") or "")), CALLBACK_ID_MAX)
        over("private_metadata", "length", ulen(str(payload.get("private_metadata") or "")), PRIVATE_METADATA_MAX)
        if kind == "modal":
            if payload.get("title") is None:
                problems.append("title: a modal needs a title")
            text_obj("title", payload.get("title"), VIEW_TITLE_MAX, plain_only=True)
            text_obj("submit", payload.get("submit"), VIEW_TITLE_MAX, plain_only=True)
            text_obj("close", payload.get("close"), VIEW_TITLE_MAX, plain_only=True)
            if payload.get("submit") is None and any(b.get("type") == "input" for b in payload.get("blocks") or []):
                problems.append("submit: a modal with inputs needs a submit button")
        elif payload.get("submit") is not None or payload.get("close") is not None:
            problems.append("home: a Home tab has no submit or close")
        return problems
    blocks_("blocks", payload.get("blocks") or [], MESSAGE_MAX_BLOCKS)
    if "text" in payload:
        over("text", "length", ulen(str(payload.get("text") or "")), MESSAGE_TEXT_MAX)
    if not payload.get("blocks") and not payload.get("text"):
        problems.append("message: needs blocks or text")
    return problems
