"""The dependency rules of the design, checked on the source: adapters -> bot -> protocol, storage."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# The four layers. Dependencies point one way: adapters -> bot -> protocol, storage. Those three arrows (and a layer
# importing itself) are the only ones allowed; every other ordered pair of layers is a forbidden arrow.
LAYERS = ("protocol", "storage", "bot", "adapters")
ALLOWED = {("adapters", "bot"), ("bot", "protocol"), ("bot", "storage")}
FORBIDDEN = [
    ("protocol", "storage"), ("protocol", "bot"), ("protocol", "adapters"),  # protocol imports no other layer
    ("storage", "protocol"), ("storage", "bot"), ("storage", "adapters"),  # nor does storage
    ("bot", "adapters"),  # bot is driven by the adapters, never the other way
    ("adapters", "storage"), ("adapters", "protocol"),  # adapters go through bot (bot.runtime), never around it
]
# botbuilder / botframework (the Teams SDK) only inside adapters/teams/
TEAMS_SDK = {"botbuilder", "botframework"}


def _module_of(path: Path) -> list[str]:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, as an absolute dotted name: ``import x``, ``from x import y`` (also as
    ``x.y``, y may be a module), relative imports (``from . import y``, ``from ..x import y``) resolved against the
    file's own package, imports anywhere in the file (inside functions, ``if TYPE_CHECKING:``), and
    ``importlib.import_module("x")`` / ``__import__("x")`` with a literal name."""
    package = _module_of(path)
    if path.name != "__init__.py":
        package = package[:-1]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)] if node.level > 1 else package
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            if module:
                names.add(module)
                names.update(f"{module}.{a.name}" for a in node.names if a.name != "*")
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if called in ("import_module", "__import__"):
                names.add(node.args[0].value)
    return names


def imports_of(package: str) -> dict[str, set[str]]:
    """Top-level names imported by each file of ``package`` (relative imports resolved)."""
    return {str(path.relative_to(ROOT)): {m.split(".")[0] for m in imported_modules(path)}
            for path in sorted((ROOT / package).rglob("*.py"))}


def test_the_forbidden_arrows_are_every_pair_of_layers_but_the_allowed_ones() -> None:
    pairs = {(a, b) for a, b in itertools.permutations(LAYERS, 2)}
    assert len(pairs) == 12 and len(FORBIDDEN) == 9
    assert set(FORBIDDEN) == pairs - ALLOWED


@pytest.mark.parametrize(("source", "target"), FORBIDDEN, ids=[f"{a}->{b}" for a, b in FORBIDDEN])
def test_no_forbidden_arrow(source: str, target: str) -> None:
    offenders = sorted(path for path, names in imports_of(source).items() if target in names)
    assert not offenders, f"{source}/ must not import {target}/: {offenders}"


def test_relative_and_nested_imports_are_resolved(tmp_path: Path) -> None:
    pkg = tmp_path / "storage" / "sub"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .. import bot_like\nfrom . import sibling\n")
    (pkg / "mod.py").write_text("def f():\n    from ...bot import runtime\n    from ..x import y\n"
                                "    importlib.import_module('adapters.cli')\n")
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        assert imported_modules(pkg / "__init__.py") >= {"storage", "storage.bot_like", "storage.sub.sibling"}
        found = imported_modules(pkg / "mod.py")
        assert {"bot", "bot.runtime", "storage.x", "storage.x.y", "adapters.cli"} <= found
        assert {"bot", "adapters"} <= imports_of("storage")["storage/sub/mod.py"]
    finally:
        ROOT = saved


def test_the_teams_sdk_stays_in_adapters_teams() -> None:
    offenders = sorted(path for layer in LAYERS for path, names in imports_of(layer).items()
                       if names & TEAMS_SDK and not path.startswith("adapters/teams/"))
    assert not offenders, offenders


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
    """Only the intake service (bot/cases/opening.py) writes subject details, and only the case service's
    withholder and the forms module (which withhold them from readers not entitled to them) read them; views,
    digests, reports, runtime and adapters never do."""
    users = {p for p, names in {**imports_of("bot"), **imports_of("adapters")}.items()
             if "subjects" in (ROOT / p).read_text("utf-8")}
    assert users <= {"bot/cases/opening.py", "bot/cases/services.py", "bot/records/documents.py"}, users
