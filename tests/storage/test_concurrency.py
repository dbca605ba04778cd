"""Two (or fifty) people at once, on SQLite and PostgreSQL: each race gives exactly one correct outcome and loses
nothing. Threads start together at a barrier and go through the same code the adapters call (the modal forms,
the conversation, the identity look-up)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from bot.core.clock import FixedClock
from bot.conversation.router import Conversation
from bot.forms.forms import INTAKE_FORM, Forms
from bot.escalation.scheduler import Sweeper
from storage import repo
from storage.models import Case, CaseEvent, EscalationPrompt, PersonIdentity
from tests.bot.test_scheduler import at, open_case


def at_once(n: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` for i in 0..n-1 in n threads released together; every result, or the exception raised."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def intake_values(rt, n: int) -> dict[str, str]:
    with rt.factory() as s:
        csc = repo.agency_by_key("swindon", "social-care", session=s)
        bob = repo.person_by_key("swindon", "bob", session=s)
    return {"pre0": "no", "category": "thresholds", "agency": str(csc.id), "person": str(bob.id),
            "what": f"Concern number {n}: the referral was closed after one visit.",
            "done": "Phoned the duty team.", "sought": "Re-open the referral.", "arose": "2026-04-02",
            "protective": "", "subject_name": "", "subject_dob": ""}


def test_fifty_intakes_at_once_get_fifty_distinct_references(runtime) -> None:
    clock = FixedClock(at(2026, 4, 2, 10))
    forms = Forms(runtime.factory, clock, "slack")
    with runtime.factory() as s:
        alice = repo.person_by_key("swindon", "alice", session=s).id
    values = [intake_values(runtime, i) for i in range(50)]
    results = at_once(50, lambda i: forms.submit(alice, INTAKE_FORM, values[i], "risk=no"))
    problems = [r for r in results if isinstance(r, Exception) or r.errors]
    assert not problems, problems[:3]
    refs = sorted(r.reply.to_speaker[0].case_ref for r in results)
    assert refs == [f"SWN-2026-{n:04d}" for n in range(1, 51)]
    with runtime.factory() as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 50
        # each case holds its own concern, whole
        whats = sorted(c.what_happened for c in s.scalars(select(Case)))
    assert whats == sorted(v["what"] for v in values)


def lapsed_police_prompt(runtime) -> tuple[int, int, FixedClock]:
    """A Swindon case whose Stage 1 lapsed (due Wed 8 Apr 2026): (case id, the police prompt's id, the clock)."""
    cid = open_case(runtime, "swindon", at(2026, 4, 2, 10))
    clock = FixedClock(at(2026, 4, 9, 9, 5))
    Sweeper(runtime.factory, clock).sweep()
    with runtime.factory() as s:
        prompt = s.scalar(select(EscalationPrompt.id).where(EscalationPrompt.case_id == cid,
                                                            EscalationPrompt.agency_key == "police"))
    return cid, prompt, clock


def test_two_managers_acknowledging_one_prompt_at_once_one_owner(runtime) -> None:
    """Sam (sergeant) and Ian (inspector) both press Acknowledge on the police prompt at the same moment."""
    cid, prompt, clock = lapsed_police_prompt(runtime)
    with runtime.factory() as s:
        who = [repo.person_by_key("swindon", k, session=s).id for k in ("sam", "ian")]
    conv = Conversation(runtime.factory, clock, "slack")
    replies = at_once(2, lambda i: conv.handle(who[i], action="esc.ack", value=str(prompt)))
    assert not [r for r in replies if isinstance(r, Exception)], replies
    texts = [r.to_speaker[0].text for r in replies]
    owners = [t for t in texts if "You have taken ownership" in t]
    told = [t for t in texts if t.startswith("Already acknowledged by")]
    assert len(owners) == 1 and len(told) == 1, texts
    with runtime.factory() as s:
        acks = s.scalars(select(CaseEvent).where(CaseEvent.case_id == cid,
                                                 CaseEvent.kind == "escalation_acknowledged")).all()
        assert len(acks) == 1
        winner = s.get(EscalationPrompt, prompt).acknowledged_by_id
    assert told[0].startswith(f"Already acknowledged by {'Sam Patel' if winner == who[0] else 'Ian Morgan'}")


def test_first_use_by_an_unlinked_person_from_two_requests_at_once(runtime) -> None:
    """Eight requests from one Slack user nobody has linked yet, all at once: each finds Alice (by her e-mail), and
    one identity is stored."""
    with runtime.factory() as s:
        alice = repo.person_by_key("swindon", "alice", session=s)
        email = alice.email
    assert email
    found = at_once(8, lambda i: runtime.person_for("slack", "U0ALICE", lambda: email))
    assert [getattr(p, "key", p) for p in found] == ["alice"] * 8
    with runtime.factory() as s:
        assert s.scalar(select(func.count()).select_from(PersonIdentity).where(
            PersonIdentity.platform == "slack", PersonIdentity.external_id == "U0ALICE")) == 1


def test_a_click_during_an_intake_both_land(runtime) -> None:
    """A manager acknowledges one case while a practitioner submits another: neither waits forever, both land."""
    cid, prompt, clock = lapsed_police_prompt(runtime)
    with runtime.factory() as s:
        sam = repo.person_by_key("swindon", "sam", session=s).id
        hana = repo.person_by_key("swindon", "hana", session=s).id
    conv = Conversation(runtime.factory, clock, "slack")
    forms = Forms(runtime.factory, clock, "slack")
    values = intake_values(runtime, 0)
    results = at_once(2, lambda i: conv.handle(sam, action="esc.ack", value=str(prompt)) if i == 0
                      else forms.submit(hana, INTAKE_FORM, values, "risk=no"))
    assert not [r for r in results if isinstance(r, Exception)], results
    assert "You have taken ownership" in results[0].to_speaker[0].text
    assert not results[1].errors and results[1].reply.to_speaker[0].case_ref == "SWN-2026-0002"
    with runtime.factory() as s:
        assert s.get(Case, cid).stage_number == 2


def test_two_schedulers_on_one_sqlite_file_share_no_timer(sqlite_url) -> None:
    """Two scheduler processes (two engines) on one SQLite file sweep the same 40 due escalations at once: every
    timer fires exactly once, none fails, and each prompt is posted once."""
    from bot.runtime import Runtime
    from storage.models import OutboxMessage, Timer
    from tests.conftest import make_runtime

    rt = make_runtime(sqlite_url)
    for _ in range(20):
        open_case(rt, "swindon", at(2026, 4, 2, 10))
    clock = FixedClock(at(2026, 4, 9, 9, 5))  # every case's Stage 1 lapsed on Wed 8 Apr
    other = Runtime(sqlite_url)
    results = at_once(2, lambda i: Sweeper((rt if i == 0 else other).factory, clock).fire_due())
    assert not [r for r in results if isinstance(r, Exception)], results
    with rt.factory() as s:
        states = dict(s.execute(select(Timer.state, func.count()).where(Timer.case_id.is_not(None),
                                                                        Timer.due_at <= clock.now())
                                .group_by(Timer.state)).all())
        assert "failed" not in states and states.get("pending", 0) == 0, states
        keys = s.scalars(select(OutboxMessage.idempotency_key)).all()
    assert len(keys) == len(set(keys))
    prompts = [k for k in keys if ":lapse_prompt:" in k]
    assert len(prompts) == 20 * 2  # two agencies' channels for each case, once
    assert sum(results) == states.get("done", 0)  # together the two fired each due timer once
    rt.engine.dispose()
    other.engine.dispose()


def test_serve_and_scheduler_wait_for_a_database_that_comes_later(tmp_path, caplog) -> None:
    """`parley serve` and `parley scheduler` call Runtime.wait_for_database before anything else: with the database
    not there yet (its folder does not exist), they wait and try again, one log line an attempt, and carry on once
    it is there."""
    import logging
    import time as _time

    from bot.runtime import Runtime

    folder = tmp_path / "later"
    rt = Runtime(f"sqlite:///{folder / 'parley.db'}")
    threading.Timer(1.5, lambda: folder.mkdir()).start()
    started = _time.monotonic()
    with caplog.at_level(logging.WARNING, logger="parley.startup"):
        attempts = rt.wait_for_database()
    assert attempts >= 2 and _time.monotonic() - started >= 1.4
    lines = [r for r in caplog.records if r.name == "parley.startup"]
    assert len(lines) == attempts - 1 and all("unreachable" in r.getMessage() for r in lines)
    rt.engine.dispose()
