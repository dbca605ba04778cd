"""Block Kit modals for forms (:func:`modal_view`), their error responses and the reading of submitted values
(see :mod:`adapters.slack.blocks`).
"""

from __future__ import annotations

import re
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DatePickerElement,
    InputBlock,
    Option,
    OptionGroup,
    PlainTextInputElement,
    RadioButtonsElement,
    SectionBlock,
    StaticSelectElement,
    UserSelectElement,
)
from slack_sdk.models.views import View

from bot.core.i18n import Translator, translator
from bot.core.messages import FieldKind, Form, FormField, Severity, iso_date_or_none
from adapters.slack.block_text import (
    BLOCK_ID_MAX,
    CALLBACK_ID_MAX,
    INPUT_HINT_MAX,
    INPUT_LABEL_MAX,
    MAX_TEXT_SECTIONS,
    OPTIONS_MAX,
    OPTION_GROUPS_MAX,
    OPTION_TEXT_MAX,
    OPTION_VALUE_MAX,
    PRIVATE_METADATA_MAX,
    RADIO_MAX_CHOICES,
    SECTION_TEXT_MAX,
    TEXT_INPUT_MAX,
    TEXT_OBJECT_MAX,
    VALUE_ACTION_ID,
    VIEW_MAX_BLOCKS,
    VIEW_TITLE_MAX,
    clean,
    cut_to,
    escape_truncate,
    mrkdwn,
    plain,
    text_chunks,
    truncate,
    ulen,
)
from adapters.slack.blocks import severity_prefix


# -- modals -----------------------------------------------------------------------------------------------
def _option(value: str, label: str) -> Option:
    value = clean(value)
    if ulen(value) > OPTION_VALUE_MAX:
        raise ValueError(f"choice value longer than Slack's {OPTION_VALUE_MAX} characters: {value[:40]}…")
    return Option(value=value, text=plain(label or value, OPTION_TEXT_MAX))


def _element(f: FormField, T: Translator) -> Any:
    initial = f.initial
    if f.kind is FieldKind.CHOICE:
        options = [_option(c.value, c.label) for c in f.choices]
        chosen = next((o for o in options if initial is not None and o.value == initial), None)
        if len(options) <= RADIO_MAX_CHOICES:
            return RadioButtonsElement(action_id=VALUE_ACTION_ID, options=options, initial_option=chosen)
        if len(options) <= OPTIONS_MAX:
            return StaticSelectElement(action_id=VALUE_ACTION_ID, options=options, initial_option=chosen)
        groups = [OptionGroup(label=plain(T("Choices {first}\u2013{last}", first=i + 1,
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
            value = cut_to(value, max_length)
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
        text = escape_truncate(severity_prefix(Severity.ERROR) + msg, SECTION_TEXT_MAX)
        blocks.append(SectionBlock(text=mrkdwn(text)))
    if form.intro:
        prefix = severity_prefix(form.intro_severity)
        chunks, _ = text_chunks(form.intro, SECTION_TEXT_MAX - ulen(prefix), MAX_TEXT_SECTIONS)
        if chunks:
            chunks[0] = prefix + chunks[0]
        blocks += [SectionBlock(text=mrkdwn(c)) for c in chunks]
    for f in form.fields:
        if ulen(f.id) > BLOCK_ID_MAX:
            raise ValueError(f"field id longer than Slack's {BLOCK_ID_MAX} characters: {f.id[:40]}…")
        blocks.append(InputBlock(block_id=f.id, label=plain(f.label or f.id, INPUT_LABEL_MAX),
                                 element=_element(f, T), optional=True if f.optional else None,
                                 hint=plain(f.hint, INPUT_HINT_MAX) if f.hint and f.hint.strip() else None))
        if f.id in errors:
            blocks.append(ContextBlock(elements=[mrkdwn(escape_truncate(
                severity_prefix(Severity.ERROR) + errors[f.id], TEXT_OBJECT_MAX))]))
    if len(blocks) > VIEW_MAX_BLOCKS:
        raise ValueError(f"form {form.id} needs {len(blocks)} blocks; a modal holds {VIEW_MAX_BLOCKS}")
    view = View(type="modal", callback_id=(callback_id or form.id)[:CALLBACK_ID_MAX],
                title=plain(form.title or "Parley", VIEW_TITLE_MAX),
                submit=plain(form.submit_label or T("Submit"), VIEW_TITLE_MAX),
                close=plain(close_label or T("Cancel"), VIEW_TITLE_MAX),
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
