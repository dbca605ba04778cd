"""The results of one ``make bench`` as tables: the whole table (bench/results.md, and docs/performance.md between
its markers) and the short one of the goals (README.md between its markers). Both are rendered from
bench/results.json, which run_all writes; tests/test_bench_docs.py checks that the documents show exactly that."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS_JSON = ROOT / "bench" / "results.json"
RESULTS_MD = ROOT / "bench" / "results.md"
DOCS = ROOT / "docs" / "performance.md"
README = ROOT / "README.md"
FULL = ("<!-- bench-results:start -->", "<!-- bench-results:end -->")
BRIEF = ("<!-- bench-brief:start -->", "<!-- bench-brief:end -->")


def load(path: Path = RESULTS_JSON) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _verdict(met: bool | None) -> str:
    return "" if met is None else ("yes" if met else "**no**")


def _ratio(ratio: float | None) -> str:
    if ratio is None:
        return ""
    return f"{ratio:.2f}×" if ratio < 10 else f"{ratio:.1f}×"


def heading(run: dict[str, Any]) -> str:
    took = f", {run['took'] / 60:.0f} minutes in all" if run.get("took") else ""
    return (f"Measured {run['measured']} on commit {run['commit']} ({run['machine']} at the start), each benchmark "
            f"at its defaults{took}.")


def full_table(run: dict[str, Any]) -> str:
    lines = [heading(run), "", "| benchmark | what | Parley | baseline | ratio | goal | met |",
             "|---|---|---|---|---|---|---|"]
    for r in run["rows"]:
        lines.append("| " + " | ".join(_cell(x) for x in (
            f"`{r['bench']}`", r["what"], r["parley"], r["baseline"], _ratio(r["ratio"]), r["goal"],
            _verdict(r["met"]))) + " |")
    return "\n".join(lines)


def brief_table(run: dict[str, Any]) -> str:
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in run["rows"]:
        if r.get("brief"):
            groups.setdefault(r["brief"], []).append(r)
    lines = ["| goal | measured | met |", "|---|---|---|"]
    for brief, rows in groups.items():
        shown = ", ".join(f"{r.get('shown') or _ratio(r['ratio'])} {r['backend']}".strip() for r in rows)
        met = all(r["met"] for r in rows)
        lines.append(f"| {_cell(brief)} | {_cell(shown)} | {_verdict(met)} |")
    return "\n".join(lines)


def replace_block(text: str, markers: tuple[str, str], body: str) -> str:
    start, end = markers
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise ValueError(f"the markers {start} ... {end} are missing")
    return pattern.sub(lambda _: f"{start}\n{body}\n{end}", text)


def block(text: str, markers: tuple[str, str]) -> str:
    start, end = markers
    found = re.search(re.escape(start) + r"\n(.*?)\n" + re.escape(end), text, re.S)
    if found is None:
        raise ValueError(f"the markers {start} ... {end} are missing")
    return found.group(1)


def write(run: dict[str, Any], *, docs: bool) -> None:
    RESULTS_JSON.write_text(json.dumps(run, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    RESULTS_MD.write_text("# Benchmark results\n\n" + full_table(run) + "\n", encoding="utf-8")
    if docs:
        DOCS.write_text(replace_block(DOCS.read_text(encoding="utf-8"), FULL, full_table(run)), encoding="utf-8")
        README.write_text(replace_block(README.read_text(encoding="utf-8"), BRIEF, brief_table(run)),
                          encoding="utf-8")
