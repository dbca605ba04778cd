"""The intake flow: the risk question first, then the disagreement, the agencies, the subject details
and the dates; finishing it opens the case.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from bot.cases import opening, services
from bot.conversation.engine import (MIN_ANSWER, MIN_DESCRIPTION, SKIP, Flow, Invalid, Step, Stop, Turn, ask_choice,
                                     ask_date, ask_text, clean_answer, clip, coming_date_hint, parse_date, parse_yes_no,
                                     past_date_hint, pick, required_text, yes_no_prompt)
from bot.conversation.flows.common import case_news
from bot.conversation.flows.counterpart import counterpart_steps
from bot.core import views
from bot.core.i18n import Translator
from bot.core.messages import Choice, Message, Prompt, PromptKind, Reply, Severity
from bot.notify import notify
from protocol.spec import Protocol
from storage import repo


# ---- intake ---------------------------------------------------------------------------------
def risk_message(T: Translator, proto: Protocol) -> Message:
    ir = proto.immediate_risk
    lines = [T.local(ir, "text")]
    for c in ir.contacts:
        bits = [T.local(c, "label")]
        if c.phone:
            bits.append(c.phone)
        if c.email:
            bits.append(c.email)
        line = " \u2014 ".join(bits)
        if c.note:
            line += f" ({T.local(c, 'note')})"
        lines.append("  \u2022 " + line)
    if ir.inform_safeguarding_lead:
        lines.append(T("Tell your designated safeguarding lead immediately."))
    if ir.rule == "same_working_day":
        lines.append(T("The protocol requires this on the same working day."))
    return Message("\n".join(lines), title=T("Immediate risk: act now, before anything else"),
                   severity=Severity.URGENT)


def _intake_steps() -> list[Step]:
    steps: list[Step] = []

    def s_risk_ask(t: Turn) -> Message:
        return Message(t.T("Before anything else: is a child or adult at immediate risk of significant harm?"),
                       prompt=yes_no_prompt(t.T, "risk"))

    def s_risk_answer(t: Turn, v: str) -> None:
        risk = parse_yes_no(v, t.T)
        t.data["risk"] = risk
        if risk:
            t.data["risk_shown_at"] = t.ctx.now.isoformat()
            # recorded now, even if the intake is never finished
            repo.audit("immediate_risk_reported", session=t.session, at=t.ctx.now, actor=t.ctx.actor,
                       via=t.ctx.via, data={"rule": t.proto().immediate_risk.rule, "route_shown": True})
            t.notes.append(risk_message(t.T, t.proto()))
            t.notes.append(Message(t.T("I've noted that you were shown this route. When you have acted on it, "
                                       "we can record the professional disagreement.")))

    steps.append(Step("risk", s_risk_ask, s_risk_answer))

    def make_pre(index: int) -> list[Step]:
        def pc(t: Turn) -> Any:
            return t.proto().preconditions[index]

        def applies(t: Turn) -> bool:
            p = t.proto()
            if index >= len(p.preconditions):
                return False
            return all(t.data.get("pre", {}).get(dep) == want for dep, want in pc(t).only_if)

        def ask(t: Turn) -> Message | None:
            if not applies(t):
                return None
            return Message(t.T.local(pc(t), "question"), prompt=yes_no_prompt(t.T, f"pre:{pc(t).id}"))

        def answer(t: Turn, v: str) -> None:
            yes = parse_yes_no(v, t.T)
            p = pc(t)
            t.data.setdefault("pre", {})[p.id] = yes
            ans = p.on_yes if yes else p.on_no
            advice = t.T.local(ans, "advice")
            if ans.block:
                raise Stop([Message(advice or t.T("This process can't start yet."), severity=Severity.WARNING)])
            if advice:
                t.notes.append(Message(advice, severity=Severity.WARNING))
            t.data.setdefault("pre_date_q", {})[p.id] = bool(ans.ask_date)

        def ask_d(t: Turn) -> Message | None:
            if not applies(t):
                return None
            p = pc(t)
            asked = t.data.get("pre_date_q", {}).get(p.id)
            if not asked:
                return None
            # the answer's date question, in the reader's language (an older conversation stored its text)
            ans = p.on_yes if t.data.get("pre", {}).get(p.id) else p.on_no
            q = t.T.local(ans, "ask_date") if ans.ask_date else asked
            return ask_date(q, f"pre_date:{p.id}", hint=past_date_hint(t.T))

        def answer_d(t: Turn, v: str) -> None:
            day = parse_date(v, t.today(), t.T)
            if day > t.today():
                raise Invalid(t.T("That date is in the future."))
            t.data["arose_on"] = day.isoformat()
            t.data["arose_from_pre"] = True

        return [Step(f"pre{index}", ask, answer), Step(f"pre{index}_date", ask_d, answer_d)]

    for i in range(4):  # protocols have at most a few preconditions; unused slots are skipped
        steps.extend(make_pre(i))

    def s_kind_ask(t: Turn) -> Message | None:
        scope = t.proto().scope
        if len(scope) == 1:
            t.data["kind"] = "child" if scope[0] == "children" else "adult"
            return None
        return ask_choice(t.T("Is this about a child or an adult at risk?"), "kind",
                          [Choice("child", t.T("A child")), Choice("adult", t.T("An adult at risk"))])

    def s_kind_answer(t: Turn, v: str) -> None:
        t.data["kind"] = pick(v, [Choice("child", t.T("A child")), Choice("adult", t.T("An adult at risk"))], t.T)

    steps.append(Step("kind", s_kind_ask, s_kind_answer))

    def cats(t: Turn) -> list[Choice]:
        return [Choice(c.id, t.T.local(c)) for c in t.proto().categories]

    steps.append(Step(
        "category",
        lambda t: ask_choice(t.T("Which best describes the disagreement?"), "category", cats(t)),
        lambda t, v: t.data.__setitem__("category", pick(v, cats(t), t.T)),
    ))

    def text_step(name: str, question: Callable[[Translator], str], at_least: int,
                  too_short: Callable[[Translator, int], str]) -> Step:
        def answer(t: Turn, v: str) -> None:
            t.data[name] = required_text(t, v, at_least=at_least, too_short=too_short(t.T, at_least))

        return Step(name, lambda t: ask_text(question(t.T), name, long=True), answer)

    # the case is read by the other agency and by managers who were not there: a word or two ("ok") says nothing
    steps.append(text_step("what", lambda T: T("What is the disagreement about? Describe what happened "
                                               "(please don't include the child's or adult's name here)."),
                           MIN_DESCRIPTION, lambda T, n: T("Please describe the disagreement in a sentence or two "
                                                           "(at least {n} characters), so that the other agency "
                                                           "and any manager can follow it.", n=n)))
    steps.append(text_step("done", lambda T: T("What have you already done to resolve it?"), MIN_ANSWER,
                           lambda T, n: T("Please say a little more (at least {n} characters).", n=n)))
    steps.append(text_step("sought", lambda T: T("What outcome are you looking for?"), MIN_ANSWER,
                           lambda T, n: T("Please say a little more (at least {n} characters).", n=n)))

    def s_arose_ask(t: Turn) -> Message | None:
        if t.data.get("arose_from_pre"):
            return None
        return ask_date(t.T("When did the disagreement arise, or when did you receive the decision you disagree "
                            "with?"), "arose_on", hint=past_date_hint(t.T))

    def s_arose_answer(t: Turn, v: str) -> None:
        day = parse_date(v, t.today(), t.T)
        if day > t.today():
            raise Invalid(t.T("That date is in the future."))
        if day < t.today() - dt.timedelta(days=366):
            raise Invalid(t.T("That is more than a year ago; please check the date."))
        t.data["arose_on"] = day.isoformat()

    steps.append(Step("arose", s_arose_ask, s_arose_answer))

    steps.extend(counterpart_steps())

    def s_protect_ask(t: Turn) -> Message | None:
        if not any(st.protective_cap for _, st in t.proto().all_steps()):
            return None
        return ask_date(t.T("Does the child or adult need this sorted sooner than the protocol's timescales? "
                            "If so, give the date by which it must be resolved to keep them safe; otherwise "
                            "say 'no'."), "protective_date", optional=True, hint=coming_date_hint(t.T, t.today()))

    def s_protect_answer(t: Turn, v: str) -> None:
        if v.strip().lower() in SKIP:
            t.data["protective_date"] = None
            return
        day = parse_date(v, t.today(), t.T)
        if day < t.today():
            raise Invalid(t.T("The protective date can't be in the past."))
        t.data["protective_date"] = day.isoformat()

    steps.append(Step("protective", s_protect_ask, s_protect_answer))

    def s_subject_ask(t: Turn) -> Message:
        return ask_text(t.T("The child's or adult's name, for the case record only (it is never posted in a "
                            "channel). Type 'skip' to leave it out."), "subject_name", optional=True)

    def s_subject_answer(t: Turn, v: str) -> None:
        t.data["subject_name"] = "" if v.strip().lower() in SKIP else clean_answer(t, v, short=True)

    steps.append(Step("subject_name", s_subject_ask, s_subject_answer))

    def s_dob_ask(t: Turn) -> Message | None:
        if not t.data.get("subject_name"):
            return None
        return ask_date(t.T("Their date of birth (or 'skip')."), "subject_dob", optional=True,
                        hint=t.T("(a date, e.g. 8/4/2015)"))

    def s_dob_answer(t: Turn, v: str) -> None:
        if v.strip().lower() in SKIP:
            t.data["subject_dob"] = None
            return
        day = parse_date(v, t.today(), t.T)
        if day > t.today() or day.year < 1900:
            raise Invalid(t.T("That date of birth doesn't look right."))
        t.data["subject_dob"] = day.isoformat()

    steps.append(Step("subject_dob", s_dob_ask, s_dob_answer))

    def s_confirm_ask(t: Turn) -> Message:
        T, p = t.T, t.proto()
        ag = repo.get_agency(t.data["agency"], session=t.session)
        if t.data.get("person") == "other":
            who = t.data.get("person_name", "?")
        else:
            person = repo.get_person(int(t.data["person"]), session=t.session)
            who = person.name if person else "?"
        lines = [
            T("Please check before I record this:"),
            T("Category: {c}", c=T.local(p.category(t.data["category"]))),
            T("About: {k}", k=T("a child") if t.data["kind"] == "child" else T("an adult at risk")),
            T("With: {who} ({agency})", who=who, agency=ag.name if ag else "?"),
            T("Arose on: {d}", d=T.date(dt.date.fromisoformat(t.data["arose_on"]))),
            T("What happened: {x}", x=clip(t.data["what"])),
            T("Done so far: {x}", x=clip(t.data["done"])),
            T("Outcome sought: {x}", x=clip(t.data["sought"])),
        ]
        if t.data.get("protective_date"):
            lines.append(T("Protective date: {d}", d=T.date(dt.date.fromisoformat(t.data["protective_date"]))))
        return Message("\n".join(lines), prompt=Prompt("confirm", PromptKind.CHOICE, (
            Choice("submit", T("Submit")), Choice("back", T("Back")), Choice("cancel", T("Cancel")))))

    def s_confirm_answer(t: Turn, v: str) -> None:
        choice = pick(v, [Choice("submit", t.T("Submit")), Choice("back", t.T("Back")),
                          Choice("cancel", t.T("Cancel"))], t.T)
        t.data["confirm"] = choice

    steps.append(Step("confirm", s_confirm_ask, s_confirm_answer))
    return steps


def _finish_intake(t: Turn) -> Reply:
    d = t.data
    new = opening.NewCase(
        board_id=t.ctx.actor.board_id,
        subject_kind=d["kind"],
        category=d["category"],
        what_happened=d["what"],
        done_so_far=d["done"],
        outcome_sought=d["sought"],
        arose_on=dt.date.fromisoformat(d["arose_on"]),
        responding_agency_id=int(d["agency"]),
        responding_person_id=None if d["person"] == "other" else int(d["person"]),
        responding_person_name=d.get("person_name"),
        protective_date=dt.date.fromisoformat(d["protective_date"]) if d.get("protective_date") else None,
        immediate_risk=bool(d.get("risk")),
        immediate_risk_shown_at=dt.datetime.fromisoformat(d["risk_shown_at"]) if d.get("risk_shown_at") else None,
        preconditions=d.get("pre") or None,
        subject_name=d.get("subject_name", ""),
        subject_dob=dt.date.fromisoformat(d["subject_dob"]) if d.get("subject_dob") else None,
    )
    case = opening.open_case(t.ctx, new, session=t.session)
    st = services.state_of(case, t.ctx.now, session=t.session)
    reply = Reply()
    reply.say(views.case_view(t.T, case, st, session=t.session,
                              intro=t.T("Recorded as {ref}.", ref=case.ref)))
    agency = services.agency_name(case.responding_agency_id, session=t.session)

    def headline(T: Translator, roles: frozenset[notify.To]) -> str:
        if notify.To.COUNTERPART in roles:
            return T("{name} has raised a professional disagreement with you.", name=t.ctx.actor.name)
        return T("{name} has raised a professional disagreement with {agency}.", name=t.ctx.actor.name,
                 agency=agency)

    return reply.told(case_news(t, case, notify.Event.CASE_OPENED, headline, st=st,
                                extra=lambda T: [T("Concern: {x}", x=clip(case.what_happened, 500))]))


FLOW = Flow("intake", _intake_steps(), _finish_intake)
