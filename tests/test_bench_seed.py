"""The benchmarks' bulk-built cases are valid cases (bench/seed.py): the start-up, per-action and quarterly
benchmarks time Parley on them, so a copy that the application would reject or treat differently from a case
opened through the services would make the figures meaningless. Checked on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from bench import seed
from bot.cases import plans, projection, protocols, services, timers
from storage import chain, checkpoints, repo, subjects
from storage.models import Case, CaseCounter, CaseEvent, Timer, TimerPlan
from tests.conftest import LONDON

NOW = dt.datetime(2026, 4, 2, 14, 0, tzinfo=LONDON)


def test_copies_verify_and_have_the_timers_their_plan_asks_for(runtime) -> None:
    templates = seed.open_templates(runtime, 5, NOW)
    made = seed.copy_cases(runtime, templates, 23)
    assert made == 18
    with runtime.factory() as s:
        cases = list(s.scalars(select(Case).order_by(Case.id)))
        assert len(cases) == 23 and len({c.ref for c in cases}) == 23
        # each board's counter moved on past every reference it holds
        for c in s.scalars(select(CaseCounter)):
            numbers = [int(x.ref.rsplit("-", 1)[1]) for x in cases if x.board_id == c.board_id]
            assert c.last == max(numbers) and sorted(numbers) == list(range(1, c.last + 1))
        assert not chain.verify(s).problems
        assert not checkpoints.verify(s).problems
        assert projection.rebuild(s, cases=cases, check=True).wrong == {}
        # every copy carries its own timer plan, so a start replans none of them
        assert list(plans.stale_case_ids(session=s)) == []
        for plan in s.scalars(select(TimerPlan)):
            assert plan.head == s.scalar(select(CaseEvent.hash).where(CaseEvent.case_id == plan.case_id,
                                                                      CaseEvent.seq == plan.seq))
        assert s.scalar(select(func.count()).select_from(TimerPlan)) == 23
        waiting = 0
        for case in cases:
            template = cases[templates.index(case.id) if case.id in templates else
                             templates.index(templates[(case.id - len(templates) - 1) % len(templates)])]
            st = services.state_of(case, NOW, session=s)
            assert st.status.value == "open" and case.status == "open"
            # what fell due by NOW was fired by the sweep (open_templates), in the templates and so in the copies
            planned = {t.key for t in timers.plan_case(case, st, protocols.protocol_for(case, session=s))
                       if t.due_at > NOW}
            pending = set(s.scalars(select(Timer.key).where(Timer.case_id == case.id, Timer.state == "pending")))
            assert pending == planned, case.ref
            waiting += len(pending)
            assert subjects.get_subject(case.id, session=s).name == subjects.get_subject(template.id, session=s).name
            assert [(e.kind, e.at, e.data) for e in repo.events_for(case.id, session=s)] == \
                [(e.kind, e.at, e.data) for e in repo.events_for(template.id, session=s)]
        assert waiting >= len(cases)  # the cases still have timers ahead
        assert not s.scalars(select(Timer).where(Timer.state == "pending", Timer.due_at <= NOW)).all()


def test_a_case_opened_after_the_copies_gets_the_next_reference(runtime) -> None:
    templates = seed.open_templates(runtime, 4, NOW)
    seed.copy_cases(runtime, templates, 12)
    new = seed.open_case(runtime, "swindon", "alice", "bob", NOW, 99)
    with runtime.factory() as s:
        case = s.get(Case, new)
        swindon = [c.ref for c in s.scalars(select(Case).where(Case.board_id == "swindon"))]
        assert case.ref == "SWN-2026-0004" and len(set(swindon)) == len(swindon) == 4
        assert s.scalar(select(func.count()).select_from(Case)) == 13
        assert not checkpoints.verify(s).problems


def test_a_grown_history_is_one_real_case(runtime) -> None:
    (case_id,) = seed.open_templates(runtime, 1, NOW)
    with runtime.factory() as s:
        opened = len(repo.events_for(case_id, session=s))
    last = seed.grow_history(runtime, case_id, 250, NOW + dt.timedelta(minutes=1))
    with runtime.factory() as s:
        case = s.get(Case, case_id)
        events = repo.events_for(case_id, session=s)
        assert len(events) == 250 and events[-1].at == last
        assert [e.kind for e in events].count("contact") == 250 - opened
        assert not chain.verify(s).problems and not checkpoints.verify(s).problems
        assert projection.rebuild(s, cases=[case], check=True).wrong == {}
        # the service accepts the next contact as on any case, and it lands after the grown history
        alice = repo.person_by_key("swindon", "alice", session=s)
        services.record_contact(services.Ctx(alice, "console", last + dt.timedelta(seconds=1)), case,
                                on=last.date(), who="Bob", how="phone", outcome="Talked", session=s)
        s.commit()
        assert len(repo.events_for(case_id, session=s)) == 251
