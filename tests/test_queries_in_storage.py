"""Every query is in storage/ (its repositories, one module per aggregate): bot/ calls them and never builds SQL.

bot/ may still use the unit of work (``session.get``, ``add``, ``delete``, ``flush``, ``refresh``, ``commit``,
``rollback``, ``begin_nested``), change loaded objects, and import ``Session``/``sessionmaker`` from
``sqlalchemy.orm`` and the exceptions of ``sqlalchemy.exc``; nothing that builds or runs a statement.
Checked on the source with ast (imports anywhere in a file, aliases of the ``sqlalchemy`` module included).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# what builds a statement: never imported into bot/ from any sqlalchemy module
STATEMENT_BUILDERS = {
    "select", "update", "delete", "insert", "func", "text", "and_", "or_", "not_", "exists", "case", "literal",
    "literal_column", "bindparam", "union", "union_all", "tuple_", "true", "false", "null", "lambda_stmt",
    "column", "table",
}
# from sqlalchemy.orm only these (no aliased(), selectinload() ... either)
ORM_ALLOWED = {"Session", "sessionmaker"}
# what runs a statement: never called in bot/
STATEMENT_RUNNERS = {"execute", "scalar", "scalars", "with_for_update"}


def offences(path: Path) -> list[str]:
    """What ``path`` does that only storage/ may do, as ``line: what`` strings."""
    tree = ast.parse(path.read_text("utf-8"), str(path))
    found: list[str] = []
    aliases: set[str] = set()  # names bound to a sqlalchemy module (import sqlalchemy [as sa], import sqlalchemy.sql)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name == "sqlalchemy" or a.name.startswith("sqlalchemy."):
                    if a.name.startswith(("sqlalchemy.exc", "sqlalchemy.orm")) and a.asname:
                        continue
                    aliases.add(a.asname or a.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module \
                and (node.module == "sqlalchemy" or node.module.startswith("sqlalchemy.")):
            if node.module == "sqlalchemy.exc":
                continue
            for a in node.names:
                if node.module == "sqlalchemy.orm":
                    if a.name not in ORM_ALLOWED:
                        found.append(f"{node.lineno}: from sqlalchemy.orm import {a.name}")
                elif a.name in STATEMENT_BUILDERS or a.name == "*":
                    found.append(f"{node.lineno}: from {node.module} import {a.name}")
                elif node.module in ("sqlalchemy.sql", "sqlalchemy.sql.expression", "sqlalchemy.future"):
                    found.append(f"{node.lineno}: from {node.module} import {a.name}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in STATEMENT_BUILDERS:
            base = node.value
            while isinstance(base, ast.Attribute):
                base = base.value
            if isinstance(base, ast.Name) and base.id in aliases:
                found.append(f"{node.lineno}: {base.id}...{node.attr}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in STATEMENT_RUNNERS:
            found.append(f"{node.lineno}: .{node.func.attr}(...)")
    return sorted(set(found), key=lambda s: int(s.split(":")[0]))


def test_bot_builds_and_runs_no_statement() -> None:
    bad = {str(p.relative_to(ROOT)): found for p in sorted((ROOT / "bot").rglob("*.py")) if (found := offences(p))}
    assert not bad, f"queries belong in storage/ (a repository function), not in bot/: {bad}"


def test_the_check_finds_each_way_of_building_a_query(tmp_path: Path) -> None:
    cases = {
        "from sqlalchemy import select\n": True,
        "from sqlalchemy import func, or_\n": True,
        "def f():\n    from sqlalchemy import update\n": True,
        "from sqlalchemy.sql.expression import and_\n": True,
        "from sqlalchemy.orm import aliased\n": True,
        "import sqlalchemy as sa\nq = sa.select(1)\n": True,
        "import sqlalchemy\nq = sqlalchemy.sql.text('x')\n": True,
        "def f(session):\n    return session.execute(q)\n": True,
        "def f(s):\n    return s.scalars(q).all()\n": True,
        "from sqlalchemy.orm import Session, sessionmaker\n": False,
        "from sqlalchemy.exc import IntegrityError, DBAPIError\n": False,
        "from sqlalchemy import inspect, Engine\nfrom sqlalchemy.engine import make_url\n": False,
        "def f(session, obj):\n    session.add(obj)\n    session.flush()\n    session.get(int, 1)\n": False,
        "terms = set()\nterms.update({1})\nout = []\nout.insert(0, 1)\n": False,
    }
    for i, (source, offending) in enumerate(cases.items()):
        path = tmp_path / f"m{i}.py"
        path.write_text(source)
        assert bool(offences(path)) is offending, source
