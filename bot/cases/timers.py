"""Planning the timers a case needs from its state, and keeping the timers table in step.

``plan_case`` is a pure function of the case's state (what the engine says is open and when it is due)
and the board's schedule. ``reconcile`` runs in the same transaction as every change to a case: timers
no longer wanted are cancelled, new ones are inserted. Keys are deterministic, so reconciling twice, or
from two processes, never creates a second timer, and a fired timer is never planned again.

Tokens: ``stage_token`` changes whenever the case moves (a stage entered or ended, resolved, closed).
Every timer carries the token it was planned under; the sweep refuses to fire a timer whose token is
not the case's current one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from protocol.calendar import WorkingCalendar
from protocol.state import CaseState, Status
from protocol.spec import Protocol, StepKind
from protocol.timescales import Unit
from storage import escalation_repo
from storage.models import Case, Timer

STATUS_ORDER = {Status.OPEN: 0, Status.AWAITING_DECISION: 1, Status.RESOLVED: 2, Status.CLOSED: 3}
ONE_SECOND = dt.timedelta(seconds=1)


def stage_token(state: CaseState) -> int:
    """Strictly increases as a case moves: stages entered, then the status within the last one."""
    return len(state.visits) * 10 + STATUS_ORDER[state.status]


@dataclass(frozen=True)
class TimerSpec:
    key: str
    kind: str  # nudge | escalation | overdue | duty
    due_at: dt.datetime
    deadline_at: dt.datetime | None
    data: dict[str, Any] = field(default_factory=dict)
    always: bool = False  # insert even when its time has already passed (fires at once, marked late)


def working_days_before(cal: WorkingCalendar, day: dt.date, n: int) -> dt.date:
    for _ in range(n):
        day = cal.previous_working_day(day)
    return day


def plan_case(case: Case, state: CaseState, proto: Protocol) -> list[TimerSpec]:
    cal = proto.calendar()
    sch = proto.schedule
    token = stage_token(state)
    base = f"case:{case.id}:t{token}"
    if state.status not in (Status.OPEN, Status.AWAITING_DECISION, Status.RESOLVED):
        return []
    specs: list[TimerSpec] = []
    for item in state.items:
        st = item.step
        # a milestone is an overall target, with no reminders of its own; but a step or milestone brought forward to
        # a protective date is a safety-critical deadline: reminded, and escalated when it lapses
        protective = item.capped and item.due_at is not None
        if (st.kind is StepKind.MILESTONE and not protective) or st.standing or item.anchor is None:
            continue
        if item.due_at is None:
            if st.kind is StepKind.DUTY:
                # a duty with no timescale: one reminder on the next working morning after it became owed
                day = cal.local_date(item.anchor.at)
                fire = cal.start_of_business(cal.next_working_day(day))
                specs.append(TimerSpec(f"{base}:duty:{st.id}", "duty", fire, None, {"step": st.id}))
            continue
        due = item.due_at
        if st.due.unit is Unit.IMMEDIATELY:
            # "immediately": no warning beforehand; a reminder an hour of working time later if not done
            specs.append(TimerSpec(f"{base}:overdue:{st.id}:{due.isoformat()}", "overdue",
                                   cal.add_working_hours(due, 1), due, {"step": st.id}, always=True))
            continue
        due_day = cal.local_date(due)
        for n in sch.nudges:
            day = working_days_before(cal, due_day, n.working_days_before)
            fire = cal.next_working_time(cal.at(day, n.at or cal.day_start))
            if fire >= due:
                continue
            specs.append(TimerSpec(f"{base}:nudge:{st.id}:{due.isoformat()}:{n.working_days_before}", "nudge",
                                   fire, due, {"step": st.id, "before": n.working_days_before}))
        after = cal.next_working_time(due + ONE_SECOND)  # the first working moment after the deadline
        if protective and not st.stage_deadline:
            # escalated once: at the stage the case was at when the date passed, not again at every later stage
            entered = state.visits[-1].entered_at if state.visits else None
            entered_at = entered if isinstance(entered, dt.datetime) else None
            if state.status is Status.OPEN and state.stage is not None and (entered_at is None or due > entered_at):
                specs.append(TimerSpec(f"{base}:escalation:{st.id}:{due.isoformat()}", "escalation", after, due,
                                       {"step": st.id, "stage": state.stage.id, "protective": True}, always=True))
        elif st.stage_deadline and state.status is Status.OPEN and item.stage is not None:
            specs.append(TimerSpec(f"{base}:escalation:{st.id}:{due.isoformat()}", "escalation", after, due,
                                   {"step": st.id, "stage": item.stage.id, **({"protective": True} if protective
                                                                              else {})}, always=True))
        elif not st.stage_deadline:
            specs.append(TimerSpec(f"{base}:overdue:{st.id}:{due.isoformat()}", "overdue", after, due,
                                   {"step": st.id}, always=True))
    return specs


def reconcile(case: Case, state: CaseState, proto: Protocol, now: dt.datetime, *, session: Session) -> None:
    """Make the case's pending timers match its plan (same transaction as the change to the case)."""
    specs = {s.key: s for s in plan_case(case, state, proto)}
    pending = escalation_repo.pending_for_case(case.id, session=session)
    token = stage_token(state)
    for t in pending:
        if t.key not in specs:
            # Fix: re-notifications are planned by the sweep (bot.escalation.scheduler), never by plan_case, so they are
            # never in ``specs``; cancelling them here made every restart's rebuild (and any change to the case)
            # silently drop the re-notifications of unacknowledged escalation prompts. They are kept while the
            # case has not moved (same stage token); once it moves they are cancelled as before.
            if t.kind == "renotify" and t.token == token:
                continue
            t.state = "cancelled"
            t.note = "no longer needed: the case moved or the deadline changed"
    known = escalation_repo.existing_keys(specs, session=session) if specs else set()
    for key, s in specs.items():
        if key in known:
            continue
        if s.due_at < now and not s.always:
            continue  # a nudge whose moment has already gone is not worth sending now
        session.add(Timer(key=key, kind=s.kind, board_id=case.board_id, case_id=case.id, token=token,
                          due_at=s.due_at, deadline_at=s.deadline_at, state="pending", data=dict(s.data)))
    session.flush()
