"""Building big databases fast, with cases that are real: every case the benchmarks use is either driven through
the services (``bot.cases.opening`` / ``bot.cases.services``) or a copy of one that was.

- ``open_templates``: cases opened through the services on every demo board, left open, opened shortly before
  a given moment, and what fell due by then fired by the scheduler's sweep (as on a server whose scheduler keeps
  up), so that their pending timers lie ahead of it.
- ``copy_cases``: copies of template cases, inserted in bulk (executemany, a transaction per chunk) until there
  are ``total``: the case row (a new reference from the board's counter, which is moved on), its subject details,
  its events *re-chained* for the new case (storage.chain computes each event's hash from the case id, so every
  copy's chain verifies and ``cases.event_chain_head`` is its last event's hash), its ``case_stage_results`` and
  its timers (keys name the case: rewritten for the copy, so each copy has exactly the timers ``timers.plan_case``
  plans for it) and its timer plan (``timer_plans``: the stored replay its timers were planned from, its ``head``
  the copy's own hash at that event), so that a start finds every copy planned, as on a server that has run. Each
  chunk's commit writes its signed audit checkpoint (storage.checkpoints.touch), as any commit
  adding cases does. Not copied: outbox rows and escalation prompts (a copy is as if its messages went long ago).
- ``grow_history``: a case's history made longer by contacts appended through ``storage.repo.append_event`` (the
  helper every service uses, so the chain and checkpoints hold), then the projection and timers refreshed once
  (``services.refresh``), in one transaction: 10,000 events in seconds, where 10,000 ``record_contact`` calls would
  each replay the growing history.

tests/test_bench_seed.py checks on SQLite and PostgreSQL that the copies verify (chain, checkpoints, projection
against a replay, timers against the plan).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, insert, select, update

from bot.cases import opening, protocols, services
from bot.cases.opening import NewCase
from bot.cases.services import Ctx
from bot.core.clock import FixedClock
from bot.escalation.scheduler import Sweeper
from bot.runtime import Runtime
from storage import chain, checkpoints, repo
from storage.models import Case, CaseCounter, CaseEvent, CaseStageResult, SubjectDetails, Timer, TimerPlan

BOARDS = ("swindon", "wolverhampton", "cardiff-and-vale", "mid-and-west-wales")
# (raising, responding) practitioners of the demo directory: police, social care, health, education
PAIRS = (("alice", "bob"), ("ed", "hana"), ("hana", "alice"), ("bob", "ed"), ("alice", "hana"), ("ed", "bob"))
CHUNK = 2_000  # copies per transaction


def open_case(rt: Runtime, board: str, raiser: str, responder: str, at: dt.datetime, n: int) -> int:
    """One case opened through the services at ``at`` (a committed unit of work); its id."""
    with rt.factory() as s:
        actor = repo.person_by_key(board, raiser, session=s)
        other = repo.person_by_key(board, responder, session=s)
        assert actor is not None and other is not None and other.agency_id is not None
        proto = protocols.board_protocol(board, session=s)
        case = opening.open_case(Ctx(actor, "console", at), NewCase(
            board_id=board, subject_kind="child" if "children" in proto.scope else "adult",
            category=proto.categories[n % len(proto.categories)].id, what_happened=f"Disagreement {n} on a referral",
            done_so_far="Discussed with the team", outcome_sought="A joint visit",
            arose_on=proto.calendar().local_date(at), responding_agency_id=other.agency_id,
            responding_person_id=other.id, subject_name=f"Child {n}"), session=s)
        s.commit()
        return case.id


def open_templates(rt: Runtime, count: int, before: dt.datetime, boards: Sequence[str] = BOARDS) -> list[int]:
    """``count`` open cases across ``boards`` (the four demo boards), opened in the two hours before ``before``;
    then the timers due by ``before`` (a stage due the same day, say) are fired by the scheduler's own sweep, as on a
    server whose scheduler keeps up, so that copies of them carry no timer already due."""
    ids = []
    for n in range(count):
        board = boards[n % len(boards)]
        raiser, responder = PAIRS[(n // len(boards)) % len(PAIRS)]
        at = before - dt.timedelta(minutes=120 - (n * 100 // max(count, 1)))
        ids.append(open_case(rt, board, raiser, responder, at, n))
    sweeper = Sweeper(rt.factory, FixedClock(before))
    while sweeper.fire_due():
        pass
    return ids


def _rows(s: Any, table: Any, column: Any, ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    for r in s.execute(select(table).where(column.in_(ids))).mappings():
        out[r[column.key]].append(dict(r))
    return out


def copy_cases(rt: Runtime, template_ids: Sequence[int], total: int) -> int:
    """Copy the templates round-robin until the database holds ``total`` cases; returns the copies made."""
    cases_t, events_t, stages_t = Case.__table__, CaseEvent.__table__, CaseStageResult.__table__
    subjects_t, timers_t, counters_t = SubjectDetails.__table__, Timer.__table__, CaseCounter.__table__
    plans_t = TimerPlan.__table__
    with rt.factory() as s:
        have = len(s.scalars(select(Case.id)).all())
        cases = {r["id"]: dict(r) for r in s.execute(select(cases_t).where(cases_t.c.id.in_(template_ids)))
                 .mappings()}
        events = _rows(s, events_t, events_t.c.case_id, template_ids)
        stages = _rows(s, stages_t, stages_t.c.case_id, template_ids)
        subjects = _rows(s, subjects_t, subjects_t.c.case_id, template_ids)
        timers = _rows(s, timers_t, timers_t.c.case_id, template_ids)
        plans = _rows(s, plans_t, plans_t.c.case_id, template_ids)
        counters = {(c.board_id, c.year): c.last for c in s.scalars(select(CaseCounter))}
    for evs in events.values():
        evs.sort(key=lambda e: e["seq"])
    copies = max(0, total - have)
    order = itertools.cycle(template_ids)
    made = 0
    while made < copies:
        batch = [next(order) for _ in range(min(CHUNK, copies - made))]
        with rt.factory() as s:
            rows = []
            for tid in batch:
                case = {k: v for k, v in cases[tid].items() if k != "id"}
                prefix, year, _ = case["ref"].split("-")
                key = (case["board_id"], int(year))
                counters[key] += 1
                case["ref"] = f"{prefix}-{year}-{counters[key]:04d}"
                rows.append(case)
            new_ids = s.scalars(insert(cases_t).returning(cases_t.c.id, sort_by_parameter_order=True), rows).all()
            ev_rows, stage_rows, subject_rows, timer_rows, plan_rows, heads = [], [], [], [], [], []
            for tid, cid in zip(batch, new_ids, strict=True):
                prev = chain.GENESIS
                hashes: dict[int, str] = {}
                for e in events[tid]:
                    digest = chain.event_hash(prev_hash=prev, case_id=cid, seq=e["seq"], kind=e["kind"], at=e["at"],
                                              actor_id=e["actor_id"], actor_label=e["actor_label"], via=e["via"],
                                              digest=e["data_digest"])
                    ev_rows.append({**{k: v for k, v in e.items() if k != "id"}, "case_id": cid, "prev_hash": prev,
                                    "hash": digest})
                    prev = hashes[e["seq"]] = digest
                heads.append({"b_id": cid, "head": prev if events[tid] else None})
                stage_rows.extend({**r, "case_id": cid} for r in stages[tid])
                subject_rows.extend({**r, "case_id": cid} for r in subjects[tid])
                timer_rows.extend({**{k: v for k, v in t.items() if k != "id"}, "case_id": cid,
                                   "key": t["key"].replace(f"case:{tid}:", f"case:{cid}:", 1)} for t in timers[tid])
                plan_rows.extend({**p, "case_id": cid, "head": hashes.get(p["seq"])} for p in plans[tid])
                checkpoints.touch(s, case_id=cid)
            for table, payload in ((events_t, ev_rows), (stages_t, stage_rows), (subjects_t, subject_rows),
                                   (timers_t, timer_rows), (plans_t, plan_rows)):
                if payload:
                    s.execute(insert(table), payload)
            s.execute(update(cases_t).where(cases_t.c.id == bindparam("b_id"))
                      .values(event_chain_head=bindparam("head")), heads)
            for (board, year), last in counters.items():
                s.execute(update(counters_t).where(counters_t.c.board_id == board, counters_t.c.year == year)
                          .values(last=last))
                checkpoints.touch(s, counter=(board, year))
            s.commit()
        made += len(batch)
    return made


def grow_history(rt: Runtime, case_id: int, events: int, at: dt.datetime, *, actor_key: str = "alice",
                 gap: dt.timedelta = dt.timedelta(seconds=1)) -> dt.datetime:
    """Append contacts to the case until it has ``events`` events, one every ``gap`` from ``at``, through
    ``repo.append_event``; refresh its projection and timers once; one transaction. Returns the last event's time
    (``at`` when nothing was added)."""
    with rt.factory() as s:
        case = s.get(Case, case_id)
        assert case is not None
        have = len(repo.events_for(case_id, session=s))
        actor = repo.person_by_key(case.board_id, actor_key, session=s)
        st = services.state_of(case, at, session=s)
        stage = st.stage.id if st.stage else None
        cal = protocols.protocol_for(case, session=s).calendar()
        when = at
        for n in range(have, events):
            when = at + gap * (n - have)
            repo.append_event(case, "contact", session=s, at=when, actor=actor, via="console", data={
                "on": cal.local_date(when).isoformat(), "who": "Counterpart", "how": ("phone", "meeting", "email")[
                    n % 3], "outcome": f"Discussed again ({n})", "stage": stage})
        if events > have:
            services.refresh(case, session=s, now=when)
        s.commit()
        return when
