"""History once per action, and start-up without replaying every case (bot/cases/replays.py, bot/cases/plans.py).

A case's replay is stored with its timer plan and brought up to date from the events after it. What is asserted is
behaviour, never speed: which statements read a case's history (a listener on the engine), how many of its events
are read, that the statements an action or a list runs do not depend on how long the histories are or how many
cases there are, which cases start-up replays, and that every state, list, card and projection read this way is the
one a full replay of the history gives (the engine on all the events: the oracle).
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, select

from bot.admin import retention
from bot.cases import opening, plans, protocols, replays, services
from bot.cases.opening import NewCase
from bot.cases.services import Ctx
from bot.core import views
from bot.core.clock import FixedClock
from bot.core.i18n import translator
from bot.escalation.scheduler import Sweeper
from bot.runtime import Runtime
from protocol.engine import evaluate
from protocol.state import moment_data, moment_from_data
from storage import repo
from storage.models import Case, CaseStageResult, OutboxMessage, ProtocolSnapshot, Timer, TimerPlan
from tests.bot.test_projection import BOARDS, drive_case
from tests.conftest import LONDON, Chat
from tests.journeys import (test_cardiff_and_vale_journey, test_mid_and_west_wales_journey, test_swindon_journey,
                            test_wolverhampton_journey)
from tests.journeys.harness import Journey

START = dt.datetime(2026, 4, 2, 10, 0, tzinfo=LONDON)  # Thu 2 Apr 2026: Swindon Stage 1 is due Wed 8 Apr 17:00


def at(m: int, d: int, h: int = 9, mi: int = 0) -> dt.datetime:
    return dt.datetime(2026, m, d, h, mi, tzinfo=LONDON)


class Reads:
    """While counting: every statement run, and those that read a case's history (every SELECT from case_events
    but the append's look-up of the case's last event and the audit checkpoint's count)."""

    def __init__(self, rt: Runtime):
        self.sql = self.history = 0
        self.on = False
        event.listen(rt.engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn, _cursor, statement, _params, _context, _many) -> None:
        if not self.on:
            return
        self.sql += 1
        s = " ".join(statement.lower().split())
        if s.startswith("select") and "from case_events" in s and " desc" not in s and "count(" not in s:
            self.history += 1

    @contextmanager
    def counting(self) -> Iterator[Reads]:
        self.sql = self.history = 0
        self.on = True
        try:
            yield self
        finally:
            self.on = False


@pytest.fixture
def rows_read(monkeypatch) -> list[int]:
    """How many events each read of a case's history returned."""
    got: list[int] = []
    real_rows, real_events = repo.event_rows, repo.events_for

    def rows(case_id, **kw):
        out = real_rows(case_id, **kw)
        got.append(len(out))
        return out

    def events(case_id, **kw):
        out = real_events(case_id, **kw)
        got.append(len(out))
        return out

    monkeypatch.setattr(repo, "event_rows", rows)
    monkeypatch.setattr(repo, "events_for", events)
    return got


def open_case(rt: Runtime, board: str = "swindon", who: str = "alice", other: str = "bob",
              when: dt.datetime = START) -> int:
    with rt.factory() as s:
        actor, them = repo.person_by_key(board, who, session=s), repo.person_by_key(board, other, session=s)
        proto = protocols.board_protocol(board, session=s)
        case = opening.open_case(Ctx(actor, "console", when), NewCase(
            board_id=board, subject_kind="child", category=proto.categories[0].id, what_happened="x",
            done_so_far="y", outcome_sought="z", arose_on=when.date(), responding_agency_id=them.agency_id,
            responding_person_id=them.id), session=s)
        s.commit()
        return case.id


def grow(rt: Runtime, case_id: int, events: int) -> None:
    """Make the case's history ``events`` long with notes that change nothing (contacts naming no step)."""
    with rt.factory() as s:
        case = s.get(Case, case_id)
        have = len(repo.events_for(case_id, session=s))
        for i in range(events - have):
            repo.append_event(case, "contact", session=s, at=START + dt.timedelta(minutes=i), actor=None,
                              via="system", data={"on": START.date().isoformat(), "who": "X, PC", "how": "phone",
                                                  "outcome": "talked", "stage": case.stage_id})
        services.refresh(case, session=s, now=START)
        s.commit()


def replayed(s, case: Case, now: dt.datetime):
    """The oracle: the engine on the case's whole history."""
    return evaluate(protocols.protocol_for(case, session=s), services.engine_events(case, session=s), now)


def record_contact(rt: Runtime, case_id: int, who: str = "bob", when: dt.datetime = START) -> None:
    with rt.factory() as s:
        case = s.get(Case, case_id)
        services.record_contact(Ctx(repo.person_by_key("swindon", who, session=s), "console", when), case,
                                on=when.date(), who="Alice Hughes, PC", how="phone", outcome="No agreement", session=s)
        s.commit()


# -- per action: no history read, whatever its length ---------------------------------------------------------------
def test_recording_a_contact_reads_no_history_and_runs_the_same_statements_at_any_length(runtime, rows_read) -> None:
    short, long_ = open_case(runtime), open_case(runtime)
    grow(runtime, short, 10)
    grow(runtime, long_, 300)
    reads = Reads(runtime)
    counts = {}
    for cid in (short, long_):
        with runtime.factory() as s:
            before = s.get(Case, cid).version
        rows_read.clear()
        with reads.counting():
            record_contact(runtime, cid)
        counts[cid] = reads.sql
        assert reads.history == 0 and rows_read == []  # not one event of the history was read
        with runtime.factory() as s:  # and the contact was recorded, its projection and plan kept in step
            case = s.get(Case, cid)
            assert case.version == before + 1
            assert [e.kind for e in repo.events_for(cid, session=s)][-1] == "contact"
            plan = s.get(TimerPlan, cid)
            assert (plan.case_version, plan.head, plan.seq) == (case.version, case.event_chain_head,
                                                                repo.events_for(cid, session=s)[-1].seq)
            assert services.state_of(case, START, session=s) == replayed(s, case, START)
    assert counts[short] == counts[long_]


def test_a_case_without_a_plan_is_read_once_per_action_then_planned(runtime, rows_read) -> None:
    """A case from before plans (or whose plan was dropped): its history is read once, as one query, and the action
    leaves it planned, so the next action reads none."""
    cid = open_case(runtime)
    grow(runtime, cid, 50)
    with runtime.factory() as s:
        s.delete(s.get(TimerPlan, cid))
        s.commit()
    reads = Reads(runtime)
    rows_read.clear()
    with reads.counting():
        record_contact(runtime, cid)
    assert reads.history == 1 and rows_read == [50]
    rows_read.clear()
    with reads.counting():
        record_contact(runtime, cid)
    assert reads.history == 0 and rows_read == []


def test_events_appended_outside_an_action_are_read_on_their_own(runtime, rows_read) -> None:
    """Events appended since the plan (a refusal, an escalation prompt ...) are the only ones read: the replay is
    brought up to date from them, and equals a full replay."""
    cid = open_case(runtime)
    grow(runtime, cid, 40)
    with runtime.factory() as s:
        case = s.get(Case, cid)
        for i in range(3):
            repo.append_event(case, "refused", session=s, at=START + dt.timedelta(hours=i), actor=None, via="slack",
                              data={"action": "close"})
        s.commit()
    rows_read.clear()
    with runtime.factory() as s:
        case = s.get(Case, cid)
        got = services.state_of(case, at(4, 9, 10), session=s)
        assert rows_read == [3]
        assert services.state_of(case, at(4, 10, 10), session=s).status is got.status
        assert rows_read == [3]  # once a unit of work
        assert got == replayed(s, case, at(4, 9, 10))


def test_the_whole_contact_conversation_reads_no_history(runtime) -> None:
    """The six turns of recording a contact by chat, on a case of 10 and of 300 events: no history read, and the same
    statements."""
    short, long_ = open_case(runtime), open_case(runtime)
    grow(runtime, short, 10)
    grow(runtime, long_, 300)
    chat = Chat(runtime, FixedClock(START))
    chat.say("bob", "help")  # Bob's first words to Parley start his conversation's row
    reads = Reads(runtime)
    counts = []
    for cid in (short, long_):
        with runtime.factory() as s:
            ref = s.get(Case, cid).ref
        with reads.counting():
            got = chat.script("bob", f"contact {ref}", "today", "Alice Hughes, PC", "Phone", "No agreement", "none")
        assert "Contact recorded." in got.to_speaker[0].text
        assert reads.history == 0
        counts.append(reads.sql)
    assert counts[0] == counts[1]


# -- lists, the App Home and Teams lists ----------------------------------------------------------------------------
def test_app_home_runs_the_same_few_statements_however_many_cases_and_events(runtime) -> None:
    """Bob's App Home with one case, then four, then the four grown to 200 events each: the same statements every
    time, none reading a history; each card is the one a full replay gives."""
    reads = Reads(runtime)
    now = at(4, 9, 10)  # Stage 1 overdue: overdue first on the home
    with runtime.factory() as s:
        bob = repo.person_by_key("swindon", "bob", session=s).id
    ids = [open_case(runtime)]
    with reads.counting():
        assert len(runtime.home_messages(bob, now)) == 1
    one = reads.sql
    ids += [open_case(runtime, when=START + dt.timedelta(days=d)) for d in (1, 5, 6)]
    with reads.counting():
        assert len(runtime.home_messages(bob, now)) == 4
    assert reads.sql == one and reads.history == 0
    for cid in ids:
        grow(runtime, cid, 200)
    with reads.counting():
        cards = runtime.home_messages(bob, now)
    assert reads.sql == one and reads.history == 0
    T = translator()
    with runtime.factory() as s:
        expected = []
        for case in repo.cases_involving(repo.get_person(bob, session=s), session=s):
            st_ = replayed(s, case, now)
            expected.append((not views.overdue_items(st_), case.next_due_at, views.case_view(T, case, st_, session=s)))
    assert cards == [c for _, _, c in sorted(expected, key=lambda x: (x[0], x[1]))]


def test_lists_and_overviews_read_no_history_and_say_what_a_replay_says(runtime) -> None:
    reads = Reads(runtime)
    now = at(4, 9, 10)
    ids = [open_case(runtime), open_case(runtime, when=START + dt.timedelta(days=5))]
    for cid in ids:
        grow(runtime, cid, 30)
    T = translator()
    with runtime.factory() as s:
        bob = repo.person_by_key("swindon", "bob", session=s).id
    with reads.counting():
        listed = runtime.case_list(bob, now)
        overview = runtime.board_overview("swindon", now, T)
        overdue = runtime.overdue_lines("swindon", now, T)
    assert reads.history == 0
    with runtime.factory() as s:
        cases = [s.get(Case, cid) for cid in ids]
        rows = []
        for case in cases:
            st_ = replayed(s, case, now)
            proto = protocols.protocol_for(case, session=s)
            nxt = views.agenda(st_).next_short(T, proto)
            rows.append(("\u26a0 " if views.overdue_items(st_) else "") + views.case_headline(T, case, proto, session=s)
                        + (T(" \u2014 next: {line}", line=nxt) if nxt else ""))
        assert listed.text == "\n".join(rows)
        assert len(overview) == 2 and all(case.ref in "\n".join(overview) for case in cases)
        assert overdue == [f"{cases[0].ref}: {views.deadline_line(T, i, protocols.protocol_for(cases[0], session=s))}"
                           for i in views.overdue_items(replayed(s, cases[0], now))]
        assert overdue and "OVERDUE" in overdue[0]


# -- start-up -------------------------------------------------------------------------------------------------------
@pytest.fixture
def fold_all_calls(monkeypatch) -> list[int]:
    """The cases replayed from the start of their history (by case id)."""
    got: list[int] = []
    real = replays.fold_all

    def counted(case, **kw):
        got.append(case.id)
        return real(case, **kw)

    monkeypatch.setattr(replays, "fold_all", counted)
    return got


def pending(rt: Runtime) -> list[tuple[str, dt.datetime]]:
    """The cases' pending timers (not the boards' digests)."""
    with rt.factory() as s:
        return sorted((t.key, t.due_at) for t in s.scalars(select(Timer).where(Timer.state == "pending",
                                                                                Timer.case_id.is_not(None))))


def test_start_up_replays_no_case_whose_plan_is_current_and_exactly_a_stale_one(runtime, fold_all_calls) -> None:
    ids = [open_case(runtime, when=START + dt.timedelta(days=d)) for d in range(5)]
    closed = open_case(runtime)
    with runtime.factory() as s:
        services.close_case(Ctx(repo.person_by_key("swindon", "alice", session=s), "console", START),
                            s.get(Case, closed), reason="x", session=s)
        s.commit()
    timers_before = pending(runtime)
    fold_all_calls.clear()  # opening a case replays its first few events
    reads = Reads(runtime)
    with reads.counting():
        assert Sweeper(runtime.factory, FixedClock(START)).rebuild() == 0
    assert fold_all_calls == [] and reads.history == 0
    assert pending(runtime) == timers_before
    # a projection repaired by `parley db reproject` moves the case's version on: its timers are planned again
    with runtime.factory() as s:
        s.get(Case, ids[2]).stage_number = 9
        s.commit()
    assert list(runtime.reproject().wrong) != []
    fold_all_calls.clear()  # the reprojection itself replayed every case in full
    assert Sweeper(runtime.factory, FixedClock(START)).rebuild() == 1
    assert fold_all_calls == [ids[2]]
    assert pending(runtime) == timers_before
    assert Sweeper(runtime.factory, FixedClock(START)).rebuild() == 0 and fold_all_calls == [ids[2]]


def test_new_planning_rules_replan_every_case_that_is_not_closed(runtime, fold_all_calls, monkeypatch) -> None:
    ids = [open_case(runtime), open_case(runtime)]
    fold_all_calls.clear()
    monkeypatch.setattr(plans, "RULES", plans.RULES + " (changed)")
    assert Sweeper(runtime.factory, FixedClock(START)).rebuild() == 2
    assert sorted(fold_all_calls) == sorted(ids)
    with runtime.factory() as s:
        assert {s.get(TimerPlan, cid).rules for cid in ids} == {plans.RULES}


def test_a_case_whose_protocol_snapshot_changed_is_replanned_under_it(runtime, fold_all_calls) -> None:
    """Swindon's Stage 1 becomes 3 working days in a new snapshot the case moves to: start-up replays that case
    alone, its escalation moves from Thu 9 Apr to Fri 10 Apr 09:00 and the old one is cancelled."""
    cid, other = open_case(runtime), open_case(runtime)
    with runtime.factory() as s:
        case = s.get(Case, cid)
        data = copy.deepcopy(s.get(ProtocolSnapshot, case.snapshot_id).data)
        stage1 = data["protocol"]["stages"][0]
        assert stage1["steps"][0]["id"] == "internal-discussion"
        stage1["steps"][0]["due"] = "3 working days"
        board = repo.get_board("swindon", session=s)
        _, snap = repo.ensure_board("swindon", board.name, board.ref_prefix, "changed", data, session=s)
        case.snapshot_id = snap.id
        s.commit()
    fold_all_calls.clear()
    assert Sweeper(runtime.factory, FixedClock(START)).rebuild() == 1
    assert fold_all_calls == [cid]
    with runtime.factory() as s:
        esc = {t.state: t.due_at for t in s.scalars(select(Timer).where(Timer.case_id == cid,
                                                                        Timer.kind == "escalation"))}
        assert esc == {"pending": at(4, 10), "cancelled": at(4, 9)}
        assert s.get(TimerPlan, cid).snapshot_id == s.get(Case, cid).snapshot_id
        case = s.get(Case, cid)
        assert services.state_of(case, START, session=s) == replayed(s, case, START)
        assert s.get(TimerPlan, other).snapshot_id != s.get(Case, cid).snapshot_id


def test_a_due_timer_is_handled_from_the_plan_without_reading_the_history(runtime, rows_read) -> None:
    """The day-before reminders of a 200-event case: sent to the two who owe Stage 1 (Alice and her line manager
    Sam), nobody else, with no history read."""
    cid = open_case(runtime)
    grow(runtime, cid, 200)
    reads = Reads(runtime)
    rows_read.clear()
    with reads.counting():
        Sweeper(runtime.factory, FixedClock(at(4, 7, 9, 5))).fire_due()
    assert reads.history == 0 and rows_read == []
    with runtime.factory() as s:
        told = sorted(repo.get_person(r.person_id, session=s).key for r in s.scalars(
            select(OutboxMessage).where(OutboxMessage.case_id == cid)) if r.payload.get("kind") == "nudge")
    assert told == ["alice", "sam"]


# -- the stored replay is the replay ----------------------------------------------------------------------------
def test_moments_keep_their_zone_through_the_plan() -> None:
    for moment in (dt.date(2026, 4, 3), dt.datetime(2026, 10, 25, 1, 30, tzinfo=LONDON, fold=1),
                   dt.datetime(2026, 4, 8, 16, 0, tzinfo=dt.timezone.utc),
                   dt.datetime(2026, 4, 8, 17, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))):
        back = moment_from_data(moment_data(moment))
        assert back == moment and type(back) is type(moment)
        if isinstance(moment, dt.datetime):
            assert back.utcoffset() == moment.utcoffset() and back.tzname() == moment.tzname()


def test_stored_replays_equal_full_replays_for_varied_cases(sqlite_runtime) -> None:
    """Cases of every board driven through the services (hypothesis picks each next action among those the engine
    allows, and when), all in one unit of work as a long conversation would: afterwards each case's state read from
    its plan, at moments before, around and long after its deadlines, equals the engine on its whole history; so do
    its stage judgements, and its replay survives the plan's JSON unchanged."""
    rt = sqlite_runtime

    @settings(max_examples=25, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(data=st.data())
    def check(data) -> None:
        with rt.factory() as s:
            board = data.draw(st.sampled_from(BOARDS))
            start = dt.datetime(2026, 1, 5, 9, tzinfo=LONDON) + dt.timedelta(days=data.draw(st.integers(0, 360)))
            cid = drive_case(s, data, board, start).id
            s.commit()
        with rt.factory() as s:
            case = s.get(Case, cid)
            proto = protocols.protocol_for(case, session=s)
            folded, full = replays.fold(case, session=s), replays.fold_all(case, session=s)
            assert (folded.seq, folded.head, folded.judged) == (full.seq, full.head, full.judged)
            assert folded.replay.to_data() == full.replay.to_data()
            back = plans.from_data(proto, plans.to_data(folded), folded.seq, folded.head)
            assert back.replay.to_data() == folded.replay.to_data() and back.judged == folded.judged
            for days in (0, 3, 8, 30, 400):
                now = start + dt.timedelta(days=days, hours=7)
                assert services.state_of(case, now, session=s) == replayed(s, case, now)
            stored = [(r.visit, r.ended_seq, r.due_at, r.on_time) for r in s.scalars(
                select(CaseStageResult).where(CaseStageResult.case_id == cid).order_by(CaseStageResult.visit))]
            assert stored == [(row[0], *full.judged.get(row[0], (None, None, None))) for row in stored]

    check()


@pytest.mark.parametrize("journey", ["swindon", "wolverhampton", "cardiff-and-vale", "mid-and-west-wales"])
def test_every_state_read_in_a_whole_journey_is_the_full_replays(sqlite_runtime, monkeypatch, journey) -> None:
    """The journey tests run with every state Parley reads (actions, questions, views, lists, the sweep) checked
    against the engine on the case's whole history at the same moment, and its card against that replay's card."""
    checked: list[int] = []
    real = services.state_of
    T = translator()

    def both(case, now, *, session):
        got = real(case, now, session=session)
        want = replayed(session, case, now)
        assert got == want
        assert views.case_view(T, case, got, session=session) == views.case_view(T, case, want, session=session)
        checked.append(case.id)
        return got

    monkeypatch.setattr(services, "state_of", both)
    if journey == "swindon":
        test_swindon_journey.swindon_whole_case(Journey(sqlite_runtime, "swindon", START))
    elif journey == "wolverhampton":
        test_wolverhampton_journey.test_wolverhampton_protective_date_lapse_and_written_outcome(sqlite_runtime)
    elif journey == "cardiff-and-vale":
        test_cardiff_and_vale_journey.test_cardiff_and_vale_extension_lapse_and_already_resolved(sqlite_runtime)
    else:
        test_mid_and_west_wales_journey.\
            test_mid_and_west_wales_counterpart_named_later_welsh_actor_protective_lapse_and_closure(sqlite_runtime)
    assert len(checked) >= 10


# -- retention --------------------------------------------------------------------------------------------------------
def test_anonymising_a_case_drops_the_reasons_its_plan_kept(runtime) -> None:
    """An extension's reason is in the stored replay; when retention erases the case's free text, the plan goes too
    (the case is replayed from its redacted history), and nothing else about it changes."""
    with runtime.factory() as s:
        una = repo.person_by_key("cardiff-and-vale", "una", session=s)
        alice, bob = (repo.person_by_key("cardiff-and-vale", k, session=s) for k in ("alice", "bob"))
        when = dt.datetime(2019, 3, 1, 10, tzinfo=LONDON)
        case = opening.open_case(Ctx(alice, "console", when), NewCase(
            board_id="cardiff-and-vale", subject_kind="adult", category="thresholds", what_happened="x",
            done_so_far="", outcome_sought="", arose_on=when.date(), responding_agency_id=bob.agency_id,
            responding_person_id=bob.id), session=s)
        services.complete_step(Ctx(una, "console", when), case, "raise-with-manager", on=when.date(), session=s)
        st_ = services.state_of(case, when, session=s)
        item = next(i for i in st_.items if i.step.extendable and i.due_at is not None)
        services.extend_step(Ctx(una, "console", when), case, item.step.id, until=item.due_at.date()
                             + dt.timedelta(days=3), reason="Kezia's mother is in hospital", session=s)
        services.close_case(Ctx(una, "console", when + dt.timedelta(days=1)), case, reason="moved", session=s)
        s.commit()
        cid = case.id
        assert "Kezia" in str(s.get(TimerPlan, cid).state)
    retention.apply(runtime.factory, dt.datetime(2026, 4, 2, 10, tzinfo=LONDON))
    with runtime.factory() as s:
        assert s.get(TimerPlan, cid) is None
        case = s.get(Case, cid)
        got = services.state_of(case, START, session=s)
        assert got == replayed(s, case, START) and "Kezia" not in str(got)
