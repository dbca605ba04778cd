"""The scheduler: the database is the source of truth; APScheduler is only the clock.

Every nudge, escalation, re-notification, duty reminder and digest is a row in ``timers``. A short
interval sweep claims the due rows (``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, so replicas
split the work; one process at a time on SQLite) and handles each in the claiming transaction: the timer
is marked done and its messages are written to the outbox atomically, so a timer fires exactly once.
Messages are then handed to the platforms by ``bot.delivery.delivery``.

APScheduler 3 runs the sweep (interval job, ``max_instances=1``, ``coalesce=True``) in each process with
its own in-memory job store: job stores are never shared between processes. The timers are in the database, so
nothing is lost while the process was down: on start only the cases whose timers were planned from an older
version of the case, another protocol snapshot or older rules are replayed and planned again (bot.cases.plans);
timers already due fire once, marked late. A due timer's handler reads its case's state from the replay stored with
the case's plan (bot/cases/replays.py), without replaying the history.

Each timer is due on its board's time (bot.core.clock.board_now): a training board's clock may be ahead of the real
time, so its timers fire when the real time plus its offset passes them, while a real board's fire on the real time.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.cases import plans, protocols, replays, services, timers
from bot.core import memory, views
from bot.core.clock import Clock, board_now, board_offsets, sent_time
from bot.core.i18n import Translator, in_languages
from bot.core.messages import Button, Message, Severity
from bot.delivery import outbox
from bot.delivery.delivery import Deliverer, Transport
from bot.escalation import escalation
from bot.notify import notify
from bot.reporting import digests
from bot.core.routes import Route
from protocol.engine import state_at
from protocol.state import CaseState, Item, Status
from protocol.spec import Protocol, Side
from storage import escalation_repo, ops, outbox_repo, repo
from storage.db import writing
from storage.models import Case, EscalationPrompt, Timer

log = logging.getLogger("parley.scheduler")
LATE_AFTER = dt.timedelta(hours=1)  # a reminder this much after its planned time says it is late
RENOTIFY_STEPS = ("repost", "safeguarding_lead", "business_unit")
DB_RETRY_CAP = dt.timedelta(minutes=15)  # a timer whose handler met a transient database error is retried, backing off
TRANSIENT_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock detected


def transient_db_error(exc: BaseException) -> bool:
    """A database error worth retrying: a lost connection, a lock timeout, a deadlock or a serialization failure."""
    if isinstance(exc, OperationalError):
        return True
    orig = getattr(exc, "orig", None)
    return isinstance(exc, DBAPIError) and getattr(orig, "sqlstate", None) in TRANSIENT_SQLSTATES


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Skip(Exception):
    """The timer no longer applies; it is cancelled with this reason."""


class Sweeper:
    def __init__(self, factory: sessionmaker[Session], clock: Clock, batch: int = 100):
        self.factory = factory
        self.clock = clock
        self.batch = batch
        self.fired: list[int] = []  # the timers the last fire_due fired (their messages are in the outbox)
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
        """Plan again the timers of the cases that are not closed and whose plan is missing or out of date (found in
        one query: bot.cases.plans), each on its board's time; every other case's timers are in the database
        already. Returns how many cases were replayed."""
        real = self.clock.now()
        count = 0
        with self.factory() as s:
            ids = plans.stale_case_ids(session=s)
            offsets = board_offsets(session=s)  # the training boards whose clocks are ahead
        for cid in ids:
            with self.factory() as s:
                case = s.get(Case, cid)
                assert case is not None
                proto = protocols.protocol_for(case, session=s)
                now = real + offsets.get(case.board_id, dt.timedelta(0))
                folded = replays.fold_all(case, session=s, proto=proto)
                st = state_at(folded.replay, now)
                case.stage_token = timers.stage_token(st)
                timers.reconcile(case, st, proto, now, session=s)
                plans.record(case, folded, session=s)
                s.commit()
                count += 1
        self.ensure_board_timers()
        return count

    def ensure_board_timers(self) -> None:
        """The next weekly digest (and quarterly data set) of each board, one period ahead, as timer rows."""
        real = self.clock.now()
        with self.factory() as s:
            boards = list(repo.all_boards(session=s))
            offsets = board_offsets(session=s)
            for board in boards:
                now = real + offsets.get(board.id, dt.timedelta(0))
                proto = protocols.board_protocol(board.id, session=s)
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
                    if escalation_repo.key_exists(key, session=s):
                        continue
                    try:
                        with s.begin_nested():
                            s.add(Timer(key=key, kind=kind, board_id=board.id, case_id=None, token=0, due_at=fire,
                                        state="pending", data={}))
                    except IntegrityError:  # another replica created it first
                        pass
            s.commit()

    # -- firing --------------------------------------------------------------------------------
    def fire_due(self, board_id: str | None = None) -> int:
        """Fire every timer due (``board_id``'s only, when given), each on its board's time; returns how many."""
        fired = 0
        self.fired = []
        while True:
            real = self.clock.now()
            with self.factory() as s:
                writing(s)  # claims are exclusive on SQLite too: two schedulers on one file never share a timer
                offsets = board_offsets(session=s)  # the training boards whose clocks are ahead
                due = escalation_repo.claim_due(real, self.batch, session=s, offsets=offsets, board_id=board_id)
                if not due:
                    return fired
                for t in due:
                    now = real + offsets.get(t.board_id, dt.timedelta(0))  # the timer's board's time
                    t.fired_at = now
                    t.late = now - t.due_at > LATE_AFTER
                    try:
                        with s.begin_nested():
                            self.handlers[t.kind](s, t, now)
                            t.state = "done"
                            fired += 1
                            self.fired.append(t.id)
                    except Skip as why:
                        t.state, t.note = "cancelled", str(why)[:200]
                    except Exception as exc:
                        if transient_db_error(exc):
                            # the savepoint undid the handler's writes: the timer stays pending, tried again later
                            t.attempts = (t.attempts or 0) + 1
                            t.retry_at = now + min(dt.timedelta(seconds=5 * 2 ** min(t.attempts, 20)), DB_RETRY_CAP)
                            t.fired_at, t.note = None, f"retrying after {type(exc).__name__}"[:200]
                            log.warning("timer %s: transient database error, retried later", t.id,
                                        extra={"timer_id": t.id, "attempt": t.attempts, "error": type(exc).__name__})
                        else:
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
        proto = protocols.protocol_for(case, session=s)
        now = t.fired_at or board_now(case.board_id, self.clock.now(), session=s)
        return case, proto, services.state_of(case, now, session=s)

    @staticmethod
    def _item(state: CaseState, t: Timer) -> Item:
        item = next((i for i in state.items if i.step.id == t.data.get("step")), None)
        if item is None:
            raise Skip("the step is done or no longer applies")
        if t.deadline_at is not None and item.due_at != t.deadline_at:
            raise Skip("the deadline has changed")
        return item

    def _dm_owners(self, s: Session, t: Timer, case: Case, proto: Protocol, item: Item, now: dt.datetime,
                   event: notify.Event) -> None:
        parties = {case.raising_person_id, case.responding_person_id}
        told = notify.tell(event, case, proto, lambda T, person, _r: escalation.nudge_message(
            T, case, proto, item, session=s, late=t.late, overdue=event is notify.Event.OVERDUE,
            for_manager=person is not None and person.id not in parties and item.step.by is not Side.BOTH
            and item.step.by is not Side.BOARD),
            session=s, now=now, key=t.key, aud=notify.Audience(item=item), timer_id=t.id)
        if not told.people:
            raise Skip("nobody in the directory owes this step")

    def _nudge(self, s: Session, t: Timer, now: dt.datetime) -> None:
        case, proto, state = self._case(s, t)
        item = self._item(state, t)
        if item.due_at is not None and now > item.due_at:
            raise Skip("the deadline passed before the reminder could be sent")
        later = escalation_repo.later_nudge(t, now, session=s)
        if later is not None and s.get(Timer, later).data.get("step") == t.data.get("step"):
            raise Skip("a later reminder for the same deadline is due as well; only that one is sent")
        self._dm_owners(s, t, case, proto, item, now, notify.Event.NUDGE)

    def _overdue(self, s: Session, t: Timer, now: dt.datetime) -> None:
        case, proto, state = self._case(s, t)
        item = self._item(state, t)
        if not item.overdue:
            raise Skip("not overdue")
        self._dm_owners(s, t, case, proto, item, now, notify.Event.OVERDUE)

    def _duty(self, s: Session, t: Timer, now: dt.datetime) -> None:
        case, proto, state = self._case(s, t)
        self._dm_owners(s, t, case, proto, self._item(state, t), now, notify.Event.DUTY)

    def _escalation(self, s: Session, t: Timer, now: dt.datetime) -> None:
        """A stage deadline (or a protective date) passed with no outcome: a prompt to each agency's managers at
        the next stage's level (or the business unit), and the people on the case are told who was asked."""
        case, proto, state = self._case(s, t)
        if state.status is not Status.OPEN or state.stage is None or state.stage.id != t.data.get("stage"):
            raise Skip("the stage has already ended")
        item = self._item(state, t)
        if not item.overdue:
            raise Skip("the deadline has not passed")
        assert t.deadline_at is not None
        protective = bool(t.data.get("protective"))
        prompt_event = notify.Event.PROTECTIVE_LAPSE_PROMPT if protective else notify.Event.LAPSE_PROMPT
        agencies, levels = [], set()
        for agency_key, agency_id, level, channels in escalation.escalation_targets(case, proto, state.stage,
                                                                                     session=s):
            prompt = EscalationPrompt(case_id=case.id, timer_id=t.id, token=t.token, agency_id=agency_id,
                                      agency_key=agency_key, stage_id=state.stage.id, level=level, state="open")
            s.add(prompt)
            s.flush()
            notify.tell(prompt_event, case, proto, lambda T, _p, _r, prompt=prompt: escalation.prompt_message(
                T, case, proto, prompt, t.deadline_at, session=s, protective=protective),
                session=s, now=now, key=f"{t.key}:{agency_key}", aud=notify.Audience(channels=tuple(channels)),
                timer_id=t.id, prompt_id=prompt.id)
            self._plan_renotify(s, t, prompt, proto, now, 1)
            agencies.append(agency_key)
            levels.add("board" if agency_key == "board" else level)
        board_asked = levels == {"board"}

        def note(T: Translator, _person: object, _roles: frozenset[notify.To]) -> Message:
            stage = T("Stage {n}", n=state.stage.number)
            if protective and board_asked:
                text = T("The protective date on {ref} has passed with the case unresolved, so the board's business "
                         "unit has been asked to take ownership.", ref=case.ref)
            elif protective:
                text = T("The protective date on {ref} has passed with the case unresolved, so the managers have "
                         "been asked to take ownership.", ref=case.ref)
            elif board_asked:
                text = T("The {stage} deadline on {ref} has passed with no outcome recorded, so the board's business "
                         "unit has been asked to take ownership.", stage=stage, ref=case.ref)
            else:
                text = T("The {stage} deadline on {ref} has passed with no outcome recorded, so the managers have "
                         "been asked to take ownership.", stage=stage, ref=case.ref)
            return Message(text, title=views.case_headline(T, case, proto, session=s), severity=Severity.WARNING,
                           case_ref=case.ref, buttons=(Button(Route.VIEW, T("View case"), case.ref),))

        notice = notify.Event.PROTECTIVE_LAPSE_NOTICE if protective else notify.Event.LAPSE_NOTICE
        notify.tell(notice, case, proto, note, session=s, now=now, key=t.key,
                    aud=notify.Audience(stages=(state.stage,)), timer_id=t.id)
        repo.append_event(case, "escalation_prompted", session=s, at=now, actor=None, via="system",
                          data={"stage": state.stage.id, "agencies": agencies, "late": t.late,
                                **({"protective": True} if protective else {})})

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
        first = escalation_repo.get_timer(prompt.timer_id, session=s)
        deadline = first.deadline_at if first and first.deadline_at else now
        protective = bool(first.data.get("protective")) if first else False

        def build(T: Translator, _person: object, _roles: frozenset[notify.To]) -> Message:
            return escalation.prompt_message(T, case, proto, prompt, deadline, session=s, reminder=n,
                                             protective=protective)

        prompt.renotified = n
        told = None
        if step == "repost":
            told = notify.tell(notify.Event.RENOTIFY_CHANNEL, case, proto, build, session=s, now=now, key=t.key,
                               aud=notify.Audience(channels=tuple(self._prompt_channels(s, prompt))),
                               timer_id=t.id, prompt_id=prompt.id)
        elif step == "safeguarding_lead":  # a direct message: in the lead's own language
            told = notify.tell(notify.Event.RENOTIFY_LEAD, case, proto, build, session=s, now=now, key=t.key,
                               aud=notify.Audience(lead_agency_id=prompt.agency_id), timer_id=t.id,
                               prompt_id=prompt.id)
        if step == "business_unit" or told is None or not told.queued:
            # one post to the business unit for the lapse, whichever agency's prompt gets there first
            notify.tell(notify.Event.RENOTIFY_BUSINESS_UNIT, case, proto, build, session=s, now=now,
                        key=f"lapse:{prompt.timer_id}:renotify:{n}:bu", timer_id=t.id, prompt_id=prompt.id)
        self._plan_renotify(s, t, prompt, proto, now, n + 1)

    @staticmethod
    def _prompt_channels(s: Session, prompt: EscalationPrompt) -> list[tuple[str, str]]:
        rows = outbox_repo.prompt_copies(prompt.id, session=s, channels_only=True)
        return sorted({(r.platform, r.address) for r in rows})

    def _board_post(self, s: Session, t: Timer, now: dt.datetime, build: Callable[..., Message],
                    event: notify.Event) -> None:
        """A board's digest or quarterly data set, to its business-unit channels (bot.notify.notify's table)."""
        langs = protocols.board_protocol(t.board_id, session=s).channel_languages
        # as of when it was due (a digest that fires late, after an outage or a jump of the console's clock, still
        # reports its own week)
        msg = replace(in_languages(langs, lambda T: build(T, t.board_id, t.due_at, session=s)), kind=event.value)
        channels = repo.board_channels(t.board_id, "business_unit", session=s)
        if not channels:
            raise Skip("the board has no business-unit channel")
        sent = sent_time(t.board_id, now, session=s)  # the outbox runs on the real time
        for ch in channels:
            outbox.queue_to_channel(ch.platform, ch.address, msg, session=s, key=t.key, now=sent, timer_id=t.id,
                                    board_id=t.board_id)

    def _digest(self, s: Session, t: Timer, now: dt.datetime) -> None:
        self._board_post(s, t, now, digests.weekly_digest, notify.Event.DIGEST)

    def _quarterly(self, s: Session, t: Timer, now: dt.datetime) -> None:
        self._board_post(s, t, now, digests.quarterly_summary, notify.Event.QUARTERLY)

    # -- one pass --------------------------------------------------------------------------------
    def sweep(self, board_id: str | None = None) -> int:
        self.ensure_board_timers()
        return self.fire_due(board_id)

    def next_due(self) -> dt.datetime | None:
        """When the soonest timer falls due, on the real time."""
        with self.factory() as s:
            return escalation_repo.next_due_at(session=s, offsets=board_offsets(session=s))

    def idle(self, platforms: Collection[str] | None = None) -> bool:
        """Nothing due and nothing left to send (on ``platforms`` when given: the ones this process delivers)."""
        now = self.clock.now()
        with self.factory() as s:
            due = escalation_repo.any_due(now, session=s, offsets=board_offsets(session=s))
            unsent = outbox_repo.any_unsent(session=s, platforms=platforms)
        return not due and not unsent


BEAT_EVERY = dt.timedelta(seconds=10)  # a sweep is recorded at most this often (readiness allows minutes)

class SchedulerService:
    """APScheduler as the clock: an interval job sweeps due timers, then delivers the outbox."""

    def __init__(self, factory: sessionmaker[Session], clock: Clock, transports: Mapping[str, Transport], *,
                 interval: float = 30.0, worker: str | None = None, until_idle: bool = False,
                 background: bool = False):
        self.sweeper = Sweeper(factory, clock)
        self.deliverer = Deliverer(factory, transports, clock, worker or worker_name())
        self.interval = interval
        self.until_idle = until_idle
        self._beaten_at: dt.datetime | None = None  # this process's last heartbeat (ops.beat)
        # in the foreground for `parley scheduler`; in the background beside an adapter's server
        scheduler_class = BackgroundScheduler if background else BlockingScheduler
        self.scheduler = scheduler_class(timezone=ZoneInfo("Europe/London"))

    def tick(self) -> None:
        try:
            fired = self.sweeper.sweep()
            sent = self.deliverer.deliver()
            if fired or sent:
                log.info("sweep: %d timers fired, %d messages sent", fired, sent)
            if fired + sent >= memory.BURST:  # the start-up sweep after a backlog, say: RSS not kept at its peak
                memory.release()
            self._wake_for_next()
            now = self.sweeper.clock.now()
            if self._beaten_at is None or now - self._beaten_at >= BEAT_EVERY:
                with self.sweeper.factory() as s:  # for /readyz and /metrics: some scheduler is sweeping
                    ops.beat(s, now)
                    s.commit()
                self._beaten_at = now
        except Exception:
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
        """Plan again the timers of the cases whose plan is stale, then sweep every interval (blocks, unless
        constructed with background=True)."""
        replanned = self.sweeper.rebuild()
        log.info("timers planned again for %d cases whose plan was missing or out of date", replanned)
        self.scheduler.add_job(self.tick, "interval", seconds=self.interval, id="sweep", max_instances=1,
                               coalesce=True, next_run_time=dt.datetime.now(dt.timezone.utc))
        self.scheduler.start()

    start = run  # with background=True, run() returns at once
