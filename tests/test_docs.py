"""The README stays short and the documentation holds together (issue #16): README.md is at most 10 KB, every
relative link in README.md and docs/ leads to a file that exists, and every environment variable the code reads
is named in README.md, .env.example and docs/configuration.md."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
CODE_DIRS = ("bot", "adapters", "storage", "protocol")
# [text](target) and [text]: target, the text possibly over several lines; the target up to a space or ')'
INLINE_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*(\S+)", re.M)
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)


def _pages() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md"))]


def _links(text: str) -> list[str]:
    text = FENCE.sub("", text)  # code blocks are not links
    text = re.sub(r"`[^`\n]*`", "", text)  # nor is inline code
    return INLINE_LINK.findall(text) + REFERENCE_LINK.findall(text)


def test_readme_is_at_most_10_kb() -> None:
    size = len(README.read_bytes())
    assert size <= 10_240, f"README.md is {size} bytes; move detail into docs/ and link it"


def test_every_relative_link_points_to_an_existing_file() -> None:
    broken = []
    checked = 0
    for page in _pages():
        for target in _links(page.read_text(encoding="utf-8")):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#"):
                continue  # https:, mailto: ..., or a place in the same page
            path = target.split("#", 1)[0].split("?", 1)[0]
            checked += 1
            if not (page.parent / path).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert checked > 20  # the README alone links every docs page
    assert not broken, "links to files that do not exist:\n  " + "\n  ".join(broken)


def test_readme_links_every_docs_page() -> None:
    text = README.read_text(encoding="utf-8")
    linked = {(ROOT / t.split("#", 1)[0]).resolve() for t in _links(text) if not t.startswith(("#", "http"))}
    missing = [p.relative_to(ROOT).as_posix() for p in sorted(DOCS.glob("*.md")) if p.resolve() not in linked]
    assert not missing, f"README.md does not link {missing}"


def _name(node: ast.AST, constants: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    attr = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else None
    return constants.get(attr) if attr else None


def _is_env(node: ast.AST) -> bool:
    """``os.environ``, ``environ`` or a mapping named ``env`` (the code passes os.environ in as ``env``)."""
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id in ("environ", "env"))


def _env_names_read() -> set[str]:
    """Every environment variable the code (and the tests' conftest) reads: os.environ.get / [] / getenv, env.get
    on a mapping passed in, typer's ``envvar=``, and the names in ``*_ENV`` constants and ``*_VARS`` tuples read
    that way."""
    files = [f for d in CODE_DIRS for f in (ROOT / d).rglob("*.py")] + [ROOT / "tests" / "conftest.py"]
    trees = [ast.parse(f.read_text(encoding="utf-8"), str(f)) for f in files]
    constants: dict[str, str] = {}
    tuples: dict[str, list[str]] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                target = node.targets[0].id
                if target.endswith("_ENV") and isinstance(node.value, ast.Constant):
                    constants[target] = node.value.value
                if target.endswith("_VARS") and isinstance(node.value, ast.Tuple):
                    tuples[target] = [e.value for e in node.value.elts if isinstance(e, ast.Constant)]
    names: set[str] = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                env_call = (isinstance(func, ast.Attribute) and func.attr in ("get", "pop", "setdefault")
                            and _is_env(func.value)) or (isinstance(func, ast.Attribute) and func.attr == "getenv")
                if env_call and node.args and (name := _name(node.args[0], constants)):
                    names.add(name)
                for kw in node.keywords:
                    if kw.arg == "envvar" and (name := _name(kw.value, constants)):
                        names.add(name)
                # _present(env, SLACK_VARS): each name in the tuple is read from the environment
                if any(_is_env(a) for a in node.args):
                    for a in node.args:
                        if isinstance(a, ast.Name) and a.id in tuples:
                            names.update(tuples[a.id])
            elif isinstance(node, ast.Subscript) and _is_env(node.value) and (name := _name(node.slice, constants)):
                names.add(name)
    return names


def test_the_env_scan_finds_what_the_code_reads() -> None:
    names = _env_names_read()
    # one of each way of reading: os.environ.get, os.environ[...], a *_ENV constant, env.get, a *_VARS tuple, envvar=
    assert {"DATABASE_URL", "PARLEY_WEBHOOK_URL", "PARLEY_DATA_KEYS", "PARLEY_RETRY_HOURS", "SLACK_SIGNING_SECRET",
            "PORT"} <= names
    assert all(re.fullmatch(r"[A-Z][A-Z0-9_]*", n) for n in names), names


def test_every_environment_variable_is_documented() -> None:
    names = _env_names_read()
    for doc in (README, ROOT / ".env.example", DOCS / "configuration.md"):
        text = doc.read_text(encoding="utf-8")
        missing = sorted(n for n in names if not re.search(rf"(?<![A-Z0-9_]){n}(?![A-Z0-9_])", text))
        assert not missing, f"{doc.relative_to(ROOT)} does not name {missing}"
