"""Per-action cost against the length of a case's history: recording a contact on a case holding 10, 100, 1,000 and
10,000 events, through the service and through the conversation, compared with the same at 10 events.

    .venv/bin/python bench/bench_history.py [--sizes 10,100,1000,10000] [--repeat 3] [--backend both]

For each size one Swindon case is opened through the services (Thu 2 Apr 2026 10:00) and its history grown with
contacts (bench/seed.py ``grow_history``: ``repo.append_event``, then one refresh) to exactly that many events.
Then, alternating, ``--repeat`` times each, on a fixed clock one second after the last event:

- ``record_contact`` through the service: find the case by reference, ``services.record_contact``, commit (one
  unit of work, as a form submission does);
- the contact conversation through the router (``Conversation.handle``, six turns: the case's "Record a contact"
  button, then date, who, how, outcome, and "None of these (just a note)"), each turn its own unit of work, as
  on Slack, Teams or the console.

Each measurement adds one event, so the case has N to N + 2 x repeat events while it is measured. Printed: the
median of each, the ratio to the same at the smallest size (goal: 1,000 events within 1.5x of 10) and the SQL
statements each sends (counted with an engine event; constant in N when a single action's work is).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import event

from bench import seed
from bench.common import Row, backends, database, label, ms, report
from bot.cases import services
from bot.conversation.router import Conversation
from bot.core.clock import FixedClock
from bot.runtime import Runtime
from storage import repo

LONDON = ZoneInfo("Europe/London")
OPENED = dt.datetime(2026, 4, 2, 10, 0, tzinfo=LONDON)
GOAL_SIZE, GOAL = 1_000, 1.5
ANSWERS = ("today", "Bob Evans, Social Worker", "Phone call", "Talked it through", "None of these (just a note)")


class Statements:
    def __init__(self, engine) -> None:
        self.n = 0
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args) -> None:
        self.n += 1


def measure(rt: Runtime, sizes: list[int], repeat: int) -> dict[int, dict[str, tuple[float, int]]]:
    counter = Statements(rt.engine)
    out: dict[int, dict[str, tuple[float, int]]] = {}
    for n, size in enumerate(sizes):
        case_id = seed.open_case(rt, "swindon", "alice", "bob", OPENED, n)
        last = seed.grow_history(rt, case_id, size, OPENED + dt.timedelta(minutes=1))
        clock = FixedClock(last + dt.timedelta(seconds=1))
        conv = Conversation(rt.factory, clock, "console")
        with rt.factory() as s:
            ref = repo.get_case(case_id, session=s).ref
            alice = repo.person_by_key("swindon", "alice", session=s)
            alice_id = alice.id

        def service() -> None:
            with rt.factory() as s:
                case = repo.case_by_ref(ref, session=s)
                actor = repo.get_person(alice_id, session=s)
                services.record_contact(services.Ctx(actor, "console", clock.now()), case, on=clock.now().date(),
                                        who="Bob Evans, Social Worker", how="phone", outcome="Talked it through",
                                        session=s)
                s.commit()

        def conversation() -> None:
            first = conv.handle(alice_id, action="case.record_contact", value=ref)
            assert first.to_speaker, "the contact conversation did not start"
            for answer in ANSWERS:
                reply = conv.handle(alice_id, answer)
            assert "Contact recorded." in reply.to_speaker[0].text, reply.to_speaker[0].text

        times: dict[str, list[float]] = {"service": [], "conversation": []}
        sql: dict[str, list[int]] = {"service": [], "conversation": []}
        for _ in range(repeat):
            for name, fn in (("service", service), ("conversation", conversation)):
                clock.set(clock.now() + dt.timedelta(seconds=1))
                before = counter.n
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
                sql[name].append(counter.n - before)
        out[size] = {k: (statistics.median(v), round(statistics.median(sql[k]))) for k, v in times.items()}
        print(f"  {size:>6,} events: record_contact {ms(out[size]['service'][0])} ({out[size]['service'][1]} SQL), "
              f"contact conversation {ms(out[size]['conversation'][0])} ({out[size]['conversation'][1]} SQL)")
    return out


def rows_for(backend: str, res: dict[int, dict[str, tuple[float, int]]], repeat: int) -> list[Row]:
    sizes = sorted(res)
    base = sizes[0]
    rows = []
    for what, key in (("`record_contact` (service)", "service"), ("contact conversation (6 turns, router)",
                                                                     "conversation")):
        for size in sizes[1:]:
            ratio = res[size][key][0] / res[base][key][0]
            goal = size == GOAL_SIZE
            rows.append(Row("history", f"{what}, {size:,} vs {base:,} events, {label(backend)} (median of {repeat})",
                            ms(res[size][key][0]), ms(res[base][key][0]), ratio,
                            f"≤ {GOAL}×" if goal else "", (ratio <= GOAL) if goal else None,
                            brief=f"{what.split(' (')[0]} at {size:,} events ≤ {GOAL}× at {base}" if goal else "",
                            backend=label(backend)))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10,100,1000,10000", help="events in the case, comma-separated (first: base)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument("--json", help="append the result rows to this file (run_all)")
    args = ap.parse_args(argv)
    sizes = sorted(int(x) for x in args.sizes.split(","))
    rows: list[Row] = []
    for backend in backends(args.backend):
        print(f"== {label(backend)}")
        with database(backend, "history") as url:
            rt = Runtime(url)
            try:
                rt.upgrade()
                rt.load_demo()
                res = measure(rt, sizes, args.repeat)
            finally:
                rt.engine.dispose()
        rows += rows_for(backend, res, args.repeat)
    report(rows, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
