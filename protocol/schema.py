"""The board file's JSON schema (protocol/protocol.schema.json), and the repair of a file the schema refuses so
that the file's other rules can still be checked and every problem reported in one go."""

from __future__ import annotations

import copy
import functools
import json
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator


def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(resources.files("protocol").joinpath("protocol.schema.json").read_text("utf-8"))
    return schema


@functools.cache
def validator() -> Draft202012Validator:
    """The schema's validator, read from the package on first use (not when the module is imported)."""
    return Draft202012Validator(_schema())


def path_of(parts: list[Any] | tuple[Any, ...]) -> str:
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += f".{p}" if out else str(p)
    return out


class Broken:
    """The places in a file whose value is missing or unusable (already reported), so that the checks which
    depend on them are skipped instead of reporting a consequence of the same mistake."""

    def __init__(self) -> None:
        self.paths: set[str] = set()

    def add(self, path: str) -> None:
        self.paths.add(path)

    def __call__(self, path: str) -> bool:
        """True if ``path``, something inside it, or something it is inside is broken."""
        return any(b == path or b.startswith((path + ".", path + "[")) or path.startswith((b + ".", b + "["))
                   for b in self.paths)


# What a missing required value is replaced by so that the rest of the file can still be checked. The
# replacement is never reported (the schema's message is) and the checks that read it are skipped.
_FILL: dict[str, Any] = {
    "name": "", "version": "", "ref_prefix": "", "title": "", "text": "", "label": "", "question": "",
    "to": "", "by": "", "when": "", "calendar": {"nation": "england-and-wales"}, "nation": "england-and-wales",
    "scope": [], "categories": [], "stages": [], "steps": [], "reasons": [], "parts": [],
    "immediate_risk": {"rule": "advisory", "text": ""}, "rule": "advisory", "number": 0,
    "level": "practitioner", "due": "none", "cadence": "none", "closed_case_years": 6, "working_days_before": 0,
}
# refusals that leave the value usable (a malformed id is still the name other places use)
_KEEP_VALUE = {"pattern", "minLength", "maxLength", "minItems", "uniqueItems", "minimum", "maximum", "format"}
_DROP = object()


def repaired(raw: dict[str, Any], errors: list[Any], broken: Broken) -> dict[str, Any] | None:
    """A copy of ``raw`` in which every value the schema refused is left out (an unknown key, a wrong type, a
    value not in the list) and every missing required value is filled in, so that the file can be built and its
    other rules checked. None when its structure is too broken for that (a stage that is not a mapping, say);
    then only the schema's problems are reported."""
    data = copy.deepcopy(raw)

    def locate(loc: list[Any]) -> Any:
        node: Any = data
        for part in loc:
            node = node[part]
        return node

    for _ in range(4):  # leaving a value out can make a required key missing: fill it on the next pass
        actionable = [e for e in errors if e.validator not in _KEEP_VALUE]
        for e in errors:
            here = path_of(list(e.absolute_path))
            if e.validator == "required":
                missing = [k for k in e.validator_value if isinstance(e.instance, dict) and k not in e.instance]
                for key in missing:
                    broken.add(f"{here}.{key}" if here else key)
            elif e.validator != "additionalProperties":
                broken.add(here)
        if not actionable:
            return data
        # deepest first, so a replaced container does not hide the repairs inside it
        for e in sorted(actionable, key=lambda e: len(e.absolute_path), reverse=True):
            loc = list(e.absolute_path)
            here = path_of(loc)
            try:
                node = locate(loc)
            except (KeyError, IndexError, TypeError):
                continue  # inside something already left out
            if e.validator == "additionalProperties" and isinstance(node, dict):
                allowed = e.schema.get("properties", {})
                for key in [k for k in node if k not in allowed]:
                    node.pop(key)
            elif e.validator == "required" and isinstance(node, dict):
                for key in e.validator_value:
                    if key in node:
                        continue
                    if key == "id":
                        node[key] = f"?{here}"  # never a valid id: nothing can refer to it by accident
                    elif key in _FILL:
                        node[key] = copy.deepcopy(_FILL[key])
                    else:
                        return None
            elif not loc:
                return None
            elif isinstance(loc[-1], int):
                if e.schema.get("type") == "object" or "oneOf" in e.schema or "$ref" in e.schema:
                    return None  # a stage, step, form field ... that is not a mapping: its place would shift
                locate(loc[:-1])[loc[-1]] = _DROP  # a bad entry in a list of plain values (scope, refs ...)
            else:
                locate(loc[:-1]).pop(loc[-1])
        data = _without_dropped(data)
        errors = list(validator().iter_errors(data))
    return None


def _without_dropped(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_dropped(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_without_dropped(v) for v in node if v is not _DROP]
    return node

