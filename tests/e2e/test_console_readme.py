"""C-README1: the console examples in README.md (its short session) and docs/console.md (the whole session),
replayed through the console adapter on a fresh demo database whose clock starts where they say (`make demo-april`,
or `make run CLOCK="2026-04-02 10:00" DB=...`): every line they show, apart from the lines they elide with '...' or
'…', is printed, in order, and every /clock move lands on the date and time they print."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from tests.conftest import LONDON, make_runtime

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
CONSOLE_DOC = ROOT / "docs" / "console.md"  # the whole console session, moved out of README
DOCS = ROOT / "docs"
START = dt.datetime(2026, 4, 2, 10, 0, tzinfo=LONDON)  # `make demo-april`
PROMPT = re.compile(r"^(\w+)@swindon> (.*)$")
# the intake answers the examples elide ('...') between the description and the confirmation
ELIDED_INTAKE = ["Phoned the duty social worker", "Re-open and assess", "today", "Swindon Children's Social Care",
                 "Bob Evans, Social Worker", "skip", "skip"]


def _text_blocks(text: str) -> list[list[str]]:
    return [b.splitlines() for b in re.findall(r"```text\n(.*?)```", text, re.S)]


def _readme_blocks() -> list[list[str]]:
    """The ```text blocks of README's section "A short console session"."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## A short console session", 1)[1].split("\n## ", 1)[0]
    return _text_blocks(section)


def _console_doc_blocks() -> list[list[str]]:
    """Every ```text block of docs/console.md."""
    return _text_blocks(CONSOLE_DOC.read_text(encoding="utf-8"))


def _replay(lines: list[str], tmp_path: Path, name: str, *, intake: list[str] | None = None) -> tuple[list[str], str]:
    """Type the block's inputs (after ``intake``, a case raised first when the block carries on from one) and
    return (the lines the example expects, what the console printed)."""
    import io

    from adapters.console.app import ConsoleApp

    typed: list[str] = list(intake or [])
    expected: list[str] = []
    for line in lines:
        m = PROMPT.match(line)
        if m:
            typed.append(m.group(2))
        elif line.strip() == "..." and typed and typed[-1].startswith("CSC closed the referral"):
            typed.extend(ELIDED_INTAKE)
        elif line.startswith("$ "):
            continue
        elif "..." not in line and "\u2026" not in line and line.strip():
            expected.append(line.strip())
    rt = make_runtime(f"sqlite:///{tmp_path / name}.db")
    out = io.StringIO()
    ConsoleApp(rt, "swindon", out=out, start=START).run(io.StringIO("\n".join(typed) + "\n"))
    rt.engine.dispose()
    return expected, out.getvalue()


def _intake(block: list[str]) -> list[str]:
    """The first example's typed lines up to the case being recorded (the later examples carry on from a case)."""
    typed = []
    for line in block:
        m = PROMPT.match(line)
        if m and m.group(2).startswith("/clock"):
            break
        if m:
            typed.append(m.group(2))
        elif line.strip() == "..." and typed and typed[-1].startswith("CSC closed the referral"):
            typed.extend(ELIDED_INTAKE)
    return typed


def _printed_lines(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines()]


def _check_runs(runs: list[tuple[list[str], list[str] | None]], tmp_path: Path, where: str) -> None:
    for i, (block, before) in enumerate(runs):
        expected, output = _replay(block, tmp_path, f"{where.replace('/', '-')}{i}", intake=before)
        # each expected line is a whole printed line, in the page's order
        printed = _printed_lines(output)
        pos = 0
        for want in expected:
            assert want in printed[pos:], (f"{where} example {i + 1} shows\n  {want}\nbut the console printed (from "
                                           "there on):\n" + "\n".join(printed[pos:pos + 40]))
            pos = printed.index(want, pos) + 1
        clocks = [line for line in expected if line.startswith("Simulated time:")]
        assert clocks, f"{where} example {i + 1} moves the clock"
        for line in clocks:
            assert line in _printed_lines(output)


def test_CREADME1_the_readme_console_examples_replay_as_printed(tmp_path) -> None:
    blocks = _readme_blocks()
    assert len(blocks) == 1
    _check_runs([(blocks[0], None)], tmp_path, "README.md")


def test_CREADME1_the_console_page_examples_replay_as_printed(tmp_path) -> None:
    blocks = _console_doc_blocks()
    assert len(blocks) == 3
    intake = _intake(blocks[0])
    runs = [(blocks[0], None), (blocks[1], intake), (blocks[2], None)]
    _check_runs(runs, tmp_path, "docs/console.md")


def test_CREADME1_a_start_time_on_a_database_already_past_it_is_ignored_and_said_so(tmp_path) -> None:
    import io

    from adapters.console.app import ConsoleApp

    rt = make_runtime(f"sqlite:///{tmp_path / 'old.db'}")
    ConsoleApp(rt, "swindon", out=io.StringIO(), start=START).run(io.StringIO("/clock 2026-04-09 10:00\n"))
    out = io.StringIO()
    ConsoleApp(rt, "swindon", out=out, start=START).run(io.StringIO("/quit\n"))
    assert ("--clock 2026-04-02 10:00 is ignored: this database's simulated clock is already at Thu 9 Apr 2026 "
            "10:00 and only moves forward. To start at 2026-04-02 10:00, use a fresh database, e.g. make run "
            'CLOCK="2026-04-02 10:00" DB=sqlite:///april.db (or make demo-april).') in out.getvalue()
    # a start time after the database's clock moves it forward, as /clock would
    out = io.StringIO()
    ConsoleApp(rt, "swindon", out=out, start=START.replace(day=14)).run(io.StringIO("/quit\n"))
    assert "Simulated time: Tue 14 Apr 2026 10:00" in out.getvalue() and "is ignored" not in out.getvalue()
    rt.engine.dispose()


def test_CREADME1_make_targets_start_the_clock_where_readme_says() -> None:
    import subprocess

    root = ROOT
    dry = subprocess.run(["make", "-n", "demo-april"], capture_output=True, text=True, cwd=root, timeout=60).stdout
    assert 'rm -f april.db' in dry and 'DB=sqlite:///april.db CLOCK="2026-04-02 10:00"' in dry
    dry = subprocess.run(["make", "-n", "run", "CLOCK=2026-04-02 10:00", "DB=sqlite:///x.db"], capture_output=True,
                         text=True, cwd=root, timeout=60).stdout
    assert 'parley console --db sqlite:///x.db --board swindon --clock "2026-04-02 10:00"' in dry
    assert "--clock" not in subprocess.run(["make", "-n", "run"], capture_output=True, text=True, cwd=root,
                                           timeout=60).stdout


def _port_defaults(text: str) -> set[str]:
    return set(re.findall(r"`PORT`[^|\n]*?default (\d+)", text)) | set(re.findall(r"`PORT` \|[^\n]*default (\d+)", text))


def test_CREADME5_readme_gives_the_port_default_the_code_has() -> None:
    import inspect

    from adapters import cli_serve

    default = inspect.signature(cli_serve.serve).parameters["port"].default
    assert _port_defaults(README.read_text(encoding="utf-8")) == {str(default)}
    # the full configuration table gives it too, and no docs page gives another
    assert _port_defaults((DOCS / "configuration.md").read_text(encoding="utf-8")) == {str(default)}
    for page in sorted(DOCS.rglob("*.md")):
        assert _port_defaults(page.read_text(encoding="utf-8")) <= {str(default)}, page
