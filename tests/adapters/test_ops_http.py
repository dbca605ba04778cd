"""/readyz fails for each named reason and passes when all hold; /metrics, scraped over HTTP, agrees with the
database (counted here with SQL of the test's own, not through storage/ops.py)."""

from __future__ import annotations

import datetime as dt
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from cryptography.fernet import Fernet
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from adapters.ops_http import attach, ops_app
from bot.admin.readiness import Metrics, Readiness
from bot.core.clock import FixedClock
from bot.escalation.scheduler import SchedulerService, Sweeper
from storage import ops
from storage.db import make_engine, session_factory
from tests.adapters.test_teams_e2e import Loop
from tests.bot.test_scheduler import open_case
from tests.conftest import LONDON

NOW = dt.datetime(2026, 4, 2, 10, 0, tzinfo=LONDON)


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=20) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def served(runtime) -> Iterator[tuple[Any, FixedClock, int]]:
    clock = FixedClock(NOW)
    app = ops_app(Readiness(runtime.factory, runtime.engine, clock), Metrics(runtime.factory, clock))

    async def file(_: web.Request) -> web.Response:
        return web.Response(text="a file")

    app.router.add_get("/files/{token}", file)
    loop = Loop()
    try:
        yield runtime, clock, loop.serve(app)
    finally:
        loop.stop()


def failing(body: str) -> list[str]:
    return [line.split(" ", 1)[1].split(":", 1)[0] for line in body.splitlines() if line.startswith("FAIL ")]


def test_ready_only_once_a_scheduler_has_swept_recently(served) -> None:
    rt, clock, port = served
    status, body = get(port, "/readyz")
    assert (status, failing(body)) == (503, ["scheduler"]) and "no scheduler has finished a sweep" in body
    SchedulerService(rt.factory, clock, {}, interval=30).tick()  # a sweep, as `parley scheduler` runs it
    status, body = get(port, "/readyz")
    assert (status, failing(body)) == (200, []), body
    assert [line.split(":")[0] for line in body.splitlines()] == ["ok database", "ok migrations", "ok data key",
                                                                  "ok scheduler"]
    clock.set(NOW + dt.timedelta(seconds=301))  # PARLEY_READY_SWEEP_SECONDS: 300 by default
    status, body = get(port, "/readyz")
    assert (status, failing(body)) == (503, ["scheduler"]) and "301 s ago" in body
    assert get(port, "/healthz") == (200, "ok")  # liveness is not readiness


def test_not_ready_with_a_key_that_cannot_read_what_is_stored(served, monkeypatch) -> None:
    rt, clock, port = served
    open_case(rt, "swindon", clock.now(), subject_name="Jamie Doe")  # subject details, encrypted
    with rt.factory() as s:
        ops.beat(s, clock.now())
        s.commit()
    assert get(port, "/readyz")[0] == 200
    monkeypatch.setenv("PARLEY_DATA_KEYS", Fernet.generate_key().decode("ascii"))
    status, body = get(port, "/readyz")
    assert (status, failing(body)) == (503, ["data key"]), body
    assert "Jamie" not in body


def test_not_ready_when_the_database_is_behind_or_away(tmp_path) -> None:
    clock = FixedClock(NOW)
    engine = make_engine(f"sqlite:///{tmp_path / 'never-migrated.db'}")
    checks = Readiness(session_factory(engine), engine, clock).checks()
    assert [(c.name, c.ok) for c in checks] == [("database", True), ("migrations", False), ("data key", False),
                                                ("scheduler", False)]
    assert "parley db upgrade" in checks[1].detail
    away = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    checks = Readiness(session_factory(away), away, clock).checks()
    assert [(c.name, c.ok) for c in checks] == [("database", False), ("migrations", False), ("data key", False),
                                                ("scheduler", False)]
    assert "does not answer" in checks[0].detail


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, body = get(port, "/metrics")
    assert status == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body) for s in family.samples}


def test_metrics_agree_with_the_database(served) -> None:
    rt, clock, port = served
    open_case(rt, "swindon", clock.now())
    open_case(rt, "swindon", clock.now())
    clock.set(dt.datetime(2026, 4, 9, 9, 30, tzinfo=LONDON))  # both Stage 1 deadlines (Wed 8 Apr) have passed
    Sweeper(rt.factory, clock).fire_due()
    with rt.factory() as s:
        def count(sql: str) -> int:
            return int(s.execute(text(sql)).scalar() or 0)

        pending = count("SELECT count(*) FROM outbox WHERE state = 'pending'")
        console_pending = count("SELECT count(*) FROM outbox WHERE state = 'pending' AND platform = 'console'")
        prompts = count("SELECT count(*) FROM escalation_prompts WHERE state = 'open'")
        lapsed = count("SELECT count(*) FROM timers WHERE kind = 'escalation' AND state = 'done'")
        due = count("SELECT count(*) FROM timers WHERE state = 'pending' AND due_at <= '2026-04-09 08:30:00'")
        oldest = s.execute(text("SELECT min(created_at) FROM outbox WHERE state IN ('pending', 'sending')")).scalar()
    oldest = dt.datetime.fromisoformat(str(oldest))
    oldest = oldest.replace(tzinfo=dt.timezone.utc) if oldest.tzinfo is None else oldest  # SQLite: naive UTC
    assert pending > 0 and prompts == 2 * 2 and lapsed == 2  # both agencies' managers asked, on each case
    got = scrape(port)
    assert got[("parley_outbox_messages", (("platform", "console"), ("state", "pending")))] == console_pending
    assert sum(v for (name, _), v in got.items() if name == "parley_outbox_messages") == pending
    assert got[("parley_escalation_prompts_unacknowledged", ())] == prompts
    assert got[("parley_deadlines_lapsed_total", ())] == lapsed
    assert got[("parley_timers_due", ())] == due
    assert got[("parley_outbox_oldest_undelivered_seconds", ())] == pytest.approx(
        (clock.now() - oldest).total_seconds())
    assert got[("parley_escalation_prompt_oldest_unacknowledged_seconds", ())] == 0  # just posted
    assert str(got[("parley_scheduler_last_sweep_age_seconds", ())]) == "nan"  # no scheduler has swept
    # the scrape's own request, and a file link, are timed by route pattern, never by path
    get(port, "/files/secret-token-123")
    got = scrape(port)
    routes = {dict(labels)["route"] for (name, labels), _ in got.items()
              if name == "parley_http_request_duration_seconds_count"}
    assert routes == {"/metrics", "/files/{token}"}


def test_serve_puts_them_on_the_chat_servers_app(runtime) -> None:
    """`parley serve` attaches /readyz and /metrics to the app it serves (Slack's, or Teams' under /teams)."""
    clock = FixedClock(NOW)
    app = web.Application()
    teams = web.Application()

    async def messages(_: web.Request) -> web.Response:
        return web.Response(text="")

    teams.router.add_post("/api/messages", messages)
    app.add_subapp("/teams", teams)
    attach(app, Readiness(runtime.factory, runtime.engine, clock), Metrics(runtime.factory, clock))
    loop = Loop()
    try:
        port = loop.serve(app)
        assert get(port, "/readyz")[0] == 503
        req = urllib.request.Request(f"http://127.0.0.1:{port}/teams/api/messages", data=b"{}", method="POST")
        with urllib.request.urlopen(req, timeout=20) as resp:
            assert resp.status == 200
        routes = {dict(labels)["route"] for (name, labels), _ in scrape(port).items()
                  if name == "parley_http_request_duration_seconds_count"}
        assert "/teams/api/messages" in routes
    finally:
        loop.stop()
