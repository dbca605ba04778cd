"""Adaptive Cards for forms (:func:`form_card`) and the reading of what a card sends back: a form's values, its
context and the verb of an ``Action.Submit`` fallback (see :mod:`adapters.teams.cards` on routing).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bot.core.i18n import Translator, translator
from bot.core.messages import FieldKind, Form, FormField, Severity, iso_date_or_none

if TYPE_CHECKING:
    pass
from adapters.teams.card_parts import (
    CARD_SCHEMA_URL,
    CARD_VERSION,
    CHOICE_TITLE_MAX,
    CHOICE_VALUE_MAX,
    CONTEXT_MAX,
    ELLIPSIS,
    ERROR_MAX,
    EXPANDED_MAX_CHOICES,
    FALLBACK_TEXT_MAX,
    HINT_MAX,
    LABEL_MAX,
    RESERVED_KEYS,
    SEVERITY_COLOR,
    TEXT_INPUT_MAX,
    TEXT_MAX,
    TITLE_MAX,
    budgeted_text_blocks,
    clean,
    clean_value,
    cut_to,
    escape_truncate,
    execute_action,
    nbytes,
    severity_prefix,
    text_block,
    truncate,
)


# -- forms ------------------------------------------------------------------------------------------------

def choice_options(pairs: Sequence[tuple[str, str]]) -> list[dict]:
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
        choices = choice_options(pairs)
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
            element["value"] = value[:max_length] if max_length else cut_to(value, TEXT_INPUT_MAX)
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
        body.append(text_block(escape_truncate(title, TITLE_MAX), weight="bolder", size="medium", style="heading"))
    for key, msg in errors.items():
        if key not in ids:
            body.append(_error(msg))
    if form.intro:
        severity = form.intro_severity
        prefix = severity_prefix(severity)
        blocks, _ = budgeted_text_blocks(form.intro, TEXT_MAX, prefix=prefix, color=SEVERITY_COLOR.get(severity)
                                 if severity is Severity.URGENT else None)
        if severity is Severity.URGENT:
            body.append({"type": "Container", "style": "attention", "items": blocks})
        else:
            body += blocks
    for f in form.fields:
        value = values.get(f.id, f.initial)  # what was submitted, even if emptied, wins
        body.append(_input(f, value, people, T))
        if f.hint and f.hint.strip():
            body.append(text_block(escape_truncate(f.hint, HINT_MAX), isSubtle=True, size="small",
                                    spacing="small"))
        if f.id in errors:
            body.append(_error(errors[f.id], spacing="small"))
    # "card": this rendering of the form, so the same card submitted twice is recognised (adapters/teams/app.py)
    submit = execute_action(form.submit_label or T("Submit"), form.id,
                            {"context": context, "card": secrets.token_hex(8)}, "positive")
    return {"type": "AdaptiveCard", "$schema": CARD_SCHEMA_URL, "version": CARD_VERSION, "body": body,
            "actions": [submit, *extra_actions],
            "fallbackText": escape_truncate(form.title or form.id, FALLBACK_TEXT_MAX) or ELLIPSIS}


def _error(message: str, **extra: Any) -> dict:
    return text_block(escape_truncate(severity_prefix(Severity.ERROR) + clean(message).strip(), ERROR_MAX),
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
