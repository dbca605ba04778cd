"""Teams card round trip: an ``adaptiveCard/action`` invoke in, the updated card out, through ``parley serve``
(Teams alone) and through a bare botbuilder bot (bench/bare_teams.py) answering with a fixed card, both processes of
their own on the same connector stand-in (the activities' serviceUrl: tests/adapters/test_teams_e2e.FakeConnector).

    .venv/bin/python bench/bench_teams.py [--rounds 40] [--backend both]

Alice of the Swindon demo directory is linked to Teams and a party to two open cases. Each round presses, on each
server in turn, the buttons people press on cards:

- the immediate-risk question answered "No" (``form.risk``): the intake form comes back, built from the protocol
  and the directory;
- "View" on a case (``case.view``): the case card, from a replay of the case;
- "Record the outcome" (``case.record_outcome``): the outcome form for that case.

Timed from sending the invoke to reading the card (every answer is checked to be an Adaptive Card). Printed: the
median of each and of all, and the ratio Parley / bare of the medians over all (goal: at most 1.5x).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import seed
from bench.common import Row, backends, database, label, ms, report
from bench.servers import bare_teams, parley_teams
from bot.runtime import Runtime
from storage import repo
from storage.models import PersonIdentity
from tests.adapters.test_teams_e2e import FakeConnector, Loop, Teams

GOAL = 1.5
WARM = 5


def prepare(url: str) -> list[str]:
    rt = Runtime(url)
    try:
        rt.upgrade()
        rt.load_demo()
        with rt.factory() as s:
            alice = repo.person_by_key("swindon", "alice", session=s)
            s.add(PersonIdentity(person_id=alice.id, platform="teams", external_id="aad-alice"))
            s.commit()
        now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
        refs = []
        for n, other in enumerate(("bob", "hana")):
            case_id = seed.open_case(rt, "swindon", "alice", other, now, n)
            with rt.factory() as s:
                refs.append(repo.get_case(case_id, session=s).ref)
        return refs
    finally:
        rt.engine.dispose()


def presses(refs: list[str], n: int) -> list[tuple[str, str, dict]]:
    ref = refs[n % len(refs)]
    return [("risk answer -> intake form", "form.risk", {"risk": "no", "context": ""}),
            ("View -> case card", "case.view", {"value": ref}),
            ("Record the outcome -> outcome form", "case.record_outcome", {"value": ref})]


def run(backend: str, rounds: int) -> list[Row]:
    loop = Loop()
    try:
        connector = FakeConnector()
        service_url = f"http://127.0.0.1:{loop.serve(connector.app)}/"
        with database(backend, "teams") as url:
            refs = prepare(url)
            with parley_teams(url) as parley, bare_teams() as bare:
                clients = {}
                for name, server in (("parley", parley), ("bare", bare)):
                    if server.wait_for("/healthz", 120) is None:
                        raise RuntimeError(f"{name} not listening after 120 s:\n{server.output()}")
                    clients[name] = Teams(server.port, service_url)
                times: dict[str, dict[str, list[float]]] = {"parley": {}, "bare": {}}
                for n in range(rounds + WARM):
                    for what, verb, data in presses(refs, n):
                        for name, client in clients.items():
                            act = client.activity("alice", "invoke", name="adaptiveCard/action",
                                                  value={"action": {"type": "Action.Execute", "verb": verb,
                                                                    "data": data}})
                            start = time.perf_counter()
                            status, body = client.send(act)
                            took = time.perf_counter() - start
                            answer = json.loads(body) if status == 200 else {}
                            if answer.get("type") != "application/vnd.microsoft.card.adaptive":
                                raise RuntimeError(f"{name} answered {verb} with {status}: {body[:300]}")
                            if name == "parley" and verb == "case.view" and data["value"] not in body:
                                raise RuntimeError(f"the case card does not show {data['value']}: {body[:300]}")
                            if n >= WARM:
                                times[name].setdefault(what, []).append(took)
    finally:
        loop.stop()
    rows = []
    print(f"== {label(backend)} (median of {rounds} each)")
    for what in times["parley"]:
        p, b = statistics.median(times["parley"][what]), statistics.median(times["bare"][what])
        print(f"  {what}: Parley {ms(p)}, bare {ms(b)}: {p / b:.2f}x")
    p_all = statistics.median([t for v in times["parley"].values() for t in v])
    b_all = statistics.median([t for v in times["bare"].values() for t in v])
    worst = max(times["parley"], key=lambda w: statistics.median(times["parley"][w]))
    rows.append(Row("teams", f"Teams card round trip (invoke -> card), the three buttons, {label(backend)} "
                    f"(median of {3 * rounds}; slowest: {worst}, {ms(statistics.median(times['parley'][worst]))})",
                    ms(p_all), ms(b_all), p_all / b_all, f"≤ {GOAL:g}×", p_all / b_all <= GOAL,
                    brief=f"Teams card round trip ≤ {GOAL:g}× bare botbuilder", backend=label(backend)))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=40, help="presses of each button on each server")
    ap.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument("--json", help="append the result rows to this file (run_all)")
    args = ap.parse_args(argv)
    rows: list[Row] = []
    for backend in backends(args.backend):
        rows += run(backend, args.rounds)
    report(rows, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
