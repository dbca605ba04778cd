"""The case projection: what lists, timers and reports read without replaying a case's events.

The event history is the source of truth; the engine derives a case's state from it. The projection stores
what the rest of Parley reads often: on ``cases`` the status, stage, protective date, next deadline and stage
token, and for the quarterly data set the highest stage reached, whether a bypass was used and whether a
policy-gap referral was flagged; in ``case_stage_results`` one row for each stage the case has been at: how and
when it was entered, how and when it ended, and the stage's deadline *as it stood when the stage ended* with
whether the stage ended by it (the history replayed up to the event that ended the stage, as the protocol
judged it at that moment).

``write`` is called by ``bot.cases.services.refresh`` in the same transaction as every event, from the case's replay
brought up to date (bot/cases/replays.py: the stage an event ends is judged as that event is replayed).
``rebuild`` recomputes it from the whole history (``parley db reproject``; ``parley db upgrade`` rebuilds the cases
whose projection is missing or was written by older rules, and so does the quarterly report for the cases it counts),
and with
``check=True`` only reports the cases whose stored projection differs from a full replay.

Moments: a stage entered or ended on a date without a time (an outcome recorded with an earlier date) is stored
as that day's close of business in the case's protocol, which is how its timeliness is judged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from bot.cases import replays, timers
from bot.cases.plans import Judged
from bot.cases.protocols import protocol_for
from protocol.engine import state_at
from protocol.state import CaseState
from protocol.spec import Protocol
from storage import cases_repo
from storage.models import Case, CaseStageResult

# Bump when the rules below change: every case written by older rules is then rebuilt (see ``stale``).
PROJECTION_VERSION = 2  # 2: a stage whose deadline step was done before it ended is judged by that step
STAGE_FIELDS = ("stage_id", "stage_number", "how_entered", "entered_at", "ended_at", "ended_how", "ended_seq",
                "due_at", "on_time")


@dataclass(frozen=True)
class StageResult:
    visit: int
    stage_id: str
    stage_number: int
    how_entered: str
    entered_at: dt.datetime
    ended_at: dt.datetime | None
    ended_how: str | None
    ended_seq: int | None
    due_at: dt.datetime | None
    on_time: bool | None


@dataclass(frozen=True)
class Projection:
    columns: dict[str, Any]
    stages: tuple[StageResult, ...] = field(default_factory=tuple)


def stage_results(proto: Protocol, state: CaseState, judged: Judged) -> tuple[StageResult, ...]:
    """Each stage visit of ``state``, with the judgement (bot.cases.replays.judge) made when the event that ended it
    was replayed: the deadline the case had then, extensions and protective caps included. A case closed while it
    waited for a decision on an exceptional stage had no stage running: that close ends nothing."""
    out = []
    for n, v in enumerate(state.visits, start=1):
        seq, due, on_time = judged.get(n, (None, None, None)) if v.completed_at is not None else (None, None, None)
        out.append(StageResult(
            visit=n, stage_id=v.stage.id, stage_number=v.stage.number, how_entered=v.how,
            entered_at=replays.moment(proto, v.entered_at),
            ended_at=replays.moment(proto, v.completed_at) if v.completed_at is not None else None,
            ended_how=v.outcome if v.completed_at is not None else None,
            ended_seq=seq, due_at=due, on_time=on_time))
    return tuple(out)


def compute(proto: Protocol, state: CaseState, judged: Judged) -> Projection:
    """The whole projection of a case from its state and the judgements of the stages it ended (``judged``)."""
    nd = state.next_deadline
    return Projection(
        columns={
            "status": state.status.value,
            "stage_id": state.stage.id if state.stage else None,
            "stage_number": state.stage.number if state.stage else None,
            "protective_date": state.protective_date,
            "next_due_at": nd.due_at if nd else None,
            "stage_token": timers.stage_token(state),
            "highest_stage": max((v.stage.number for v in state.visits), default=0),
            "bypass_used": any(v.how == "bypass" for v in state.visits),
            "policy_gap": bool(state.flags.get("policy_gap")),
            "projection_version": PROJECTION_VERSION,
        },
        stages=stage_results(proto, state, judged),
    )


def stored_stages(case: Case, *, session: Session) -> list[CaseStageResult]:
    return cases_repo.stage_results(case.id, session=session)


def differences(case: Case, proj: Projection, *, session: Session) -> list[str]:
    """What the stored projection of ``case`` gets wrong, in words (empty when it is right)."""
    out = [f"{name}: stored {getattr(case, name)!r}, replay {value!r}"
           for name, value in proj.columns.items() if getattr(case, name) != value]
    have = {r.visit: r for r in stored_stages(case, session=session)}
    for want in proj.stages:
        row = have.pop(want.visit, None)
        if row is None:
            out.append(f"stage visit {want.visit}: missing")
            continue
        out.extend(f"stage visit {want.visit} {name}: stored {getattr(row, name)!r}, replay {getattr(want, name)!r}"
                   for name in STAGE_FIELDS if getattr(row, name) != getattr(want, name))
    out.extend(f"stage visit {n}: not in the replay" for n in sorted(have))
    return out


def write(case: Case, proj: Projection, *, session: Session) -> bool:
    """Store ``proj`` as the case's projection (no commit). Returns whether anything changed."""
    changed = False
    for name, value in proj.columns.items():
        if getattr(case, name) != value:
            setattr(case, name, value)
            changed = True
    have = {r.visit: r for r in stored_stages(case, session=session)}
    for want in proj.stages:
        row = have.pop(want.visit, None)
        if row is None:
            session.add(CaseStageResult(case_id=case.id, visit=want.visit,
                                        **{name: getattr(want, name) for name in STAGE_FIELDS}))
            changed = True
            continue
        for name in STAGE_FIELDS:
            if getattr(row, name) != getattr(want, name):
                setattr(row, name, getattr(want, name))
                changed = True
    for row in have.values():
        session.delete(row)
        changed = True
    session.flush()
    return changed


def project(case: Case, *, session: Session, proto: Protocol) -> Projection:
    """Replay the case's whole history and compute its projection (nothing is written)."""
    folded = replays.fold_all(case, session=session, proto=proto)
    return compute(proto, state_at(folded.replay, dt.datetime.now(dt.timezone.utc)), folded.judged)


@dataclass
class RebuildReport:
    checked: int = 0
    wrong: dict[str, list[str]] = field(default_factory=dict)  # case reference -> what was wrong


def stale(session: Session, *, board_id: str | None = None) -> list[Case]:
    """Cases whose projection is missing (from before the projection existed) or written by older rules."""
    return cases_repo.stale_projections(PROJECTION_VERSION, session=session, board_id=board_id)


def rebuild(session: Session, *, cases: Sequence[Case] | None = None, board_id: str | None = None,
            check: bool = False) -> RebuildReport:
    """Replay every case (or ``cases``; or a board's) and compare its stored projection with the replay; unless
    ``check``, store the replay where they differ (no commit). The report lists what was wrong, per case."""
    if cases is None:
        cases = cases_repo.cases(session=session, board_id=board_id)
    report = RebuildReport()
    for case in cases:
        proj = project(case, session=session, proto=protocol_for(case, session=session))
        report.checked += 1
        wrong = differences(case, proj, session=session)
        if wrong:
            report.wrong[case.ref] = wrong
            if not check:
                write(case, proj, session=session)
                case.version = (case.version or 0) + 1
    if not check:
        session.flush()
    return report
