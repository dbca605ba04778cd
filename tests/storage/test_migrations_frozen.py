"""Migrations are history: they import nothing from the live models (storage/models.py changes; a migration
written against it must keep doing what it did)."""

from __future__ import annotations

import ast
from pathlib import Path

VERSIONS = Path(__file__).resolve().parents[2] / "storage" / "migrations" / "versions"


def test_no_migration_imports_the_live_models() -> None:
    scripts = sorted(VERSIONS.glob("*.py"))
    assert len(scripts) >= 11
    for script in scripts:
        for node in ast.walk(ast.parse(script.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                assert not name.startswith("storage.models"), f"{script.name} imports {name}"
