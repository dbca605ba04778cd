"""Time the scheduler's sweep (Sweeper.fire_due) with 10,000 vs 200,000 pending timers in the table.

    .venv/bin/python bench/bench_sweep.py [--sizes 10000,200000] [--due 200] [--repeat 3] [--backend both]

(``--sizes 10000,1000000`` for a million, about three minutes more.)

Each size gets a fresh database holding the same work: the same cases, opened through bot.cases.services about
two months before a fixed "now" (so about ``--due`` of their timers are due: escalations, overdue and duty
reminders, and nudges for deadlines gone, which the sweep drops), plus enough filler timers, due between
a month and three years later, to bring the pending rows to the size. The filler is bulk-inserted with
Core ``insert()`` executemany in chunks (case_id NULL: a real case has a handful of timers, so attaching a
million to these few cases would only measure the per-case look-ups). Tables are ANALYZEd, as autovacuum
would do on a server.

Timed: ``Sweeper.fire_due()`` on a fixed clock (claim the due rows ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, run their handlers, write the outbox, commit), best of ``--repeat``; between repeats the
work is undone (new outbox rows, prompts, events and timers deleted, the fired timers set pending again).
Also timed alone: the claim query itself (the exact SQL fire_due sent, captured from the engine), median
of 30 runs inside a rolled-back transaction. Printed: the ratios 1M / 10k (one run; absolute times are
noisy on this 2-core machine) and the claim query's plan (EXPLAIN QUERY PLAN on SQLite; EXPLAIN ANALYZE
on PostgreSQL), to show ``ix_timers_state_due_at`` is used.

SQLite runs in a temporary folder; PostgreSQL (``PARLEY_TEST_PG_URL`` or 127.0.0.1:5432 db ``test``) in
a schema of its own, dropped afterwards. The whole run takes about two to three minutes here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import delete, event, func, select, text, update

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Row, backends, database, label, ms, report
from bot.core.clock import FixedClock
from bot.runtime import Runtime
from bot.escalation.scheduler import Sweeper
from bot.cases.services import Ctx
from bot.cases.opening import NewCase
from storage import repo
from storage.models import CaseEvent, EscalationPrompt, OutboxMessage, Timer
from bot.cases import protocols
from bot.cases import opening

LONDON = ZoneInfo("Europe/London")
BOARDS = ("swindon", "wolverhampton", "cardiff-and-vale", "mid-and-west-wales")
PRACTITIONERS = ("alice", "bob", "hana", "ed")
KINDS = ("nudge", "nudge", "overdue", "escalation", "duty")
CHUNK = 50_000


# -- building a database -----------------------------------------------------------------------------------
def open_cases(rt: Runtime, now: dt.datetime, due: int) -> int:
    """Open cases two months before ``now`` until at least ``due`` timers are due at ``now``."""
    start = (now - dt.timedelta(days=61)).replace(hour=10, minute=0, second=0, microsecond=0)
    i = 0
    while due_count(rt, now) < due:
        for _ in range(4):
            board = BOARDS[i % 4]
            raising, responding = PRACTITIONERS[(i // 4) % 4], PRACTITIONERS[((i // 4) + 1) % 4]
            at = start + dt.timedelta(days=(i // 4) % 10, minutes=i)
            with rt.factory() as s:
                actor = repo.person_by_key(board, raising, session=s)
                other = repo.person_by_key(board, responding, session=s)
                proto = protocols.board_protocol(board, session=s)
                opening.open_case(Ctx(actor, "console", at), NewCase(
                    board_id=board, subject_kind="child", category=proto.categories[0].id,
                    what_happened=f"Disagreement {i}", done_so_far="Discussed", outcome_sought="Agreement",
                    arose_on=at.date(), responding_agency_id=other.agency_id, responding_person_id=other.id),
                    session=s)
                s.commit()
            i += 1
    return i


def due_count(rt: Runtime, now: dt.datetime) -> int:
    with rt.factory() as s:
        return s.scalar(select(func.count()).select_from(Timer).where(Timer.state == "pending",
                                                                      Timer.due_at <= now)) or 0


def add_future_timers(rt: Runtime, now: dt.datetime, size: int) -> float:
    """Bring the pending timers up to ``size`` with rows due a month to three years after ``now``."""
    with rt.factory() as s:
        have = s.scalar(select(func.count()).select_from(Timer).where(Timer.state == "pending")) or 0
    rng = random.Random(size)
    table = Timer.__table__
    started = time.perf_counter()
    with rt.engine.begin() as conn:
        for first in range(0, size - have, CHUNK):
            rows = []
            for n in range(first, min(first + CHUNK, size - have)):
                due = now + dt.timedelta(days=30, seconds=rng.randrange(3 * 365 * 86400))
                rows.append({"key": f"bench:{n}", "kind": KINDS[n % len(KINDS)], "board_id": BOARDS[n % 4],
                             "case_id": None, "token": 10, "due_at": due, "deadline_at": due, "state": "pending",
                             "fired_at": None, "late": False, "note": "", "data": {"step": "bench"},
                             "created_at": now})
            conn.execute(table.insert(), rows)
    with rt.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    return time.perf_counter() - started


# -- measuring -------------------------------------------------------------------------------------------
class Capture:
    """Remembers the first claim statement (SELECT ... FROM timers ... due_at <= ...) the engine sends."""

    def __init__(self, engine):
        self.sql: str | None = None
        self.params = None
        event.listen(engine, "before_cursor_execute", self._seen)
        self.engine = engine

    def _seen(self, conn, cursor, statement, parameters, context, executemany):
        if self.sql is None and statement.lstrip().upper().startswith("SELECT") and "FROM timers" in statement \
                and "ORDER BY timers.due_at" in statement and "LIMIT" in statement:
            self.sql, self.params = statement, parameters

    def stop(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)


def fire_once(rt: Runtime, clock: FixedClock) -> tuple[float, int]:
    sweeper = Sweeper(rt.factory, clock)
    with rt.factory() as s:
        marks = {m: s.scalar(select(func.coalesce(func.max(m.id), 0))) for m in
                 (OutboxMessage, EscalationPrompt, CaseEvent, Timer)}
        due_ids = list(s.scalars(select(Timer.id).where(Timer.state == "pending", Timer.due_at <= clock.now())))
    started = time.perf_counter()
    fired = sweeper.fire_due()
    took = time.perf_counter() - started
    # undo the work so that the next repeat fires the same rows
    with rt.factory() as s:
        pg = s.get_bind().dialect.name == "postgresql"
        if pg:  # the event history is append-only (migration 0008's trigger); this is a scratch schema
            s.execute(text("ALTER TABLE case_events DISABLE TRIGGER case_events_append_only"))
        s.execute(delete(OutboxMessage).where(OutboxMessage.id > marks[OutboxMessage]))
        s.execute(delete(EscalationPrompt).where(EscalationPrompt.id > marks[EscalationPrompt]))
        s.execute(delete(CaseEvent).where(CaseEvent.id > marks[CaseEvent]))
        if pg:
            s.execute(text("ALTER TABLE case_events ENABLE TRIGGER case_events_append_only"))
        s.execute(delete(Timer).where(Timer.id > marks[Timer]))
        for first in range(0, len(due_ids), 500):
            s.execute(update(Timer).where(Timer.id.in_(due_ids[first:first + 500]))
                      .values(state="pending", fired_at=None, late=False, note=""))
        s.commit()
    return took, fired


def claim_query_time(rt: Runtime, sql: str, params, runs: int = 30) -> float:
    times = []
    with rt.engine.connect() as conn:
        for _ in range(runs):
            started = time.perf_counter()
            conn.exec_driver_sql(sql, params).fetchall()
            times.append(time.perf_counter() - started)
            conn.rollback()  # let go of the row locks (PostgreSQL)
    return statistics.median(times)


def explain(rt: Runtime, sql: str, params) -> list[str]:
    prefix = "EXPLAIN QUERY PLAN " if rt.engine.dialect.name == "sqlite" else "EXPLAIN (ANALYZE, COSTS OFF) "
    with rt.engine.connect() as conn:
        rows = conn.exec_driver_sql(prefix + sql, params).fetchall()
        conn.rollback()
    if rt.engine.dialect.name == "sqlite":
        return [f"{r[-1]}" for r in rows]
    return [r[0] for r in rows]


def run_size(url: str, size: int, now: dt.datetime, due: int, repeat: int) -> dict:
    rt = Runtime(url)
    try:
        rt.upgrade()
        rt.load_demo()
        cases = open_cases(rt, now, due)
        n_due = due_count(rt, now)
        fill = add_future_timers(rt, now, size)
        with rt.factory() as s:
            pending = s.scalar(select(func.count()).select_from(Timer).where(Timer.state == "pending"))
        clock = FixedClock(now)
        cap = Capture(rt.engine)
        runs = []
        fired = 0
        for _ in range(repeat):
            took, fired = fire_once(rt, clock)
            runs.append(took)
        cap.stop()
        assert cap.sql is not None, "the claim query was not seen"
        claim = claim_query_time(rt, cap.sql, cap.params)
        plan = explain(rt, cap.sql, cap.params)
        return {"size": size, "pending": pending, "cases": cases, "due": n_due, "fired": fired,
                "fill_s": fill, "fire_s": min(runs), "claim_s": claim, "plan": plan, "sql": cap.sql}
    finally:
        rt.engine.dispose()


def show(backend: str, results: list[dict]) -> None:
    print(f"\n== {backend}")
    for r in results:
        print(f"  {r['pending']:>9,} pending timers ({r['cases']} cases, {r['due']} due, {r['fired']} fired, "
              f"filler inserted in {r['fill_s']:.1f} s): fire_due {r['fire_s'] * 1000:8.1f} ms, "
              f"claim query {r['claim_s'] * 1000:7.3f} ms")
    small, big = results[0], results[-1]
    print(f"  ratio {big['pending']:,} / {small['pending']:,}: fire_due {big['fire_s'] / small['fire_s']:.2f}x, "
          f"claim query {big['claim_s'] / small['claim_s']:.2f}x")
    print(f"  claim query (as Sweeper.fire_due sends it): {' '.join(big['sql'].split())}")
    print(f"  plan with {big['pending']:,} pending:")
    for line in big["plan"]:
        print(f"    {line}")


def rows_for(backend: str, results: list[dict]) -> list[Row]:
    small, big = results[0], results[-1]
    ratio = big["fire_s"] / small["fire_s"]
    return [Row("sweep", f"sweep (`fire_due`, the same {big['due']} due timers), {big['pending']:,} vs "
                f"{small['pending']:,} pending timers, {label(backend)} (claim query alone "
                f"{big['claim_s'] / small['claim_s']:.2f}×)", ms(big["fire_s"]), ms(small["fire_s"]), ratio, "≤ 2×",
                ratio <= 2, brief=f"sweep with {big['pending']:,} pending timers ≤ 2× with {small['pending']:,}",
                backend=label(backend))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,200000", help="pending timers, comma-separated (first vs last)")
    ap.add_argument("--due", type=int, default=200, help="at least this many due timers (the same in every run)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument("--json", help="append the result rows to this file (run_all)")
    args = ap.parse_args(argv)
    sizes = [int(x) for x in args.sizes.split(",")]
    # a fixed "now" (a Tuesday 11:00, London), so every run has the same timers due
    now = dt.datetime(2026, 11, 24, 11, 0, tzinfo=LONDON)
    rows: list[Row] = []
    for backend in backends(args.backend):
        results = []
        for size in sizes:
            with database(backend, f"sweep-{size}") as url:
                results.append(run_size(url, size, now, args.due, args.repeat))
        show(label(backend), results)
        rows += rows_for(backend, results)
    report(rows, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
