"""Application services: the use cases. Each validates its input and the actor's permission,
appends events in one transaction (the caller's session), refreshes the case's projection and
returns the case. Adapters call these through the conversation; they never write events themselves.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from bot.cases import permissions, projection, timers
from bot.core.i18n import Translator, available_languages, translator
from protocol import loader
from protocol.engine import Action, CaseState, Event, Status, TransitionError, evaluate
from protocol.spec import Protocol
from storage import chain, repo, subjects
from storage.models import Agency, Case, Person, ProtocolSnapshot

MAX_TEXT = 4000
MAX_SHORT = 200
MANAGER_ROLES = {"line_manager", "senior_manager", "director", "safeguarding_lead"}
BOARD_ROLES = {"business_unit", "chair"}


class ServiceError(Exception):
    """A clear, user-facing reason why something was not done. Nothing was changed.

    ``record``, when given, writes the refusal's audit entry into a session: a service never commits its caller's
    session (which may hold half of the caller's work), so whoever owns the unit of work rolls back and then keeps
    the record (storage.db.keep_after_rollback; a session from storage.db.session_factory does it by itself when
    the error leaves its ``with`` block)."""

    def __init__(self, message: str, *, record: Callable[[Session], object] | None = None):
        super().__init__(message)
        self.message = message
        self.record = record


class PermissionDenied(ServiceError):
    pass


@dataclass(frozen=True)
class Ctx:
    actor: Person
    via: str  # console | slack | teams | cli | system
    now: dt.datetime

    @property
    def T(self) -> Translator:
        return translator(self.actor.language)


# -- protocol and state -----------------------------------------------------------------------
# keyed by the snapshot's id *and* digest: ids are only unique within one database, and a process (the test suite,
# a tool) may open several
_PROTOCOLS: dict[tuple[int, str], Protocol] = {}


def protocol_for_snapshot(snap: ProtocolSnapshot) -> Protocol:
    key = (snap.id, snap.sha256)
    p = _PROTOCOLS.get(key)
    if p is None:
        p = loader.from_snapshot(snap.data)
        _PROTOCOLS[key] = p
    return p


def protocol_for(case: Case, *, session: Session) -> Protocol:
    snap = session.get(ProtocolSnapshot, case.snapshot_id)
    assert snap is not None
    return protocol_for_snapshot(snap)


def board_protocol(board_id: str, *, session: Session) -> Protocol:
    board = repo.get_board(board_id, session=session)
    if board is None:
        T = translator()
        raise ServiceError(T("There is no board called {board}.", board=board_id))
    return protocol_for_snapshot(repo.current_snapshot(board, session=session))


def engine_events(case: Case, *, session: Session) -> list[Event]:
    return [Event(e.kind, e.at, e.data) for e in repo.events_for(case.id, session=session)]


def state_of(case: Case, now: dt.datetime, *, session: Session) -> CaseState:
    return evaluate(protocol_for(case, session=session), engine_events(case, session=session), now)


# -- permissions ------------------------------------------------------------------------------
def is_party(person: Person, case: Case) -> bool:
    return person.id in (case.raising_person_id, case.responding_person_id)


def may_act(person: Person, case: Case, *, session: Session) -> bool:
    """Entitled to the case, subject details included (see bot/cases/permissions.py's matrix)."""
    return permissions.allowed(person, permissions.Act.VIEW_SUBJECT, case, session=session)


def require_may_act(ctx: Ctx, case: Case, action: str, *, session: Session) -> None:
    """Refuse, with a clear message to this person only, anything the permission matrix does not allow them
    on this case; the refusal is audited and nothing about the case changes."""
    act = permissions.ACTION_NAMES[action]
    roles = permissions.roles_of(ctx.actor, case, session=session)
    if roles & permissions.MATRIX[act]:
        return
    record = refusal_event(ctx, case, {"action": action, "roles": sorted(r.value for r in roles)})
    if roles == {permissions.Role.OTHER}:
        raise PermissionDenied(ctx.T(
            "Sorry, you can't do that on {ref}: only the people in this disagreement, their managers and "
            "the board's business unit can act on it.", ref=case.ref), record=record)
    raise PermissionDenied(ctx.T("Sorry, you can't {action} on {ref}. That is for {who}.", action=ctx.T(act.value),
                                 ref=case.ref, who=permissions.who_may(ctx.T, act)), record=record)


def refusal_event(ctx: Ctx, case: Case, data: dict[str, Any]) -> Callable[[Session], object]:
    """The audit entry of a refused action on ``case``, written after the owner's rollback (see ServiceError)."""
    case_id, actor_id = case.id, ctx.actor.id

    def record(s: Session) -> object:
        target, actor = s.get(Case, case_id), s.get(Person, actor_id)
        assert target is not None
        return repo.append_event(target, "refused", session=s, at=ctx.now, actor=actor, via=ctx.via, data=data)

    return record


def refusal_audit(ctx: Ctx, data: dict[str, Any]) -> Callable[[Session], object]:
    """The audit entry of a refusal outside any case (see ServiceError)."""
    actor_id = ctx.actor.id

    def record(s: Session) -> object:
        return repo.audit("refused", session=s, at=ctx.now, actor=s.get(Person, actor_id), via=ctx.via, data=data)

    return record


def find_case(ref: str, ctx: Ctx, *, session: Session) -> Case:
    case = repo.case_by_ref(ref, session=session)
    if case is None or case.board_id != ctx.actor.board_id:
        raise ServiceError(ctx.T("I can't find a case with reference {ref}.", ref=clean_short(ref) or "?"))
    return case


# -- input hygiene ----------------------------------------------------------------------------
def broken_text_error() -> ServiceError:
    T = translator()
    return ServiceError(T("That text holds a broken character (half of an emoji or symbol) that cannot be stored; "
                          "please type it again."))


def refuse_broken_text(*values: str | None) -> None:
    """A lone UTF-16 surrogate (e.g. "\\ud800" escaped in a Slack or Teams JSON string) cannot be encoded as UTF-8,
    so neither database can store it: refuse it with a clear message instead of failing at the database."""
    for value in values:
        if value and chain.has_surrogate(value):
            raise broken_text_error()


def clean_text(value: str | None, *, limit: int = MAX_TEXT) -> str:
    """Strip control and bidi-override characters and surrounding space; refuse overlong text and text holding a
    lone surrogate."""
    if value is None:
        return ""
    refuse_broken_text(str(value))
    out = "".join(
        ch for ch in str(value)
        if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cf")
    ).strip()
    if len(out) > limit:
        T = translator()
        raise ServiceError(T("That is {n} characters long; please keep it under {limit}.", n=len(out), limit=limit))
    return out


def clean_short(value: str | None) -> str:
    return clean_text(value, limit=MAX_SHORT).replace("\n", " ")


def _check_date(ctx: Ctx, case_or_none: Case | None, day: dt.date, what: str, *, session: Session,
                allow_future: bool = False) -> None:
    cal_today = ctx.now.date() if case_or_none is None else protocol_for(
        case_or_none, session=session).calendar().local_date(ctx.now)
    if not allow_future and day > cal_today:
        raise ServiceError(ctx.T("The {what} can't be in the future.", what=what))
    if day.year < 2000 or day.year > cal_today.year + 5:
        raise ServiceError(ctx.T("{date} doesn't look right for the {what}.", date=day.isoformat(), what=what))


# -- projection -------------------------------------------------------------------------------
# called after every refresh, in the same transaction, with (case, state, protocol, now): what follows a case
# wherever it goes (bot.escalation.escalation keeps its prompts in step)
AFTER_REFRESH: list[Callable[..., None]] = []


def refresh(case: Case, *, session: Session, now: dt.datetime) -> CaseState:
    """Refresh the case's projection (its columns and stage results, bot.cases.projection) and its timers from the
    event history (same transaction)."""
    proto = protocol_for(case, session=session)
    events, seqs = projection.history(case, session=session)
    st = evaluate(proto, events, now)
    projection.write(case, projection.compute(proto, events, seqs, st), session=session)
    case.version = (case.version or 0) + 1
    session.flush()
    timers.reconcile(case, st, proto, now, session=session)
    for hook in AFTER_REFRESH:
        hook(case, st, proto, now, session=session)
    return st


def _append(ctx: Ctx, case: Case, kind: str, data: dict[str, Any], *, session: Session) -> CaseState:
    """Append one engine event after checking the engine accepts it; refresh the projection."""
    proto = protocol_for(case, session=session)
    trial = [*engine_events(case, session=session), Event(kind, ctx.now, data)]
    try:
        evaluate(proto, trial, ctx.now)
    except (TransitionError, KeyError, ValueError) as exc:
        raise ServiceError(ctx.T("That can't be recorded now: {why}", why=str(exc).strip("'"))) from exc
    repo.append_event(case, kind, session=session, at=ctx.now, actor=ctx.actor, via=ctx.via, data=data)
    return refresh(case, session=session, now=ctx.now)


def _require_allowed(ctx: Ctx, case: Case, action: Action, *, session: Session) -> CaseState:
    st = state_of(case, ctx.now, session=session)
    if action not in st.allowed:
        raise ServiceError(ctx.T("That isn't possible on {ref} at the moment (the case is {status}).",
                                 ref=case.ref, status=status_label(ctx.T, st.status)))
    return st


def status_label(T: Translator, status: Status) -> str:
    return {
        Status.OPEN: T("open"),
        Status.AWAITING_DECISION: T("waiting for a decision on the exceptional stage"),
        Status.RESOLVED: T("resolved"),
        Status.CLOSED: T("closed"),
    }[status]


# -- use cases --------------------------------------------------------------------------------
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
    cp_name = clean_short(new.responding_person_name) if counterpart is None else None
    _check_date(ctx, None, new.arose_on, T("date the disagreement arose"), session=session)
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


def name_counterpart(ctx: Ctx, case: Case, agency_id: int, person_id: int | None, name: str | None, *,
                     session: Session) -> Case:
    require_may_act(ctx, case, "name_counterpart", session=session)
    if case.status not in (Status.OPEN.value, Status.AWAITING_DECISION.value):
        raise ServiceError(ctx.T("{ref} is no longer open.", ref=case.ref))
    agency = repo.get_agency(agency_id, session=session)
    if agency is None or agency.board_id != case.board_id:
        raise ServiceError(ctx.T("That agency is not in the directory."))
    if agency.id == case.raising_agency_id:
        raise ServiceError(ctx.T("The counterpart must be in a different agency from the one raising the concern."))
    person = repo.get_person(person_id, session=session) if person_id else None
    if person_id and (person is None or person.agency_id != agency.id):
        raise ServiceError(ctx.T("That person is not in {agency}.", agency=agency.name))
    case.responding_agency_id = agency.id
    case.responding_person_id = person.id if person else None
    case.responding_person_name = None if person else clean_short(name)
    repo.append_event(case, "counterpart_named", session=session, at=ctx.now, actor=ctx.actor, via=ctx.via, data={
        "agency_id": agency.id, "person_id": person.id if person else None,
        "name": person.name if person else case.responding_person_name,
    })
    refresh(case, session=session, now=ctx.now)
    return case


CONTACT_METHODS = ("meeting", "phone", "video", "email", "letter", "other")


def record_contact(ctx: Ctx, case: Case, *, on: dt.date, who: str, how: str, outcome: str,
                   step: str | None = None, session: Session) -> CaseState:
    require_may_act(ctx, case, "record_contact", session=session)
    st = _require_allowed(ctx, case, Action.RECORD_CONTACT, session=session)
    if how not in CONTACT_METHODS:
        raise ServiceError(ctx.T("Please choose how the contact was made."))
    _check_date(ctx, case, on, ctx.T("contact date"), session=session)
    who_clean = clean_short(who)
    if not who_clean:
        raise ServiceError(ctx.T("Please say who the contact was with."))
    if step and step not in {i.step.id for i in st.completable()}:
        raise ServiceError(ctx.T("That step is not open on this case."))
    data: dict[str, Any] = {"on": on.isoformat(), "who": who_clean, "how": how, "outcome": clean_text(outcome),
                            "stage": st.stage.id if st.stage else None}
    if step:
        data["step"] = step
    return _append(ctx, case, "contact", data, session=session)


def complete_step(ctx: Ctx, case: Case, step_id: str, *, on: dt.date | dt.datetime, note: str = "",
                  flags: dict[str, bool] | None = None, session: Session) -> CaseState:
    require_may_act(ctx, case, "complete_step", session=session)
    st = state_of(case, ctx.now, session=session)
    if step_id not in {i.step.id for i in st.completable()}:
        raise ServiceError(ctx.T("That step is not open on this case."))
    day = on.date() if isinstance(on, dt.datetime) else on
    _check_date(ctx, case, day, ctx.T("date"), session=session)
    for name, value in (flags or {}).items():
        _append(ctx, case, "flag", {"name": name, "value": bool(value)}, session=session)
    return _append(ctx, case, "step_done", {"step": step_id, "on": on.isoformat(), "note": clean_text(note)},
                   session=session)


def record_outcome(ctx: Ctx, case: Case, *, resolved: bool, text: str, on: dt.date | None = None,
                   flags: dict[str, bool] | None = None, session: Session) -> CaseState:
    require_may_act(ctx, case, "record_outcome", session=session)
    _require_allowed(ctx, case, Action.RECORD_OUTCOME, session=session)
    body = clean_text(text)
    if not body:
        raise ServiceError(ctx.T("Please describe the agreed outcome.") if resolved
                           else ctx.T("Please say why it is not resolved."))
    data: dict[str, Any] = {"resolved": resolved, "text": body}
    if on is not None:
        _check_date(ctx, case, on, ctx.T("outcome date"), session=session)
        if on != protocol_for(case, session=session).calendar().local_date(ctx.now):
            data["on"] = on.isoformat()
    if flags:
        data["flags"] = {k: bool(v) for k, v in flags.items()}
    return _append(ctx, case, "outcome", data, session=session)


def _reason(text: str, if_missing: str) -> str:
    why = clean_text(text)
    if not why:
        raise ServiceError(if_missing)
    return why


def escalate(ctx: Ctx, case: Case, *, reason: str, session: Session) -> CaseState:
    """Open an exceptional stage after a stage ended unresolved (a recorded decision)."""
    require_may_act(ctx, case, "escalate", session=session)
    _require_allowed(ctx, case, Action.ESCALATE_EXCEPTIONAL, session=session)
    why = _reason(reason, ctx.T("Please record why the exceptional stage is needed."))
    return _append(ctx, case, "escalated", {"reason": why}, session=session)


def bypass_to_stage(ctx: Ctx, case: Case, *, reason_id: str, details: str = "", session: Session) -> CaseState:
    require_may_act(ctx, case, "bypass", session=session)
    _require_allowed(ctx, case, Action.BYPASS, session=session)
    proto = protocol_for(case, session=session)
    assert proto.bypass is not None
    if reason_id not in {r.id for r in proto.bypass.reasons}:
        raise ServiceError(ctx.T("Please choose one of the protocol's reasons for going straight to a higher stage."))
    return _append(ctx, case, "bypassed", {"reason": reason_id, "details": clean_text(details)}, session=session)


def set_protective_date(ctx: Ctx, case: Case, day: dt.date | None, *, session: Session) -> CaseState:
    require_may_act(ctx, case, "set_protective_date", session=session)
    _require_allowed(ctx, case, Action.SET_PROTECTIVE_DATE, session=session)
    if day is not None and day < protocol_for(case, session=session).calendar().local_date(ctx.now):
        raise ServiceError(ctx.T("The protective date can't be in the past."))
    return _append(ctx, case, "protective_date", {"date": day.isoformat() if day else None}, session=session)


def extend_step(ctx: Ctx, case: Case, step_id: str, *, until: dt.date, reason: str, session: Session) -> CaseState:
    require_may_act(ctx, case, "extend", session=session)
    st = _require_allowed(ctx, case, Action.EXTEND, session=session)
    item = next((i for i in st.items if i.step.id == step_id and i.step.extendable), None)
    if item is None:
        raise ServiceError(ctx.T("That step can't be extended."))
    why = _reason(reason, ctx.T("Please record the reason for the extension."))
    if item.due_at is not None and until <= item.due_at.date():
        raise ServiceError(ctx.T("An extension must be later than the current deadline."))
    return _append(ctx, case, "extended", {"step": step_id, "until": until.isoformat(), "reason": why},
                   session=session)


def urgent_notice(ctx: Ctx, case: Case, *, details: str, session: Session) -> CaseState:
    require_may_act(ctx, case, "urgent_notice", session=session)
    _require_allowed(ctx, case, Action.URGENT_NOTICE, session=session)
    repo.append_event(case, "urgent_notice", session=session, at=ctx.now, actor=ctx.actor, via=ctx.via,
                      data={"details": clean_text(details)})
    return refresh(case, session=session, now=ctx.now)


def close_case(ctx: Ctx, case: Case, *, reason: str, session: Session) -> CaseState:
    require_may_act(ctx, case, "close", session=session)
    _require_allowed(ctx, case, Action.CLOSE, session=session)
    why = _reason(reason, ctx.T("Please record why the case is being closed."))
    return _append(ctx, case, "closed", {"reason": why}, session=session)


def send_written_outcome(ctx: Ctx, case: Case, *, further: str = "", session: Session) -> tuple[CaseState, str]:
    """Send the recorded outcome in writing to the raising practitioner and record the written-outcome step as
    done (004: "advise the agency of the outcome in writing within a further 2 working days"). Returns the new
    state and the letter's text."""
    require_may_act(ctx, case, "send_written_outcome", session=session)
    st = state_of(case, ctx.now, session=session)
    item = next((i for i in st.items if i.step.written_outcome and i.anchor is not None), None)
    if item is None:
        raise ServiceError(ctx.T("There is no written outcome to send on {ref} at the moment.", ref=case.ref))
    outcome = next((e for e in reversed(repo.events_for(case.id, session=session))
                    if e.kind == "outcome" and e.data.get("resolved")), None)
    assert outcome is not None  # a written-outcome step only applies once the case is resolved
    T = translator()
    stage = item.stage
    lines = [
        T("Written outcome \u2014 {ref}", ref=case.ref),
        T("From: {sender}, {agency}", sender=ctx.actor.name, agency=agency_name(ctx.actor.agency_id, session=session)),
        T("To: {agency}", agency=agency_name(case.raising_agency_id, session=session)),
        T("Stage: {stage}", stage=f"{stage.number}: {stage.title}" if stage else "-"),
        T("Agreed outcome: {text}", text=outcome.data.get("text", "")),
    ]
    extra = clean_text(further)
    if extra:
        lines.append(T("How any outstanding issues will be pursued: {text}", text=extra))
    letter = "\n".join(lines)
    repo.append_event(case, "written_outcome_sent", session=session, at=ctx.now, actor=ctx.actor, via=ctx.via,
                      data={"step": item.step.id, "to_person": case.raising_person_id, "text": letter})
    st = _append(ctx, case, "step_done", {"step": item.step.id, "on": ctx.now.isoformat(),
                                          "note": "written outcome sent"}, session=session)
    return st, letter


def agency_name(agency_id: int | None, *, session: Session) -> str:
    ag: Agency | None = repo.get_agency(agency_id, session=session) if agency_id else None
    return ag.name if ag else "?"


# -- the person's own settings ------------------------------------------------------------------
LANGUAGE_WORDS = {"en": "en", "english": "en", "saesneg": "en", "cy": "cy", "welsh": "cy", "cymraeg": "cy"}


def set_language(ctx: Ctx, language: str, *, session: Session) -> Person:
    """The language Parley writes to this person in (``cy`` or ``en``; "Cymraeg", "Welsh", "English" and
    "Saesneg" too), recorded in the audit trail. Their direct messages, cards and dates follow it; channel
    posts follow the board's ``channel_languages``."""
    wanted = LANGUAGE_WORDS.get(clean_short(language).lower())
    if wanted is None or wanted not in available_languages():
        raise ServiceError(ctx.T("Parley speaks Welsh (cy) and English (en): type 'language cy' or 'language en'."))
    before = ctx.actor.language
    ctx.actor.language = wanted
    repo.audit("language_set", session=session, at=ctx.now, actor=ctx.actor, via=ctx.via,
               data={"from": before, "to": wanted})
    return ctx.actor


# -- subject details in free text, for a reader who may not see them -------------------------------------------
WITHHELD = "[subject details withheld]"


def _date_forms(day: dt.date) -> list[str]:
    months = ("January February March April May June July August September October November December").split()
    m = months[day.month - 1]
    return [day.isoformat(), f"{day.day}/{day.month}/{day.year}", f"{day.day:02d}/{day.month:02d}/{day.year}",
            f"{day.day}.{day.month}.{day.year}", f"{day.day:02d}.{day.month:02d}.{day.year}",
            f"{day.day}-{day.month}-{day.year}", f"{day.day:02d}-{day.month:02d}-{day.year}",
            f"{day.day} {m} {day.year}", f"{day.day} {m[:3]} {day.year}", f"{m} {day.day}, {day.year}",
            f"{day.day:02d}/{day.month:02d}/{day.year % 100:02d}", f"{day.day}/{day.month}/{day.year % 100:02d}"]


def subject_withholder(T: Translator, case: Case, viewer_id: int | None, *, session: Session
                       ) -> Callable[[str], str]:
    """For a reader entitled to the subject details (permissions: view subject details), text as it is; for anyone
    else (or no reader named), text with the subject's name, each part of it, date of birth (in the common
    written forms), address, agency case number and the other personal data a form recorded replaced by
    "[subject details withheld]". Free text such as a meeting record can name the child."""
    viewer = repo.get_person(viewer_id, session=session) if viewer_id is not None else None
    if viewer is not None and permissions.allowed(viewer, permissions.Act.VIEW_SUBJECT, case, session=session):
        return lambda text: text
    sub = subjects.get_subject(case.id, session=session)
    terms: set[str] = set()
    if sub is not None:
        for value in (sub.name, sub.address, sub.case_number, *(str(v) for v in (sub.extra or {}).values())):
            value = (value or "").strip()
            if len(value) >= 3:
                terms.add(value)
        for part in re.split(r"[\s,]+", sub.name or ""):
            if len(part) >= 3:
                terms.add(part)
        if sub.date_of_birth is not None:
            terms.update(_date_forms(sub.date_of_birth))
    if not terms:
        return lambda text: text
    words = sorted(terms, key=len, reverse=True)  # the whole name before its parts
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in words) + r")(?!\w)", re.IGNORECASE)
    mark = T("[subject details withheld]")
    return lambda text: pattern.sub(mark, text) if text else text
