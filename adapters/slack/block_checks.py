"""Checks on any Block Kit payload (message blocks, modal or App Home view): :func:`check_limits` against Slack's
limits (see :mod:`adapters.slack.blocks`).
"""

from __future__ import annotations

from typing import Any


from bot.core.messages import iso_date_or_none
from adapters.slack.block_text import (
    ACTIONS_MAX_ELEMENTS,
    ACTION_ID_MAX,
    BLOCK_ID_MAX,
    BUTTON_TEXT_MAX,
    BUTTON_VALUE_MAX,
    CALLBACK_ID_MAX,
    CONTEXT_MAX_ELEMENTS,
    FIELD_TEXT_MAX,
    HEADER_TEXT_MAX,
    INPUT_HINT_MAX,
    INPUT_LABEL_MAX,
    MESSAGE_MAX_BLOCKS,
    MESSAGE_TEXT_MAX,
    OPTIONS_MAX,
    OPTION_GROUPS_MAX,
    OPTION_TEXT_MAX,
    OPTION_VALUE_MAX,
    PLACEHOLDER_MAX,
    PRIVATE_METADATA_MAX,
    RADIO_OPTIONS_MAX,
    SECTION_FIELDS_MAX,
    SECTION_TEXT_MAX,
    TEXT_INPUT_MAX,
    TEXT_OBJECT_MAX,
    VIEW_MAX_BLOCKS,
    VIEW_TITLE_MAX,
    ulen,
)


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
