"""The scheduler as real processes (`parley scheduler`), delivering to a real HTTP endpoint.

* Restart safety: a scheduler is killed with SIGKILL in the middle of delivering, then restarted with
  ``--until-idle``; every message arrives exactly once, every due timer has fired, and re-notifications
  planned before the crash survive the restart's rebuild.
* Two replicas on PostgreSQL: two ``parley scheduler --until-idle`` processes share a database with over
  1,000 due timers; ``FOR UPDATE SKIP LOCKED`` splits the work so every timer fires once and every message
  is posted once.
* A delivery batch that outlives its lease (in process, on a fake clock): the rows another replica
  reclaimed meanwhile are not sent a second time by the first.

The cases are opened through ``bot.cases.opening.open_case`` about two months before the real current time,
so every stage deadline has long passed: escalations, overdue and duty reminders are due, and the
nudges for deadlines already gone are dropped (cancelled) by the sweep.
"""

from __future__ import annotations

import collections
import datetime as dt
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, func, select, update

from adapters.webhook import WebhookTransport
from bot.delivery import outbox as outbox_rows
from bot.cases import services
from bot.core.clock import FixedClock
from bot.delivery.delivery import Deliverer, Outgoing
from bot.core.messages import Message
from bot.runtime import Runtime
from bot.cases.services import Ctx
from bot.cases.opening import NewCase
from storage import repo
from storage.models import (
    Agency,
    AgencyChannel,
    BoardChannel,
    Case,
    CaseEvent,
    EscalationPrompt,
    OutboxMessage,
    Person,
    PersonIdentity,
    Timer,
)
from tests.conftest import make_runtime
from tests.e2e.webhook_server import WebhookServer
from bot.cases import protocols
from bot.cases import opening

pytestmark = pytest.mark.e2e

LONDON = ZoneInfo("Europe/London")
PARLEY = str(Path(sys.executable).with_name("parley"))
BOARDS = ("swindon", "wolverhampton", "cardiff-and-vale", "mid-and-west-wales")
PRACTITIONERS = ("alice", "bob", "hana", "ed")  # police, social care, health, education
MANAGER_LEVELS = ("line_manager", "senior_manager", "director")
SWEPT = re.compile(r"sweep: (\d+) timers fired, (\d+) messages sent")


# -- setting up ------------------------------------------------------------------------------------------
def route_to_webhook(rt: Runtime) -> None:
    """Everyone and every channel of the demo directory on the ``webhook`` platform only: person identities
    (preferred over the console's), agency manager channels and each board's business-unit channel. The
    demo's console channels are removed so that every outbox row is one this process can deliver."""
    with rt.factory() as s:
        s.execute(delete(AgencyChannel).where(AgencyChannel.platform == "console"))
        s.execute(delete(BoardChannel).where(BoardChannel.platform == "console"))
        for p in s.scalars(select(Person)):
            s.add(PersonIdentity(person_id=p.id, platform="webhook", external_id=f"person:{p.board_id}:{p.key}"))
        for a in s.scalars(select(Agency)):
            for level in MANAGER_LEVELS:
                s.add(AgencyChannel(agency_id=a.id, level=level, platform="webhook",
                                    address=f"channel:{a.board_id}:{a.key}:{level}"))
        for b in repo.all_boards(session=s):
            s.add(BoardChannel(board_id=b.id, purpose="business_unit", platform="webhook",
                               address=f"channel:{b.id}:business-unit"))
        s.commit()


def two_months_ago() -> dt.datetime:
    start = dt.datetime.now(LONDON) - dt.timedelta(days=61)
    return start.replace(hour=10, minute=0, second=0, microsecond=0)


def open_cases(rt: Runtime, n: int, first: int = 0) -> None:
    """Open cases ``first .. first+n-1``: round the four seed boards, every pair of practitioners' agencies,
    opened on ten successive days starting about two months ago (so the deadlines differ and have all passed)."""
    start = two_months_ago()
    for i in range(first, first + n):
        board = BOARDS[i % 4]
        raising = PRACTITIONERS[(i // 4) % 4]
        responding = PRACTITIONERS[((i // 4) + 1 + (i // 16) % 3) % 4]
        now = start + dt.timedelta(days=(i // 4) % 10, minutes=i % 240)
        with rt.factory() as s:
            actor = repo.person_by_key(board, raising, session=s)
            other = repo.person_by_key(board, responding, session=s)
            proto = protocols.board_protocol(board, session=s)
            opening.open_case(Ctx(actor, "console", now), NewCase(
                board_id=board, subject_kind="child", category=proto.categories[i % len(proto.categories)].id,
                what_happened=f"Disagreement {i}", done_so_far="Discussed", outcome_sought="Agreement",
                arose_on=now.date(), responding_agency_id=other.agency_id, responding_person_id=other.id),
                session=s)
            s.commit()


def due_pending(rt: Runtime) -> int:
    now = dt.datetime.now(dt.timezone.utc)
    with rt.factory() as s:
        return s.scalar(select(func.count()).select_from(Timer).where(Timer.state == "pending",
                                                                      Timer.due_at <= now)) or 0


# -- the processes ---------------------------------------------------------------------------------------
class Proc:
    def __init__(self, name: str, url: str, webhook: str, log_dir: Path, *args: str):
        self.name = name
        self.log = log_dir / f"{name}.log"
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        env.update(PARLEY_WEBHOOK_URL=webhook, PYTHONUNBUFFERED="1")
        self._out = self.log.open("wb")
        self.popen = subprocess.Popen([PARLEY, "scheduler", "--db", url, "--interval", "0.2", *args],
                                      stdout=self._out, stderr=subprocess.STDOUT, env=env, cwd=log_dir)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def wait(self, timeout: float) -> int:
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            pytest.fail(f"{self.name} did not exit within {timeout} s\n{self.text()[-3000:]}")
        finally:
            self._out.close()

    def kill9(self) -> None:
        os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait()
        self._out.close()

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def swept(self) -> tuple[int, int]:
        """(timers fired, messages sent) as this process logged them."""
        pairs = [(int(a), int(b)) for a, b in SWEPT.findall(self.text())]
        return sum(a for a, _ in pairs), sum(b for _, b in pairs)


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for p in started:  # never leave a scheduler behind (only the ones this test started)
        if p.alive():
            p.popen.kill()
            p.popen.wait()


@pytest.fixture
def server() -> Iterator[WebhookServer]:
    with WebhookServer() as srv:
        yield srv


# -- checks ----------------------------------------------------------------------------------------------
def outbox(rt: Runtime) -> list[OutboxMessage]:
    with rt.factory() as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def assert_delivered_exactly_once(rt: Runtime, server: WebhookServer, logs: str) -> list[OutboxMessage]:
    rows = outbox(rt)
    assert rows, "nothing was queued"
    states = collections.Counter(r.state for r in rows)
    assert states == {"sent": len(rows)}, f"outbox states {dict(states)}\n{logs[-3000:]}"
    assert {r.platform for r in rows} == {"webhook"}
    received = collections.Counter(server.keys())
    dupes = {k: n for k, n in received.items() if n > 1}
    assert not dupes, f"{len(dupes)} keys posted more than once, e.g. {list(dupes.items())[:5]}"
    keys = {r.idempotency_key for r in rows}
    assert set(received) == keys, (f"missing {len(keys - set(received))}: {sorted(keys - set(received))[:5]}; "
                                   f"unexpected {sorted(set(received) - keys)[:5]}")
    assert sum(received.values()) == len(rows)
    # the body is the row's message, addressed as the row says
    by_key = {p.key: p.body for p in server.posts}
    for r in rows:
        body = by_key[r.idempotency_key]
        assert (body["key"], body["target"], body["address"]) == (r.idempotency_key, r.target_kind, r.address)
        assert body["message"]["text"] == r.payload["text"]
    return rows


def assert_every_due_timer_fired_once(rt: Runtime) -> dict[str, int]:
    now = dt.datetime.now(dt.timezone.utc)
    with rt.factory() as s:
        due = list(s.scalars(select(Timer).where(Timer.due_at <= now)))
        left = [(t.key, t.state, t.note) for t in due if t.state not in ("done", "cancelled")]
        assert not left, f"{len(left)} due timers not fired: {left[:5]}"
        assert all(t.fired_at is not None for t in due)
        # a timer fires in one transaction: one escalation event and one prompt per agency, per done timer
        done_esc = [t for t in due if t.kind == "escalation" and t.state == "done"]
        events = s.scalar(select(func.count()).select_from(CaseEvent)
                          .where(CaseEvent.kind == "escalation_prompted")) or 0
        assert events == len(done_esc)
        per_timer = collections.Counter(p.timer_id for p in s.scalars(select(EscalationPrompt)))
        assert set(per_timer) == {t.id for t in done_esc}
        # every outbox row comes from a timer that is done
        sources = set(s.scalars(select(OutboxMessage.timer_id).distinct()))
        assert sources <= {t.id for t in due if t.state == "done"}
        return dict(collections.Counter(f"{t.kind}:{t.state}" for t in due))


def expected_lapses(rt: Runtime) -> collections.Counter[tuple[str, str]]:
    """What the lapsed stages must have sent, worked out from each case's protocol and the engine's state, not
    from the outbox: for every open case whose current stage deadline has passed, a prompt in each agency's
    manager channel at the next stage's level (line managers at least; the business-unit channel for a board's
    stage), and a notice to each of the two practitioners. (address, kind) -> how many."""
    from protocol.engine import evaluate
    from protocol.spec import LEVEL_ORDER, Level

    now = dt.datetime.now(dt.timezone.utc)
    out: collections.Counter[tuple[str, str]] = collections.Counter()
    with rt.factory() as s:
        for case in s.scalars(select(Case)):
            proto = protocols.protocol_for(case, session=s)
            st = evaluate(proto, services.engine_events(case, session=s), now)
            lapsed = [i for i in st.items if i.step.stage_deadline and i.overdue and i.stage is st.stage]
            if not lapsed or st.stage is None:
                continue
            nxt = proto.next_stage(st.stage.id)
            level = nxt.level if nxt else Level.BUSINESS_UNIT
            if LEVEL_ORDER.index(level.value) < LEVEL_ORDER.index(Level.LINE_MANAGER.value):
                level = Level.LINE_MANAGER
            if level in (Level.BUSINESS_UNIT, Level.INDEPENDENT_CHAIR):
                out[(f"channel:{case.board_id}:business-unit", "lapse_prompt")] += 1
            else:
                for aid in (case.raising_agency_id, case.responding_agency_id):
                    key = s.get(Agency, aid).key
                    out[(f"channel:{case.board_id}:{key}:{level.value}", "lapse_prompt")] += 1
            for pid in (case.raising_person_id, case.responding_person_id):
                p = s.get(Person, pid)
                out[(f"person:{case.board_id}:{p.key}", "lapse_notice")] += 1
    return out


def received_lapses(server: WebhookServer) -> collections.Counter[tuple[str, str]]:
    return collections.Counter((p.body["address"], p.body["message"].get("kind")) for p in server.posts
                               if p.body["message"].get("kind") in ("lapse_prompt", "lapse_notice")
                               and not p.body.get("update_of"))


# -- a. restart safety -----------------------------------------------------------------------------------
def test_killed_mid_delivery_then_restarted_delivers_everything_exactly_once(
        db_url: str, server: WebhookServer, procs: list[Proc], tmp_path: Path) -> None:
    rt = make_runtime(db_url)
    try:
        route_to_webhook(rt)
        open_cases(rt, 150)
        assert due_pending(rt) >= 300
        server.post_delay = 0.01  # a platform taking 10 ms per message, so the kill lands mid-delivery

        # killed three times, at different points of the work (early, in the middle, later on), each time
        # restarted; the last one runs until nothing is left
        for n, kill_after in enumerate((40, 120, 200)):
            first = Proc(f"killed-{n}", db_url, server.url, tmp_path)
            procs.append(first)
            deadline = time.monotonic() + 40
            while server.count() < kill_after:  # some, but far from all, of the ~500 messages
                assert first.alive(), f"the scheduler exited early\n{first.text()[-3000:]}"
                assert time.monotonic() < deadline, f"nothing delivered in time\n{first.text()[-3000:]}"
                time.sleep(0.005)
            first.kill9()
            if n < 2:
                with rt.factory() as s:  # the killed worker's leases, expired now rather than in a minute
                    s.execute(update(OutboxMessage).where(OutboxMessage.state == "sending")
                              .values(lease_until=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)))
                    s.commit()

        at_kill = {r.idempotency_key: r.state for r in outbox(rt)}
        received = set(server.keys())
        assert 0 < len(received) < len(at_kill), "the kill should land mid-delivery"
        # the crash window: posted to the platform, but the row still says `sending`
        window = {k for k, st in at_kill.items() if st == "sending" and k in received}
        claimed = sum(1 for st in at_kill.values() if st == "sending")
        print(f"\nkilled after {len(received)} of {len(at_kill)} messages; {claimed} rows claimed (sending), "
              f"{len(window)} of them already posted (the crash window)")
        with rt.factory() as s:
            renotify_before = set(s.scalars(select(Timer.key).where(Timer.kind == "renotify",
                                                                    Timer.state == "pending")))
            # The killed worker's leases (bot.delivery.delivery.LEASE, 60 s) would expire by themselves; expire them
            # now instead of waiting a minute. The restarted worker then reclaims those rows and asks the
            # endpoint (find_sent) before sending any of them again.
            s.execute(update(OutboxMessage).where(OutboxMessage.state == "sending")
                      .values(lease_until=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)))
            s.commit()

        second = Proc("second", db_url, server.url, tmp_path, "--until-idle")
        procs.append(second)
        assert second.wait(timeout=45) == 0, second.text()[-3000:]

        rows = assert_delivered_exactly_once(rt, server, second.text())
        kinds = assert_every_due_timer_fired_once(rt)
        # and what arrived is what the protocol says should have, worked out without the outbox
        expected = expected_lapses(rt)
        assert sum(expected.values()) >= 100 and received_lapses(server) == expected
        found = {k for k, hit in server.lookups if hit}
        assert window <= found, "a message posted before the kill was not found by find_sent"
        assert {k for k, _ in server.lookups} >= {k for k, st in at_kill.items() if st == "sending"}
        with rt.factory() as s:
            # the restart's rebuild kept the re-notifications planned before the crash
            states = dict(s.execute(select(Timer.key, Timer.state).where(Timer.key.in_(renotify_before))).all())
        assert renotify_before and set(states.values()) <= {"pending", "done"}, collections.Counter(states.values())
        print(f"{len(rows)} messages delivered once each; {len(found)} found by find_sent after the restart; "
              f"due timers: {kinds}")
    finally:
        rt.engine.dispose()


# -- b. two replicas on PostgreSQL -----------------------------------------------------------------------
@pytest.mark.postgres
def test_two_replicas_share_the_work_and_fire_every_timer_once(
        pg_url: str, server: WebhookServer, procs: list[Proc], tmp_path: Path) -> None:
    rt = make_runtime(pg_url)
    try:
        route_to_webhook(rt)
        opened = 0
        while due_pending(rt) < 1000:
            open_cases(rt, 40, first=opened)
            opened += 40
            assert opened <= 600, "the cases should give 1,000 due timers well before this"
        due_before = due_pending(rt)
        server.post_delay = 0.002

        a = Proc("replica-a", pg_url, server.url, tmp_path, "--until-idle")
        b = Proc("replica-b", pg_url, server.url, tmp_path, "--until-idle")
        procs.extend([a, b])
        assert a.wait(timeout=50) == 0, a.text()[-3000:]
        assert b.wait(timeout=20) == 0, b.text()[-3000:]
        logs = a.text() + b.text()
        assert "Traceback" not in logs, logs[-4000:]

        rows = assert_delivered_exactly_once(rt, server, logs)
        kinds = assert_every_due_timer_fired_once(rt)
        expected = expected_lapses(rt)  # worked out without the outbox
        assert sum(expected.values()) >= 300 and received_lapses(server) == expected
        assert sum(n for k, n in kinds.items()) >= due_before >= 1000
        # every timer the replicas fired was logged by exactly one of them
        (fired_a, sent_a), (fired_b, sent_b) = a.swept(), b.swept()
        done = sum(n for k, n in kinds.items() if k.endswith(":done"))
        assert fired_a + fired_b == done
        assert sent_a + sent_b == len(rows)
        by_worker = collections.Counter(r.claimed_by.rsplit(":", 1)[-1] for r in rows)
        assert set(by_worker) <= {str(a.popen.pid), str(b.popen.pid)}
        print(f"\n{opened} cases, {due_before} due timers ({kinds}); fired by A/B: {fired_a}/{fired_b}; "
              f"{len(rows)} messages, delivered by A/B: {by_worker.get(str(a.popen.pid), 0)}/"
              f"{by_worker.get(str(b.popen.pid), 0)}")
    finally:
        rt.engine.dispose()


# -- c. a delivery batch that outlives its lease ---------------------------------------------------------
def test_rows_reclaimed_from_a_batch_that_outlived_its_lease_are_not_sent_twice(
        db_url: str, server: WebhookServer) -> None:
    """Replica A claims 50 rows with one 60 s lease and posts them to a platform taking 2 s each; 70 s in,
    replica B's tick reclaims the rows whose lease has run out (asking the endpoint first) and posts them.
    A must not post those rows again when it reaches them."""
    rt = make_runtime(db_url)
    try:
        clock = FixedClock(dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.timezone.utc))
        with rt.factory() as s:
            for i in range(50):
                outbox_rows.queue(session=s, key=f"lease-test:{i}", platform="webhook", target_kind="channel",
                                  address="channel:swindon:business-unit", message=Message(f"Message {i}"),
                                  now=clock.now(), board_id="swindon")
            s.commit()

        class Slow(WebhookTransport):
            def __init__(self, other: Deliverer | None = None):
                super().__init__(server.url)
                self.other = other

            def send(self, msg: Outgoing) -> str:
                ext = super().send(msg)
                clock.set(clock.now() + dt.timedelta(seconds=2))
                if self.other is not None and server.count() == 35:
                    self.other.deliver()  # replica B's tick, 70 s after A claimed its batch
                return ext

        b = Deliverer(rt.factory, {"webhook": Slow()}, clock, "replica-b")
        a = Deliverer(rt.factory, {"webhook": Slow(b)}, clock, "replica-a")
        a.deliver()

        received = collections.Counter(server.keys())
        assert len(received) == 50 and max(received.values()) == 1, {k: n for k, n in received.items() if n > 1}
        rows = outbox(rt)
        assert {r.state for r in rows} == {"sent"}
        workers = collections.Counter(r.claimed_by for r in rows)
        assert workers["replica-b"] > 0 and workers["replica-a"] + workers["replica-b"] == 50
    finally:
        rt.engine.dispose()
