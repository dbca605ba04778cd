"""Escalation prompts in manager channels, and their acknowledgement.

Channel posts carry the case reference, the agencies and the stage only: never the child's or adult's
name, date of birth or address (this module never loads subject details).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace

from sqlalchemy.orm import Session

from bot.cases import cover, protocols, services
from bot.cases.errors import PermissionDenied, ServiceError
from bot.cases.services import Ctx
from bot.core import views
from bot.core.clock import sent_time
from bot.core.i18n import Translator, in_languages, translator
from bot.core.messages import Button, Message, Severity
from bot.delivery import outbox
from bot.delivery.addressing import COVERING_FOR
from bot.notify import notify
from bot.core.routes import Route
from protocol.state import CaseState, Item, Status
from protocol.spec import LEVEL_ORDER, Level, Protocol, Stage
from storage import escalation_repo, outbox_repo, repo
from storage.models import Case, EscalationPrompt, Person

ACK = Route.ACKNOWLEDGE


def prompt_message(T: Translator, case: Case, proto: Protocol, prompt: EscalationPrompt, deadline: dt.datetime,
                   *, session: Session, reminder: int = 0, protective: bool = False) -> Message:
    lapsed = proto.stage(prompt.stage_id)
    nxt = proto.next_stage(prompt.stage_id)
    tz = proto.calendar().tz
    if protective:
        lines = [T("The protective date passed on {when} with {ref} still unresolved: the child or adult needed it "
                   "resolved by then to be safe.", when=T.datetime(deadline.astimezone(tz)), ref=case.ref)]
    else:
        lines = [T("The {stage} deadline passed on {when} with no outcome recorded.",
                   stage=T("Stage {n}", n=lapsed.number), when=T.datetime(deadline.astimezone(tz)))]
    if nxt is not None:
        lines.append(T("Next under the protocol: {stage} \u2014 {who}.", stage=views.stage_title(T, proto, nxt.id),
                       who=T(views.LEVEL_LABELS[nxt.level])))
    else:
        lines.append(T("This was the protocol's last stage: the business unit needs to decide what happens next."))
    lines.append(T("Please acknowledge and take ownership, or record the outcome if it is already resolved."))
    if reminder:
        lines.insert(0, T("Reminder {n}: this escalation has not been acknowledged yet.", n=reminder))
    return Message("\n".join(lines), title=views.case_headline(T, case, proto, session=session),
                   severity=Severity.WARNING, case_ref=case.ref, buttons=(
                       Button(ACK, T("Acknowledge / take ownership"), str(prompt.id), "primary"),
                       Button(Route.RECORD_OUTCOME, T("Already resolved"), f"{case.ref} resolved"),
                       Button(Route.VIEW, T("View case"), case.ref)))


def acknowledged_message(T: Translator, case: Case, proto: Protocol, prompt: EscalationPrompt, *,
                         session: Session) -> Message:
    who = repo.get_person(prompt.acknowledged_by_id, session=session) if prompt.acknowledged_by_id else None
    at = prompt.acknowledged_at.astimezone(proto.calendar().tz) if prompt.acknowledged_at else None
    name = who.name if who else "?"
    if who is not None and prompt.agency_id is not None and who.agency_id != prompt.agency_id:
        agency = repo.get_agency(who.agency_id, session=session) if who.agency_id else None
        name = f"{who.name} ({agency.name})" if agency else who.name
    text = T("Acknowledged by {name} at {time} on {date}.", name=name,
             time=T.time(at) if at else "?", date=T.date(at.date(), with_year=False) if at else "?")
    if case.stage_id and case.stage_id != prompt.stage_id:
        text += " " + T("The case is now at {stage}.", stage=views.stage_title(T, proto, case.stage_id))
    return Message(text, title=views.case_headline(T, case, proto, session=session), severity=Severity.SUCCESS,
                   case_ref=case.ref, buttons=(Button(Route.VIEW, T("View case"), case.ref),))


def escalation_targets(case: Case, proto: Protocol, stage: Stage, *, session: Session
                       ) -> list[tuple[str, int | None, str, list[tuple[str, str]]]]:
    """(agency key, agency id, level, [(platform, channel)]) to prompt after ``stage`` lapsed: each agency's
    manager channel at the next stage's level (never below line managers: a prompt asks managers to take
    ownership). A stage run by the board, or agencies with no channel at that level, go to the board's
    business-unit channel, once; a stage the independent chair runs to the chair's channel as well."""
    nxt = proto.next_stage(stage.id)
    level = nxt.level if nxt else Level.BUSINESS_UNIT
    if LEVEL_ORDER.index(level.value) < LEVEL_ORDER.index(Level.LINE_MANAGER.value):
        level = Level.LINE_MANAGER
    bu = [(c.platform, c.address) for c in repo.board_channels(case.board_id, "business_unit", session=session)]
    if level is Level.INDEPENDENT_CHAIR:
        chair = [(c.platform, c.address) for c in repo.board_channels(case.board_id, "chair", session=session)]
        return [("board", None, level.value, list(dict.fromkeys(bu + chair)))]
    if level is Level.BUSINESS_UNIT:
        return [("board", None, level.value, bu)]
    out = []
    fallback = False
    for aid in (case.raising_agency_id, case.responding_agency_id):
        if aid is None:
            continue
        ag = repo.get_agency(aid, session=session)
        assert ag is not None
        chans = [(c.platform, c.address) for c in repo.agency_channels(aid, level.value, session=session)]
        if chans:
            out.append((ag.key, ag.id, level.value, chans))
        else:
            fallback = True
    if fallback:
        out.append(("board", None, level.value, bu))
    return out


def may_acknowledge(person: Person, prompt: EscalationPrompt) -> bool:
    if person.role in services.BOARD_ROLES:
        return True
    if person.role not in services.MANAGER_ROLES:
        return False
    return prompt.agency_id is None or person.agency_id == prompt.agency_id


def settled_message(T: Translator, case: Case, proto: Protocol, state: CaseState, *, session: Session) -> Message:
    """What every copy of a prompt says once it no longer needs anyone: the case was resolved or closed, or it
    moved past the stage the prompt was about."""
    if state.status is Status.RESOLVED:
        text = T("No action needed any more: {ref} was resolved at {stage}.", ref=case.ref,
                 stage=views.stage_title(T, proto, case.stage_id))
    elif state.status is Status.CLOSED:
        text = T("No action needed any more: {ref} has been closed.", ref=case.ref)
    else:
        text = T("No action needed on this prompt any more: {ref} is now at {stage}.", ref=case.ref,
                 stage=views.stage_title(T, proto, case.stage_id))
    return Message(text, title=views.case_headline(T, case, proto, session=session), severity=Severity.SUCCESS,
                   case_ref=case.ref, buttons=(Button(Route.VIEW, T("View case"), case.ref),))


def _update_copies(prompt: EscalationPrompt, case: Case, proto: Protocol, build: Callable[[Translator], Message],
                   suffix: str, *, session: Session, now: dt.datetime) -> None:
    """Update in place every copy of ``prompt``: its channel posts, re-posts and direct messages (a direct message
    in its reader's language, a channel post in the board's channel languages). ``now`` is the board's time."""
    rows = outbox_repo.prompt_copies(prompt.id, session=session)
    sent = sent_time(case.board_id, now, session=session)  # the outbox runs on the real time
    for row in rows:
        if row.target_kind == "person" and row.person_id:
            reader = repo.get_person(row.person_id, session=session)
            if reader is not None and not reader.active:
                continue  # a leaver's copy is left as it was: they are sent nothing more (bot/admin/people.py)
            T = translator(reader.language if reader else None)
            msg = build(T)
            absent = repo.get_person(row.payload[COVERING_FOR], session=session) \
                if row.payload.get(COVERING_FOR) else None
            if absent is not None:  # the copy a cover was sent says whom they cover for, updated too
                msg = cover.covering(T, msg, absent)
        else:
            msg = in_languages(proto.channel_languages, build)
        outbox.queue(session=session, key=f"{row.idempotency_key}:{suffix}", platform=row.platform,
                     target_kind=row.target_kind, address=row.address, case=case, prompt_id=prompt.id,
                     person_id=row.person_id, message=replace(msg, kind=notify.Event.PROMPT_UPDATED.value),
                     now=sent, update_of=row)


def settle_prompts(case: Case, state: CaseState, proto: Protocol, now: dt.datetime, *, session: Session) -> None:
    """Prompts follow the case: once it is resolved or closed, or has moved past the stage a prompt is about,
    every open prompt of the case is closed and each of its copies is updated in place to say so (its buttons
    then answer that nothing is needed). Runs in the transaction of every change to a case."""
    prompts = escalation_repo.open_prompts(case.id, session=session)
    for prompt in prompts:
        if state.status is Status.OPEN and case.stage_id == prompt.stage_id:
            continue
        prompt.state = "closed"
        _update_copies(prompt, case, proto, lambda T: settled_message(T, case, proto, state, session=session),
                       f"settled{case.version}", session=session, now=now)


services.AFTER_REFRESH.append(settle_prompts)


def prompt_to_acknowledge(person: Person, case: Case, *, session: Session) -> int | None:
    """The open escalation prompt on ``case`` that ``person`` would acknowledge by typing 'acknowledge REF' (the
    console has no scroll-back to an old prompt's button): one for their agency and level if there is one, else any
    open one (acknowledging then says whose it is)."""
    prompts = escalation_repo.open_prompts(case.id, session=session, by_id=True)
    mine = [p for p in prompts if may_acknowledge(person, p)]
    chosen = (mine or list(prompts))[:1]
    return chosen[0].id if chosen else None


def acknowledge(ctx: Ctx, prompt_id: int, *, session: Session) -> tuple[Message, CaseState | None]:
    T = ctx.T
    prompt = session.get(EscalationPrompt, prompt_id)
    if prompt is None:
        raise ServiceError(T("That escalation prompt no longer exists."))
    case = repo.get_case(prompt.case_id, session=session)
    assert case is not None
    if case.board_id != ctx.actor.board_id:
        raise PermissionDenied(T("Sorry, you can't acknowledge that: it belongs to another board."),
                               record=services.refusal_audit(ctx, {"action": "acknowledge", "prompt": prompt_id,
                                                                   "reason": "other board"}))
    services.require_may_act(ctx, case, "acknowledge", session=session)
    proto = protocols.protocol_for(case, session=session)
    # a cover may acknowledge what the person they cover for could
    if not any(may_acknowledge(p, prompt) for p in (ctx.actor, *cover.covered_by(ctx.actor, ctx.now, session=session))):
        record = services.refusal_event(ctx, case, {
            "action": "acknowledge", "prompt": prompt.id, "reason": "prompt_for_other_managers",
            "level": prompt.level, "agency": prompt.agency_key,
            "roles": sorted(r.value for r in cover.roles(ctx.actor, case, ctx.now, session=session))})
        agency = repo.get_agency(prompt.agency_id, session=session) if prompt.agency_id else None
        raise PermissionDenied(T("Sorry, this prompt is for the {level} of {agency}.",
                                 level=T(views.LEVEL_LABELS[Level(prompt.level)]),
                                 agency=agency.name if agency else T("the board")), record=record)
    # two managers pressing at once: exactly one wins this conditional update; the other is told who did
    won = escalation_repo.answer_if_open(prompt.id, "acknowledged", ctx.actor.id, ctx.now, session=session)
    session.refresh(prompt)
    if not won:
        if prompt.state == "closed":
            state = services.state_of(case, ctx.now, session=session)
            return settled_message(T, case, proto, state, session=session), None
        who = repo.get_person(prompt.acknowledged_by_id, session=session) if prompt.acknowledged_by_id else None
        at = prompt.acknowledged_at.astimezone(proto.calendar().tz) if prompt.acknowledged_at else None
        return Message(T("Already acknowledged by {name} at {time}.", name=who.name if who else "?",
                         time=T.time(at) if at else "?")), None
    before = case.stage_id
    # the other agencies' prompts for the same lapse are answered with it: one owner
    siblings = escalation_repo.open_siblings(prompt, session=session)
    for other in siblings:
        escalation_repo.answer_if_open(other.id, "superseded", ctx.actor.id, ctx.now, session=session)
        session.refresh(other)
    session.flush()
    agency = repo.get_agency(prompt.agency_id, session=session) if prompt.agency_id else None
    repo.append_event(case, "escalation_acknowledged", session=session, at=ctx.now, actor=ctx.actor, via=ctx.via,
                      data={"prompt": prompt.id, "agency": agency.name if agency else None,
                            "stage": prompt.stage_id})
    state = services.state_of(case, ctx.now, session=session)
    moved = False
    if (state.status is Status.OPEN and state.stage is not None and state.stage.id == prompt.stage_id
            and case.stage_token == prompt.token):
        # the case moves on as the protocol says: the lapsed stage ends unresolved
        lapsed = proto.stage(prompt.stage_id)
        state = services._append(ctx, case, "outcome", {
            "resolved": False, "lapsed": True,
            "text": translator()("Stage {n} deadline passed with no outcome recorded; {name} took ownership.",
                                 n=lapsed.number, name=ctx.actor.name)}, session=session)
        moved = True
    else:
        services.refresh(case, session=session, now=ctx.now)  # the acknowledgement is a change to the case too
    # update every copy of the prompts in place
    for p in (prompt, *siblings):
        _update_copies(p, case, proto, lambda T, p=p: acknowledged_message(T, case, proto, p, session=session),
                       "ack", session=session, now=ctx.now)
    # everyone on the case hears who took ownership (the actor gets the reply below)

    def news(T: Translator, _person: object, _roles: frozenset[notify.To]) -> Message:
        text = T("{name} has acknowledged the escalation of {ref} and taken ownership.", name=ctx.actor.name,
                 ref=case.ref)
        if moved:
            text += " " + T("The case has moved to {stage}.", stage=views.stage_title(T, proto, case.stage_id))
        return views.case_view(T, case, state, session=session, intro=text, now=ctx.now)

    stages = tuple(proto.stage(sid) for sid in dict.fromkeys([before, case.stage_id]) if sid)
    notify.tell(notify.Event.ACKNOWLEDGED, case, proto, news, session=session, now=ctx.now,
                key=notify.action_key(case), aud=notify.Audience(stages=stages), actor_id=ctx.actor.id)
    intro = T("Acknowledged. You have taken ownership of {ref}.", ref=case.ref)
    if moved:
        intro += " " + T("The case has moved to {stage}.", stage=views.stage_title(T, proto, case.stage_id))
    return views.case_view(T, case, state, session=session, intro=intro, now=ctx.now), state


def nudge_message(T: Translator, case: Case, proto: Protocol, item: Item, *, session: Session, late: bool,
                  overdue: bool = False, for_manager: bool = False) -> Message:
    """A reminder of a step to one of the people who owe it (``for_manager``: a manager reminded of a step they
    take with their practitioner, such as an internal discussion: the message says so)."""
    if overdue:
        head = T("Overdue on {ref}:", ref=case.ref)
    else:
        head = T("Reminder for {ref}:", ref=case.ref)
    text = f"{head} {views.deadline_line(T, item, proto, overdue=False)}"
    if item.step.to:
        text += "\n" + T("Who it is for: {recipient}", recipient=proto.recipient(item.step.to, T.language))
    if for_manager:
        text += "\n" + T("You are reminded as a manager on this case: the practitioner takes this step with you.")
    if late:
        text += "\n" + T("(This reminder is late: Parley could not send it at the planned time.)")
    return Message(text, title=views.case_headline(T, case, proto, session=session),
                   severity=Severity.WARNING if overdue else Severity.INFO, case_ref=case.ref,
                   buttons=(Button(Route.RECORD_CONTACT, T("Record a contact or meeting"), case.ref),
                            Button(Route.COMPLETE_STEP, T("Mark a step done"), case.ref),
                            Button(Route.VIEW, T("View case"), case.ref)))
