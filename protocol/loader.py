"""Load and validate board protocols written as YAML (see docs/protocol-format.md).

Errors name the file, the path inside it and what is wrong, e.g.
``swindon.yaml: stages[1].steps[0].due: '5 workin days' is not a duration ...``.
"""

from __future__ import annotations
import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from protocol.build import build
from protocol.checks import check_semantics
from protocol.schema import Broken, path_of, repaired, validator
from protocol.spec import Protocol

SCHEMA_VERSION = 1
BOARDS_DIR = Path(__file__).parent / "boards"


class ProtocolError(ValueError):
    """A protocol file is not valid. ``problems`` lists every problem found as (path, message)."""

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = source
        self.problems = problems
        lines = [f"{source}: {path or '(top level)'}: {msg}" for path, msg in problems]
        super().__init__("\n".join(lines))


def _json_safe(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def list_board_files() -> list[Path]:
    return sorted(BOARDS_DIR.glob("*.yaml"))


def board_ids() -> list[str]:
    return [p.stem for p in list_board_files()]


def load_board(board_id_or_path: str | Path) -> Protocol:
    """A board id (``swindon``) from protocol/boards, or a path to a YAML file."""
    p = Path(board_id_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        return load_file(p)
    candidate = BOARDS_DIR / f"{board_id_or_path}.yaml"
    if not candidate.exists():
        raise ProtocolError(
            str(board_id_or_path),
            [("", f"no such board; known boards: {', '.join(board_ids())}")],
        )
    return load_file(candidate, source=candidate.name)


def load_file(path: str | Path, source: str | None = None) -> Protocol:
    """Load a board file. Problems are reported against ``source`` (default: the path as given), and the
    board's ``id`` must be the file's name without ``.yaml``."""
    path = Path(path)
    source = source if source is not None else str(path)
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise ProtocolError(source, [("", f"cannot read file: {exc.strerror or exc}")]) from exc
    return load_text(text, source=source, file_name=path.name)


def load_text(text: str, source: str = "<protocol>", file_name: str | None = None) -> Protocol:
    """``file_name``, when the text comes from a file: the board's id must be that name without .yaml."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ProtocolError(source, [(where, f"not valid YAML: {getattr(exc, 'problem', exc)}")]) from exc
    if not isinstance(data, Mapping):
        raise ProtocolError(source, [("", "the file must contain a mapping (id:, name:, stages: ...)")])
    return load_data(data, source=source, file_name=file_name)


def load_data(data: Mapping[str, Any], source: str = "<protocol>", file_name: str | None = None) -> Protocol:
    """Validate plain data (from YAML, or a stored snapshot) and build the Protocol.

    Every problem is reported in one go: the schema's (a missing key, a wrong type, a misspelt key) and then
    the checks that need the whole file (anchors, recipients, stage numbers ...). Where a value is missing or
    unusable, the checks that depend on it are skipped rather than reported a second time.
    """
    raw = _json_safe(data)
    errors = sorted(validator().iter_errors(raw),
                    key=lambda e: [(0, x) if isinstance(x, int) else (1, x) for x in e.absolute_path])
    problems: list[tuple[str, str]] = [(path_of(list(e.absolute_path)), e.message) for e in errors]
    broken = Broken()
    usable = repaired(raw, errors, broken) if errors else raw
    proto = None
    if usable is not None:
        reported = len(problems)
        try:
            proto = build(usable, problems, broken)
            check_semantics(proto, usable, problems, broken)
        except (KeyError, TypeError, ValueError, AttributeError):
            if not errors:
                raise
            # a shape the repairs did not foresee: the schema's problems stand on their own
            del problems[reported:]
            proto = None
    if file_name is not None:
        stem = Path(file_name).stem
        board_id = raw.get("id")
        if isinstance(board_id, str) and board_id != stem:
            problems.append(("id", f"the board id {board_id!r} does not match the file name {file_name!r}: a board's "
                                   f"id is its file name without .yaml (rename the file to '{board_id}.yaml' or "
                                   f"change id: to {stem!r})"))
    if problems:
        raise ProtocolError(source, problems)
    assert proto is not None
    return proto


def snapshot(p: Protocol) -> dict[str, Any]:
    """Plain data to store with a case; ``load_data(snapshot(p))`` gives an equal Protocol."""
    return {"schema_version": SCHEMA_VERSION, "protocol": p.raw}


def from_snapshot(data: Mapping[str, Any]) -> Protocol:
    if data.get("schema_version") != SCHEMA_VERSION:
        raise ProtocolError("snapshot",
                            [("schema_version", f"unsupported snapshot version {data.get('schema_version')!r}")])
    return load_data(data["protocol"], source="snapshot")
