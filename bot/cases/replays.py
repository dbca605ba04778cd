"""A case's replay, brought up to date instead of replayed from the start on every action.

The engine's replay of a case (``protocol.replay.Replay``: stage visits, steps done, extensions, flags ...) is stored
with the case's timer plan (bot/cases/plans.py) as it stood after the event the plan names (its sequence number and
hash). ``fold`` gives the replay after the case's latest event: the plan's, with the events appended since then
folded in (only those are read), or, without a plan this code can use, the whole history replayed. The result is
kept in the session under the hash of the case's latest event (``cases.event_chain_head``; the hash chain makes it
name one history), so reading the case again in the same unit of work costs nothing, and ``append`` adds an event
and folds it into what is kept: an action on a case with a current plan reads none of its history.
``protocol.engine.state_at`` turns a replay into the case's state at any moment.

Folding an event that ends a stage also judges that stage (``judge``: its deadline as it stood just before, and
whether it was met), which the projection's stage results are built from (bot/cases/projection.py).
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any, Protocol as Typing

from sqlalchemy.orm import Session

from bot.cases import plans
from bot.cases.plans import Folded
from bot.cases.protocols import protocol_for
from protocol.engine import state_at
from protocol.replay import Replay
from protocol.spec import Protocol
from protocol.state import CaseState, Event, Status
from storage import repo
from storage.models import Case, CaseEvent, Person

STAGE_ENDING = ("outcome", "bypassed", "closed")  # the events that end the stage a case is at (when it is at one)
KEY = "parley.case_replays"  # in Session.info: case id -> Folded, the most recently used last
KEEP = 4  # a session keeps the replays of its last few cases only


class Row(Typing):
    """An event as folding reads it: a light row of ``repo.event_rows`` or a ``CaseEvent`` just appended."""

    @property
    def seq(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def at(self) -> dt.datetime: ...
    @property
    def data(self) -> Mapping[str, Any]: ...
    @property
    def prev_hash(self) -> str: ...
    @property
    def hash(self) -> str: ...


# -- judging a stage as it ends -----------------------------------------------------------------------------------
def moment(proto: Protocol, value: dt.datetime | dt.date) -> dt.datetime:
    """A time, or a date as that day's close of business in the protocol's calendar."""
    return value if isinstance(value, dt.datetime) else proto.calendar().close_of_business(value)


def judge(proto: Protocol, before: CaseState, ended: dt.datetime | dt.date) -> tuple[dt.datetime | None, bool | None]:
    """The stage's deadline as it stood when the stage ended, and whether it was met: by the stage ending in time
    while its deadline step was still open, or by the deadline step itself having been done in time (a step
    marked done, then the outcome recorded later, met its deadline when the step was done)."""
    open_item = before.stage_deadline
    if open_item is not None:
        due = open_item.due_at
        return due, (None if due is None else moment(proto, ended) <= due)
    done = next((i for i in before.done if i.step.stage_deadline and i.stage is not None and before.stage is not None
                 and i.stage.id == before.stage.id and i.done_at is not None), None)
    if done is None or done.due_at is None:
        return None, None
    return done.due_at, moment(proto, done.done_at) <= done.due_at  # type: ignore[arg-type]


def fold_rows(base: Folded, rows: Iterable[Row]) -> Folded:
    """``base`` with ``rows`` (the events after it, in order) folded in; ``base`` is not changed."""
    r, judged, seq, head = base.replay.copy(), dict(base.judged), base.seq, base.head
    for row in rows:
        ev = Event(row.kind, row.at.astimezone(dt.timezone.utc), row.data)  # in UTC, as the database gives it back
        if ev.kind in STAGE_ENDING and r.status is not None:
            before = state_at(r, ev.at)  # the history before this event, as the protocol judged it then
            if before.status is Status.OPEN and before.stage is not None:
                judged[len(before.visits)] = (row.seq, *judge(r.p, before, ev.effective))
        r.apply(ev)
        seq, head = row.seq, row.hash
    return Folded(r, judged, seq, head)


# -- a case's replay, once per unit of work -------------------------------------------------------------------------
def _kept(session: Session) -> OrderedDict[int, Folded]:
    return session.info.setdefault(KEY, OrderedDict())


def _keep(session: Session, case_id: int, folded: Folded) -> Folded:
    kept = _kept(session)
    kept[case_id] = folded
    kept.move_to_end(case_id)
    while len(kept) > KEEP:
        kept.popitem(last=False)
    return folded


def fold_all(case: Case, *, session: Session, proto: Protocol | None = None) -> Folded:
    """The case's whole history replayed from the start, whatever its plan says."""
    proto = proto or protocol_for(case, session=session)
    return fold_rows(Folded(Replay(proto)), repo.event_rows(case.id, session=session))


def fold(case: Case, *, session: Session, proto: Protocol | None = None) -> Folded:
    """The case's replay after its latest event: what the session keeps for it, else its plan's with the events
    since folded in, else the whole history."""
    head = case.event_chain_head
    kept = _kept(session).get(case.id)
    if kept is not None and head is not None and kept.head == head:
        _kept(session).move_to_end(case.id)
        return kept
    proto = proto or protocol_for(case, session=session)
    base = _from_plan(case, proto, session=session)
    if base is None:
        got = fold_all(case, session=session, proto=proto)
    elif base.head == head:
        got = base
    else:
        rows = repo.event_rows(case.id, session=session, after=base.seq)
        if rows and rows[0].prev_hash != base.head:  # the plan does not lead into this history: replay all of it
            got = fold_all(case, session=session, proto=proto)
        else:
            got = fold_rows(base, rows)
    return _keep(session, case.id, got) if head is not None and got.head == head else got


def _from_plan(case: Case, proto: Protocol, *, session: Session) -> Folded | None:
    plan = plans.usable(case, session=session)
    if plan is None:
        return None
    try:
        return plans.from_data(proto, plan.state, plan.seq, plan.head)
    except (KeyError, IndexError, TypeError, ValueError):  # a plan this code cannot read: replay instead
        return None


def append(case: Case, kind: str, *, session: Session, at: dt.datetime, actor: Person | None, via: str,
           data: dict[str, Any] | None = None) -> CaseEvent:
    """``repo.append_event``, folding the event into the case's replay kept in the session."""
    kept = _kept(session).get(case.id)
    ev = repo.append_event(case, kind, session=session, at=at, actor=actor, via=via, data=data)
    if kept is not None and kept.head == ev.prev_hash:
        _keep(session, case.id, fold_rows(kept, [ev]))
    return ev
