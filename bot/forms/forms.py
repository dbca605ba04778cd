"""Forms: the conversation's questions shown all at once (a Slack modal, a Teams Adaptive Card).

A form's fields are named after the conversation steps they stand for, and a submission is checked by
running those same steps' answers in order, so the console's one-question-at-a-time flow and a form
validate identically. A submission returns either per-field errors (nothing is recorded) or the same
Reply the conversation would have produced.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot.admin import people, training
from bot.cases import protocols, services
from bot.cases.errors import ServiceError
from bot.cases.services import Ctx
from bot.conversation.engine import EXACT, Invalid, Step, Stop, Turn, parse_yes_no
from bot.conversation.flows.common import flag_questions, person_choices
from bot.conversation.registry import FLOWS
from bot.core import views
from bot.core.clock import Clock
from bot.core.i18n import Translator
from bot.core.messages import Choice, FieldKind, Form, FormField, Message, PromptKind, Reply, Severity
from protocol.spec import Protocol
from storage import repo
from storage.db import keep_after_rollback, writing

RISK_FORM = "form.risk"
INTAKE_FORM = "form.intake"
OUTCOME_FORM = "form.outcome"
TEXT_LIMIT = 3000
LONG_FIELDS = ("what", "done", "sought", "text")  # the forms' long answers, each at most TEXT_LIMIT characters


@dataclass
class FormResult:
    errors: dict[str, str] = field(default_factory=dict)
    reply: Reply | None = None
    next_form: Form | None = None  # e.g. the intake form after the risk question


def _yes_no(T: Translator) -> tuple[Choice, ...]:
    return (Choice("yes", T("Yes")), Choice("no", T("No")))


def risk_form(T: Translator) -> Form:
    return Form(RISK_FORM, T("Raise a concern"), T("Next"), (
        FormField("risk", T("Before anything else: is a child or adult at immediate risk of significant harm?"),
                  FieldKind.CHOICE, _yes_no(T)),))


def intake_form(T: Translator, proto: Protocol, agencies: list[tuple[int, str]], *, risk_intro: Message | None = None,
                prefill_what: str | None = None) -> Form:
    fields: list[FormField] = []
    for i, pc in enumerate(proto.preconditions):
        fields.append(FormField(f"pre{i}", T.local(pc, "question"), FieldKind.CHOICE, _yes_no(T),
                                optional=bool(pc.only_if)))
        if pc.on_yes.ask_date or pc.on_no.ask_date:
            asks = pc.on_yes if pc.on_yes.ask_date else pc.on_no
            fields.append(FormField(f"pre{i}_date", T.local(asks, "ask_date"), FieldKind.DATE, optional=True))
    if len(proto.scope) > 1:
        fields.append(FormField("kind", T("Is this about a child or an adult at risk?"), FieldKind.CHOICE,
                                (Choice("child", T("A child")), Choice("adult", T("An adult at risk")))))
    fields += [
        FormField("category", T("Which best describes the disagreement?"), FieldKind.CHOICE,
                  tuple(Choice(c.id, T.local(c)) for c in proto.categories)),
        FormField("agency", T("Which agency is the other professional in?"), FieldKind.CHOICE,
                  tuple(Choice(str(i), name) for i, name in agencies)),
        FormField("person", T("Who is the professional you disagree with?"), FieldKind.PERSON, optional=True,
                  hint=T("Pick them if they are here; otherwise type their name below.")),
        FormField("person_name", T("Their name and role, if you can't pick them"), FieldKind.TEXT, optional=True,
                  max_length=200),
        FormField("what", T("What is the disagreement about? (Please don't include the child's or adult's name.)"),
                  FieldKind.LONG_TEXT, max_length=TEXT_LIMIT, initial=prefill_what),
        FormField("done", T("What have you already done to resolve it?"), FieldKind.LONG_TEXT, max_length=TEXT_LIMIT),
        FormField("sought", T("What outcome are you looking for?"), FieldKind.LONG_TEXT, max_length=TEXT_LIMIT),
        FormField("arose", T("When did the disagreement arise (or the decision reach you)?"), FieldKind.DATE,
                  optional=any(pc.on_yes.ask_date for pc in proto.preconditions)),
    ]
    if any(st.protective_cap for _, st in proto.all_steps()):
        fields.append(FormField("protective", T("A sooner date by which it must be resolved to keep them safe"),
                                FieldKind.DATE, optional=True))
    fields += [
        FormField("subject_name", T("The child's or adult's name (case record only; never posted in a channel)"),
                  FieldKind.TEXT, optional=True, max_length=200),
        FormField("subject_dob", T("Their date of birth"), FieldKind.DATE, optional=True),
    ]
    board_line = T("Board: {board} (its protocol sets the stages and deadlines).", board=T.local(proto, "name"))
    return Form(INTAKE_FORM, T("Raise a concern"), T("Submit"), tuple(fields),
                intro=f"{risk_intro.text}\n\n{board_line}" if risk_intro else board_line,
                intro_severity=risk_intro.severity if risk_intro else None)


def outcome_form(T: Translator, ref: str, flag_questions: list[tuple[str, str]], preset: str | None = None) -> Form:
    fields = [
        FormField("resolved", T("What is the outcome at this stage?"), FieldKind.CHOICE,
                  (Choice("resolved", T("Resolved")), Choice("unresolved", T("Not resolved"))), initial=preset),
        FormField("text", T("The agreed outcome and any continuing concerns, or why it is not resolved"),
                  FieldKind.LONG_TEXT, max_length=TEXT_LIMIT),
    ]
    fields += [FormField(f"flag:{name}", T("If resolved: does this apply? {title}", title=title), FieldKind.CHOICE,
                         _yes_no(T), optional=True) for name, title in flag_questions]
    return Form(OUTCOME_FORM, T("Record the outcome"), T("Record"), tuple(fields), context=ref)


# -- submission -------------------------------------------------------------------------------
OPTIONAL_DEFAULTS = {"protective": "no", "subject_name": "skip", "subject_dob": "skip"}


class Forms:
    """Builds forms for a person and checks their submissions, in one unit of work each."""

    def __init__(self, factory: sessionmaker[Session], clock: Clock, platform: str):
        self.factory = factory
        self.clock = clock
        self.platform = platform

    def _ctx(self, s: Session, person_id: int) -> Ctx:
        person = repo.get_person(person_id, session=s)
        if person is None:
            raise ServiceError("unknown person")
        return services.board_ctx(person, self.platform, self.clock.now(), session=s)

    def risk(self, person_id: int) -> Form:
        with self.factory() as s:
            return risk_form(self._ctx(s, person_id).T)

    def intake(self, person_id: int, *, risk_intro: Message | None = None, prefill_what: str | None = None) -> Form:
        with self.factory() as s:
            return self._intake(s, self._ctx(s, person_id), risk_intro=risk_intro, prefill_what=prefill_what)

    @staticmethod
    def _intake(s: Session, ctx: Ctx, *, risk_intro: Message | None = None, prefill_what: str | None = None) -> Form:
        proto = protocols.board_protocol(ctx.actor.board_id, session=s)
        agencies = [(a.id, a.name) for a in repo.agencies(ctx.actor.board_id, session=s)
                    if a.id != ctx.actor.agency_id]
        return intake_form(ctx.T, proto, agencies, risk_intro=risk_intro, prefill_what=prefill_what)

    def outcome(self, person_id: int, value: str, *, named: bool = False) -> Form:
        """The outcome form for a case; ``value`` is its reference, followed by ``resolved`` from an escalation
        prompt's "Already resolved" button (the answer is then chosen already). ``named``: the case named in the
        title (reference, agencies and stage: T9), read in the same unit of work."""
        ref, *rest = value.split() or [""]
        with self.factory() as s:
            ctx = self._ctx(s, person_id)
            case = services.find_case(ref, ctx, session=s)
            services.require_may_act(ctx, case, "record_outcome", session=s)
            turn = Turn(ctx.T, ctx, s, {"ref": case.ref}, [])
            form = outcome_form(ctx.T, case.ref, flag_questions(turn, None, True),
                                preset="resolved" if rest[:1] == ["resolved"] else None)
            if not named:
                return form
            headline = views.case_headline(ctx.T, case, protocols.protocol_for(case, session=s), session=s)
            return replace(form, title=ctx.T("Record the outcome: {case}", case=headline))

    def submit_risk(self, person_id: int, values: dict[str, str]) -> FormResult:
        """The first question. 'Yes' records the report at once and shows the route above the intake form."""
        with self.factory() as s:
            writing(s)
            ctx = self._ctx(s, person_id)
            if not ctx.actor.active:  # a leaver (bot/admin/people.py)
                refused = people.refuse_inactive(ctx.actor, self.platform, ctx.now, session=s)
                s.commit()
                return FormResult(errors={"risk": refused.text})
            turn = Turn(ctx.T, ctx, s, {}, [])
            try:
                FLOWS["intake"].steps[0].answer(turn, values.get("risk", ""))
            except Invalid as exc:
                return FormResult(errors={"risk": str(exc)})
            s.commit()
            intro = next((n for n in turn.notes if n.severity is Severity.URGENT), None)
            form = self._intake(s, ctx, risk_intro=intro)  # the same unit of work: the person and board read once
        return FormResult(next_form=Form(form.id, form.title, form.submit_label, form.fields,
                                         context=_encode_risk(turn.data), intro=form.intro,
                                         intro_severity=form.intro_severity))

    def submit(self, person_id: int, form_id: str, values: dict[str, str], context: str = "") -> FormResult:
        flow = {INTAKE_FORM: "intake", OUTCOME_FORM: "record_outcome"}.get(form_id)
        if flow is None:
            return FormResult(errors={"": "unknown form"})
        with self.factory() as s:
            writing(s)  # one writer at a time on SQLite: fifty intakes at once get fifty references
            ctx = self._ctx(s, person_id)
            if not ctx.actor.active:  # a leaver (bot/admin/people.py)
                refused = people.refuse_inactive(ctx.actor, self.platform, ctx.now, session=s)
                s.commit()
                return FormResult(errors={"": refused.text})
            data: dict[str, Any] = _decode_risk(context) if flow == "intake" else {"ref": context}
            turn = Turn(ctx.T, ctx, s, data, [])
            # a text longer than the form allows (a forged or scripted submission) is refused at its own field,
            # with the form's own limit, before anything else
            errors: dict[str, str] = {
                f: ctx.T("That is {n} characters long; please keep it under {limit}.", n=len(values[f]),
                         limit=TEXT_LIMIT)
                for f in LONG_FIELDS if len(values.get(f) or "") > TEXT_LIMIT}
            if errors:
                return FormResult(errors=errors)
            try:
                if flow == "intake":
                    self._check_intake(turn, values, errors)
                else:
                    self._check_outcome(turn, values, errors)
                if errors:
                    return FormResult(errors=errors)
                reply = training.marked(FLOWS[flow].finish(turn), ctx)
                s.commit()
                return FormResult(reply=reply)
            except Stop as stop:
                first = stop.messages[0].text if stop.messages else ctx.T("This process can't start yet.")
                return FormResult(errors={"pre0": first})
            except ServiceError as exc:
                s.rollback()
                if keep_after_rollback(exc, s):  # the refusal's audit entry
                    s.commit()
                return FormResult(errors={"": exc.message})

    @staticmethod
    def _run(turn: Turn, step: Step, raw: str, errors: dict[str, str]) -> None:
        try:
            step.answer(turn, raw)
        except Invalid as exc:
            errors[step.name] = str(exc)

    def _check_intake(self, turn: Turn, values: dict[str, str], errors: dict[str, str]) -> None:
        T = turn.T
        for step in FLOWS["intake"].steps:
            if step.name in ("risk", "confirm"):
                continue
            if errors and step.name in ("person", "person_name") and "agency" in errors:
                continue
            asked = step.ask(turn)
            if asked is None:
                continue
            raw = (values.get(step.name) or "").strip()
            if step.name == "person":
                if not raw:
                    raw = "other"
                elif raw not in {c.value for c in person_choices(turn)}:
                    agency = repo.get_agency(turn.data["agency"], session=turn.session)
                    errors["person"] = T("That person is not listed in {agency}. Choose the agency they work for, "
                                         "or leave this empty and type their name.", agency=agency.name if agency
                                         else "?")
                    continue
            if not raw:
                if step.name in OPTIONAL_DEFAULTS:
                    raw = OPTIONAL_DEFAULTS[step.name]
                else:
                    errors[step.name] = (T("Pick the person, or type their name here.") if step.name == "person_name"
                                         else T("Please fill this in."))
                    continue
            if asked.prompt is not None and asked.prompt.kind is PromptKind.CHOICE and raw != "other":
                raw = EXACT + raw  # a submitted value, not a position in the list
            self._run(turn, step, raw, errors)

    def _check_outcome(self, turn: Turn, values: dict[str, str], errors: dict[str, str]) -> None:
        steps = {s.name: s for s in FLOWS["record_outcome"].steps}
        for name in ("resolved", "text"):
            raw = (values.get(name) or "").strip()
            if not raw:
                errors[name] = turn.T("Please fill this in.")
                continue
            self._run(turn, steps[name], EXACT + raw if name == "resolved" else raw, errors)
        if errors or turn.data.get("resolved") != "resolved":
            return
        flags = {}
        for name, _title in flag_questions(turn, None, True):
            raw = (values.get(f"flag:{name}") or "").strip()
            if not raw:
                errors[f"flag:{name}"] = turn.T("Please answer yes or no.")
                continue
            try:
                flags[name] = parse_yes_no(raw, turn.T)
            except Invalid as exc:
                errors[f"flag:{name}"] = str(exc)
        turn.data["flags"] = flags


def _encode_risk(data: dict[str, Any]) -> str:
    return "risk=yes;at=" + data["risk_shown_at"] if data.get("risk") else "risk=no"


def _decode_risk(context: str) -> dict[str, Any]:
    parts = dict(p.split("=", 1) for p in context.split(";") if "=" in p)
    if parts.get("risk") == "yes":
        return {"risk": True, "risk_shown_at": parts.get("at")}
    return {"risk": False}
