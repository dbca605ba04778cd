"""The quarterly data set (reports.quarterly) over many cases, with its stored projections current and with them
stale (projection_version 0, as after a rules change: the report replays each case of the quarter first), against a
plain count of the events table.

    .venv/bin/python bench/bench_quarterly.py [--cases 10000] [--templates 100] [--board cardiff-and-vale]
                                              [--year 2026] [--quarter 2] [--repeat 5] [--backend both]

Building the database: ``--templates`` cases of one board are driven through bot.cases.services, opened at times
spread evenly over the four quarters of ``--year``, each taking a random but protocol-allowed path (raising with
a manager, contacts, steps done, outcomes resolved or not, on time or late, some recorded with an earlier date,
escalations to exceptional stages, bypasses, protective dates, closures, policy-gap referrals, and some left
open), so every template has a real event history and the projection ``services.refresh`` wrote as it went.
Each template is then copied in bulk (bench/seed.py ``copy_cases``) until there are ``--cases`` cases. A copy
keeps its template's times, so its stored projection is exactly a replay of its copied events (the script checks
a random sample of copies against a full replay before timing). Tables are then ANALYZEd, as autovacuum would do.

Timed, each in a new session: ``reports.quarterly()`` for one quarter of the board (about a quarter of all the
cases), best of ``--repeat``; ``SELECT count(*) FROM case_events``, best of ``--repeat``; then, with every case's
``projection_version`` set to 0, the same report once (it replays the quarter's cases in its session, which is
rolled back, and must give the same tables). Printed: the times, the ratios to the count and the stale report's
cost per case replayed, and the plans of the report's two GROUP BY queries. The goal of the current-projection
report is under 2 s at 100,000 cases (``--cases 100000``); the default size keeps ``make bench`` short.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import event, func, select, text, update

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import seed
from bench.common import Row, backends, database, label, ms, report
from bot.cases import projection, services
from bot.reporting import reports
from bot.runtime import Runtime
from bot.cases.services import Ctx
from bot.cases.opening import NewCase
from bot.cases.errors import ServiceError
from protocol.state import Action, Status
from storage import repo
from storage.models import Case, CaseEvent
from bot.cases import protocols
from bot.cases import opening

LONDON = ZoneInfo("Europe/London")
PAIRS = (("alice", "bob"), ("ed", "hana"), ("hana", "alice"), ("bob", "ed"), ("alice", "hana"), ("ed", "bob"))
GAPS_HOURS = (2, 5, 20, 24, 26, 48, 72, 96, 150, 240)  # between one action and the next


# -- templates: real cases driven through the services ---------------------------------------------------------
def drive_template(s, board: str, start: dt.datetime, rng: random.Random) -> Case:
    proto = protocols.board_protocol(board, session=s)
    cal = proto.calendar()
    raiser, responder = rng.choice(PAIRS)
    actor = repo.person_by_key(board, raiser, session=s)
    other = repo.person_by_key(board, responder, session=s)
    una = repo.person_by_key(board, "una", session=s)
    bypass = rng.choice(proto.bypass.reasons).id if proto.bypass and rng.random() < 0.04 else None
    case = opening.open_case(Ctx(actor, "console", start), NewCase(
        board_id=board, subject_kind="child" if "children" in proto.scope else "adult",
        category=rng.choice(proto.categories).id, what_happened="Disagreement about a referral",
        done_so_far="Discussed", outcome_sought="Agreement", arose_on=cal.local_date(start),
        responding_agency_id=other.agency_id, responding_person_id=other.id, bypass_reason=bypass), session=s)
    goes_to = rng.choices((1, 2, 3, 4, 5), weights=(45, 28, 15, 8, 4))[0]  # the stage where it resolves
    open_left = rng.random() < 0.15  # some cases are still open when the report runs
    now = start
    for _ in range(30):
        st = services.state_of(case, now, session=s)
        if st.status not in (Status.OPEN, Status.AWAITING_DECISION):
            break
        if open_left and rng.random() < 0.2:
            break
        now += dt.timedelta(hours=rng.choice(GAPS_HOURS))
        ctx = Ctx(una if rng.random() < 0.5 else actor, "console", now)
        today = cal.local_date(now)
        r = rng.random()
        # the steps that lead up to the stage's deadline; the deadline step itself is usually ended by the outcome
        steps = [i for i in st.completable() if not i.step.stage_deadline]
        deadline_step = [i for i in st.completable() if i.step.stage_deadline]
        try:
            if st.status is Status.AWAITING_DECISION:
                if r < 0.75:
                    services.escalate(ctx, case, reason="Needs the exceptional stage", session=s)
                else:
                    services.close_case(ctx, case, reason="Agencies agreed to stop", session=s)
            elif steps and r < 0.7:
                services.complete_step(ctx, case, steps[0].step.id, on=today, session=s)
            elif r < 0.25:
                services.record_contact(ctx, case, on=today, who="Counterpart", how=rng.choice(
                    ("meeting", "phone", "email")), outcome="Discussed", session=s)
            elif r < 0.27 and Action.BYPASS in st.allowed:
                services.bypass_to_stage(ctx, case, reason_id=rng.choice(proto.bypass.reasons).id, session=s)
            elif r < 0.29:
                services.close_case(ctx, case, reason="Withdrawn", session=s)
            elif r < 0.31 and Action.SET_PROTECTIVE_DATE in st.allowed:
                services.set_protective_date(ctx, case, today + dt.timedelta(days=rng.randint(2, 15)), session=s)
            elif r < 0.33 and deadline_step:
                services.complete_step(ctx, case, deadline_step[0].step.id, on=today, session=s)
            elif r < 0.35 and Action.EXTEND in st.allowed:
                item = next(i for i in st.items if i.step.extendable and i.due_at is not None)
                services.extend_step(ctx, case, item.step.id, until=item.due_at.date() + dt.timedelta(days=5),
                                     reason="Process issue", session=s)
            else:
                resolved = st.stage is not None and st.stage.number >= goes_to
                entered = cal.local_date(st.visits[-1].entered_at)
                on = None
                if rng.random() < 0.2 and entered < today:
                    on = entered + dt.timedelta(days=rng.randint(0, (today - entered).days))
                flags = {"policy_gap": True} if resolved and rng.random() < 0.2 else None
                services.record_outcome(ctx, case, resolved=resolved, text="Agreed" if resolved else "Not agreed",
                                        on=on, flags=flags, session=s)
        except ServiceError:
            continue
    return case


def build_templates(rt: Runtime, board: str, year: int, n: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    first = dt.datetime(year, 1, 1, 9, tzinfo=LONDON)
    ids = []
    for i in range(n):
        start = first + dt.timedelta(days=i * 364 / n, minutes=rng.randrange(8 * 60))
        with rt.factory() as s:
            ids.append(drive_template(s, board, start, rng).id)
            s.commit()
    return ids


# -- bulk copies ---------------------------------------------------------------------------------------------
def copy_templates(rt: Runtime, template_ids: list[int], total: int) -> tuple[int, int]:
    """Copy the templates (bench/seed.py) until the database holds ``total`` cases; ANALYZE, as autovacuum would."""
    copies = seed.copy_cases(rt, template_ids, total)
    with rt.engine.connect() as conn:
        events = conn.execute(select(func.count()).select_from(CaseEvent.__table__)).scalar_one()
    with rt.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    return copies, events


def check_sample(rt: Runtime, template_ids: list[int], size: int, seed: int) -> int:
    """A random sample of the cases (copies and templates) must match a full replay of their events."""
    rng = random.Random(seed)
    with rt.factory() as s:
        top = s.scalar(select(func.max(Case.id)))
        ids = sorted(set(rng.sample(range(1, top + 1), size)) | set(template_ids[:20]))
        cases = list(s.scalars(select(Case).where(Case.id.in_(ids))))
        report = projection.rebuild(s, cases=cases, check=True)
        s.rollback()
    if report.wrong:
        raise SystemExit(f"the projection of {len(report.wrong)} sampled cases differs from a replay: "
                         f"{dict(list(report.wrong.items())[:3])}")
    return report.checked


# -- timing ----------------------------------------------------------------------------------------------------
class Capture:
    """The SQL statements (with parameters) the report sends, to explain them afterwards."""

    def __init__(self, engine):
        self.seen: list[tuple[str, object]] = []
        self.engine = engine
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, parameters, context, executemany):
        if "GROUP BY" in statement:
            self.seen.append((statement, parameters))

    def stop(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)


def explain(rt: Runtime, sql: str, params) -> list[str]:
    prefix = "EXPLAIN QUERY PLAN " if rt.engine.dialect.name == "sqlite" else "EXPLAIN (ANALYZE, COSTS OFF) "
    with rt.engine.connect() as conn:
        rows = conn.exec_driver_sql(prefix + sql, params).fetchall()
    return [str(r[-1]) if rt.engine.dialect.name == "sqlite" else r[0] for r in rows]


def best_of(repeat: int, fn) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return min(times), result


def run(url: str, args: argparse.Namespace) -> dict:
    rt = Runtime(url)
    try:
        rt.upgrade()
        rt.load_demo()
        started = time.perf_counter()
        template_ids = build_templates(rt, args.board, args.year, args.templates, args.seed)
        drive_s = time.perf_counter() - started
        started = time.perf_counter()
        copies, copied_events = copy_templates(rt, template_ids, args.cases)
        copy_s = time.perf_counter() - started
        sampled = check_sample(rt, template_ids, 300, args.seed)
        quarter = f"{args.year}Q{args.quarter}"

        def report() -> list:
            with rt.factory() as s:
                return reports.quarterly(args.board, quarter, session=s)[1]

        def count() -> int:
            with rt.engine.connect() as conn:
                return conn.execute(text("SELECT count(*) FROM case_events")).scalar_one()

        report()  # warm the protocol cache and the connection pool, as a running process has them
        count()
        cap = Capture(rt.engine)
        report_s, tables = best_of(args.repeat, report)
        cap.stop()
        count_s, events = best_of(args.repeat, count)
        with rt.engine.begin() as conn:  # every projection stale, as after a change of the projection rules
            conn.execute(update(Case.__table__).values(projection_version=0))
        stale_s, stale_tables = best_of(1, report)
        if stale_tables != tables:
            raise SystemExit("the report over stale projections differs from the one over current projections")
        with rt.factory() as s:
            cases = s.scalar(select(func.count()).select_from(Case))
        in_quarter = sum(n for _, n in dict(tables)["Status"])
        plans = [(sql, explain(rt, sql, params)) for sql, params in cap.seen[-2:]]
        return {"cases": cases, "events": events, "templates": len(template_ids), "copies": copies,
                "copied_events": copied_events, "drive_s": drive_s, "copy_s": copy_s, "sampled": sampled,
                "in_quarter": in_quarter, "report_s": report_s, "count_s": count_s, "tables": tables,
                "stale_s": stale_s,
                "plans": plans, "quarter": quarter}
    finally:
        rt.engine.dispose()


def show(backend: str, r: dict, board: str) -> None:
    print(f"\n== {backend}")
    print(f"  {r['cases']:,} cases ({r['templates']} driven through the services in {r['drive_s']:.0f} s, "
          f"{r['copies']:,} copies inserted in {r['copy_s']:.0f} s); "
          f"{r['events']:,} events; a sample of {r['sampled']} cases matches a full replay")
    print(f"  quarterly data set, {board} {r['quarter']} ({r['in_quarter']:,} cases): {r['report_s'] * 1000:8.1f} ms")
    print(f"  SELECT count(*) FROM case_events:                 {r['count_s'] * 1000:8.1f} ms")
    print(f"  ratio report / count: {r['report_s'] / r['count_s']:.2f}x")
    print(f"  the same report with every projection stale (replayed first): {r['stale_s']:.2f} s, "
          f"{r['stale_s'] / r['in_quarter'] * 1000:.2f} ms a case")
    tables = dict(r["tables"])
    for name in ("Highest stage reached", "Status", "Stage deadlines", "Bypass to a higher stage",
                 "Policy-gap referrals"):
        print(f"    {name}: " + ", ".join(f"{label} {n:,}" for label, n in tables[name]))
    for sql, plan in r["plans"]:
        print(f"  plan of: {' '.join(sql.split())[:160]} ...")
        for line in plan:
            print(f"    {line}")


def rows_for(backend: str, r: dict, board: str) -> list[Row]:
    where = f"{r['cases']:,} {board} cases, {r['in_quarter']:,} in {r['quarter']}, {label(backend)}"
    big = r["cases"] >= 100_000
    return [
        Row("quarterly", f"quarterly data set, projections current, vs `SELECT count(*) FROM case_events` ({where}; "
            f"{r['events']:,} events)", ms(r["report_s"]), ms(r["count_s"]), r["report_s"] / r["count_s"],
            "< 2 s at 100,000 cases" if big else "", (r["report_s"] < 2) if big else None,
            brief="quarterly data set over 100,000 cases < 2 s" if big else "", shown=ms(r["report_s"]),
            backend=label(backend)),
        Row("quarterly", f"the same with every projection stale (replays the quarter: "
            f"{r['stale_s'] / r['in_quarter'] * 1000:.2f} ms a case) vs with them current, {label(backend)}",
            ms(r["stale_s"]),
            ms(r["report_s"]), r["stale_s"] / r["report_s"]),
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--templates", type=int, default=100)
    ap.add_argument("--board", default="cardiff-and-vale")
    ap.add_argument("--year", type=int, default=2026)
    ap.add_argument("--quarter", type=int, default=2, choices=(1, 2, 3, 4))
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument("--json", help="append the result rows to this file (run_all)")
    args = ap.parse_args(argv)
    rows: list[Row] = []
    for backend in backends(args.backend):
        with database(backend, "quarterly") as url:
            result = run(url, args)
        show(label(backend), result, args.board)
        rows += rows_for(backend, result, args.board)
    report(rows, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
