"""The form_part flow: the protocols' forms, part by part (CV Appendix 1 A/B/C and 3, Swindon Appendix 1,
MWW Stage 2), and sending a form's next part to whoever completes it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from bot.cases import protocols, services
from bot.conversation.engine import (SAME, SKIP, SKIP_WORDS, Flow, Invalid, Step, Turn, ask_date, ask_text, clip,
                                     join_hints, parse_date, parse_yes_no, past_date_hint, pick, required_text,
                                     yes_no_prompt)
from bot.conversation.flows.common import case_news
from bot.conversation.flows.record import confirm_choices
from bot.core import views
from bot.core.i18n import N_, Translator
from bot.core.messages import Button, Message, Outbound, Prompt, PromptKind, Reply
from bot.notify import notify
from bot.records import documents, render
from bot.core.routes import Route
from protocol.state import Status
from protocol.spec import FormField
from storage.models import Case


def forms_started_by(t: Turn, case: Case, step_id: str) -> Reply:
    """A step that starts a form part's clock (CV: the Business Unit sends the form to the responding agency)
    sends the form to the people who complete that part."""
    reply = Reply()
    proto = protocols.protocol_for(case, session=t.session)
    for form in documents.forms_for(case, session=t.session, now=t.ctx.now):
        for part in form.parts:
            if not part.due_step:
                continue
            anchor = proto.step(part.due_step).anchor
            if anchor.kind.value == "step" and anchor.step == step_id:
                people = documents.completers(case, part, session=t.session)
                reply.told(send_form(t, case, form.id, notify.Event.FORM_PART_DUE,
                                     notify.Audience(completers=tuple(people)),
                                     lambda T, _r: N_("{name} has sent you {form} on {ref}: the next part is for "
                                                      "you.")))
    return reply


# ---- the protocols' forms, part by part (CV Appendix 1 A/B/C and 3, Swindon Appendix 1, MWW Stage 2) -----
MAX_FORM_QUESTIONS = 30


def _form_questions(t: Turn) -> list[FormField]:
    """The part's questions, worked out from the case once when the flow starts and kept with its answers (so
    every step asks from the same list, without reading the case again)."""
    if "questions" not in t.data:
        case = t.case()
        form = documents.form_of(t.ctx, case, t.data["form"], session=t.session)
        asked = documents.questions(t.T, case, form, form.part(t.data["part"]), session=t.session, now=t.ctx.now)
        t.data["questions"] = [dataclasses.asdict(q) for q in asked]
    return [FormField(**q) for q in t.data["questions"]]


def _part_name(t: Turn) -> str:
    """The short name of the part being completed ("Part B"), in the reader's language, worked out once."""
    names = t.data.setdefault("part_name", {})
    if t.T.language not in names:
        form = documents.form_of(t.ctx, t.case(), t.data["form"], session=t.session)
        names[t.T.language] = t.T.local(form.part(t.data["part"])).split(":")[0].strip()
    return names[t.T.language]


YES_NO_IN_LABEL = re.compile(r"\((y/n|ie/na)\)", re.IGNORECASE)


def _form_question_text(t: Turn, q: FormField, i: int, total: int) -> str:
    """A form's field asked as a question in a chat: which part and how far through it, then the field's label
    ("Part B, question 2 of 6 \u2014 Contact number:"), and how to answer when that is not obvious."""
    label = t.T.local(q, "label").strip()
    if label and label[-1] not in "?:.)":
        label += ":"
    text = t.T("{part}, question {n} of {total} \u2014 {label}", part=_part_name(t), n=i + 1, total=total,
               label=label)
    if q.type == "yes_no" and not YES_NO_IN_LABEL.search(label):
        text += " " + t.T("(yes or no)")
    if q.optional:
        text += " " + t.T("(optional: 'skip' to leave it empty)")
    return text


def _form_steps() -> list[Step]:
    def make(i: int) -> Step:
        def ask(t: Turn) -> Message | None:
            qs = _form_questions(t)
            if i >= len(qs):
                return None
            q = qs[i]
            before = t.data.get("answers", {}).get(q.label)
            if before and q.type == "date":
                before = t.T.date(dt.date.fromisoformat(before))
            hint = t.T("Now: {value} (type 'same' to keep it)", value=clip(before, 200)) if before else None
            text = _form_question_text(t, q, i, len(qs))
            if q.type == "date":
                return ask_date(text, f"form:{i}", optional=q.optional, hint=join_hints(past_date_hint(t.T), hint))
            if q.type == "yes_no":
                return Message(text, prompt=yes_no_prompt(t.T, f"form:{i}"))
            return ask_text(text, f"form:{i}", long=q.type == "long_text", optional=q.optional, hint=hint)

        def answer(t: Turn, v: str) -> None:
            q = _form_questions(t)[i]
            answers = t.data.setdefault("answers", {})
            if v.strip().lower() in SAME and answers.get(q.label):
                return
            if q.optional and v.strip().lower() in SKIP:
                answers[q.label] = ""
                return
            if v.strip().lower() in SKIP_WORDS:
                raise Invalid(t.T("This question has to be answered: it can't be skipped."))
            if q.type == "date":
                day = parse_date(v, t.today(), t.T)
                if day > t.today():
                    raise Invalid(t.T("That date is in the future."))
                answers[q.label] = day.isoformat()
            elif q.type == "yes_no":
                answers[q.label] = "yes" if parse_yes_no(v, t.T) else "no"
            else:
                answers[q.label] = required_text(t, v)

        return Step(f"q{i}", ask, answer)

    def confirm_ask(t: Turn) -> Message:
        lines = [t.T("Please check before I record this part:")]
        answers = t.data.get("answers", {})
        for q in _form_questions(t):
            lines.append(f"{t.T.local(q, 'label')}: {clip(answers.get(q.label) or '-')}")
        if len(lines) == 1:
            lines.append(t.T("Everything in this part is filled from the case."))
        return Message("\n".join(lines), prompt=Prompt("confirm", PromptKind.CHOICE, confirm_choices(t.T)))

    return [*[make(i) for i in range(MAX_FORM_QUESTIONS)],
            Step("confirm", confirm_ask,
                 lambda t, v: t.data.__setitem__("confirm", pick(v, list(confirm_choices(t.T)), t.T)))]


def form_message(T: Translator, case: Case, filled: documents.FilledForm, *, intro: str | None = None,
                 viewer: Any = None, session: Session) -> Message:
    """The form as a direct message: which parts are done or open, with the PDF and the HTML attached, and a
    button for each open part the viewer may complete."""
    lines = [intro] if intro else []
    for part in filled.parts:
        if part.done:
            lines.append(T("{part}: completed by {who} on {date}.", part=T.local(part.spec), who=part.completed_by,
                           date=T.date(part.completed_on)))
        else:
            line = T("{part}: open, to be completed by {who}.", part=T.local(part.spec), who=part.completer)
            if part.due:
                line += " " + T("Due: {due}.", due=part.due)
            lines.append(line)
    buttons = []
    if viewer is not None:
        part = documents.part_to_offer(viewer, case, filled, session=session)  # parts go in order
        if part is not None:
            short = T.local(part.spec).split(":")[0]
            buttons.append(Button(Route.FORM, T("Amend {part}", part=short) if part.done else
                                  T("Complete {part}", part=short), f"{case.ref} {filled.spec.id} {part.spec.id}",
                                  None if part.done else "primary"))
    return Message("\n".join(lines), title=T("{form} — {ref}", form=T.local(filled.spec), ref=case.ref),
                   case_ref=case.ref, private=True, buttons=tuple(buttons),
                   attachments=render.attachments(T, filled))


def send_form(t: Turn, case: Case, form_id: str, event: notify.Event, aud: notify.Audience,
              intro: Callable[[Translator, frozenset[notify.To]], str]) -> list[Outbound]:
    """The form by direct message to the people the notification table names for ``event`` (with the subject
    details when they are entitled to them); ``intro`` gives each one's opening line (a message id) by role."""
    form = documents.form_of(t.ctx, case, form_id, session=t.session)
    proto = protocols.protocol_for(case, session=t.session)

    def build(T: Translator, person: Any, roles: frozenset[notify.To]) -> Message:
        entitled = services.may_act(person, case, session=t.session)
        filled = documents.fill(T, case, form, session=t.session, now=t.ctx.now, with_subject_details=entitled)
        return form_message(T, case, filled, viewer=person, session=t.session,
                            intro=T(intro(T, roles), name=t.ctx.actor.name, form=T.local(form), ref=case.ref))

    return notify.tell(event, case, proto, build, session=t.session, now=t.ctx.now,
                       key=f"{notify.action_key(case)}:f{form_id}", aud=aud, actor_id=t.ctx.actor.id).queued


def _finish_form(t: Turn) -> Reply:
    case = t.case()
    before = (case.status, case.stage_id)
    answers = dict(t.data.get("answers", {}))
    filled = documents.complete_part(t.ctx, case, t.data["form"], t.data["part"], answers, session=t.session)
    form = filled.spec
    part = form.part(t.data["part"])
    reply = Reply().say(form_message(t.T, case, filled, viewer=t.ctx.actor, session=t.session,
                                     intro=t.T("Recorded: {part}.", part=t.T.local(part))))  # a completer is entitled
    idx = form.parts.index(part)
    proto = protocols.protocol_for(case, session=t.session)
    if idx + 1 < len(form.parts):
        nxt = form.parts[idx + 1]
        waits = nxt.due_step and proto.step(nxt.due_step).anchor.kind.value == "step"
        bu_part = next((p for p in form.parts if p.by == "business_unit"), None)  # the business unit co-ordinates
        coordinators = documents.completers(case, bu_part, session=t.session) if bu_part else []
        # the next part goes out now, unless it waits for the step that starts its clock (forms_started_by)
        nexts = [] if waits else documents.completers(case, nxt, session=t.session)

        def intro(_T: Translator, roles: frozenset[notify.To]) -> str:
            if notify.To.PART_COMPLETERS in roles:
                return N_("{name} has completed a part of {form} on {ref}; the next part is for you.")
            return N_("{name} has completed a part of {form} on {ref}.")

        reply.told(send_form(t, case, form.id, notify.Event.FORM_PART_COMPLETED,
                             notify.Audience(completers=tuple(nexts), coordinators=tuple(coordinators)), intro))
    else:
        reply.told(send_form(t, case, form.id, notify.Event.FORM_COMPLETE, notify.Audience(),
                             lambda _T, _r: N_("{form} on {ref} is complete.")))
    if form.send_to_role:
        reply.told(send_form(t, case, form.id, notify.Event.FORM_FOR_ROLE,
                             notify.Audience(form_role=form.send_to_role),
                             lambda _T, _r: N_("{name} has sent you {form} for {ref}.")))
    if (case.status, case.stage_id) != before:  # the part decided the case (Cardiff & Vale's Part C)
        resolved = case.status == Status.RESOLVED.value
        stage_before = before[1]

        def headline(T: Translator, _roles: frozenset[notify.To]) -> str:
            stage = views.stage_title(T, proto, stage_before)
            if resolved:
                return T("{name} recorded {ref} as resolved at {stage}.", name=t.ctx.actor.name, ref=case.ref,
                         stage=stage)
            return T("{name} recorded {ref} as not resolved at {stage}.", name=t.ctx.actor.name, ref=case.ref,
                     stage=stage)

        told = {o.to.person_id for o in reply.queued if o.to.person_id}
        reply.told(case_news(t, case, notify.Event.RESOLVED if resolved else notify.Event.NOT_RESOLVED, headline,
                             before=stage_before, skip=told))  # who has the form hears it there
    return reply


FLOW = Flow("form_part", _form_steps(), _finish_form)
