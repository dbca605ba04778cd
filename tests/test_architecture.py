"""The dependency rules of the design, checked on the source: adapters -> bot -> protocol, storage."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imports_of(package: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        out[str(path.relative_to(ROOT))] = names
    return out


def test_protocol_is_pure() -> None:
    for path, names in imports_of("protocol").items():
        assert not names & {"sqlalchemy", "storage", "bot", "adapters", "alembic", "psycopg"}, path


def test_storage_knows_nothing_of_bot_or_adapters() -> None:
    for path, names in imports_of("storage").items():
        assert not names & {"bot", "adapters"}, path


def test_bot_never_imports_adapters() -> None:
    for path, names in imports_of("bot").items():
        assert "adapters" not in names, path


def test_adapters_never_touch_storage_or_compute_deadlines() -> None:
    for path, names in imports_of("adapters").items():
        assert not names & {"storage", "sqlalchemy", "protocol"}, path


def test_channel_facing_code_never_loads_subject_details() -> None:
    """Only the intake service writes subject details and only the forms module (which withholds them from
    readers not entitled to them) reads them; views, digests, reports, runtime and adapters never do."""
    users = {p for p, names in {**imports_of("bot"), **imports_of("adapters")}.items()
             if "subjects" in (ROOT / p).read_text("utf-8")}
    assert users <= {"bot/services.py", "bot/documents.py"}, users
