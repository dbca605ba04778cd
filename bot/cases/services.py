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

from bot.cases import cover, permissions, plans, projection, replays, timers
from bot.cases.errors import PermissionDenied, ServiceError
from bot.cases.protocols import protocol_for
from bot.core.clock import board_now
from bot.core.i18n import Translator, available_languages, translator
from protocol.engine import state_at
from protocol.state import Action, CaseState, Event, Status, TransitionError
from storage import cases_repo, chain, repo, subjects
from storage.models import Agency, Case, Person

MAX_TEXT = 4000
MAX_SHORT = 200
MANAGER_ROLES = {"line_manager", "senior_manager", "director", "safeguarding_lead"}
BOARD_ROLES = {"business_unit", "chair"}


@dataclass(frozen=True)
class Ctx:
    actor: Person
    via: str  # console | slack | teams | cli | system
    now: dt.datetime  # the board's time (bot.core.clock.board_now): a training board's clock may be ahead
    training: bool = False  # the actor's board is a training board (what they are shown is marked so)

    @property
    def T(self) -> Translator:
        return translator(self.actor.language)


def board_ctx(person: Person, via: str, now: dt.datetime, *, session: Session) -> Ctx:
    """``person`` acting when the process's clock says ``now``: on their board's time."""
    board = repo.get_board(person.board_id, session=session)
    return Ctx(person, via, board_now(person.board_id, now, session=session), bool(board and board.training))


# -- state ------------------------------------------------------------------------------------
def engine_events(case: Case, *, session: Session) -> list[Event]:
    """The case's whole history, as the engine reads it."""
    return [Event(r.kind, r.at, r.data) for r in repo.event_rows(case.id, session=session)]


def state_of(case: Case, now: dt.datetime, *, session: Session) -> CaseState:
    """The case's state at ``now``: the engine's replay of its history, brought up to date from the replay stored with
    its timer plan (bot.cases.replays) rather than replayed from the start."""
    return state_at(replays.fold(case, session=session).replay, now)


HELD = "parley.listed"  # in Session.info: what lists of cases loaded at once, held while the session lasts


def states_of(cases: list[Case], now: dt.datetime, *, session: Session) -> list[CaseState]:
    """``state_of`` for each of a list of cases. Their plans, and the agencies, people and protocol snapshots they name,
    are read in a few queries however many cases there are, and held by the session, so showing the list asks the
    database nothing case by case."""
    plans.preload(cases, session=session)
    session.info.setdefault(HELD, []).extend(cases_repo.named_by(cases, session=session))
    return [state_of(case, now, session=session) for case in cases]


# -- permissions ------------------------------------------------------------------------------
def is_party(person: Person, case: Case) -> bool:
    return person.id in (case.raising_person_id, case.responding_person_id)


def may_act(person: Person, case: Case, *, session: Session, now: dt.datetime | None = None) -> bool:
    """Entitled to the case, subject details included (see bot/cases/permissions.py's matrix; with ``now``, as
    someone covering for a person on the case too: bot/cases/cover.py)."""
    if now is not None:
        return bool(cover.roles(person, case, now, session=session) & permissions.MATRIX[permissions.Act.VIEW_SUBJECT])
    return permissions.allowed(person, permissions.Act.VIEW_SUBJECT, case, session=session)


def require_may_act(ctx: Ctx, case: Case, action: str, *, session: Session) -> None:
    """Refuse, with a clear message to this person only, anything the permission matrix does not allow them
    on this case; the refusal is audited and nothing about the case changes."""
    act = permissions.ACTION_NAMES[action]
    roles = cover.roles(ctx.actor, case, ctx.now, session=session)  # who covers for someone acts as their manager
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


def check_date(ctx: Ctx, case_or_none: Case | None, day: dt.date, what: str, *, session: Session,
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
    """Refresh the case's projection (its columns and stage results, bot.cases.projection), its timers and their plan
    (bot.cases.plans) from the event history (same transaction)."""
    proto = protocol_for(case, session=session)
    folded = replays.fold(case, session=session, proto=proto)
    st = state_at(folded.replay, now)
    projection.write(case, projection.compute(proto, st, folded.judged), session=session)
    case.version = (case.version or 0) + 1
    session.flush()
    timers.reconcile(case, st, proto, now, session=session)
    plans.record(case, folded, session=session)
    for hook in AFTER_REFRESH:
        hook(case, st, proto, now, session=session)
    return st


def _append(ctx: Ctx, case: Case, kind: str, data: dict[str, Any], *, session: Session) -> CaseState:
    """Append one engine event after checking the engine accepts it; refresh the projection."""
    trial = replays.fold(case, session=session).replay.copy()
    try:
        trial.apply(Event(kind, ctx.now, data))
        state_at(trial, ctx.now)
    except (TransitionError, KeyError, ValueError) as exc:
        raise ServiceError(ctx.T("That can't be recorded now: {why}", why=str(exc).strip("'"))) from exc
    replays.append(case, kind, session=session, at=ctx.now, actor=ctx.actor, via=ctx.via, data=data)
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
    if person is not None and not person.active:
        raise ServiceError(ctx.T("{name} is no longer active in Parley: name someone else.", name=person.name))
    case.responding_agency_id = agency.id
    case.responding_person_id = person.id if person else None
    case.responding_person_name = None if person else clean_short(name)
    replays.append(case, "counterpart_named", session=session, at=ctx.now, actor=ctx.actor, via=ctx.via, data={
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
    check_date(ctx, case, on, ctx.T("contact date"), session=session)
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
    check_date(ctx, case, day, ctx.T("date"), session=session)
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
        check_date(ctx, case, on, ctx.T("outcome date"), session=session)
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
    replays.append(case, "urgent_notice", session=session, at=ctx.now, actor=ctx.actor, via=ctx.via,
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
    outcome = next((e for e in reversed(repo.event_rows(case.id, session=session))
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
    replays.append(case, "written_outcome_sent", session=session, at=ctx.now, actor=ctx.actor, via=ctx.via,
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
