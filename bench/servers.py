"""Servers the benchmarks start as processes of their own: ``parley serve`` exactly as deployed (the console script,
Slack over HTTP, optionally Teams, the scheduler beside them) and the bare baselines (bench/bare_slack.py); each
answers on a free local port. Their output goes to a log file, shown when something fails."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import http_status, rss_mb
from bench.slack_load import SECRET

ROOT = Path(__file__).resolve().parents[1]
PARLEY = str(Path(sys.executable).with_name("parley"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    def __init__(self, argv: list[str], env: dict[str, str], port: int, health: str):
        self.port = port
        self.health = health
        self.log = tempfile.NamedTemporaryFile(prefix="parley-bench-", suffix=".log", delete=False)
        self.started = time.monotonic()
        self.proc = subprocess.Popen(argv, env={**os.environ, **env}, stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=ROOT)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_for(self, path: str, timeout: float) -> float | None:
        """Seconds from the start of the process until GET ``path`` answers 200 (None: not within ``timeout``)."""
        while time.monotonic() - self.started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.proc.args[:2]} exited with {self.proc.returncode}:\n{self.output()}")
            if http_status(self.url(path), timeout=1.0) == 200:
                return time.monotonic() - self.started
            time.sleep(0.05)
        return None

    def rss(self) -> float:
        return rss_mb(self.proc.pid)

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)

    def __enter__(self) -> Process:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def parley_serve(db_url: str, slack_api: str, *, teams: bool = False, interval: float = 30.0) -> Process:
    """``parley serve`` with Slack over HTTP against the stand-in at ``slack_api`` (and Teams, unauthenticated
    local traffic, under /teams, when ``teams``)."""
    port = free_port()
    env = {"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_BASE_URL": slack_api,
           "PARLEY_LOG_LEVEL": "WARNING"}
    if teams:
        env["PARLEY_TEAMS"] = "local"
    return Process([PARLEY, "serve", "--db", db_url, "--port", str(port), "--interval", str(interval)], env, port,
                   "/healthz")


def bare_slack(slack_api: str) -> Process:
    port = free_port()
    return Process([sys.executable, str(ROOT / "bench" / "bare_slack.py"), "--port", str(port), "--api", slack_api],
                   {}, port, "/healthz")


def parley_teams(db_url: str) -> Process:
    """``parley serve`` with Teams alone (unauthenticated local traffic, as for the Agents Playground)."""
    port = free_port()
    return Process([PARLEY, "serve", "--db", db_url, "--port", str(port)],
                   {"PARLEY_TEAMS": "local", "PARLEY_LOG_LEVEL": "WARNING"}, port, "/healthz")


def bare_teams() -> Process:
    port = free_port()
    return Process([sys.executable, str(ROOT / "bench" / "bare_teams.py"), "--port", str(port)], {}, port,
                   "/healthz")
