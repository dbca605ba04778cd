"""Timer plans: what each case's timers were last planned from, and the engine's replay they were planned on.

Every change to a case (``bot.cases.services.refresh``) brings the case's replay up to date, reconciles its timers
and, in the same transaction, writes the case's plan (``timer_plans``): the case's version, its protocol snapshot,
the planning ``RULES``, the replay itself and the last event it has seen (sequence number and hash). So:

- a case's replay is read from its plan, with only the events appended since folded in (bot/cases/replays.py),
  while the plan's snapshot and rules are the case's and today's: lists, the App Home, Teams lists, the sweep's
  handlers, a conversation's questions and the actions themselves read no history;
- ``stale_case_ids`` finds, in one query, the cases (not closed) whose timers start-up must plan again: no plan yet
  (a database from before plans), or one made from another version of the case (``parley db reproject`` repaired
  its projection), another snapshot or other rules (``PLAN_VERSION`` bumped, a new release of the ``holidays``
  library). Start-up replays those alone: the timers of every other case are in the database already.

Bump ``PLAN_VERSION`` whenever ``protocol.engine``/``protocol.replay``, ``bot.cases.timers.plan_case`` or the form of
the stored replay change: every case is then planned again at the next start, and replayed in full until then.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from protocol.replay import Replay
from protocol.spec import Protocol
from protocol.state import moment_data, moment_from_data
from storage import escalation_repo
from storage.models import Case, TimerPlan, utcnow

PLAN_VERSION = 1
RULES = f"plan {PLAN_VERSION}; holidays {version('holidays')}"
PLANNED = ("open", "awaiting_decision", "resolved")  # the statuses whose timers start-up plans (closed: none)
KEY = "parley.timer_plans"  # in Session.info: case id -> its plan, held so the session's identity map keeps it

Judged = Mapping[int, tuple[int, dt.datetime | None, bool | None]]  # stage visit -> (ending event's seq, due, met)


@dataclass(frozen=True)
class Folded:
    """A case's replay after the events up to ``seq`` (bot/cases/replays.py), with the stages they ended judged."""

    replay: Replay  # never changed once folded (folding more copies it)
    judged: Judged = field(default_factory=dict)
    seq: int = 0  # the last event folded in (0: none)
    head: str | None = None  # its hash


def to_data(f: Folded) -> dict[str, Any]:
    return {"replay": f.replay.to_data(),
            "judged": {str(n): [seq, moment_data(due), met] for n, (seq, due, met) in f.judged.items()}}


def from_data(proto: Protocol, data: Mapping[str, Any], seq: int, head: str | None) -> Folded:
    """What ``to_data`` wrote, for ``proto`` (KeyError, ValueError ... when it does not fit it)."""
    judged: dict[int, tuple[int, dt.datetime | None, bool | None]] = {}
    for n, (ending, due, met) in data["judged"].items():
        due_at = moment_from_data(due)
        if due_at is not None and not isinstance(due_at, dt.datetime):
            raise ValueError("a deadline that is not a time")
        judged[int(n)] = (int(ending), due_at, met)
    return Folded(Replay.from_data(proto, data["replay"]), judged, seq, head)


def _held(session: Session) -> dict[int, TimerPlan]:
    return session.info.setdefault(KEY, {})


def plan_of(case: Case, *, session: Session) -> TimerPlan | None:
    held = _held(session)
    plan = held.get(case.id)
    if plan is None or plan not in session:
        plan = session.get(TimerPlan, case.id)
        if plan is not None:
            held[case.id] = plan
    return plan


def usable(case: Case, *, session: Session) -> TimerPlan | None:
    """The case's plan when its replay can be built on: made under the case's snapshot and today's rules."""
    plan = plan_of(case, session=session)
    return plan if plan is not None and plan.snapshot_id == case.snapshot_id and plan.rules == RULES else None


def record(case: Case, folded: Folded, *, session: Session) -> None:
    """Write the case's plan: its timers were just reconciled from ``folded`` (no commit)."""
    values = {"case_version": case.version, "snapshot_id": case.snapshot_id, "rules": RULES, "seq": folded.seq,
              "head": folded.head, "state": to_data(folded), "planned_at": utcnow()}
    plan = plan_of(case, session=session)
    if plan is None:
        try:
            with session.begin_nested():  # another unit of work may be planning the same case for the first time
                plan = TimerPlan(case_id=case.id, **values)
                session.add(plan)
        except IntegrityError:
            plan = escalation_repo.reread_timer_plan(case.id, session=session)
            assert plan is not None
        _held(session)[case.id] = plan
    for name, value in values.items():
        setattr(plan, name, value)
    session.flush()


def forget(case: Case, *, session: Session) -> None:
    """Drop the case's plan (its replay holds free text that is being erased): the case is replayed from its history
    until it is planned again."""
    plan = plan_of(case, session=session)
    if plan is not None:
        session.delete(plan)
        session.flush()
        _held(session).pop(case.id, None)


def preload(cases: Iterable[Case], *, session: Session) -> None:
    """Load the plans of these cases in one query, so that reading each case finds its plan in the session."""
    ids = [c.id for c in cases]
    if ids:
        _held(session).update((p.case_id, p) for p in escalation_repo.timer_plans(ids, session=session))


def stale_case_ids(*, session: Session) -> Sequence[int]:
    """The cases, not closed, whose timers must be planned again (see the module's docstring): one query."""
    return escalation_repo.cases_to_replan(PLANNED, RULES, session=session)
