"""The retention policy: ``parley retention apply [--dry-run] [--board ID]``.

A resolved or closed case is anonymised once more than the board's ``retention.closed_case_years`` (its current
protocol; default 6) have passed since it was resolved or closed:

- its subject details are erased (the row is deleted);
- the case's free text that could identify the child or adult (what happened, what has been done, the outcome
  sought, the name of a counterpart outside the directory) is replaced by a fixed marker,
  ``[erased under the retention policy on DATE]``;
- so is the free text of its events (contact notes, outcomes, reasons, records, form answers: ``EVENT_FREE_TEXT``)
  and of the messages Parley sent about it (a counterpart's DM quotes the concern); the state its timers were
  planned on (bot/cases/plans.py: extension and escalation reasons) is dropped, to be planned again from the
  redacted events;
- what the statistics count is kept: the case row's dates, category, agencies, area, status and the projection
  (stage reached, bypass, stage results), and every event's kind, time, author and structured data, so the
  quarterly data set and a replay of the events give the same answers as before;
- the run appends an ``anonymised`` event to the case's history (listing the digest of every event whose free
  text it replaced, so the hash chain still verifies: see storage/chain.py) and an audit entry.

A dry run lists what would happen and changes nothing. Each case is anonymised in a transaction of its own.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy.orm import Session, sessionmaker

from bot.cases import plans, protocols, services
from protocol.state import Status
from storage import cases_repo, chain, protection, repo
from storage.models import Case

MARKER = "[erased under the retention policy on {date}]"
CASE_TEXT_FIELDS = ("what_happened", "done_so_far", "outcome_sought", "responding_person_name")
# For each kind of event, the keys of its data that hold free text (replaced by the marker; nested values too).
EVENT_FREE_TEXT: dict[str, tuple[str, ...]] = {
    "contact": ("who", "outcome"),
    "step_done": ("note",),
    "outcome": ("text",),
    "escalated": ("reason",),
    "bypassed": ("details",),
    "extended": ("reason",),
    "urgent_notice": ("details",),
    "closed": ("reason",),
    "written_outcome_sent": ("text",),
    "counterpart_named": ("name",),  # only a counterpart outside the directory (no person id)
    "record_drafted": ("fields", "correction_reason"),
    "record_changes_requested": ("changes",),
    "form_part_completed": ("values",),
}
# Kinds whose data is structured only (ids, dates, flags, choices): kept as they are. A test checks that every
# kind of event Parley writes is in one of the two tables.
NO_FREE_TEXT = frozenset({
    "opened", "immediate_risk_answered", "preconditions_answered", "subject_details_recorded", "flag",
    "protective_date", "refused", "escalation_prompted", "escalation_acknowledged", "record_signed",
    "handed_over", "holder_missing",  # directory people's names and ids, as a counterpart named from the directory
    chain.ANONYMISED,
})
ACTOR_LABEL = "Parley (retention policy)"


def marker(on: dt.date) -> str:
    return MARKER.format(date=on.isoformat())


def _blank(value: Any, mark: str) -> Any:
    if isinstance(value, str):
        return mark if value.strip() else value
    if isinstance(value, dict):
        return {k: _blank(v, mark) for k, v in value.items()}
    if isinstance(value, list):
        return [_blank(v, mark) for v in value]
    return value


def redacted_data(kind: str, data: dict[str, Any], mark: str) -> dict[str, Any] | None:
    """The event's data with its free text replaced, or None if there is nothing to replace."""
    keys = EVENT_FREE_TEXT.get(kind, ())
    if kind == "counterpart_named" and data.get("person_id") is not None:
        keys = ()
    new = dict(data)
    for key in keys:
        if key in new:
            new[key] = _blank(new[key], mark)
    return new if new != data else None


@dataclass(frozen=True)
class Due:
    case_id: int
    ref: str
    status: str  # resolved | closed
    ended_on: dt.date


@dataclass
class BoardPlan:
    board_id: str
    board_name: str
    years: int
    today: dt.date
    cutoff: dt.date  # cases resolved or closed before this day are due
    due: list[Due] = field(default_factory=list)
    within: int = 0  # resolved or closed cases still inside the period
    already: int = 0  # anonymised by an earlier run


def _ended_on(case: Case, now: dt.datetime, *, session: Session) -> dt.date | None:
    st = services.state_of(case, now, session=session)
    moment = st.resolved_at if st.status is Status.RESOLVED else st.closed_at
    if moment is None:
        return None
    if isinstance(moment, dt.datetime):
        return protocols.protocol_for(case, session=session).calendar().local_date(moment)
    return moment


def plan(board_id: str, now: dt.datetime, *, session: Session) -> BoardPlan:
    proto = protocols.board_protocol(board_id, session=session)
    years = proto.retention.closed_case_years
    today = proto.calendar().local_date(now)
    result = BoardPlan(board_id, proto.name, years, today, today - relativedelta(years=years))
    anonymised = cases_repo.cases_with_event(board_id, chain.ANONYMISED, session=session)
    for case in repo.cases_for_board(board_id, session=session,
                                     statuses=[Status.RESOLVED.value, Status.CLOSED.value]):
        if case.id in anonymised:
            result.already += 1
            continue
        ended = _ended_on(case, now, session=session)
        if ended is not None and ended < result.cutoff:
            result.due.append(Due(case.id, case.ref, case.status, ended))
        else:
            result.within += 1
    return result


@dataclass(frozen=True)
class Anonymised:
    ref: str
    subject_details: bool  # a subject-details row was erased
    case_fields: tuple[str, ...]
    events: int  # events whose free text was replaced
    messages: int  # sent messages whose text was replaced


def describe_changes(due: Due, *, session: Session, today: dt.date) -> Anonymised:
    """What anonymising the case would change (for a dry run), without changing anything."""
    case = repo.get_case(due.case_id, session=session)
    assert case is not None
    mark = marker(today)
    fields = tuple(f for f in CASE_TEXT_FIELDS if getattr(case, f))
    events = sum(1 for e in repo.events_for(case.id, session=session)
                 if redacted_data(e.kind, dict(e.data or {}), mark) is not None)
    return Anonymised(case.ref, protection.has_subject(session, case.id), fields, events,
                      protection.sent_messages(session, case.id))


def anonymise(due: Due, years: int, now: dt.datetime, today: dt.date, *, session: Session) -> Anonymised:
    case = repo.get_case(due.case_id, session=session)
    assert case is not None
    case = repo.lock_case(case, session=session)
    mark = marker(today)
    new_data = {}
    for ev in repo.events_for(case.id, session=session):
        red = redacted_data(ev.kind, dict(ev.data or {}), mark)
        if red is not None:
            new_data[ev.seq] = red
    digests = chain.redact(session, case, new_data)
    erased = protection.erase_subject(session, case.id)
    fields = tuple(f for f in CASE_TEXT_FIELDS if getattr(case, f))
    for f in fields:
        setattr(case, f, mark)
    messages = protection.erase_outbox(session, case.id, case.ref, mark)
    plans.forget(case, session=session)  # its stored state holds reasons that were just erased from the events
    repo.append_event(case, chain.ANONYMISED, session=session, at=now, actor=None, actor_label=ACTOR_LABEL,
                      via="cli", data={
                          "policy": {"closed_case_years": years}, "ended_on": due.ended_on.isoformat(),
                          "erased_on": today.isoformat(), "subject_details_erased": erased,
                          "case_fields": list(fields), "messages_erased": messages, "redacted": digests,
                      })
    repo.audit("retention_anonymised", session=session, at=now, actor=None, actor_label=ACTOR_LABEL, via="cli",
               board_id=case.board_id, data={"case_id": case.id, "ref": case.ref, "status": due.status,
                                             "ended_on": due.ended_on.isoformat(), "closed_case_years": years,
                                             "events_redacted": len(digests)})
    return Anonymised(case.ref, erased, fields, len(digests), messages)


@dataclass
class BoardRun:
    plan: BoardPlan
    done: list[Anonymised] = field(default_factory=list)


def apply(factory: sessionmaker[Session], now: dt.datetime, *, board_id: str | None = None,
          dry_run: bool = False) -> list[BoardRun]:
    with factory() as s:
        boards = [b.id for b in repo.all_boards(session=s)]
    if board_id is not None:
        if board_id not in boards:
            raise LookupError(f"Unknown board {board_id!r}. Known boards: {', '.join(boards)}")
        boards = [board_id]
    runs = []
    for b in boards:
        with factory() as s:
            run = BoardRun(plan(b, now, session=s))
            if dry_run:
                run.done = [describe_changes(d, session=s, today=run.plan.today) for d in run.plan.due]
        if not dry_run:
            for due in run.plan.due:
                with factory() as s:
                    run.done.append(anonymise(due, run.plan.years, now, run.plan.today, session=s))
                    s.commit()
        runs.append(run)
    return runs
