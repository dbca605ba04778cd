"""The scheduler: the database is the source of truth; APScheduler is only the clock.

Every nudge, escalation, re-notification, duty reminder and digest is a row in ``timers``. A short
interval sweep claims the due rows (``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, so replicas
split the work; one process at a time on SQLite) and handles each in the claiming transaction: the timer
is marked done and its messages are written to the outbox atomically, so a timer fires exactly once.
Messages are then handed to the platforms by ``bot.delivery``.

APScheduler 3 runs the sweep (interval job, ``max_instances=1``, ``coalesce=True``) in each process with
its own in-memory job store: job stores are never shared between processes. On start the timers are
rebuilt from every case's state, so nothing is lost while the process was down; timers already due fire
once, marked late.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from collections.abc import Callable, Collection, Mapping
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot import digests, escalation, outbox, services, timers, views
from bot.clock import Clock
from bot.delivery import Deliverer, Transport
from bot.i18n import in_languages, translator
from bot.messages import Message, Severity
from protocol.engine import CaseState, Item, Status, evaluate
from protocol.spec import Protocol
from storage import repo
from storage.models import Case, EscalationPrompt, OutboxMessage, Timer

log = logging.getLogger("parley.scheduler")
LATE_AFTER = dt.timedelta(minutes=5)
RENOTIFY_STEPS = ("repost", "safeguarding_lead", "business_unit")


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Skip(Exception):
    """The timer no longer applies; it is cancelled with this reason."""


class Sweeper:
    def __init__(self, factory: sessionmaker[Session], clock: Clock, batch: int = 100):
        self.factory = factory
        self.clock = clock
        self.batch = batch
        self.handlers: dict[str, Callable[[Session, Timer, dt.datetime], None]] = {
            "nudge": self._nudge,
            "overdue": self._overdue,
            "duty": self._duty,
            "escalation": self._escalation,
            "renotify": self._renotify,
            "digest": self._digest,
            "quarterly": self._quarterly,
        }

    # -- planning ------------------------------------------------------------------------------
    def rebuild(self) -> int:
        """Reconcile every case that is not closed: timers are rebuilt from case state."""
        now = self.clock.now()
        count = 0
        with self.factory() as s:
            ids = s.scalars(select(Case.id).where(Case.status.in_(["open", "awaiting_decision", "resolved"]))).all()
        for cid in ids:
            with self.factory() as s:
                case = s.get(Case, cid)
                assert case is not None
                proto = services.protocol_for(case, session=s)
                st = evaluate(proto, services.engine_events(case, session=s), now)
                case.stage_token = timers.stage_token(st)
                timers.reconcile(case, st, proto, now, session=s)
                s.commit()
                count += 1
        self.ensure_board_timers()
        return count

    def ensure_board_timers(self) -> None:
        """The next weekly digest (and quarterly data set) of each board, one period ahead, as timer rows."""
        now = self.clock.now()
        with self.factory() as s:
            boards = list(repo.all_boards(session=s))
            for board in boards:
                proto = services.board_protocol(board.id, session=s)
                tz = ZoneInfo(proto.timezone)
                jobs = [("digest", proto.schedule.digest_cron)]
                if proto.reporting.cadence == "quarterly":
                    jobs.append(("quarterly", proto.schedule.quarterly_cron))
                for kind, cron in jobs:
                    fire = CronTrigger.from_crontab(cron, timezone=tz).get_next_fire_time(None, now.astimezone(tz))
                    if fire is None:
                        continue
                    key = f"board:{board.id}:{kind}:{fire.astimezone(dt.timezone.utc).isoformat()}"
                    fire = proto.calendar().next_working_time(fire)  # a bank holiday Monday waits for Tuesday
                    if s.scalar(select(Timer.id).where(Timer.key == key)) is not None:
                        continue
                    try:
                        with s.begin_nested():
                            s.add(Timer(key=key, kind=kind, board_id=board.id, case_id=None, token=0, due_at=fire,
                                        state="pending", data={}))
                    except IntegrityError:  # another replica created it first
                        pass
            s.commit()

    # -- firing --------------------------------------------------------------------------------
    def fire_due(self) -> int:
        fired = 0
        while True:
            now = self.clock.now()
            with self.factory() as s:
                due = s.scalars(select(Timer).where(Timer.state == "pending", Timer.due_at <= now)
                                .order_by(Timer.due_at, Timer.id).limit(self.batch)
                                .with_for_update(skip_locked=True)).all()
                if not due:
                    return fired
                for t in due:
                    t.fired_at = now
                    t.late = now - t.due_at > LATE_AFTER
                    try:
                        with s.begin_nested():
                            self.handlers[t.kind](s, t, now)
                            t.state = "done"
                            fired += 1
                    except Skip as why:
                        t.state, t.note = "cancelled", str(why)[:200]
                    except Exception as exc:  # noqa: BLE001 - one broken timer must not stop the others
                        log.exception("timer %s (%s) failed", t.id, t.key)
                        t.state, t.note = "failed", f"{type(exc).__name__}: {exc}"[:200]
                s.commit()

    # helpers
    def _case(self, s: Session, t: Timer) -> tuple[Case, Protocol, CaseState]:
        case = s.get(Case, t.case_id) if t.case_id else None
        if case is None:
            raise Skip("case not found")
        if case.stage_token != t.token:
            raise Skip("the case has moved on since this timer was set")
        proto = services.protocol_for(case, session=s)
        return case, proto, evaluate(proto, services.engine_events(case, session=s), t.fired_at or self.clock.now())

    @staticmethod
    def _item(state: CaseState, t: Timer) -> Item:
        item = next((i for i in state.items if i.step.id == t.data.get("step")), None)
        if item is None:
            raise Skip("the step is done or no longer applies")
        if t.deadline_at is not None and item.due_at != t.deadline_at:
            raise Skip("the deadline has changed")
        return item

    def _dm_owners(self, s: Session, t: Timer, case: Case, proto: Protocol, item: Item, now: dt.datetime,
                   overdue: bool) -> None:
        people = outbox.owners(case, item, proto, session=s)
        if not people:
            raise Skip("nobody in the directory owes this step")
        for person in people:
            msg = escalation.nudge_message(translator(person.language), case, proto, item, session=s, late=t.late,
                                           overdue=overdue)
            outbox.queue_to_person(person, msg, session=s, key=t.key, now=now, case=case, timer_id=t.id)

    def _nudge(self, s: Session, t: Timer, now: dt.datetime) -> None:
        case, proto, state = self._case(s, t)
        item = self._item(state, t)
        if item.due_at is not None and now > item.due_at:
            raise Skip("the deadline passed before the reminder could be sent")
        later = s.scalar(select(Timer.id).where(Timer.case_id == t.case_id, Timer.kind == "nudge",
                                                Timer.state == "pending", Timer.deadline_at == t.deadline_at,
                                                Timer.due_at > t.due_at, Timer.due_at <= now, Timer.id != t.id))
        if later is not None and s.get(Timer, later).data.get("step") == t.data.get("step"):
            raise Skip("a later reminder for the same deadline is due as well; only that one is sent")
        self._dm_owners(s, t, case, proto, item, now, overdue=False)

    def _overdue(self, s: Session, t: Timer, now: dt.datetime) -> None:
        case, proto, state = self._case(s, t)
        item = self._item(state, t)
        if not item.overdue:
            raise Skip("not overdue")
        self._dm_owners(s, t, case, proto, item, now, overdue=True)

    def _duty(self, s: Session, t: Timer, now: dt.datetime) -> None:
        case, proto, state = self._case(s, t)
        self._dm_owners(s, t, case, proto, self._item(state, t), now, overdue=False)

    def _escalation(self, s: Session, t: Timer, now: dt.datetime) -> None:
        case, proto, state = self._case(s, t)
        if state.status is not Status.OPEN or state.stage is None or state.stage.id != t.data.get("stage"):
            raise Skip("the stage has already ended")
        item = self._item(state, t)
        if not item.overdue:
            raise Skip("the stage deadline has not passed")
        assert t.deadline_at is not None
        agencies = []
        for agency_key, agency_id, level, channels in escalation.escalation_targets(case, proto, state.stage,
                                                                                     session=s):
            prompt = EscalationPrompt(case_id=case.id, timer_id=t.id, token=t.token, agency_id=agency_id,
                                      agency_key=agency_key, stage_id=state.stage.id, level=level, state="open")
            s.add(prompt)
            s.flush()
            msg = in_languages(proto.channel_languages, lambda T, prompt=prompt: escalation.prompt_message(
                T, case, proto, prompt, t.deadline_at, session=s))
            for platform, address in channels:
                outbox.queue_to_channel(platform, address, msg, session=s, key=f"{t.key}:{agency_key}", now=now,
                                        case=case, timer_id=t.id, prompt_id=prompt.id)
            self._plan_renotify(s, t, prompt, proto, now, 1)
            agencies.append(agency_key)
        # the practitioners hear about it too
        for pid in (case.raising_person_id, case.responding_person_id):
            person = repo.get_person(pid, session=s) if pid else None
            if person is None:
                continue
            T = translator(person.language)  # named T so `make messages` extracts its strings
            note = Message(T("The {stage} deadline on {ref} has passed with no outcome recorded, so your managers "
                             "have been asked to take ownership.", stage=T("Stage {n}", n=state.stage.number),
                             ref=case.ref),
                           title=views.case_headline(T, case, proto, session=s),
                           severity=Severity.WARNING, case_ref=case.ref)
            outbox.queue_to_person(person, note, session=s, key=t.key, now=now, case=case, timer_id=t.id)
        repo.append_event(case, "escalation_prompted", session=s, at=now, actor=None, via="system",
                          data={"stage": state.stage.id, "agencies": agencies, "late": t.late})

    def _plan_renotify(self, s: Session, t: Timer, prompt: EscalationPrompt, proto: Protocol, now: dt.datetime,
                       n: int) -> None:
        steps = RENOTIFY_STEPS[: proto.schedule.renotify_max]
        if n > len(steps):
            return
        due = proto.calendar().add_working_hours(now, proto.schedule.renotify_after_working_hours)
        s.add(Timer(key=f"prompt:{prompt.id}:renotify:{n}", kind="renotify", board_id=t.board_id, case_id=t.case_id,
                    token=t.token, due_at=due, state="pending", data={"prompt": prompt.id, "n": n}))
        s.flush()

    def _renotify(self, s: Session, t: Timer, now: dt.datetime) -> None:
        case, proto, state = self._case(s, t)
        prompt = s.get(EscalationPrompt, t.data["prompt"])
        if prompt is None or prompt.state != "open":
            raise Skip("already acknowledged")
        n = int(t.data["n"])
        step = RENOTIFY_STEPS[n - 1]
        first = s.scalar(select(Timer).where(Timer.id == prompt.timer_id))
        deadline = first.deadline_at if first and first.deadline_at else now
        msg = in_languages(proto.channel_languages, lambda T: escalation.prompt_message(
            T, case, proto, prompt, deadline, session=s, reminder=n))
        prompt.renotified = n
        sent = False
        if step == "repost":
            for platform, address in self._prompt_channels(s, prompt):
                outbox.queue_to_channel(platform, address, msg, session=s, key=t.key, now=now, case=case,
                                        timer_id=t.id, prompt_id=prompt.id)
                sent = True
        elif step == "safeguarding_lead":
            agency = repo.get_agency(prompt.agency_id, session=s) if prompt.agency_id else None
            lead = repo.get_person(agency.safeguarding_lead_id, session=s) if agency and agency.safeguarding_lead_id \
                else None
            if lead is not None:  # a direct message: in the lead's own language
                dm = escalation.prompt_message(translator(lead.language), case, proto, prompt, deadline, session=s,
                                               reminder=n)
                sent = outbox.queue_to_person(lead, dm, session=s, key=t.key, now=now, case=case,
                                              timer_id=t.id) is not None
        if step == "business_unit" or not sent:
            for ch in repo.board_channels(case.board_id, "business_unit", session=s):
                outbox.queue_to_channel(ch.platform, ch.address, msg, session=s, key=f"{t.key}:bu", now=now,
                                        case=case, timer_id=t.id, prompt_id=prompt.id)
        self._plan_renotify(s, t, prompt, proto, now, n + 1)

    @staticmethod
    def _prompt_channels(s: Session, prompt: EscalationPrompt) -> list[tuple[str, str]]:
        rows = s.scalars(select(OutboxMessage).where(OutboxMessage.prompt_id == prompt.id,
                                                     OutboxMessage.target_kind == "channel",
                                                     OutboxMessage.update_of_id.is_(None))).all()
        return sorted({(r.platform, r.address) for r in rows})

    def _board_post(self, s: Session, t: Timer, now: dt.datetime, build: Callable[..., Message]) -> None:
        langs = services.board_protocol(t.board_id, session=s).channel_languages
        msg = in_languages(langs, lambda T: build(T, t.board_id, now, session=s))
        channels = repo.board_channels(t.board_id, "business_unit", session=s)
        if not channels:
            raise Skip("the board has no business-unit channel")
        for ch in channels:
            outbox.queue_to_channel(ch.platform, ch.address, msg, session=s, key=t.key, now=now, timer_id=t.id,
                                    board_id=t.board_id)

    def _digest(self, s: Session, t: Timer, now: dt.datetime) -> None:
        self._board_post(s, t, now, digests.weekly_digest)

    def _quarterly(self, s: Session, t: Timer, now: dt.datetime) -> None:
        self._board_post(s, t, now, digests.quarterly_summary)

    # -- one pass --------------------------------------------------------------------------------
    def sweep(self) -> int:
        self.ensure_board_timers()
        return self.fire_due()

    def next_due(self) -> dt.datetime | None:
        with self.factory() as s:
            return s.scalar(select(Timer.due_at).where(Timer.state == "pending").order_by(Timer.due_at).limit(1))

    def idle(self, platforms: Collection[str] | None = None) -> bool:
        """Nothing due and nothing left to send (on ``platforms`` when given: the ones this process delivers)."""
        now = self.clock.now()
        with self.factory() as s:
            due = s.scalar(select(Timer.id).where(Timer.state == "pending", Timer.due_at <= now).limit(1))
            q = select(OutboxMessage.id).where(OutboxMessage.state.in_(["pending", "sending"]))
            if platforms is not None:
                q = q.where(OutboxMessage.platform.in_(list(platforms)))
            unsent = s.scalar(q.limit(1))
        return due is None and unsent is None


class SchedulerService:
    """APScheduler as the clock: an interval job sweeps due timers, then delivers the outbox."""

    def __init__(self, factory: sessionmaker[Session], clock: Clock, transports: Mapping[str, Transport], *,
                 interval: float = 30.0, worker: str | None = None, until_idle: bool = False,
                 background: bool = False):
        self.sweeper = Sweeper(factory, clock)
        self.deliverer = Deliverer(factory, transports, clock, worker or worker_name())
        self.interval = interval
        self.until_idle = until_idle
        # in the foreground for `parley scheduler`; in the background beside an adapter's server
        scheduler_class = BackgroundScheduler if background else BlockingScheduler
        self.scheduler = scheduler_class(timezone=ZoneInfo("Europe/London"))

    def tick(self) -> None:
        try:
            fired = self.sweeper.sweep()
            sent = self.deliverer.deliver()
            if fired or sent:
                log.info("sweep: %d timers fired, %d messages sent", fired, sent)
            self._wake_for_next()
        except Exception:  # noqa: BLE001 - keep the scheduler alive; the next tick retries
            log.exception("sweep failed")
        # Fix: only the platforms this process has a transport for count as unsent; waiting on messages for
        # another platform (e.g. the console's, which only the console delivers) kept --until-idle running forever.
        if self.until_idle and self.sweeper.idle(self.deliverer.transports):
            self.scheduler.shutdown(wait=False)

    def _wake_for_next(self) -> None:
        """An exact-time job for a timer due before the next interval sweep (one job, replaced each tick)."""
        nxt = self.sweeper.next_due()
        now = self.sweeper.clock.now()
        if nxt is not None and now < nxt < now + dt.timedelta(seconds=self.interval):
            self.scheduler.add_job(self.tick, "date", run_date=nxt, id="wake", replace_existing=True,
                                   misfire_grace_time=None)

    def run(self) -> None:
        """Rebuild the timers, then sweep every interval (blocks, unless constructed with background=True)."""
        rebuilt = self.sweeper.rebuild()
        log.info("timers rebuilt for %d cases", rebuilt)
        self.scheduler.add_job(self.tick, "interval", seconds=self.interval, id="sweep", max_instances=1,
                               coalesce=True, next_run_time=dt.datetime.now(dt.timezone.utc))
        self.scheduler.start()

    start = run  # with background=True, run() returns at once
