"""Opening a case: the intake's answers (NewCase) become the case, its first events, its subject details and its
timers, in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from bot.cases.errors import PermissionDenied, ServiceError
from bot.cases.protocols import board_protocol
from bot.cases.services import Ctx, check_date, clean_short, clean_text, refresh
from protocol.state import Status
from storage import repo, subjects
from storage.models import Case, Person


@dataclass
class NewCase:
    board_id: str
    subject_kind: str
    category: str
    what_happened: str
    done_so_far: str
    outcome_sought: str
    arose_on: dt.date
    responding_agency_id: int
    responding_person_id: int | None = None
    responding_person_name: str | None = None
    protective_date: dt.date | None = None
    immediate_risk: bool = False
    immediate_risk_shown_at: dt.datetime | None = None
    preconditions: dict[str, Any] | None = None
    subject_name: str = ""
    subject_dob: dt.date | None = None
    subject_address: str = ""
    bypass_reason: str | None = None  # a bypass reason id: open straight at the bypass stage


def open_case(ctx: Ctx, new: NewCase, *, session: Session) -> Case:
    T = ctx.T
    proto = board_protocol(new.board_id, session=session)
    board = repo.get_board(new.board_id, session=session)
    assert board is not None
    actor = ctx.actor
    if actor.board_id != new.board_id:
        raise PermissionDenied(T("You are not in the directory of {board}.", board=proto.name))
    if actor.agency_id is None:
        raise ServiceError(T("Only someone working for an agency in the directory can raise a concern."))
    if new.subject_kind not in ("child", "adult"):
        raise ServiceError(T("Please say whether this is about a child or an adult at risk."))
    scope_word = {"child": "children", "adult": "adults"}[new.subject_kind]
    if scope_word not in proto.scope:
        raise ServiceError(T("{board}'s protocol covers {scope} only.", board=proto.name,
                             scope=" and ".join(proto.scope)))
    try:
        proto.category(new.category)
    except KeyError:
        raise ServiceError(T("{category} is not one of this protocol's categories.",
                             category=clean_short(new.category))) from None
    what = clean_text(new.what_happened)
    if not what:
        raise ServiceError(T("Please say what the disagreement is about."))
    agency = repo.get_agency(new.responding_agency_id, session=session)
    if agency is None or agency.board_id != new.board_id:
        raise ServiceError(T("That agency is not in the directory."))
    if agency.id == actor.agency_id:
        raise ServiceError(T("This protocol is for disagreements between agencies. A disagreement within "
                             "your own agency goes through its internal arrangements."))
    counterpart: Person | None = None
    if new.responding_person_id is not None:
        counterpart = repo.get_person(new.responding_person_id, session=session)
        if counterpart is None or counterpart.agency_id != agency.id:
            raise ServiceError(T("That person is not in {agency}.", agency=agency.name))
        if not counterpart.active:
            raise ServiceError(T("{name} is no longer active in Parley: name someone else.", name=counterpart.name))
    cp_name = clean_short(new.responding_person_name) if counterpart is None else None
    check_date(ctx, None, new.arose_on, T("date the disagreement arose"), session=session)
    if new.protective_date is not None and new.protective_date < proto.calendar().local_date(ctx.now):
        raise ServiceError(T("The protective date can't be in the past."))
    bypass_to = None
    if new.bypass_reason:
        if proto.bypass is None or new.bypass_reason not in {r.id for r in proto.bypass.reasons}:
            raise ServiceError(T("This protocol has no such reason to go straight to a higher stage."))
        bypass_to = proto.bypass.to

    year = proto.calendar().local_date(ctx.now).year
    case = repo.add_case(Case(
        ref=repo.next_case_ref(board, year, session=session),
        board_id=board.id,
        snapshot_id=repo.current_snapshot(board, session=session).id,
        subject_kind=new.subject_kind,
        category=new.category,
        la_area=repo.get_agency(actor.agency_id, session=session).la_area,  # type: ignore[union-attr]
        raising_agency_id=actor.agency_id,
        raising_person_id=actor.id,
        responding_agency_id=agency.id,
        responding_person_id=counterpart.id if counterpart else None,
        responding_person_name=cp_name,
        what_happened=what,
        done_so_far=clean_text(new.done_so_far),
        outcome_sought=clean_text(new.outcome_sought),
        immediate_risk=new.immediate_risk,
        status=Status.OPEN.value,
        opened_at=ctx.now,
    ), session=session)
    # the answer to the first question, and when the same-working-day route was shown
    repo.append_event(case, "immediate_risk_answered", session=session, at=ctx.now, actor=actor, via=ctx.via,
                      data={
                          "risk": new.immediate_risk,
                          "route_shown_at": new.immediate_risk_shown_at.isoformat()
                          if new.immediate_risk_shown_at else None,
                          "rule": proto.immediate_risk.rule,
                      })
    if new.preconditions:
        repo.append_event(case, "preconditions_answered", session=session, at=ctx.now, actor=actor, via=ctx.via,
                          data={"answers": new.preconditions})
    opened = {
        "arose_on": new.arose_on.isoformat(),
        "protective_date": new.protective_date.isoformat() if new.protective_date else None,
        "category": new.category,
        "subject_kind": new.subject_kind,
        "raising_agency": repo.get_agency(actor.agency_id, session=session).name,  # type: ignore[union-attr]
        "responding_agency": agency.name,
    }
    if bypass_to:
        opened["bypass_to"] = bypass_to
        opened["bypass_reason"] = new.bypass_reason
    repo.append_event(case, "opened", session=session, at=ctx.now, actor=actor, via=ctx.via, data=opened)
    repo.append_event(case, "counterpart_named", session=session, at=ctx.now, actor=actor, via=ctx.via, data={
        "agency_id": agency.id, "person_id": counterpart.id if counterpart else None,
        "name": counterpart.name if counterpart else cp_name,
    })
    if new.subject_name or new.subject_dob or new.subject_address:
        subjects.set_subject(case.id, session=session, name=clean_short(new.subject_name),
                             date_of_birth=new.subject_dob, address=clean_text(new.subject_address, limit=500))
        # the audit says that details were recorded, never what they are
        repo.append_event(case, "subject_details_recorded", session=session, at=ctx.now, actor=actor, via=ctx.via,
                          data={"fields": [f for f, v in (("name", new.subject_name), ("date_of_birth",
                                new.subject_dob), ("address", new.subject_address)) if v]})
    refresh(case, session=session, now=ctx.now)
    return case
