"""The engine: (protocol, the case's events so far, now) -> the case's state.

Pure and deterministic. Events are plain records (kind, at, data); the engine understands the
kinds listed in ``ENGINE_EVENTS`` and ignores any other kind (counterpart named, notes ...), so the
bot can keep its whole audit trail in one append-only history.

Readings from ../shared/seeds/timescales.md section 4 that live here rather than in the YAML:
* A8: every chained step is anchored on the *recorded* event (the previous stage closed unresolved,
  the previous step done), never on the nominal plan. A lapsed deadline stays overdue until
  someone records what happened.
* A4: a protective date caps only the steps marked ``protective_cap``.
* A7: an exceptional stage opens only on a recorded decision, but its clock may run from the
  completion of the previous stage (``from: previous_stage_completed``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from protocol.calendar import WorkingCalendar
from protocol.replay import Replay
from protocol.spec import Protocol, Stage, Step, StepKind
from protocol.timescales import AnchorKind, Duration, Unit
from protocol.state import Action, AnchorInfo, CaseState, Event, Item, Moment, StageVisit, Status, TransitionError



def _anchor(r: Replay, step: Step, visit: StageVisit | None) -> AnchorInfo | None:
    kind = step.anchor.kind
    if kind is AnchorKind.DISAGREEMENT:
        return AnchorInfo(kind, r.arose_on) if r.arose_on else None
    if kind is AnchorKind.CONCERN_RAISED:
        return AnchorInfo(kind, r.raised_at) if r.raised_at else None
    if kind is AnchorKind.RESOLUTION:
        return AnchorInfo(kind, r.resolved_at) if r.resolved_at else None
    if kind is AnchorKind.STEP:
        at = r.done.get(step.anchor.step or "")
        if at is None:
            return None
        return AnchorInfo(kind, at, step_title=r.p.step(step.anchor.step or "").title)
    if visit is None:
        return None
    if kind is AnchorKind.STAGE_START:
        return AnchorInfo(kind, visit.entered_at, stage_number=visit.stage.number)
    # previous stage completed: the visit of the stage just before this one in protocol order
    idx = r.p.stage_index(visit.stage.id)
    prev = r.p.stages[idx - 1] if idx > 0 else None
    for v in reversed(r.visits):
        if prev is not None and v.stage.id == prev.id and v.completed_at is not None:
            return AnchorInfo(kind, v.completed_at, stage_number=prev.number)
    # entered by bypass: the previous stage never completed, so the clock runs from entry
    return AnchorInfo(AnchorKind.STAGE_START, visit.entered_at, stage_number=visit.stage.number)


def due_for(step: Step, anchor: Moment, cal: WorkingCalendar, meetings: Mapping[str, tuple[dt.date, ...]]
            ) -> tuple[dt.datetime | None, bool]:
    """The deadline for ``step`` given its anchor. Returns (due, meeting_missing)."""
    due, missing, _ = due_and_rule(step, anchor, cal, meetings)
    return due, missing


def due_and_rule(step: Step, anchor: Moment, cal: WorkingCalendar, meetings: Mapping[str, tuple[dt.date, ...]]
                 ) -> tuple[dt.datetime | None, bool, Duration]:
    """As ``due_for``, and the timescale that gave the date: for "48 hours or 2 working days, whichever is
    sooner" both are computed from the same anchor and the sooner (or later) one applies; on a tie the first
    named applies."""
    d = step.due
    if not d.alternatives:
        due, missing = _due(d, anchor, cal, meetings)
        return due, missing, d
    options = [(_due(alt, anchor, cal, meetings)[0], alt) for alt in d.alternatives]
    dated = [(due, alt) for due, alt in options if due is not None]
    choose = min if d.pick == "sooner" else max
    due, alt = choose(dated, key=lambda o: o[0])  # min/max keep the first of equals
    return due, False, alt


def _due(d: Duration, anchor: Moment, cal: WorkingCalendar, meetings: Mapping[str, tuple[dt.date, ...]]
         ) -> tuple[dt.datetime | None, bool]:
    u, n = d.unit, d.amount
    if u is Unit.NONE:
        return None, False
    if u is Unit.WORKING_DAYS:
        return cal.due_working_days(anchor, n), False
    if u is Unit.CALENDAR_DAYS:
        return cal.due_calendar_days(anchor, n), False
    if u is Unit.HOURS:
        return cal.due_hours(anchor, n), False
    if u is Unit.MONTHS:
        return cal.due_months(anchor, n), False
    if u is Unit.SAME_WORKING_DAY:
        moment = anchor if isinstance(anchor, dt.datetime) else cal.start_of_business(anchor)
        return cal.same_working_day(moment), False
    if u is Unit.IMMEDIATELY:
        return (cal.local(anchor) if isinstance(anchor, dt.datetime) else cal.start_of_business(anchor)), False
    # next meeting of a body: the first listed meeting after the anchor's date
    day = cal.local_date(anchor)
    upcoming = [m for m in sorted(meetings.get(d.meeting or "", ())) if m > day]
    if not upcoming:
        return None, True
    return cal.end_of_day(upcoming[0]), False


def _when_ok(r: Replay, step: Step, visit: StageVisit | None) -> bool:
    w = step.when
    if w is None:
        return True
    if w == "resolved":
        if r.status is not Status.RESOLVED:
            return False
        if step.resolved_at is not None and step.resolved_at != r.resolved_step:
            return False  # the follow-up of another sub-step
        return visit is None or (r.resolved_stage is not None and visit.stage.id == r.resolved_stage.id)
    if w == "bypassed":
        return visit is not None and visit.how == "bypass"
    if w.startswith("flag:"):
        return bool(r.flags.get(w[5:]))
    return False


def _item(r: Replay, step: Step, stage: Stage | None, visit: StageVisit | None, now: dt.datetime,
          cal: WorkingCalendar) -> Item:
    anchor = _anchor(r, step, visit)
    done_at = r.done.get(step.id)
    due = nominal = None
    capped = False
    ext_reason = None
    meeting_missing = False
    rule = None
    if anchor is not None:
        nominal, meeting_missing, rule = due_and_rule(step, anchor.at, cal, r.p.meetings)
        if nominal is None:
            rule = None
        due = nominal
        if due is not None and step.extendable and step.id in r.extensions:
            until, ext_reason = r.extensions[step.id]
            due = max(due, cal.close_of_business(until))
        if due is not None and step.protective_cap and r.protective_date is not None:
            cap = cal.close_of_business(r.protective_date)
            if cap < due:
                due, capped = cap, True
    overdue = done_at is None and due is not None and now > due
    return Item(step, stage, anchor, due, nominal, capped, ext_reason, done_at, overdue, meeting_missing, rule)


def evaluate(protocol: Protocol, events: Iterable[Event], now: dt.datetime,
             calendar: WorkingCalendar | None = None) -> CaseState:
    return state_at(replay(protocol, events), now, calendar)


def replay(protocol: Protocol, events: Iterable[Event]) -> Replay:
    """The case after ``events``, in order (``TransitionError`` for one not allowed where it comes)."""
    r = Replay(protocol)
    for ev in events:
        r.apply(ev)
    return r


def state_at(r: Replay, now: dt.datetime, calendar: WorkingCalendar | None = None) -> CaseState:
    """The state of the replayed case at ``now``: ``evaluate`` of the same events. ``now`` decides only which items
    are overdue (and so whether escalation is due), so one replay serves any moment; ``r`` is not changed."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    protocol = r.p
    cal = calendar or protocol.calendar()
    if r.status is None:
        raise TransitionError("the case has no 'opened' event")

    items: list[Item] = []
    cur = r.current
    seen: set[str] = set()

    def add(step: Step, stage: Stage | None, visit: StageVisit | None) -> None:
        if step.id in seen or not _when_ok(r, step, visit):
            return
        seen.add(step.id)
        items.append(_item(r, step, stage, visit, now, cal))

    # the current stage's steps (while it runs, or the resolution steps of the stage that resolved it)
    if cur is not None and (r.status is Status.OPEN or r.status is Status.RESOLVED):
        for st in cur.stage.steps:
            if r.status is Status.RESOLVED and st.when != "resolved" and st.kind is not StepKind.DUTY:
                continue
            # A standing duty ends with the case, as the loop below already has it for earlier stages;
            # without this a case resolved *at* Swindon Stage 2 kept "copy the Partnership" open.
            if r.status is Status.RESOLVED and st.standing:
                continue
            add(st, cur.stage, cur)
    # duties still owed from earlier stages, and standing duties of stages already reached
    for v in r.visits:
        for st in v.stage.steps:
            if st.kind is StepKind.DUTY and (st.id in r.done or _anchor(r, st, v) is not None):
                if st.standing and r.status not in (Status.OPEN, Status.AWAITING_DECISION):
                    continue
                add(st, v.stage, v)
    if r.status in (Status.OPEN, Status.AWAITING_DECISION) and cur is not None:
        for st in protocol.milestones:
            if st.until_stage is None or cur.stage.number <= st.until_stage:
                add(st, None, None)
    if r.status is Status.RESOLVED:
        for st in protocol.after_resolution:
            add(st, None, None)

    far = dt.datetime.max.replace(tzinfo=dt.timezone.utc)
    open_items = sorted((i for i in items if i.open), key=lambda i: (i.due_at or far, i.step.id))
    done_items = sorted((i for i in items if not i.open), key=lambda i: str(i.done_at))
    stage = cur.stage if cur else None
    escalation_due = r.status is Status.OPEN and any(i.step.stage_deadline and i.overdue for i in open_items)

    allowed: list[Action] = []
    if r.status is Status.OPEN:
        allowed += [Action.RECORD_CONTACT, Action.RECORD_OUTCOME]
        if any(i.step.kind is not StepKind.MILESTONE and not i.step.standing and i.anchor is not None
               for i in open_items):
            allowed.append(Action.COMPLETE_STEP)
        if protocol.bypass and stage and protocol.stage_index(stage.id) < protocol.stage_index(protocol.bypass.to):
            allowed.append(Action.BYPASS)
        if any(i.step.extendable and i.due_at is not None for i in open_items):
            allowed.append(Action.EXTEND)
    if r.status is Status.AWAITING_DECISION:
        allowed.append(Action.ESCALATE_EXCEPTIONAL)
        if any(i.step.kind is StepKind.DUTY and i.anchor is not None for i in open_items):
            allowed.append(Action.COMPLETE_STEP)
    if r.status in (Status.OPEN, Status.AWAITING_DECISION):
        if any(st.protective_cap for _, st in protocol.all_steps()):
            allowed.append(Action.SET_PROTECTIVE_DATE)
        if protocol.urgent_notice:
            allowed.append(Action.URGENT_NOTICE)
        allowed.append(Action.CLOSE)
    if r.status is Status.RESOLVED and any(i.anchor is not None and not i.step.standing for i in open_items):
        allowed.append(Action.COMPLETE_STEP)

    return CaseState(
        status=r.status,
        stage=stage,
        visits=tuple(replace(v) for v in r.visits),  # its own copies: r may go on to replay more events
        items=tuple(open_items),
        done=tuple(done_items),
        allowed=tuple(allowed),
        escalation_due=escalation_due,
        awaiting_stage=r.awaiting,
        arose_on=r.arose_on,
        raised_at=r.raised_at,
        protective_date=r.protective_date,
        resolved_at=r.resolved_at,
        closed_at=r.closed_at,
        flags=dict(r.flags),
        resolved_step=r.resolved_step,
    )


# --------------------------------------------------------------------------------------------
TIMED_UNITS = (Unit.HOURS, Unit.IMMEDIATELY)


@dataclass(frozen=True)
class TimetableRow:
    stage: Stage | None
    stage_number: int | None
    step: Step
    anchor: AnchorInfo | None
    due_at: dt.datetime | None
    condition: str | None = None  # "resolved" for the steps that apply only if resolved at this stage
    nominal_due_at: dt.datetime | None = None  # before the protective cap
    capped: bool = False  # brought forward to the protective date
    due_rule: Duration | None = None  # the timescale that applied (one of two for "whichever is sooner/later")
    # a timed deadline (hours, 'immediately', a protective cap) that falls on a day that is not a working day:
    # the bank holiday's name ("Christmas Day") or "weekend"; None otherwise
    non_working_day: str | None = None

    @property
    def timed(self) -> bool:
        """Shown with a time: hours and 'immediately' (for a two-timescale rule, when the one that applied is
        one of these), and a deadline brought forward to the protective date (17:00 on it)."""
        return (self.due_rule or self.step.due).unit in TIMED_UNITS or self.capped

    @property
    def due_iso(self) -> str | None:
        """A date for day-based timescales, a datetime for hours, 'immediately' and protective caps."""
        if self.due_at is None:
            return None
        if self.timed:
            return self.due_at.isoformat()
        return self.due_at.date().isoformat()

    @property
    def overdue_at_start(self) -> bool:
        """True when the deadline is before its own clock starts (a protective date that has already passed)."""
        return (self.due_at is not None and self.anchor is not None and isinstance(self.anchor.at, dt.datetime)
                and self.due_at < self.anchor.at)


def timetable(protocol: Protocol, start: dt.date | dt.datetime, include_conditional: bool = False,
              calendar: WorkingCalendar | None = None, protective_date: dt.date | None = None
              ) -> list[TimetableRow]:
    """Every stage's and step's due date, assuming each step completes on its last allowed day and
    every stage ends unresolved on its last deadline (the worst-case path, 003's "Day 17" view).

    Day 0 is ``start``'s date: the disagreement arose and the concern was raised that day, at the start of
    business, or at ``start`` itself when it is a date-time (a naive one is in the board's timezone).
    Exceptional stages are included, as if the decision to use them was made at once.
    Steps with no timescale have no date and are listed with ``due_at=None``.

    With ``protective_date`` the case carries that protective date from the start: the steps marked
    ``protective_cap`` are due by 17:00 on it when that is sooner, and a stage whose deadline is brought
    forward ends then. A capped step whose clock starts after the protective date is overdue from the start;
    the worst case then has it done as soon as it starts.

    With ``include_conditional`` the steps owed only if a stage resolves are listed too: each sub-step's
    follow-ups (``resolved_at:``) as if agreement were reached at that sub-step's deadline, the stage's other
    ``when: resolved`` steps and the ``after_resolution`` steps as if it were reached at the stage's end.
    """
    cal = calendar or protocol.calendar()
    if isinstance(start, dt.datetime):
        opened_at = cal.local(start if start.tzinfo else start.replace(tzinfo=cal.tz))
        day0 = opened_at.date()
    else:
        opened_at = cal.start_of_business(start)
        day0 = start
    opening: dict[str, Any] = {"arose_on": day0.isoformat()}
    if protective_date is not None:
        opening["protective_date"] = protective_date.isoformat()
    events: list[Event] = [Event("opened", opened_at, opening)]
    rows: list[TimetableRow] = []

    def row(i: Item, stage: Stage | None, number: int | None, condition: str | None = None) -> TimetableRow:
        r = TimetableRow(stage, number, i.step, i.anchor, i.due_at, condition, i.nominal_due_at, i.capped,
                         i.due_rule)
        if r.due_at is None or not r.timed or cal.is_working_day(cal.local_date(r.due_at)):
            return r
        day = cal.local_date(r.due_at)
        return replace(r, non_working_day=cal.holiday_name(day) or "weekend")

    state = evaluate(protocol, events, opened_at, cal)
    for m in state.items:
        if m.step.kind is StepKind.MILESTONE:
            rows.append(row(m, None, m.step.timetable_stage or m.step.until_stage))
    guard = 0
    while state.status is Status.OPEN and guard < 200:
        guard += 1
        stage = state.stage
        assert stage is not None
        followed = {st.resolved_at for st in stage.steps if st.resolved_at}
        # complete every dated step of this stage whose anchor is known, in due order; a step with no
        # timescale is listed undated and never "done", so nothing downstream of it gets a date.
        stage_end: dt.datetime | None = None
        undated: set[str] = set()
        while True:
            pending = [i for i in state.items if i.stage is not None and i.stage.id == stage.id
                       and i.anchor is not None and not i.step.standing and i.step.kind is not StepKind.MILESTONE
                       and i.step.when is None and i.step.id not in undated]
            if not pending:
                break
            item = pending[0]
            rows.append(row(item, stage, stage.number))
            if item.due_at is None:
                undated.add(item.step.id)
                continue
            # done on its last allowed moment, but never before its clock starts (a passed protective date)
            done_at = item.due_at
            if item.anchor is not None and isinstance(item.anchor.at, dt.datetime) and done_at < item.anchor.at:
                done_at = item.anchor.at
            if include_conditional and item.step.id in followed:
                trial = evaluate(protocol, [*events, Event("outcome", done_at, {"resolved": True,
                                                                                "at_step": item.step.id})],
                                 done_at, cal)
                rows.extend(row(i, stage, stage.number, "resolved") for i in trial.items
                            if i.step.resolved_at == item.step.id and i.stage is not None and i.stage.id == stage.id)
            if item.step.stage_deadline or (item.step.kind is StepKind.ACTION and not any(
                    s.stage_deadline for s in stage.steps)):
                stage_end = max(stage_end, done_at) if stage_end else done_at
            events.append(Event("step_done", done_at, {"step": item.step.id, "on": done_at.isoformat()}))
            state = evaluate(protocol, events, done_at, cal)
        if stage_end is None:  # a stage with no dated action: it ends as it starts
            entered = state.visits[-1].entered_at
            stage_end = entered if isinstance(entered, dt.datetime) else cal.start_of_business(entered)
        # steps whose anchor never happens (no timescale upstream) are listed undated
        listed = {r.step.id for r in rows}
        for st in stage.steps:
            if st.id not in listed and st.when is None:
                rows.append(TimetableRow(stage, stage.number, st, None, None))
        if include_conditional:
            trial = evaluate(protocol, [*events, Event("outcome", stage_end, {"resolved": True})], stage_end, cal)
            for i in trial.items:
                if i.step.when == "resolved" and i.step.resolved_at is None and i.stage is not None \
                        and i.stage.id == stage.id:
                    rows.append(row(i, stage, stage.number, "resolved"))
            for i in trial.items:
                if i.stage is None and i.step.kind is not StepKind.MILESTONE:
                    rows.append(row(i, stage, stage.number, "resolved"))
        events.append(Event("outcome", stage_end, {"resolved": False}))
        state = evaluate(protocol, events, stage_end, cal)
        if state.status is Status.AWAITING_DECISION:
            events.append(Event("escalated", stage_end, {"reason": "timetable"}))
            state = evaluate(protocol, events, stage_end, cal)
    return rows
