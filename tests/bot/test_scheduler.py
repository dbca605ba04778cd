"""The scheduler on a fake clock: nudge and escalation times per seed protocol across bank holidays,
working-hours holds, escalation prompts, acknowledgement, re-notification, tokens, digests, delivery."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.cases import services
from bot.escalation import escalation
from bot.core.clock import FixedClock
from bot.delivery.delivery import Deliverer, DeliveryError, Outgoing
from bot.escalation.scheduler import Sweeper
from bot.cases.services import Ctx
from bot.cases.opening import NewCase
from bot.cases.errors import PermissionDenied
from storage import repo
from storage.models import Case, EscalationPrompt, OutboxMessage, Timer, TimerPlan
from bot.cases import protocols
from bot.cases import opening

L = ZoneInfo("Europe/London")


def at(y: int, mo: int, d: int, h: int = 9, mi: int = 0) -> dt.datetime:
    return dt.datetime(y, mo, d, h, mi, tzinfo=L)


def open_case(rt, board: str, now: dt.datetime, **over) -> int:
    with rt.factory() as s:
        alice = repo.person_by_key(board, "alice", session=s)
        csc = repo.agency_by_key(board, "social-care", session=s)
        bob = repo.person_by_key(board, "bob", session=s)
        proto = protocols.board_protocol(board, session=s)
        base = dict(board_id=board, subject_kind="child", category=proto.categories[0].id, what_happened="x",
                    done_so_far="y", outcome_sought="z", arose_on=now.date(), responding_agency_id=csc.id,
                    responding_person_id=bob.id)
        base.update(over)
        case = opening.open_case(Ctx(alice, "console", now), NewCase(**base), session=s)
        s.commit()
        return case.id


def timers_of(rt, case_id: int, state: str = "pending") -> dict[tuple[str, str], list[dt.datetime]]:
    out: dict[tuple[str, str], list[dt.datetime]] = {}
    with rt.factory() as s:
        for t in s.scalars(select(Timer).where(Timer.case_id == case_id, Timer.state == state)):
            out.setdefault((t.kind, t.data.get("step", "")), []).append(t.due_at)
    return {k: sorted(v) for k, v in out.items()}


# -- planning per seed protocol (times in Europe/London) -------------------------------------------------
def test_swindon_nudges_and_escalation_across_easter(sqlite_runtime) -> None:
    """SWN-10 due Wed 8 Apr 2026 17:00 (Good Friday and Easter Monday skipped)."""
    cid = open_case(sqlite_runtime, "swindon", at(2026, 4, 2, 10))
    t = timers_of(sqlite_runtime, cid)
    assert t[("nudge", "internal-discussion")] == [at(2026, 4, 7), at(2026, 4, 8)]  # day before, morning of
    assert t[("escalation", "internal-discussion")] == [at(2026, 4, 9)]  # first working moment after the deadline


def test_wolverhampton_reminders_across_easter(sqlite_runtime) -> None:
    """WOL-11 due Wed 8 Apr; not the stage deadline, so an overdue reminder rather than an escalation."""
    cid = open_case(sqlite_runtime, "wolverhampton", at(2026, 4, 2, 10))
    t = timers_of(sqlite_runtime, cid)
    assert t[("nudge", "raise")] == [at(2026, 4, 7), at(2026, 4, 8)]
    assert t[("overdue", "raise")] == [at(2026, 4, 9)]
    assert not any(k[1] == "receiving-review" for k in t)  # its clock starts when the matter is raised
    assert not any(k[1] == "overall-target" for k in t)  # milestones are not chased


def _done(rt, cid: int, step: str, now: dt.datetime, board: str) -> None:
    with rt.factory() as s:
        services.complete_step(Ctx(repo.person_by_key(board, "alice", session=s), "console", now), s.get(Case, cid),
                               step, on=now.date(), session=s)
        s.commit()


def test_wolverhampton_stage_1_escalation_after_the_review_window(sqlite_runtime) -> None:
    """WOL-12: raised Tue 7 Apr, so the receiving agency's 3 working days end Fri 10 Apr; the escalation
    prompt goes out on Monday 13 Apr at 09:00, after the weekend."""
    rt = sqlite_runtime
    cid = open_case(rt, "wolverhampton", at(2026, 4, 2, 10))
    _done(rt, cid, "raise", at(2026, 4, 7, 11), "wolverhampton")
    t = timers_of(rt, cid)
    assert t[("nudge", "receiving-review")] == [at(2026, 4, 9), at(2026, 4, 10)]
    assert t[("escalation", "receiving-review")] == [at(2026, 4, 13)]
    assert ("nudge", "raise") not in t and ("overdue", "raise") not in t  # done: its reminders were cancelled


def test_cardiff_stage_1_across_the_early_may_bank_holiday(sqlite_runtime) -> None:
    """CV-7: raised with the manager Thu 30 Apr 2026, so 2 working days end Tue 5 May (Mon 4 May is a bank
    holiday): nudges Fri 1 May and Tue 5 May, escalation Wed 6 May 09:00."""
    rt = sqlite_runtime
    cid = open_case(rt, "cardiff-and-vale", at(2026, 4, 30, 10))
    _done(rt, cid, "raise-with-manager", at(2026, 4, 30, 10, 5), "cardiff-and-vale")
    t = timers_of(rt, cid)
    assert t[("nudge", "manager-attempt")] == [at(2026, 5, 1), at(2026, 5, 5)]
    assert t[("escalation", "manager-attempt")] == [at(2026, 5, 6)]


def test_mid_and_west_wales_timers_across_easter(sqlite_runtime) -> None:
    """MWW-3 due Mon 13 Apr; MWW-5 stage limit Mon 20 Apr escalates Tue 21 Apr; the safeguarding-lead duty
    (no timescale) is reminded on the next working morning: Tue 7 Apr after the Easter weekend."""
    cid = open_case(sqlite_runtime, "mid-and-west-wales", at(2026, 4, 2, 10))
    t = timers_of(sqlite_runtime, cid)
    assert t[("nudge", "practitioners-meet")] == [at(2026, 4, 10), at(2026, 4, 13)]
    assert t[("escalation", "stage-1-limit")] == [at(2026, 4, 21)]
    assert t[("duty", "inform-safeguarding-lead")] == [at(2026, 4, 7)]


def test_cardiff_immediately_is_chased_an_hour_later(sqlite_runtime) -> None:
    """CV-6 'immediately': no advance nudge; a reminder one working hour later if not done."""
    cid = open_case(sqlite_runtime, "cardiff-and-vale", at(2026, 4, 2, 16, 30))
    t = timers_of(sqlite_runtime, cid)
    assert t[("overdue", "raise-with-manager")] == [at(2026, 4, 7, 9, 30)]  # 30 min Thu, 30 min Tue


def test_christmas_deadline_and_hold_until_working_hours(sqlite_runtime) -> None:
    """Opened Wed 23 Dec 2026: SWN-10 is due Tue 29 Dec (Christmas Day, Boxing Day observed on Mon 28)."""
    cid = open_case(sqlite_runtime, "swindon", at(2026, 12, 23, 11))
    t = timers_of(sqlite_runtime, cid)
    assert t[("nudge", "internal-discussion")] == [at(2026, 12, 24), at(2026, 12, 29)]
    assert t[("escalation", "internal-discussion")] == [at(2026, 12, 30)]
    # a nudge configured for 02:00 (or falling on a bank holiday) waits for 09:00 on the next working day
    from protocol.spec import Nudge
    from bot.cases.timers import plan_case

    with sqlite_runtime.factory() as s:
        case = s.get(Case, cid)
        proto = protocols.protocol_for(case, session=s)
        proto2 = type(proto)(**{**proto.__dict__, "schedule": type(proto.schedule)(
            nudges=(Nudge(2, dt.time(2, 0)),))})
        st = services.state_of(case, at(2026, 12, 23, 11), session=s)
        specs = [sp for sp in plan_case(case, st, proto2) if sp.kind == "nudge"]
    # 2 working days before Tue 29 Dec is Wed 23 Dec at 02:00 -> held to 09:00 that day
    assert [sp.due_at for sp in specs] == [at(2026, 12, 23, 9)]


# -- firing ------------------------------------------------------------------------------------
def _sweep(rt, clock: FixedClock) -> int:
    return Sweeper(rt.factory, clock).fire_due()


def _outbox(rt, case_id: int | None = None) -> list[OutboxMessage]:
    with rt.factory() as s:
        q = select(OutboxMessage).order_by(OutboxMessage.id)
        if case_id is not None:
            q = q.where(OutboxMessage.case_id == case_id)
        return list(s.scalars(q))


def test_escalation_posts_to_both_agencies_line_manager_channels(sqlite_runtime) -> None:
    rt = sqlite_runtime
    cid = open_case(rt, "swindon", at(2026, 4, 2, 10), subject_name="Jamie Doe")
    clock = FixedClock(at(2026, 4, 9, 9, 0))
    _sweep(rt, clock)
    rows = _outbox(rt, cid)
    channels = sorted(r.address for r in rows if r.target_kind == "channel")
    assert channels == ["#csc-team-managers", "#police-sgt-managers"]
    dms = sorted(r.person_id for r in rows if r.target_kind == "person" and "managers have been asked"
                 in r.payload["text"])
    with rt.factory() as s:
        assert dms == sorted([repo.person_by_key("swindon", "alice", session=s).id,
                              repo.person_by_key("swindon", "bob", session=s).id])
        prompts = s.scalars(select(EscalationPrompt).where(EscalationPrompt.case_id == cid)).all()
        assert {p.agency_key for p in prompts} == {"police", "social-care"} and all(p.level == "line_manager"
                                                                                     for p in prompts)
        kinds = [e.kind for e in repo.events_for(cid, session=s)]
        assert "escalation_prompted" in kinds
    for r in rows:  # channel posts: reference, agencies and stage, never the child's name
        assert "Jamie" not in str(r.payload)
    post = next(r for r in rows if r.address == "#police-sgt-managers")
    assert [b[0] for b in post.payload["buttons"]] == ["esc.ack", "case.record_outcome", "case.view"]
    assert "The Stage 1 deadline passed on Wed 8 Apr 2026 17:00 with no outcome recorded." in post.payload["text"]


def test_renotify_chain_is_bounded(sqlite_runtime) -> None:
    rt = sqlite_runtime
    cid = open_case(rt, "swindon", at(2026, 4, 2, 10))
    clock = FixedClock(at(2026, 4, 9, 9, 0))
    _sweep(rt, clock)
    # 4 working hours later: re-posted in both channels
    clock.set(at(2026, 4, 9, 13, 0))
    _sweep(rt, clock)
    reposts = [r for r in _outbox(rt, cid) if r.target_kind == "channel" and "Reminder 1" in r.payload["text"]]
    assert sorted(r.address for r in reposts) == ["#csc-team-managers", "#police-sgt-managers"]
    # then each agency's safeguarding lead (Thu 17:00 has 0 h left: Fri 09:00 + 4 h = Fri 13:00)
    clock.set(at(2026, 4, 10, 13, 0))
    _sweep(rt, clock)
    with rt.factory() as s:
        leads = {repo.person_by_key("swindon", k, session=s).id for k in ("priya", "mia")}
    assert {r.person_id for r in _outbox(rt, cid) if "Reminder 2" in r.payload["text"]} == leads
    # then the business unit, and no more
    clock.set(at(2026, 4, 10, 17, 0))
    _sweep(rt, clock)
    clock.set(at(2026, 4, 20, 17, 0))
    _sweep(rt, clock)
    third = [r for r in _outbox(rt, cid) if "Reminder 3" in r.payload["text"]]
    assert {r.address for r in third} == {"#business-unit"}
    assert not [r for r in _outbox(rt, cid) if "Reminder 4" in r.payload["text"]]


def _prompt(rt, cid: int, agency: str) -> int:
    with rt.factory() as s:
        return s.scalar(select(EscalationPrompt.id).where(EscalationPrompt.case_id == cid,
                                                          EscalationPrompt.agency_key == agency))


def _ack(rt, who: str, prompt_id: int, now: dt.datetime, board: str = "swindon"):
    with rt.factory() as s:
        ctx = Ctx(repo.person_by_key(board, who, session=s), "console", now)
        msg, state = escalation.acknowledge(ctx, prompt_id, session=s)
        s.commit()
        return msg, state


def test_acknowledge_moves_case_updates_prompts_and_stops_renotify(sqlite_runtime) -> None:
    rt = sqlite_runtime
    cid = open_case(rt, "swindon", at(2026, 4, 2, 10))
    clock = FixedClock(at(2026, 4, 9, 9, 0))
    _sweep(rt, clock)
    msg, state = _ack(rt, "sam", _prompt(rt, cid, "police"), at(2026, 4, 9, 10, 42))
    assert "The case has moved to Stage 2: Inter-agency discussion." in msg.text
    assert state.stage.number == 2
    updates = [r for r in _outbox(rt, cid) if r.update_of_id is not None]
    assert sorted(r.address for r in updates) == ["#csc-team-managers", "#police-sgt-managers"]
    texts = {r.address: r.payload["text"] for r in updates}
    assert texts["#police-sgt-managers"].startswith("Acknowledged by Sam Patel at 10:42 on Thu 9 Apr.")
    # the other agency's prompt is answered too, saying who took ownership
    assert texts["#csc-team-managers"].startswith("Acknowledged by Sam Patel (Wiltshire Police) at 10:42")
    assert all("esc.ack" not in [b[0] for b in r.payload["buttons"]] for r in updates)
    # a second click, by anyone, is answered quietly and changes nothing
    before = len(_outbox(rt, cid))
    msg2, state2 = _ack(rt, "mia", _prompt(rt, cid, "social-care"), at(2026, 4, 9, 10, 50))
    assert "Already acknowledged by Sam Patel at 10:42" in msg2.text and state2 is None
    assert len(_outbox(rt, cid)) == before
    # no re-notification for an acknowledged prompt
    clock.set(at(2026, 4, 9, 15, 0))
    _sweep(rt, clock)
    assert not [r for r in _outbox(rt, cid) if "Reminder" in r.payload["text"]]


@pytest.mark.parametrize("who, reason", [("hugh", "only the people"), ("alice", "can't acknowledge an escalation"),
                                         ("mia", "this prompt is for")])
def test_acknowledge_refused_for_the_wrong_people(sqlite_runtime, who, reason) -> None:
    """A manager of an uninvolved agency, a practitioner, and the other agency's manager on this agency's
    prompt are refused; nothing changes."""
    rt = sqlite_runtime
    cid = open_case(rt, "swindon", at(2026, 4, 2, 10))
    _sweep(rt, FixedClock(at(2026, 4, 9, 9, 0)))
    before = len(_outbox(rt, cid))
    with pytest.raises(PermissionDenied, match=reason):
        _ack(rt, who, _prompt(rt, cid, "police"), at(2026, 4, 9, 10))
    with rt.factory() as s:
        case = s.get(Case, cid)
        assert case.stage_number == 1
        assert s.get(EscalationPrompt, _prompt(rt, cid, "police")).state == "open"
    assert len(_outbox(rt, cid)) == before


def test_a_timer_from_an_old_stage_never_fires(sqlite_runtime) -> None:
    rt = sqlite_runtime
    cid = open_case(rt, "swindon", at(2026, 4, 2, 10))
    with rt.factory() as s:
        old = s.scalar(select(Timer).where(Timer.case_id == cid, Timer.kind == "escalation"))
        old_id, old_token = old.id, old.token
        case = s.get(Case, cid)
        services.record_outcome(Ctx(repo.person_by_key("swindon", "alice", session=s), "console",
                                    at(2026, 4, 7, 12)), case, resolved=False, text="moving on", session=s)
        s.commit()
        assert s.get(Timer, old_id).state == "cancelled"  # reconcile cancelled it
        assert case.stage_token != old_token
        # even if it were still pending (e.g. a race), the sweep refuses it: the token changed
        s.get(Timer, old_id).state = "pending"
        s.commit()
    _sweep(rt, FixedClock(at(2026, 4, 9, 9, 0)))
    with rt.factory() as s:
        t = s.get(Timer, old_id)
        assert t.state == "cancelled" and "moved on" in t.note
        assert not s.scalars(select(EscalationPrompt).where(EscalationPrompt.timer_id == old_id)).all()


def test_reminders_for_a_passed_deadline_are_dropped_and_only_the_latest_nudge_is_sent(sqlite_runtime) -> None:
    rt = sqlite_runtime
    cid = open_case(rt, "swindon", at(2026, 4, 2, 10))
    _sweep(rt, FixedClock(at(2026, 4, 8, 10, 30)))  # both nudges are due: only the morning-of one goes
    nudges = [r for r in _outbox(rt, cid) if "Reminder for" in r.payload["text"]]
    with rt.factory() as s:
        owners = {repo.person_by_key("swindon", k, session=s).id for k in ("alice", "sam")}
    assert sorted(r.person_id for r in nudges) == sorted(owners)  # one each, practitioner and line manager
    assert all("late" in r.payload["text"] for r in nudges)  # fired over an hour after their time


def test_rebuild_recreates_lost_timers_and_late_ones_fire_once(sqlite_runtime) -> None:
    rt = sqlite_runtime
    cid = open_case(rt, "swindon", at(2026, 4, 2, 10))
    with rt.factory() as s:
        for t in s.scalars(select(Timer).where(Timer.case_id == cid)):
            s.delete(t)
        # start-up replans the cases with no plan (or an out-of-date one): e.g. a database from before timer plans
        s.delete(s.get(TimerPlan, cid))
        s.commit()
    clock = FixedClock(at(2026, 4, 10, 11, 0))  # the process was down past the deadline
    sw = Sweeper(rt.factory, clock)
    sw.rebuild()
    assert timers_of(rt, cid)[("escalation", "internal-discussion")] == [at(2026, 4, 9)]
    sw.fire_due()
    sw.rebuild()
    sw.fire_due()
    with rt.factory() as s:
        esc = s.scalars(select(Timer).where(Timer.case_id == cid, Timer.kind == "escalation")).all()
        assert len(esc) == 1 and esc[0].state == "done" and esc[0].late
        assert len(s.scalars(select(EscalationPrompt).where(EscalationPrompt.case_id == cid)).all()) == 2


@pytest.mark.parametrize("now, expected_utc", [
    (at(2026, 3, 28, 12), dt.datetime(2026, 3, 30, 8, 0, tzinfo=dt.timezone.utc)),  # after the spring change
    (at(2026, 10, 24, 12), dt.datetime(2026, 10, 26, 9, 0, tzinfo=dt.timezone.utc)),  # after the autumn change
    (at(2026, 4, 4, 12), dt.datetime(2026, 4, 7, 8, 0, tzinfo=dt.timezone.utc)),  # Easter Monday: Tuesday
])
def test_weekly_digest_is_09_00_london_across_clock_changes(sqlite_runtime, now, expected_utc) -> None:
    sw = Sweeper(sqlite_runtime.factory, FixedClock(now))
    sw.ensure_board_timers()
    sw.ensure_board_timers()  # idempotent
    with sqlite_runtime.factory() as s:
        rows = s.scalars(select(Timer).where(Timer.kind == "digest", Timer.board_id == "swindon")).all()
    assert [r.due_at for r in rows] == [expected_utc]


def test_digest_posts_once_to_the_business_unit(sqlite_runtime) -> None:
    rt = sqlite_runtime
    open_case(rt, "swindon", at(2026, 4, 2, 10), subject_name="Jamie Doe")
    sw = Sweeper(rt.factory, FixedClock(at(2026, 4, 2, 12)))
    sw.ensure_board_timers()
    sw.clock = FixedClock(at(2026, 4, 7, 9, 5))
    sw.sweep()
    sw.sweep()
    posts = [r for r in _outbox(rt) if r.board_id == "swindon" and r.payload["title"].startswith("Weekly digest")]
    assert len(posts) == 1 and posts[0].address == "#business-unit"
    assert "New this week: 1" in posts[0].payload["text"] and "Jamie" not in str(posts[0].payload)
    # quarterly data set only for boards whose protocol reports quarterly (MWW, CV)
    with rt.factory() as s:
        boards = {t.board_id for t in s.scalars(select(Timer).where(Timer.kind == "quarterly"))}
    assert boards == {"mid-and-west-wales", "cardiff-and-vale"}


class FlakyTransport:
    platform = "console"

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.fail_once: set[str] = set()
        self.permanent: set[str] = set()
        self.already: dict[str, str] = {}

    def send(self, msg: Outgoing) -> str:
        if msg.key in self.permanent:
            raise DeliveryError("HTTP 404", permanent=True)
        if msg.key in self.fail_once:
            self.fail_once.discard(msg.key)
            raise DeliveryError("HTTP 429", retry_after=30)
        self.sent.append(msg.key)
        return f"id-{len(self.sent)}"

    def update(self, msg: Outgoing) -> str:
        return self.send(msg)

    def find_sent(self, msg: Outgoing) -> str | None:
        return self.already.get(msg.key)


def test_delivery_retries_with_backoff_without_blocking_others(sqlite_runtime) -> None:
    rt = sqlite_runtime
    open_case(rt, "swindon", at(2026, 4, 2, 10))
    clock = FixedClock(at(2026, 4, 9, 9, 0))
    _sweep(rt, clock)
    rows = _outbox(rt)
    transport = FlakyTransport()
    transport.fail_once.add(rows[0].idempotency_key)
    transport.permanent.add(rows[1].idempotency_key)
    d = Deliverer(rt.factory, {"console": transport}, clock, "w1")
    d.deliver()
    after = {r.idempotency_key: r for r in _outbox(rt)}
    assert after[rows[0].idempotency_key].state == "pending"
    assert after[rows[0].idempotency_key].next_attempt_at == clock.now() + dt.timedelta(seconds=30)  # Retry-After
    assert after[rows[1].idempotency_key].state == "failed"
    assert all(after[r.idempotency_key].state == "sent" for r in rows[2:])
    clock.set(clock.now() + dt.timedelta(seconds=31))
    d.deliver()
    assert {r.idempotency_key: r.state for r in _outbox(rt)}[rows[0].idempotency_key] == "sent"
    # the permanent failure told the business unit, once (bot.delivery.outages); everything else arrived once
    alerts = [k for k in transport.sent if k.startswith("delivery-alert:")]
    assert len(alerts) == 1 and alerts[0].endswith(":cconsole:#business-unit")
    assert len(transport.sent) == len(set(transport.sent)) == len(rows) - 1 + 1


def test_a_crashed_send_is_not_repeated_when_the_platform_has_it(sqlite_runtime) -> None:
    rt = sqlite_runtime
    open_case(rt, "swindon", at(2026, 4, 2, 10))
    clock = FixedClock(at(2026, 4, 9, 9, 0))
    _sweep(rt, clock)
    row = _outbox(rt)[0]
    with rt.factory() as s:  # a worker claimed it, sent it, then died before marking it sent
        r = s.get(OutboxMessage, row.id)
        r.state, r.claimed_by, r.lease_until, r.attempts = "sending", "dead", clock.now() + dt.timedelta(seconds=60), 1
        s.commit()
    transport = FlakyTransport()
    transport.already[row.idempotency_key] = "platform-123"
    d = Deliverer(rt.factory, {"console": transport}, clock, "w2")
    d.deliver()  # lease not expired yet: left alone
    assert row.idempotency_key not in transport.sent
    clock.set(clock.now() + dt.timedelta(seconds=61))
    d.deliver()
    with rt.factory() as s:
        r = s.get(OutboxMessage, row.id)
        assert r.state == "sent" and r.external_id == "platform-123"
    assert row.idempotency_key not in transport.sent


def test_quarterly_data_set_is_posted_for_the_quarter_just_ended(sqlite_runtime) -> None:
    rt = sqlite_runtime
    open_case(rt, "mid-and-west-wales", at(2026, 8, 3, 10), subject_name="Jamie Doe")  # Q3 2026
    sw = Sweeper(rt.factory, FixedClock(at(2026, 9, 20, 12)))
    sw.ensure_board_timers()
    sw.clock = FixedClock(at(2026, 10, 1, 9, 5))
    sw.sweep()
    # Mid & West Wales posts in Welsh first, then English (channel_languages: [cy, en])
    posts = [r for r in _outbox(rt) if r.board_id == "mid-and-west-wales"
             and r.payload["title"].startswith("Set ddata chwarterol")]
    assert len(posts) == 1 and posts[0].address == "#business-unit"
    assert "Ch3 2026" in posts[0].payload["title"]
    text = posts[0].payload["text"]
    assert text.index("Categori / thema: Meini prawf ar gyfer atgyfeiriadau 1") < text.index(
        "Quarterly data set \u2014 Mid & West Wales Safeguarding Board (CYSUR / CWMPAS): Q3 2026")
    assert "Category / theme: Criteria for referrals 1" in text
    assert "Jamie" not in str(posts[0].payload) and "MWW-2026-0001" not in str(posts[0].payload)


def test_a_transient_database_error_in_a_timer_handler_is_retried_and_fires_once(runtime) -> None:
    """R11: a deadlock (or lost connection, serialization failure) inside a handler undoes what the handler wrote
    and leaves the timer pending with a backoff; the next sweep after it fires the timer, once."""
    from sqlalchemy.exc import OperationalError

    rt = runtime
    open_case(rt, "swindon", at(2026, 4, 2, 10))
    clock = FixedClock(at(2026, 4, 9, 9, 0))  # Stage 1 lapsed on Wed 8 Apr: its escalation is due
    sw = Sweeper(rt.factory, clock)
    real = sw.handlers["escalation"]
    calls = []

    def deadlocked(s, t, now):
        calls.append(t.id)
        if len(calls) == 1:
            real(s, t, now)  # its writes (prompts, outbox rows, the event) are made, then the database gives up
            raise OperationalError("INSERT ...", {}, Exception("deadlock detected"))
        real(s, t, now)

    sw.handlers["escalation"] = deadlocked
    sw.sweep()
    with rt.factory() as s:
        esc = s.scalars(select(Timer).where(Timer.kind == "escalation", Timer.due_at <= clock.now())).all()
        assert len(esc) == 1 and esc[0].state == "pending" and esc[0].attempts == 1 and esc[0].retry_at > clock.now()
        assert not s.scalars(select(EscalationPrompt)).all()  # the savepoint undid the handler's writes
        assert not [r for r in s.scalars(select(OutboxMessage)) if r.timer_id == esc[0].id]
    sw.sweep()  # before the backoff: not again
    assert len(calls) == 1
    clock.set(clock.now() + dt.timedelta(minutes=1))
    sw.sweep()
    sw.sweep()
    assert len(calls) == 2
    with rt.factory() as s:
        t = s.get(Timer, esc[0].id)
        assert t.state == "done"
        prompts = s.scalars(select(EscalationPrompt).where(EscalationPrompt.timer_id == t.id)).all()
        assert prompts and len({p.agency_key for p in prompts}) == len(prompts)  # once per agency
        events = [e for e in s.get(Case, t.case_id).events if e.kind == "escalation_prompted"] \
            if hasattr(Case, "events") else None
        assert events is None or len(events) == 1
