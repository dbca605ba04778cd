"""What the benchmarks share: the databases they run on, percentiles, a process's memory, and the rows each one
reports to ``bench/run_all.py`` (which prints them as one table and writes ``bench/results.md``).

Every benchmark measures Parley against a baseline *in the same run* and reports the ratio: absolute times on a
shared 2-core machine move with the load, ratios much less. No test asserts a speed.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cryptography.fernet import Fernet  # noqa: E402

from bench.pgschema import PG_BASE, fresh_schema, pg_reachable  # noqa: E402

# Subject details are encrypted at rest: the benchmarks (and the parley processes they start) share a throwaway key
# of their own, never the development key file, unless one is already set.
os.environ.setdefault("PARLEY_DATA_KEYS", Fernet.generate_key().decode("ascii"))

BACKENDS = ("sqlite", "postgres")


@dataclass(frozen=True)
class Row:
    """One line of the results table. ``parley`` and ``baseline`` are what was measured, as text with units;
    ``ratio`` is parley / baseline (None when the line has no baseline); ``goal`` the goal as text ("" for none)
    and ``met`` whether this run met it (None when there is no goal). A line with a ``brief`` (the goal in a few
    words) is also in README's short table, where the lines of one brief (one per database) share a row showing
    ``shown`` (default: the ratio) for each ``backend``."""

    bench: str
    what: str
    parley: str
    baseline: str = ""
    ratio: float | None = None
    goal: str = ""
    met: bool | None = None
    brief: str = ""
    shown: str = ""
    backend: str = ""


def report(rows: list[Row], json_path: str | None) -> None:
    """Print the rows; with ``--json PATH`` (as run_all passes) also append them to that file, one per line."""
    for r in rows:
        ratio = f"{r.ratio:.2f}x" if r.ratio is not None else ""
        verdict = "" if r.met is None else ("  goal met" if r.met else "  GOAL NOT MET")
        goal = f"  (goal {r.goal})" if r.goal else ""
        print(f"  {r.what}: {r.parley}" + (f" vs {r.baseline}" if r.baseline else "") +
              (f" = {ratio}" if ratio else "") + goal + verdict)
    if json_path:
        with open(json_path, "a", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(asdict(r)) + "\n")


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (0-100) by linear interpolation between the closest ranks (numpy's default)."""
    xs = sorted(values)
    if len(xs) == 1:
        return xs[0]
    return statistics.quantiles(xs, n=100, method="inclusive")[round(p) - 1] if 0 < p < 100 else (
        xs[0] if p <= 0 else xs[-1])


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def secs(seconds: float) -> str:
    return f"{seconds:.2f} s"


def backends(wanted: str) -> list[str]:
    """``sqlite``, ``postgres`` or ``both`` (PostgreSQL only when reachable; said so when it is not)."""
    names = list(BACKENDS) if wanted == "both" else [wanted]
    if "postgres" in names and not pg_reachable():
        print(f"PostgreSQL is not reachable at {PG_BASE}: measured on SQLite only")
        names = [n for n in names if n != "postgres"] or ["sqlite"]
    return names


@contextmanager
def database(backend: str, name: str = "bench") -> Iterator[str]:
    """A URL of an empty database: a SQLite file in a temporary folder, or a PostgreSQL schema of its own (dropped
    afterwards)."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="parley-bench-") as tmp:
            yield f"sqlite:///{Path(tmp) / f'{name}.db'}"
    else:
        with fresh_schema() as url:
            yield url


def label(backend: str) -> str:
    return {"sqlite": "SQLite", "postgres": "PostgreSQL"}[backend]


def rss_mb(pid: int) -> float:
    """A process's resident memory now (VmRSS, Linux /proc), in MB (10^6 bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError(f"no VmRSS for process {pid}")


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """The HTTP status of a GET (None when nothing answers)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, ValueError):
        return None


def machine() -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{os.cpu_count()} cores, load average {load}"
