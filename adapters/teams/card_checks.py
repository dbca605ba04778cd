"""Checks on any card: :func:`validate` against the official Adaptive Cards 1.5 schema, :func:`check_limits`
against Teams' limits and Parley's budgets (see :mod:`adapters.teams.cards`).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from adapters.teams.package import schemas_dir

if TYPE_CHECKING:
    pass
from adapters.teams.card_parts import CARD_MAX_BYTES, CARD_VERSION, CONTROL_CHARS, MAX_ACTIONS, SCHEMA_FILE
from adapters.teams.cards import card_size


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
    bad = [s for s in _walk_strings(card) if CONTROL_CHARS.search(s)]
    if bad:
        problems.append(f"text: {len(bad)} strings hold bidi or control characters (first: {bad[0][:40]!r})")
    return problems
