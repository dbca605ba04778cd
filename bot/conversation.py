"""Channel-neutral conversation flows: one question at a time, 'back' and 'cancel' everywhere.

A conversation's state (flow, step, answers so far) is stored in the database after every turn, so a
person can leave mid-intake and carry on later, from any process. Adapters turn platform input into
``Conversation.handle(person_id, text=..., action=..., value=...)`` and render the ``Reply``.

Button and choice values are the routing keys: ``case.<action>`` buttons carry the case reference.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot.cases import services
from bot.core import views
from bot.escalation import escalation
from bot.notify import notify
from bot.records import documents, records
from bot.core.clock import Clock
from bot.core.i18n import N_, Translator, translator
from bot.core.messages import Button, Choice, Message, Outbound, Prompt, PromptKind, Reply, Severity
from bot.cases.services import Ctx, ServiceError
from protocol.engine import Action, Status
from protocol.spec import FormField, Protocol, StepKind
from storage import repo
from storage.db import keep_after_rollback, writing
from storage.models import Case


class Invalid(Exception):
    """The answer can't be used; the message says why. The question is asked again."""


class TooLong(Invalid):
    """A text answer over its limit: the first ``limit`` characters are kept for the person to use ('same') or to
    replace with a shorter answer, so nothing they typed is silently lost."""

    def __init__(self, message: str, kept: str):
        super().__init__(message)
        self.kept = kept


class Stop(Exception):
    """End the flow now with these messages (e.g. a blocking precondition)."""

    def __init__(self, messages: list[Message]):
        self.messages = messages


# -- parsing ----------------------------------------------------------------------------------
# English and Welsh month names (their first three letters; "gor" is Gorffennaf, "aws" Awst ...)
MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)}
MONTHS |= {m: i for i, m in enumerate(
    ["ion", "chw", "maw", "ebr", "mai", "meh", "gor", "aws", "med", "hyd", "tac", "rha"], start=1)}
YES = {"y", "yes", "yep", "yeah", "ie", "oes", "ydy", "ydw", "do"}
NO = {"n", "no", "nope", "na", "nac oes", "naddo", "nac ydy", "nac ydw", "nage"}
SKIP = {"skip", "none", "no", "-", "n/a", "na", "hepgor", "dim"}
SAME = {"same", "keep", "yr un fath", "yr un peth", "cadw"}  # keep a record's or form's earlier answer
SKIP_WORDS = {"skip", "hepgor"}  # asking to skip: refused where an answer is required
MIN_DESCRIPTION = 10  # characters: the intake's description of the disagreement
MIN_ANSWER = 5  # characters: what has been done, the outcome sought
TODAY, YESTERDAY = {"today", "heddiw"}, {"yesterday", "ddoe"}


def parse_date(text: str, today: dt.date, T: Translator) -> dt.date:
    t = text.strip().lower()
    if t in TODAY:
        return today
    if t in YESTERDAY:
        return today - dt.timedelta(days=1)
    try:
        if re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}", t):
            y, m, d = (int(x) for x in t.split("-"))
            return dt.date(y, m, d)
        m1 = re.fullmatch(r"(\d{1,2})[/.](\d{1,2})(?:[/.](\d{2,4}))?", t)
        if m1:
            y = int(m1[3]) if m1[3] else today.year
            y = y + 2000 if y < 100 else y
            return dt.date(y, int(m1[2]), int(m1[1]))
        m2 = re.fullmatch(r"(?:[a-z]+,? )?(\d{1,2})(?:st|nd|rd|th)? ([a-z]+)(?: (\d{4}))?", t)
        if m2 and m2[2][:3] in MONTHS:
            return dt.date(int(m2[3]) if m2[3] else today.year, MONTHS[m2[2][:3]], int(m2[1]))
    except ValueError:
        pass
    raise Invalid(T("I couldn't read {text!r} as a date. Try 'today', 'yesterday', 2026-04-08 or 8/4/2026.",
                    text=text.strip()[:40]))


def parse_yes_no(text: str, T: Translator) -> bool:
    t = text.strip().lower().removeprefix(EXACT)
    if t in YES:
        return True
    if t in NO:
        return False
    raise Invalid(T("Please answer yes or no."))


EXACT = "="  # a form's submitted choice: the value itself, never a position in the list
KEPT = "_kept"  # a flow's data: the first part of a too-long answer, {"step": name, "text": ...}


def pick(text: str, choices: list[Choice], T: Translator) -> str:
    """A choice from what someone typed: its number in the list, its value or its label. A value from a form
    (a Slack select, a Teams choice set) comes prefixed with EXACT and matches a value only, so an id such as
    "2" is never mistaken for "the second option"."""
    t = text.strip()
    if t.startswith(EXACT):
        wanted = t[len(EXACT):]
        for c in choices:
            if c.value == wanted:
                return c.value
        raise Invalid(T("Please choose one of the options (by its number or name)."))
    if t.isdigit() and 1 <= int(t) <= len(choices):
        return choices[int(t) - 1].value
    for c in choices:
        if t.lower() in (c.value.lower(), c.label.lower()):
            return c.value
    wanted = _words(t)
    if wanted:
        one_word = "".join(wanted) if len(wanted) == 1 else ""
        for matches in (
            # a person's name without their role ("Bob Evans" for "Bob Evans, Social Worker")
            [c for c in choices if c.label.split(",")[0].strip().lower() == t.lower()],
            # every word typed begins a word of the label ("bob", "police", "wiltshire pol")
            [c for c in choices if all(any(w.startswith(q) for w in _words(c.label)) for q in wanted)],
            # initials ("CSC" for "Swindon Children's Social Care")
            [c for c in choices if len(one_word) >= 3 and one_word.isalpha()
             and one_word in "".join(w[0] for w in _words(c.label))],
        ):
            if len(matches) == 1:
                return matches[0].value
            if matches:
                listed = "\n".join(f"  [{choices.index(c) + 1}] {c.label}" for c in matches)
                raise Invalid(T("More than one option matches {text!r}:", text=t[:40]) + "\n" + listed + "\n"
                              + T("Which one? Type its number or more of its name."))
    raise Invalid(T("Please choose one of the options (by its number or name)."))


def _words(text: str) -> list[str]:
    """The words of a label or an answer, lower case, without the punctuation around them."""
    return [w for w in (p.strip(".'\u2019:;!?\"") for p in re.split(r"[\s,/()\-\u2013\u2014&]+", text.lower())) if w]


# -- steps and flows --------------------------------------------------------------------------
@dataclass
class Turn:
    """What a step sees: the translator, the actor, now, a session, and the flow's answers."""

    T: Translator
    ctx: Ctx
    session: Session
    data: dict[str, Any]
    notes: list[Message]

    def proto(self) -> Protocol:
        return services.board_protocol(self.ctx.actor.board_id, session=self.session)

    def case(self) -> Case:
        return services.find_case(self.data["ref"], self.ctx, session=self.session)

    def today(self) -> dt.date:
        return self.proto().calendar().local_date(self.ctx.now)


@dataclass
class Step:
    name: str
    ask: Callable[[Turn], Message | None]  # None: this step does not apply, skip it
    answer: Callable[[Turn, str], None]


def yes_no_prompt(T: Translator, field: str) -> Prompt:
    return Prompt(field, PromptKind.CHOICE, (Choice("yes", T("Yes")), Choice("no", T("No"))))


def ask_choice(text: str, field: str, choices: list[Choice], optional: bool = False) -> Message:
    return Message(text, prompt=Prompt(field, PromptKind.CHOICE, tuple(choices), optional))


def ask_text(text: str, field: str, *, long: bool = False, optional: bool = False, hint: str | None = None
             ) -> Message:
    return Message(text, prompt=Prompt(field, PromptKind.LONG_TEXT if long else PromptKind.TEXT,
                                       optional=optional, hint=hint))


def ask_date(text: str, field: str, *, optional: bool = False, hint: str | None = None) -> Message:
    return Message(text, prompt=Prompt(field, PromptKind.DATE, optional=optional, hint=hint))


def _hints(*hints: str | None) -> str | None:
    return " ".join(h for h in hints if h) or None


def _numeric(day: dt.date) -> str:
    return f"{day.day}/{day.month}/{day.year}"


def past_date_hint(T: Translator) -> str:
    """How to answer a question about a day that has been (a contact, a meeting, when something arose)."""
    return T("(a date: today, yesterday, 2026-04-08 or 8/4/2026)")


def coming_date_hint(T: Translator, today: dt.date) -> str:
    """How to answer a question about a day still to come (a protective date): 'yesterday' would be refused."""
    return T("(today or a later date, e.g. {example})", example=_numeric(today + dt.timedelta(days=14)))


def clean_answer(t: Turn, v: str, *, short: bool = False) -> str:
    """A typed answer without control characters. Over the limit the answer is not dropped: TooLong keeps its
    first part for the person to use or replace, and says how long it was and what the limit is."""
    limit = services.MAX_SHORT if short else services.MAX_TEXT
    value = services.clean_text(v, limit=len(v or "") + 1)
    if short:
        value = value.replace("\n", " ")
    if len(value) > limit:
        kept = value[:limit]
        raise TooLong(t.T("That is {n} characters long; the limit here is {limit}. I've kept the first {limit} "
                          "characters (they end \u201c\u2026{end}\u201d): type 'same' to use them as they are, or "
                          "send a shorter answer.", n=len(value), limit=limit,
                          end=kept[-30:].replace("\n", " ").strip()), kept)
    return value


def required_text(t: Turn, v: str, *, short: bool = False, at_least: int = 1, too_short: str | None = None) -> str:
    """The answer to a question that must be answered: never 'skip', never empty, at least ``at_least``
    characters (``too_short`` says why when it is shorter)."""
    if v.strip().lower() in SKIP_WORDS:
        raise Invalid(t.T("This question has to be answered: it can't be skipped."))
    value = clean_answer(t, v, short=short)
    if not value:
        raise Invalid(t.T("Please write a few words."))
    if len(value) < at_least:
        raise Invalid(too_short or t.T("Please write a few words."))
    return value


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


def _raising_agency_id(t: Turn) -> int | None:
    return t.case().raising_agency_id if "ref" in t.data else t.ctx.actor.agency_id


def _agency_choices(t: Turn) -> list[Choice]:
    """Agencies in the directory other than the raising one (single-agency disputes are excluded)."""
    raising = _raising_agency_id(t)
    return [Choice(str(a.id), a.name) for a in repo.agencies(t.ctx.actor.board_id, session=t.session)
            if a.id != raising]


def _person_choices(t: Turn) -> list[Choice]:
    ppl = repo.people(t.ctx.actor.board_id, session=t.session, agency_id=t.data["agency"])
    return [Choice(str(p.id), f"{p.name}, {p.title}" if p.title else p.name) for p in ppl] + [
        Choice("other", t.T("Someone not listed"))]


def _counterpart_steps() -> list[Step]:
    """Agency from the directory, then the person (or a name typed in when they are not listed)."""

    def pname_ask(t: Turn) -> Message | None:
        if t.data.get("person") != "other":
            return None
        return ask_text(t.T("What is their name (and role)?"), "person_name")

    def pname_answer(t: Turn, v: str) -> None:
        if v.strip().lower() in SKIP_WORDS:
            raise Invalid(t.T("Please type their name."))
        name = clean_answer(t, v, short=True)
        if not name:
            raise Invalid(t.T("Please type their name."))
        t.data["person_name"] = name

    return [
        Step("agency", lambda t: ask_choice(t.T("Which agency is the other professional in?"), "agency",
                                            _agency_choices(t)),
             lambda t, v: t.data.__setitem__("agency", int(pick(v, _agency_choices(t), t.T)))),
        Step("person", lambda t: ask_choice(t.T("Who is the professional you disagree with?"), "person",
                                            _person_choices(t)),
             lambda t, v: t.data.__setitem__("person", pick(v, _person_choices(t), t.T))),
        Step("person_name", pname_ask, pname_answer),
    ]


def _finish_counterpart(t: Turn) -> Reply:
    case = t.case()
    person_id = None if t.data["person"] == "other" else int(t.data["person"])
    services.name_counterpart(t.ctx, case, int(t.data["agency"]), person_id, t.data.get("person_name"),
                              session=t.session)
    st = services.state_of(case, t.ctx.now, session=t.session)
    reply = Reply().say(views.case_view(t.T, case, st, session=t.session, intro=t.T("Counterpart updated.")))
    named = repo.get_person(case.responding_person_id, session=t.session) if case.responding_person_id else None
    who = named.name if named else (case.responding_person_name or "?")

    def headline(T: Translator, roles: frozenset[notify.To]) -> str:
        if notify.To.COUNTERPART in roles:
            return T("{name} has named you as the counterpart on {ref}.", name=t.ctx.actor.name, ref=case.ref)
        return T("{name} has named {who} as the counterpart on {ref}.", name=t.ctx.actor.name, who=who,
                 ref=case.ref)

    return reply.told(case_news(t, case, notify.Event.COUNTERPART_NAMED, headline, st=st))


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

    steps.extend(_counterpart_steps())

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
            T("What happened: {x}", x=_clip(t.data["what"])),
            T("Done so far: {x}", x=_clip(t.data["done"])),
            T("Outcome sought: {x}", x=_clip(t.data["sought"])),
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


def _clip(text: str, n: int = 300) -> str:
    return text if len(text) <= n else text[: n - 1] + "\u2026"


def _finish_intake(t: Turn) -> Reply:
    d = t.data
    new = services.NewCase(
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
    case = services.open_case(t.ctx, new, session=t.session)
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
                                extra=lambda T: [T("Concern: {x}", x=_clip(case.what_happened, 500))]))


def case_news(t: Turn, case: Case, event: notify.Event, headline: Callable[[Translator, frozenset[notify.To]], str],
              *, st: Any = None, before: str | None = None, extra: Callable[[Translator], list[str]] | None = None,
              skip: Collection[int] = ()) -> list[Outbound]:
    """Tell everyone the notification table names for ``event`` (bot/notify/notify.py) about a change to the case: in
    each one's own language, the headline for their role, then the case as it is now. ``before`` is the stage
    the case was at when it moved, so that stage's people hear too."""
    proto = services.protocol_for(case, session=t.session)
    st = st if st is not None else services.state_of(case, t.ctx.now, session=t.session)
    stage_ids = [sid for sid in dict.fromkeys([before, case.stage_id]) if sid]

    def build(T: Translator, _person: Any, roles: frozenset[notify.To]) -> Message:
        msg = views.case_view(T, case, st, session=t.session, intro=headline(T, roles))
        lines = extra(T) if extra else []
        return dataclasses.replace(msg, text="\n".join([msg.text, *lines])) if lines else msg

    told = notify.tell(event, case, proto, build, session=t.session, now=t.ctx.now, key=notify.action_key(case),
                       aud=notify.Audience(stages=tuple(proto.stage(sid) for sid in stage_ids)),
                       actor_id=t.ctx.actor.id, skip=skip)
    return told.queued


# ---- actions on a case ----------------------------------------------------------------------
def _case_state(t: Turn) -> tuple[Case, Any]:
    case = t.case()
    return case, services.state_of(case, t.ctx.now, session=t.session)


def _step_choices(t: Turn, include_none: bool) -> list[Choice]:
    _, st = _case_state(t)
    out = [Choice(sid, title) for sid, title in views.completable_labels(st, t.T)]
    if include_none:
        out.append(Choice("none", t.T("None of these (just a note)")))
    return out


def _flag_questions(t: Turn, step_id: str | None, resolution: bool) -> list[tuple[str, str]]:
    """Flags the protocol conditions later steps on: (flag name, the step they would switch on)."""
    p = services.protocol_for(t.case(), session=t.session)
    out = []
    for _, st in p.all_steps():
        if not (st.when or "").startswith("flag:"):
            continue
        anchored_here = (st.anchor.kind.value == "step" and st.anchor.step == step_id) if step_id else False
        on_resolution = resolution and st.anchor.kind.value == "resolution"
        if anchored_here or on_resolution:
            out.append((st.when[5:], t.T.local(st)))  # type: ignore[index]
    return out


def _contact_steps() -> list[Step]:
    def methods(T: Translator) -> list[Choice]:
        return [Choice(m, T(label)) for m, label in views.CONTACT_METHODS.items()]

    def on_answer(t: Turn, v: str) -> None:
        day = parse_date(v, t.today(), t.T)
        if day > t.today():
            raise Invalid(t.T("A contact can't be in the future."))
        t.data["on"] = day.isoformat()

    def who_answer(t: Turn, v: str) -> None:
        who = "" if v.strip().lower() in SKIP_WORDS else clean_answer(t, v, short=True)
        if not who:
            raise Invalid(t.T("Please say who it was with."))
        t.data["who"] = who

    return [
        Step("on", lambda t: ask_date(t.T("When was the contact or meeting?"), "on", hint=past_date_hint(t.T)),
             on_answer),
        Step("who", lambda t: ask_text(t.T("Who was it with (name and role)?"), "who"), who_answer),
        Step("how", lambda t: ask_choice(t.T("How was it made?"), "how", methods(t.T)),
             lambda t, v: t.data.__setitem__("how", pick(v, methods(t.T), t.T))),
        Step("outcome", lambda t: ask_text(t.T("What was the outcome?"), "outcome", long=True),
             lambda t, v: t.data.__setitem__("outcome", clean_answer(t, v))),
        Step("step", lambda t: ask_choice(t.T("Does this complete one of the steps below?"), "step",
                                          _step_choices(t, True)) if len(_step_choices(t, True)) > 1 else None,
             lambda t, v: t.data.__setitem__("step", pick(v, _step_choices(t, True), t.T))),
    ]


def _finish_contact(t: Turn) -> Reply:
    case = t.case()
    step = t.data.get("step")
    on = dt.date.fromisoformat(t.data["on"])
    st = services.record_contact(t.ctx, case, on=on, who=t.data["who"],
                                 how=t.data["how"], outcome=t.data.get("outcome", ""),
                                 step=None if step in (None, "none") else step, session=t.session)
    reply = Reply().say(views.case_view(t.T, case, st, session=t.session, intro=t.T("Contact recorded.")))
    return reply.told(case_news(t, case, notify.Event.CONTACT_RECORDED, lambda T, _r: T(
        "{name} recorded a contact or meeting on {ref} ({date}).", name=t.ctx.actor.name, ref=case.ref,
        date=T.date(on)), st=st))


def _flags_step(on_resolution: bool) -> Step:
    """Ask, one at a time, whether each condition the protocol hangs a later step on applies
    (e.g. a policy gap after resolution, or a case review after the Chair's decision)."""

    def ask(t: Turn) -> Message | None:
        if on_resolution and t.data.get("resolved") != "resolved":
            return None
        step_id = None if on_resolution else t.data.get("step")
        pending = [q for q in _flag_questions(t, step_id, on_resolution) if q[0] not in t.data.get("flags", {})]
        if not pending:
            return None
        name, title = pending[0]
        t.data["_flag"] = name
        return Message(t.T("Does this apply to this case? {title}", title=title),
                       prompt=yes_no_prompt(t.T, f"flag:{name}"))

    def answer(t: Turn, v: str) -> None:
        t.data.setdefault("flags", {})[t.data.pop("_flag")] = parse_yes_no(v, t.T)

    return Step("flags", ask, answer)


def _outcome_steps() -> list[Step]:
    def res_choices(T: Translator) -> list[Choice]:
        return [Choice("resolved", T("Resolved")), Choice("unresolved", T("Not resolved"))]

    return [
        Step("resolved", lambda t: None if t.data.get("preset") else ask_choice(
            t.T("What is the outcome at this stage?"), "resolved", res_choices(t.T)),
             lambda t, v: t.data.__setitem__("resolved", pick(v, res_choices(t.T), t.T))),
        Step("text", lambda t: ask_text(t.T("Describe the agreed outcome, and any continuing concerns.")
                                        if t.data["resolved"] == "resolved" else
                                        t.T("Why is it not resolved? (This moves the case to the next stage.)"),
                                        "text", long=True),
             lambda t, v: _required(t, "text", v)),
        _flags_step(on_resolution=True),
    ]


def _required(t: Turn, key: str, v: str) -> None:
    value = clean_answer(t, v)
    if not value:
        raise Invalid(t.T("Please write a few words."))
    t.data[key] = value


def _finish_outcome(t: Turn) -> Reply:
    case = t.case()
    before = case.stage_id
    resolved = t.data["resolved"] == "resolved"
    st = services.record_outcome(t.ctx, case, resolved=resolved, text=t.data["text"],
                                 flags=t.data.get("flags"), session=t.session)
    proto = services.protocol_for(case, session=t.session)
    if resolved:
        intro = t.T("Outcome recorded: resolved.")
    elif st.status is Status.OPEN and case.stage_id != before:
        intro = t.T("Recorded as not resolved. The case has moved to {stage}.",
                    stage=views.stage_title(t.T, proto, case.stage_id))
    else:
        intro = t.T("Recorded as not resolved.")
    reply = Reply().say(views.case_view(t.T, case, st, session=t.session, intro=intro))
    at_stage = proto.stage(before) if before else None
    moved = case.stage_id != before

    def headline(T: Translator, _roles: frozenset[notify.To]) -> str:
        stage = views.stage_title(T, proto, before) if at_stage else ""
        if resolved:
            return T("{name} recorded {ref} as resolved at {stage}.", name=t.ctx.actor.name, ref=case.ref, stage=stage)
        text = T("{name} recorded {ref} as not resolved at {stage}.", name=t.ctx.actor.name, ref=case.ref,
                 stage=stage)
        if moved and case.stage_id:
            text += " " + T("The case has moved to {stage}.", stage=views.stage_title(T, proto, case.stage_id))
        return text

    event = notify.Event.RESOLVED if resolved else notify.Event.NOT_RESOLVED
    said = t.data["text"]
    return reply.told(case_news(t, case, event, headline, st=st, before=before, extra=lambda T: [
        (T("Agreed outcome: {x}", x=_clip(said, 1000)) if resolved else T("Why: {x}", x=_clip(said, 1000)))]))


def _complete_steps() -> list[Step]:
    def which_ask(t: Turn) -> Message:
        return ask_choice(t.T("Which step is done?"), "step", _step_choices(t, False))

    def on_answer(t: Turn, v: str) -> None:
        day = parse_date(v, t.today(), t.T)
        if day > t.today():
            raise Invalid(t.T("That date is in the future."))
        t.data["on"] = day.isoformat()

    return [
        Step("step", which_ask, lambda t, v: t.data.__setitem__("step", pick(v, _step_choices(t, False), t.T))),
        Step("on", lambda t: ask_date(t.T("When was it done?"), "on", hint=past_date_hint(t.T)), on_answer),
        _flags_step(on_resolution=False),
    ]


def _finish_complete(t: Turn) -> Reply:
    case = t.case()
    st = services.complete_step(t.ctx, case, t.data["step"], on=dt.date.fromisoformat(t.data["on"]),
                                flags=t.data.get("flags"), session=t.session)
    reply = Reply().say(views.case_view(t.T, case, st, session=t.session, intro=t.T("Step recorded as done.")))
    proto = services.protocol_for(case, session=t.session)
    step = proto.step(t.data["step"])
    forms = forms_started_by(t, case, t.data["step"])  # whoever is sent a form by it hears of the step there
    reply.told(case_news(t, case, notify.Event.STEP_DONE, lambda T, _r: T(
        "{name} recorded a step as done on {ref}: {step}.", name=t.ctx.actor.name, ref=case.ref,
        step=T.local(step)), st=st, skip={o.to.person_id for o in forms.queued if o.to.person_id}))
    return reply.extend(forms)


def forms_started_by(t: Turn, case: Case, step_id: str) -> Reply:
    """A step that starts a form part's clock (CV: the Business Unit sends the form to the responding agency)
    sends the form to the people who complete that part."""
    reply = Reply()
    proto = services.protocol_for(case, session=t.session)
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


def _reason_step(question: Callable[[Translator], str]) -> Step:
    return Step("reason", lambda t: ask_text(question(t.T), "reason", long=True),
                lambda t, v: _required(t, "reason", v))


def _finish_escalate(t: Turn) -> Reply:
    case = t.case()
    before = case.stage_id
    st = services.escalate(t.ctx, case, reason=t.data["reason"], session=t.session)
    proto = services.protocol_for(case, session=t.session)
    reply = Reply().say(views.case_view(t.T, case, st, session=t.session, intro=t.T(
        "Escalated to {stage}.", stage=views.stage_title(t.T, proto, case.stage_id))))
    return reply.told(case_news(t, case, notify.Event.ESCALATED, lambda T, _r: T(
        "{name} escalated {ref} to {stage}.", name=t.ctx.actor.name, ref=case.ref,
        stage=views.stage_title(T, proto, case.stage_id)), st=st, before=before,
        extra=lambda T: [T("Why: {x}", x=_clip(t.data["reason"], 1000))]))


def _bypass_steps() -> list[Step]:
    def choices(t: Turn) -> list[Choice]:
        bp = services.protocol_for(t.case(), session=t.session).bypass
        return [Choice(r.id, t.T.local(r, "text")) for r in bp.reasons] if bp else []

    return [
        Step("why", lambda t: ask_choice(t.T("Why does this need to go straight to a higher stage?"), "why",
                                         choices(t)),
             lambda t, v: t.data.__setitem__("why", pick(v, choices(t), t.T))),
        Step("details", lambda t: ask_text(t.T("Any details to record?"), "details", long=True, optional=True),
             lambda t, v: t.data.__setitem__("details", "" if v.strip().lower() in SKIP else clean_answer(t, v))),
    ]


def _finish_bypass(t: Turn) -> Reply:
    case = t.case()
    before = case.stage_id
    st = services.bypass_to_stage(t.ctx, case, reason_id=t.data["why"], details=t.data.get("details", ""),
                                  session=t.session)
    proto = services.protocol_for(case, session=t.session)
    reply = Reply().say(views.case_view(t.T, case, st, session=t.session, intro=t.T(
        "Moved straight to {stage}.", stage=views.stage_title(t.T, proto, case.stage_id))))
    reason = next((r for r in proto.bypass.reasons if r.id == t.data["why"]), None) if proto.bypass else None
    details = t.data.get("details", "")

    def extra(T: Translator) -> list[str]:
        lines = [T("Why: {x}", x=T.local(reason, "text"))] if reason else []
        return lines + ([T("Details: {x}", x=_clip(details, 1000))] if details else [])

    return reply.told(case_news(t, case, notify.Event.BYPASSED, lambda T, _r: T(
        "{name} moved {ref} straight to {stage}.", name=t.ctx.actor.name, ref=case.ref,
        stage=views.stage_title(T, proto, case.stage_id)), st=st, before=before, extra=extra))


def _protective_steps() -> list[Step]:
    def answer(t: Turn, v: str) -> None:
        if v.strip().lower() in ("clear", "none", "no", "clirio", "dim"):
            t.data["date"] = None
            return
        day = parse_date(v, t.today(), t.T)
        if day < t.today():
            raise Invalid(t.T("The protective date can't be in the past."))
        t.data["date"] = day.isoformat()

    return [Step("date", lambda t: ask_date(t.T("By what date must this be resolved to keep the child or adult "
                                                "safe? ('clear' removes it)"), "date",
                                            hint=coming_date_hint(t.T, t.today())), answer)]


def _finish_protective(t: Turn) -> Reply:
    case = t.case()
    day = dt.date.fromisoformat(t.data["date"]) if t.data.get("date") else None
    st = services.set_protective_date(t.ctx, case, day, session=t.session)
    reply = Reply().say(views.case_view(t.T, case, st, session=t.session, intro=t.T("Protective date updated.")))

    def headline(T: Translator, _roles: frozenset[notify.To]) -> str:
        if day is None:
            return T("{name} removed the protective date on {ref}.", name=t.ctx.actor.name, ref=case.ref)
        return T("{name} set the protective date on {ref}: it must be resolved by {date} to keep the child or "
                 "adult safe.", name=t.ctx.actor.name, ref=case.ref, date=T.date(day))

    return reply.told(case_news(t, case, notify.Event.PROTECTIVE_DATE, headline, st=st))


def _extend_steps() -> list[Step]:
    def choices(t: Turn) -> list[Choice]:
        _, st = _case_state(t)
        return [Choice(i.step.id, t.T.local(i.step)) for i in st.items if i.step.extendable and i.due_at]

    def deadline(t: Turn) -> tuple[Any, dt.date | None]:
        """The case's calendar and the chosen step's current deadline (its local date)."""
        case, st = _case_state(t)
        cal = services.protocol_for(case, session=t.session).calendar()
        item = next((i for i in st.items if i.step.id == t.data.get("step") and i.due_at), None)
        return cal, cal.local_date(item.due_at) if item else None

    def until_ask(t: Turn) -> Message:
        cal, due = deadline(t)
        if due is None:
            return ask_date(t.T("Until when?"), "until", hint=coming_date_hint(t.T, t.today()))
        return ask_date(t.T("Until when? The deadline is now {date}.", date=t.T.date(due)), "until",
                        hint=t.T("(a working day after it, e.g. {example})",
                                 example=_numeric(cal.next_working_day(max(due, t.today())))))

    def until_answer(t: Turn, v: str) -> None:
        """Refused here, so that the question is asked again: a day that has passed, a day not after the current
        deadline, a day that is not a working day (with the next working day offered)."""
        day = parse_date(v, t.today(), t.T)
        cal, due = deadline(t)
        if day < t.today():
            raise Invalid(t.T("{date} has passed; the new deadline must be a later day.", date=t.T.date(day)))
        if due is not None and day <= due:
            raise Invalid(t.T("An extension must be later than the current deadline, {date}.", date=t.T.date(due)))
        if not cal.is_working_day(day):
            raise Invalid(t.T("{date} is not a working day; the next working day is {next}.", date=t.T.date(day),
                              next=t.T.date(cal.next_working_day(day))))
        t.data["until"] = day.isoformat()

    return [
        Step("step", lambda t: ask_choice(t.T("Which deadline needs more time?"), "step", choices(t)),
             lambda t, v: t.data.__setitem__("step", pick(v, choices(t), t.T))),
        Step("until", until_ask, until_answer),
        _reason_step(lambda T: T("Why is more time needed (for example, process issues)?")),
    ]


def _finish_extend(t: Turn) -> Reply:
    case = t.case()
    _, before = _case_state(t)
    old = next((i.due_at for i in before.items if i.step.id == t.data["step"]), None)
    st = services.extend_step(t.ctx, case, t.data["step"], until=dt.date.fromisoformat(t.data["until"]),
                              reason=t.data["reason"], session=t.session)
    reply = Reply().say(views.case_view(t.T, case, st, session=t.session, intro=t.T("Extension recorded.")))
    proto = services.protocol_for(case, session=t.session)
    step = proto.step(t.data["step"])
    new = next((i.due_at for i in st.items if i.step.id == step.id), None)
    tz = proto.calendar().tz

    def headline(T: Translator, _roles: frozenset[notify.To]) -> str:
        return T("{name} extended the deadline for \u201c{step}\u201d on {ref} from {old} to {new}.",
                 name=t.ctx.actor.name, step=T.local(step), ref=case.ref,
                 old=T.date(old.astimezone(tz).date()) if old else "-",
                 new=T.date(new.astimezone(tz).date()) if new else "-")

    return reply.told(case_news(t, case, notify.Event.EXTENDED, headline, st=st,
                                extra=lambda T: [T("Why: {x}", x=_clip(t.data["reason"], 1000))]))


def _finish_urgent(t: Turn) -> Reply:
    case = t.case()
    st = services.urgent_notice(t.ctx, case, details=t.data["reason"], session=t.session)
    proto = services.protocol_for(case, session=t.session)
    reply = Reply().say(views.case_view(t.T, case, st, session=t.session, intro=t.T("Urgent notice sent.")))
    notice = proto.urgent_notice
    assert notice is not None
    details = t.data["reason"]

    def dm(T: Translator, _person: Any, _roles: frozenset[notify.To]) -> Message:  # to the people: with its text
        return Message("\n".join([
            T("{name} has sent an urgent notice on {ref}: it needs immediate attention.", name=t.ctx.actor.name,
              ref=case.ref),
            T("What needs attention: {x}", x=_clip(details, 1500)),
            T("The protocol says: {title} ({recipient}).", title=T.local(notice),
              recipient=proto.recipient(notice.to, T.language))]),
            title=views.case_headline(T, case, proto, session=t.session), severity=Severity.URGENT,
            case_ref=case.ref, buttons=(Button("case.view", T("View case"), case.ref),))

    def post(T: Translator, _person: Any, _roles: frozenset[notify.To]) -> Message:
        # channel post: reference, agencies and stage only; the text goes to the people by direct message
        return Message(
            T("{title}: {ref} needs immediate attention ({recipient}). The details have been sent to the people "
              "on the case.", title=T.local(notice), ref=case.ref, recipient=proto.recipient(notice.to, T.language)),
            title=views.case_headline(T, case, proto, session=t.session), severity=Severity.URGENT,
            case_ref=case.ref, buttons=(Button("case.view", T("View case"), case.ref),))

    key = notify.action_key(case)
    aud = notify.Audience(stages=(proto.stage(case.stage_id),) if case.stage_id else ())
    for event, build in ((notify.Event.URGENT_NOTICE, dm), (notify.Event.URGENT_POST, post)):
        reply.told(notify.tell(event, case, proto, build, session=t.session, now=t.ctx.now, key=key, aud=aud,
                               actor_id=t.ctx.actor.id).queued)
    return reply


def _finish_close(t: Turn) -> Reply:
    case = t.case()
    st = services.close_case(t.ctx, case, reason=t.data["reason"], session=t.session)
    reply = Reply().say(views.case_view(t.T, case, st, session=t.session, intro=t.T("Case closed.")))
    return reply.told(case_news(t, case, notify.Event.CLOSED, lambda T, _r: T(
        "{name} closed {ref}.", name=t.ctx.actor.name, ref=case.ref), st=st,
        extra=lambda T: [T("Why: {x}", x=_clip(t.data["reason"], 1000))]))


def _finish_written_outcome(t: Turn) -> Reply:
    case = t.case()
    further = "" if t.data.get("reason", "").strip().lower() in SKIP else t.data.get("reason", "")
    st, letter = services.send_written_outcome(t.ctx, case, further=further, session=t.session)
    reply = Reply().say(views.case_view(t.T, case, st, session=t.session, intro=t.T("Written outcome sent.")))
    proto = services.protocol_for(case, session=t.session)
    return reply.told(notify.tell(
        notify.Event.WRITTEN_OUTCOME, case, proto,
        lambda T, _p, _r: Message(letter, title=T("Written outcome"), case_ref=case.ref, severity=Severity.SUCCESS),
        session=t.session, now=t.ctx.now, key=notify.action_key(case), actor_id=t.ctx.actor.id).queued)


# ---- meeting/discussion records signed by both parties (MWW-N5, WOL-9) -------------------------
def _record_steps() -> list[Step]:
    def kinds(t: Turn) -> list[Choice]:
        return [Choice(k, title) for k, title in records.record_kinds(t.T, t.case(), session=t.session,
                                                                       now=t.ctx.now)]

    def current(t: Turn) -> records.CaseRecord | None:
        if not t.data.get("record"):
            return None
        return records.get_record(t.ctx, t.case(), int(t.data["record"]), session=t.session)

    def kind_ask(t: Turn) -> Message | None:
        if t.data.get("record"):
            return None
        options = kinds(t)
        if len(options) == 1:
            t.data["kind"] = options[0].value
            return None
        return ask_choice(t.T("Which record is this?"), "kind", options)

    def why_ask(t: Turn) -> Message | None:
        rec = current(t)
        if rec is None or rec.standing is None:
            return None
        return ask_text(t.T("Record {n} has been signed by everyone. A correction is a new version and the signed "
                            "one is kept. Why does it need correcting?", n=rec.number), "correction_reason",
                        long=True)

    def field_step(key: str, question: str, required: bool) -> Step:
        def ask(t: Turn) -> Message:
            rec = current(t)
            before = rec.latest.fields.get(key) if rec else None
            if before and key == "date":
                before = t.T.date(dt.date.fromisoformat(before))
            hint = t.T("Now: {value} (type 'same' to keep it)", value=_clip(before, 200)) if before else None
            q = t.T(question)
            if key == "date":
                return ask_date(q, key, hint=_hints(past_date_hint(t.T), hint))
            return ask_text(q, key, long=key != "attendees", optional=not required, hint=hint)

        def answer(t: Turn, v: str) -> None:
            rec = current(t)
            if v.strip().lower() in SAME and rec and rec.latest.fields.get(key):
                t.data.setdefault("values", {})[key] = rec.latest.fields[key]
                return
            if key == "date":
                day = parse_date(v, t.today(), t.T)
                if day > t.today():
                    raise Invalid(t.T("A meeting record can't be dated in the future."))
                value = day.isoformat()
            elif not required and v.strip().lower() in SKIP:
                value = ""
            else:
                value = required_text(t, v) if required else clean_answer(t, v)
            t.data.setdefault("values", {})[key] = value

        return Step(key, ask, answer)

    questions = {
        "date": (N_("When was the meeting or discussion?"), True),
        "attendees": (N_("Who took part (names, roles and agencies)?"), True),
        "reason": (N_("What was the reason for the disagreement?"), True),
        "outcome": (N_("What outcome was agreed?"), True),
        "continuing": (N_("Any continuing concerns, from either side, and how they will be addressed? (or 'none')"),
                       False),
        "actions": (N_("Actions agreed: who will do what, by when? (or 'none')"), False),
    }

    def confirm_ask(t: Turn) -> Message:
        values = t.data.get("values", {})
        lines = [t.T("Please check the record before it is signed:")]
        for key, label in records.FIELDS:
            value = values.get(key) or "-"
            if key == "date" and values.get(key):
                value = t.T.date(dt.date.fromisoformat(values[key]))
            lines.append(f"{t.T(label)}: {_clip(value)}")
        return Message("\n".join(lines), prompt=Prompt("confirm", PromptKind.CHOICE, _confirm_choices(t.T)))

    return [
        Step("kind", kind_ask, lambda t, v: t.data.__setitem__("kind", pick(v, kinds(t), t.T))),
        Step("correction_reason", why_ask, lambda t, v: _required(t, "correction_reason", v)),
        *[field_step(k, q, req) for k, (q, req) in questions.items()],
        Step("confirm", confirm_ask,
             lambda t, v: t.data.__setitem__("confirm", pick(v, list(_confirm_choices(t.T)), t.T))),
    ]


def _confirm_choices(T: Translator) -> tuple[Choice, ...]:
    return (Choice("submit", T("Submit")), Choice("back", T("Back")), Choice("cancel", T("Cancel")))


def _record_to_signers(t: Turn, case: Case, rec: records.CaseRecord, event: notify.Event, headline: str
                       ) -> list[Outbound]:
    """The record by direct message to the people the notification table names for ``event`` (its signatories,
    and its drafter for a signature or a request for changes), other than the actor: the record is private."""
    proto = services.protocol_for(case, session=t.session)
    aud = notify.Audience(signatories=tuple(pid for pid in records.signer_ids(case, rec.signers).values() if pid),
                          drafter=rec.latest.drafted_by_id)

    def build(T: Translator, person: Any, _roles: frozenset[notify.To]) -> Message:
        return records.record_message(T, case, rec, session=t.session, viewer_id=person.id,
                                      intro=T(headline, name=t.ctx.actor.name, ref=case.ref, n=rec.number))

    return notify.tell(event, case, proto, build, session=t.session, now=t.ctx.now,
                       key=f"{notify.action_key(case)}:r{rec.number}", aud=aud, actor_id=t.ctx.actor.id).queued


def _finish_record(t: Turn) -> Reply:
    case = t.case()
    number = int(t.data["record"]) if t.data.get("record") else None
    rec, ver = records.draft(t.ctx, case, values=t.data.get("values", {}), kind=t.data.get("kind", records.GENERIC),
                             number=number, correction_reason=t.data.get("correction_reason"), session=t.session)
    intro = t.T("Record {n} saved as version {v}.", n=rec.number, v=ver.version)
    if records.missing_signers(case, rec, session=t.session):
        sent = records.sent_to_phrase(t.T, case, rec, t.ctx.actor.id, session=t.session)
        intro += " " + sent if sent else ""
    reply = Reply().say(records.record_message(t.T, case, rec, session=t.session, viewer_id=t.ctx.actor.id,
                                               intro=intro))
    return reply.told(_record_to_signers(t, case, rec, notify.Event.RECORD_DRAFTED, N_(
        "{name} has drafted record {n} on {ref}. Please read it, then sign it or ask for changes.")))


def _finish_record_changes(t: Turn) -> Reply:
    case = t.case()
    rec = records.request_changes(t.ctx, case, int(t.data["record"]), int(t.data["version"]), t.data["reason"],
                                  session=t.session)
    reply = Reply().say(Message(t.T("Your request for changes to record {n} has been sent.", n=rec.number),
                                case_ref=case.ref))
    return reply.told(_record_to_signers(t, case, rec, notify.Event.RECORD_CHANGES, N_(
        "{name} has asked for changes to record {n} on {ref}. Use 'Revise' to draft a new version.")))


def sign_record(t: Turn, case: Case, number: int, version: int) -> Reply:
    rec, locked = records.sign(t.ctx, case, number, version, session=t.session)
    if locked:
        intro = t.T("You have signed record {n}. Everyone has now signed it: it is locked.", n=number)
    else:
        intro = t.T("You have signed record {n}.", n=number)
    reply = Reply().say(records.record_message(t.T, case, rec, session=t.session, viewer_id=t.ctx.actor.id,
                                               intro=intro))
    headline = (N_("{name} has signed record {n} on {ref}. Everyone has now signed it: it is locked.") if locked
                else N_("{name} has signed record {n} on {ref}."))
    return reply.told(_record_to_signers(t, case, rec, notify.Event.RECORD_SIGNED, headline))


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
            hint = t.T("Now: {value} (type 'same' to keep it)", value=_clip(before, 200)) if before else None
            text = _form_question_text(t, q, i, len(qs))
            if q.type == "date":
                return ask_date(text, f"form:{i}", optional=q.optional, hint=_hints(past_date_hint(t.T), hint))
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
            lines.append(f"{t.T.local(q, 'label')}: {_clip(answers.get(q.label) or '-')}")
        if len(lines) == 1:
            lines.append(t.T("Everything in this part is filled from the case."))
        return Message("\n".join(lines), prompt=Prompt("confirm", PromptKind.CHOICE, _confirm_choices(t.T)))

    return [*[make(i) for i in range(MAX_FORM_QUESTIONS)],
            Step("confirm", confirm_ask,
                 lambda t, v: t.data.__setitem__("confirm", pick(v, list(_confirm_choices(t.T)), t.T)))]


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
            buttons.append(Button("case.form", T("Amend {part}", part=short) if part.done else
                                  T("Complete {part}", part=short), f"{case.ref} {filled.spec.id} {part.spec.id}",
                                  None if part.done else "primary"))
    return Message("\n".join(lines), title=T("{form} — {ref}", form=T.local(filled.spec), ref=case.ref),
                   case_ref=case.ref, private=True, buttons=tuple(buttons),
                   attachments=documents.attachments(T, filled))


def send_form(t: Turn, case: Case, form_id: str, event: notify.Event, aud: notify.Audience,
              intro: Callable[[Translator, frozenset[notify.To]], str]) -> list[Outbound]:
    """The form by direct message to the people the notification table names for ``event`` (with the subject
    details when they are entitled to them); ``intro`` gives each one's opening line (a message id) by role."""
    form = documents.form_of(t.ctx, case, form_id, session=t.session)
    proto = services.protocol_for(case, session=t.session)

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
    proto = services.protocol_for(case, session=t.session)
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


@dataclass
class Flow:
    name: str
    steps: list[Step]
    finish: Callable[[Turn], Reply]
    action: Action | None = None  # the engine action that must be allowed to start it
    ready: Callable[[Any], bool] | None = None  # or: a test of the case's state that must pass to start it


FLOWS: dict[str, Flow] = {
    "intake": Flow("intake", _intake_steps(), _finish_intake),
    "record_contact": Flow("record_contact", _contact_steps(), _finish_contact, Action.RECORD_CONTACT),
    "record_outcome": Flow("record_outcome", _outcome_steps(), _finish_outcome, Action.RECORD_OUTCOME),
    "complete_step": Flow("complete_step", _complete_steps(), _finish_complete, Action.COMPLETE_STEP),
    "escalate_exceptional": Flow("escalate_exceptional", [_reason_step(
        lambda T: T("Why does this need the exceptional stage?"))], _finish_escalate, Action.ESCALATE_EXCEPTIONAL),
    "bypass": Flow("bypass", _bypass_steps(), _finish_bypass, Action.BYPASS),
    "set_protective_date": Flow("set_protective_date", _protective_steps(), _finish_protective,
                                Action.SET_PROTECTIVE_DATE),
    "extend": Flow("extend", _extend_steps(), _finish_extend, Action.EXTEND),
    "urgent_notice": Flow("urgent_notice", [_reason_step(
        lambda T: T("What needs immediate attention? (Case reference and agencies only are posted to the "
                    "channel.)"))], _finish_urgent, Action.URGENT_NOTICE),
    "close": Flow("close", [_reason_step(lambda T: T("Why is the case being closed?"))], _finish_close, Action.CLOSE),
    "name_counterpart": Flow("name_counterpart", _counterpart_steps(), _finish_counterpart),
    "send_written_outcome": Flow("send_written_outcome", [_reason_step(
        lambda T: T("How will any outstanding issues be pursued? (or 'none')"))], _finish_written_outcome,
        ready=lambda st: any(i.step.written_outcome and i.anchor is not None for i in st.items)),
    "draft_record": Flow("draft_record", _record_steps(), _finish_record),
    "form_part": Flow("form_part", _form_steps(), _finish_form),
    "record_changes": Flow("record_changes", [_reason_step(
        lambda T: T("What needs changing in the record?"))], _finish_record_changes),
}


# typed commands for the case actions (the same flows as the buttons): "outcome SWN-2026-0001"
ACTION_WORDS = {
    "contact": "record_contact",
    "outcome": "record_outcome",
    "done": "complete_step",
    "escalate": "escalate_exceptional",
    "bypass": "bypass",
    "protect": "set_protective_date",
    "extend": "extend",
    "urgent": "urgent_notice",
    "close": "close",
    "view": "view",
    "counterpart": "name_counterpart",
    "written": "send_written_outcome",
    "record": "draft_record",
    "records": "records",
    "sign": "sign_record",
    "changes": "record_changes",
    "correct": "revise_record",
    "revise": "revise_record",
    "form": "form",
    "forms": "form",
}


RECORD_ACTIONS = {"draft_record", "new_record", "records", "sign_record", "record_changes", "revise_record"}

# the commands in Welsh: each is the English command it stands for ("newydd" is "new", "iaith cy" is
# "language cy"); the English words work for everyone
WELSH_WORDS = {
    "newydd": "new", "rhestr": "list", "achosion": "list", "achos": "case", "cymorth": "help", "iaith": "language",
    "cyswllt": "contact", "canlyniad": "outcome", "gwnaed": "done", "uwchgyfeirio": "escalate", "osgoi": "bypass",
    "amddiffyn": "protect", "estyn": "extend", "brys": "urgent", "cau": "close", "gweld": "view",
    "enwi": "counterpart", "ysgrifenedig": "written", "cofnod": "record", "cofnodion": "records",
    "llofnodi": "sign", "newidiadau": "changes", "cywiro": "correct", "diwygio": "revise", "ffurflen": "form",
    "ffurflenni": "forms", "cydnabod": "acknowledge",
}

# the language command's answers, each in the language it names
LANGUAGE_SET = {"en": N_("I'll write to you in English from now on."),
                "cy": N_("I'll write to you in Welsh from now on.")}
SPEAKS_IN = {"en": N_("I write to you in English."), "cy": N_("I write to you in Welsh.")}
HOW_TO_CHANGE_LANGUAGE = N_("To change it, type 'language cy' for Welsh (Cymraeg) or 'language en' for English.")


# -- the conversation driver ------------------------------------------------------------------
class Conversation:
    def __init__(self, factory: sessionmaker[Session], clock: Clock, platform: str):
        self.factory = factory
        self.clock = clock
        self.platform = platform

    def handle(self, person_id: int, text: str | None = None, *, action: str | None = None,
               value: str | None = None) -> Reply:
        with self.factory() as session:
            # one writer at a time on SQLite (storage.db): two people pressing at once are taken in turn
            writing(session)
            person = repo.get_person(person_id, session=session)
            if person is None:
                T = translator()
                return Reply().say(Message(T("I don't know who you are yet.")))
            ctx = Ctx(person, self.platform, self.clock.now())
            try:
                services.refuse_broken_text(text, value)  # a lone surrogate: a clear message, not a crash
                reply = self._handle(session, ctx, text, action, value)
                session.commit()
                return reply
            except ServiceError as exc:
                session.rollback()
                if keep_after_rollback(exc, session):  # the refusal's audit entry
                    session.commit()
                return Reply().say(Message(exc.message, severity=Severity.ERROR))

    # --------------------------------------------------------------------------------------
    def _handle(self, session: Session, ctx: Ctx, text: str | None, action: str | None, value: str | None
                ) -> Reply:
        T = ctx.T
        conv = repo.get_conversation(self.platform, str(ctx.actor.id), session=session)
        if action is not None and action.startswith("answer") and value is not None:
            # a pressed choice carries the choice's value: marked EXACT, so an id such as "3" is never read as
            # "the third option"
            raw = EXACT + value
        else:
            raw = (value if action is None else None) or text or ""
        word = raw.strip().lower().removeprefix(EXACT)

        # buttons on case cards start flows or show the case, even mid-flow
        if action and action.startswith("case."):
            return self._case_action(session, ctx, conv, action[5:], value or "")
        if action == escalation.ACK:
            try:
                prompt_id = int(value or "")
            except ValueError:
                return Reply().say(Message(T("That button is no longer available."), severity=Severity.ERROR))
            message, _ = escalation.acknowledge(ctx, prompt_id, session=session)
            return Reply().say(message)

        if conv.flow and word in ("cancel", "stop", "canslo", "stopio"):
            return self._cancel(session, ctx, conv)
        if conv.flow and word in ("back", "yn ôl", "yn ol", "nôl", "nol"):
            return self._back(session, ctx, conv)
        if conv.flow:
            return self._answer(session, ctx, conv, raw)
        return self._command(session, ctx, conv, raw.strip().removeprefix(EXACT))

    def _command(self, session: Session, ctx: Ctx, conv: Any, raw: str) -> Reply:
        T = ctx.T
        parts = raw.strip().split()
        cmd = parts[0].lower().lstrip("/") if parts else ""
        cmd = WELSH_WORDS.get(cmd, cmd)
        if cmd in ("language", "lang"):
            return self._language(session, ctx, parts[1] if len(parts) >= 2 else "")
        if cmd in ("new", "raise", "start"):
            return self._start(session, ctx, conv, "intake", {})
        if cmd in ("list", "cases", "mine"):
            cases = list(repo.cases_involving(ctx.actor, session=session))
            return Reply().say(views.case_list(T, cases, ctx.now, session=session))
        if cmd == "case" and len(parts) >= 2:
            case = services.find_case(parts[1], ctx, session=session)
            services.require_may_act(ctx, case, "view", session=session)
            if len(parts) >= 3 and parts[2].lower() in ("timeline", "hanes"):
                return Reply().say(views.timeline(T, case, session=session))
            if len(parts) >= 3 and parts[2].lower() == "log":
                return Reply().say(views.contact_log(T, case, session=session))
            return Reply().say(views.case_view(T, case, services.state_of(case, ctx.now, session=session),
                                               session=session))
        if cmd in ("acknowledge", "ack") and len(parts) >= 2:
            case = services.find_case(parts[1], ctx, session=session)
            prompt_id = escalation.prompt_to_acknowledge(ctx.actor, case, session=session)
            if prompt_id is None:
                return Reply().say(Message(T("Nothing on {ref} is waiting to be acknowledged.", ref=case.ref)))
            message, _ = escalation.acknowledge(ctx, prompt_id, session=session)
            return Reply().say(message)
        if cmd in ACTION_WORDS and len(parts) >= 2:
            return self._case_action(session, ctx, conv, ACTION_WORDS[cmd], " ".join(parts[1:]))
        if cmd in ("help", "?", ""):
            return Reply().say(help_message(T))
        return Reply().say(Message(T("I didn't understand {text!r}. Type 'help' to see what I can do.",
                                     text=raw.strip()[:40])))

    def _language(self, session: Session, ctx: Ctx, wanted: str) -> Reply:
        """'language cy' / 'iaith en': the language Parley writes to this person in, answered in it."""
        if not wanted:
            T = ctx.T
            return Reply().say(Message("\n".join([T(SPEAKS_IN[T.language]), T(HOW_TO_CHANGE_LANGUAGE)])))
        person = services.set_language(ctx, wanted, session=session)
        T = translator(person.language)
        return Reply().say(Message("\n".join([T(LANGUAGE_SET[person.language]), T(HOW_TO_CHANGE_LANGUAGE)]),
                                   severity=Severity.SUCCESS))

    def _case_action(self, session: Session, ctx: Ctx, conv: Any, name: str, value: str) -> Reply:
        ref, *args = value.split() or [""]
        case = services.find_case(ref, ctx, session=session)
        services.require_may_act(ctx, case, name, session=session)
        if name == "view":
            return Reply().say(views.case_view(ctx.T, case, services.state_of(case, ctx.now, session=session),
                                               session=session))
        if name in RECORD_ACTIONS:
            return self._record_action(session, ctx, conv, case, name, args)
        if name == "form":
            return self._form_action(session, ctx, conv, case, args)
        flow = FLOWS.get(name)
        if flow is None or flow.name == "intake":
            return Reply().say(Message(ctx.T("That button is no longer available."), severity=Severity.ERROR))
        st = services.state_of(case, ctx.now, session=session)
        if (flow.action is not None and flow.action not in st.allowed) or (flow.ready and not flow.ready(st)):
            return Reply().say(Message(why_not(ctx.T, case, st, session=session), severity=Severity.ERROR))
        data: dict[str, Any] = {"ref": case.ref}
        if name == "record_outcome" and args[:1] == ["resolved"]:  # an escalation prompt's "Already resolved"
            data.update(resolved="resolved", preset=True)
        return self._start(session, ctx, conv, name, data)

    def _record_action(self, session: Session, ctx: Ctx, conv: Any, case: Case, name: str, args: list[str]
                       ) -> Reply:
        """draft_record REF [N] (the records, or record N; a first record is drafted at once) | new_record REF |
        records REF | sign_record REF N [V] | record_changes REF N [V]
        | revise_record REF N. Without V the latest version is meant."""
        T = ctx.T
        try:
            nums = [int(a) for a in args[:2]]
        except ValueError:
            return Reply().say(Message(T("Record numbers are whole numbers, e.g. 'record {ref} 1'.", ref=case.ref),
                                       severity=Severity.ERROR))
        if name == "new_record" or (name == "draft_record" and not nums
                                    and not records.records_of(case, session=session)):
            services.require_may_act(ctx, case, "write_record", session=session)
            return self._start(session, ctx, conv, "draft_record", {"ref": case.ref})
        if name in ("records", "draft_record") and not nums:
            return Reply().say(records.records_list(T, case, session=session))
        if not nums:
            return Reply().say(Message(T("Which record? Add its number, e.g. '{word} {ref} 1'.",
                                         word=name.split("_")[0], ref=case.ref), severity=Severity.ERROR))
        rec = records.get_record(ctx, case, nums[0], session=session)
        if name == "draft_record":
            version = nums[1] if len(nums) > 1 else None
            if version is not None and not 1 <= version <= len(rec.versions):
                raise ServiceError(T("Record {n} on {ref} has no version {v}.", n=rec.number, ref=case.ref, v=version))
            return Reply().say(records.record_message(T, case, rec, session=session, version=version,
                                                      viewer_id=ctx.actor.id))
        version = nums[1] if len(nums) > 1 else rec.latest.version
        if name == "sign_record":
            turn = Turn(T, ctx, session, {"ref": case.ref}, [])
            return sign_record(turn, case, rec.number, version)
        if name == "record_changes":
            records.check_signable(ctx, case, rec, version)
            return self._start(session, ctx, conv, "record_changes",
                               {"ref": case.ref, "record": rec.number, "version": version})
        return self._start(session, ctx, conv, "draft_record", {"ref": case.ref, "record": rec.number})

    def _form_action(self, session: Session, ctx: Ctx, conv: Any, case: Case, args: list[str]) -> Reply:
        """form REF (the forms this case has reached) | form REF FORM (sent to you, PDF and HTML) |
        form REF FORM PART (complete or amend that part)."""
        T = ctx.T
        if not args:
            forms = documents.forms_for(case, session=session, now=ctx.now)
            if not forms:
                return Reply().say(Message(T("No form applies to {ref} at its current stage.", ref=case.ref),
                                           case_ref=case.ref))
            lines = [T("Forms for {ref}:", ref=case.ref)]
            lines.extend(f"  \u2022 {T.local(f)} \u2014 form {case.ref} {f.id}" for f in forms)
            return Reply().say(Message("\n".join(lines), case_ref=case.ref, buttons=tuple(
                Button("case.form", T.local(f).split(":")[0], f"{case.ref} {f.id}") for f in forms)))
        form = documents.form_of(ctx, case, args[0], session=session)
        if len(args) == 1:
            entitled = services.may_act(ctx.actor, case, session=session)  # the subject details, or not
            filled = documents.fill(T, case, form, session=session, now=ctx.now, with_subject_details=entitled)
            return Reply().say(form_message(T, case, filled, viewer=ctx.actor, session=session))
        try:
            part = form.part(args[1])
        except KeyError:
            raise ServiceError(T("{form} has no part {part!r}; its parts are {parts}.", form=T.local(form),
                                 part=args[1][:40], parts=", ".join(p.id for p in form.parts))) from None
        if not documents.may_complete(ctx.actor, case, part, session=session):
            raise ServiceError(T("{part} is completed by {who}.", part=T.local(part),
                                 who=T(documents.COMPLETERS.get(part.by, part.by))))
        return self._start(session, ctx, conv, "form_part", {"ref": case.ref, "form": form.id, "part": part.id})

    def _start(self, session: Session, ctx: Ctx, conv: Any, flow: str, data: dict[str, Any]) -> Reply:
        state = {"data": data, "step": -1, "history": []}
        return self._advance(session, ctx, conv, flow, state, Reply())

    def _advance(self, session: Session, ctx: Ctx, conv: Any, flow_name: str, state: dict[str, Any],
                 reply: Reply) -> Reply:
        """Move to the next step that applies and ask it; finish when there is none."""
        flow = FLOWS[flow_name]
        notes: list[Message] = []
        turn = Turn(ctx.T, ctx, session, state["data"], notes)
        i = state["step"] + 1
        while i < len(flow.steps):
            msg = flow.steps[i].ask(turn)
            if msg is not None:
                if state["step"] >= 0:
                    state["history"].append(state["step"])
                state["step"] = i
                repo.save_conversation(conv, flow_name, state, session=session)
                for n in notes:
                    reply.say(n)
                return reply.say(msg)
            i += 1
        for n in notes:
            reply.say(n)
        repo.save_conversation(conv, None, {}, session=session)
        return reply.extend(flow.finish(turn))

    def _answer(self, session: Session, ctx: Ctx, conv: Any, raw: str) -> Reply:
        flow = FLOWS[conv.flow]
        state = dict(conv.state)
        step = flow.steps[state["step"]]
        notes: list[Message] = []
        turn = Turn(ctx.T, ctx, session, dict(state["data"]), notes)
        kept = turn.data.get(KEPT)
        if kept and kept.get("step") == step.name and raw.strip().lower().removeprefix(EXACT) in SAME:
            raw = kept["text"]  # the first part of an answer that was too long, taken as it is
        try:
            step.answer(turn, raw)
        except Invalid as exc:
            if isinstance(exc, TooLong):  # kept, so that nothing typed is silently lost
                state["data"] = {**state["data"], KEPT: {"step": step.name, "text": exc.kept}}
                repo.save_conversation(conv, conv.flow, state, session=session)
            again = step.ask(turn)
            reply = Reply().say(Message(str(exc), severity=Severity.ERROR))
            return reply.say(again) if again else reply
        except Stop as stop:
            repo.save_conversation(conv, None, {}, session=session)
            reply = Reply()
            for m in stop.messages:
                reply.say(m)
            return reply
        if turn.data.get("confirm") == "back":
            turn.data.pop("confirm")
            state["data"] = turn.data
            repo.save_conversation(conv, conv.flow, state, session=session)
            return self._back(session, ctx, conv)
        if turn.data.get("confirm") == "cancel":
            return self._cancel(session, ctx, conv)
        turn.data.pop(KEPT, None)
        state["data"] = turn.data
        reply = Reply()
        for n in notes:
            reply.say(n)
        flow_name = conv.flow
        try:
            return self._advance(session, ctx, conv, flow_name, state, reply)
        except ServiceError as exc:
            # Nothing of this turn is kept (the flow's end had already cleared the conversation, and the service
            # may have written part of its change): undo it, then keep the answers at the last question, so that
            # 'back' and 'cancel' work as the message says.
            session.rollback()
            keep_after_rollback(exc, session)  # a refusal's audit entry, committed with the kept answers
            conv = repo.get_conversation(self.platform, str(ctx.actor.id), session=session)
            repo.save_conversation(conv, flow_name, state, session=session)
            return Reply().say(Message(exc.message + " " + ctx.T("Your answers are kept: type 'back' to change one, "
                                                               "or 'cancel' to stop."), severity=Severity.ERROR))

    def _cancel(self, session: Session, ctx: Ctx, conv: Any) -> Reply:
        """End the flow. An intake that showed the immediate-risk route has already recorded that it was shown
        (it is audited at once): the message must not say that nothing was recorded."""
        shown = conv.flow == "intake" and (conv.state or {}).get("data", {}).get("risk_shown_at")
        repo.save_conversation(conv, None, {}, session=session)
        if shown:
            return Reply().say(Message(ctx.T("Cancelled: the disagreement was not recorded. That you were shown the "
                                             "immediate-risk route is kept on record.")))
        return Reply().say(Message(ctx.T("Cancelled. Nothing was recorded.")))

    def _back(self, session: Session, ctx: Ctx, conv: Any) -> Reply:
        """Ask the previous question again; the answers given so far are kept."""
        flow = FLOWS[conv.flow]
        state = dict(conv.state)
        history = list(state.get("history", []))
        turn = Turn(ctx.T, ctx, session, dict(state["data"]), [])
        while history:
            prev = history.pop()
            msg = flow.steps[prev].ask(turn)
            if msg is not None:
                state.update(step=prev, history=history, data=turn.data)
                repo.save_conversation(conv, conv.flow, state, session=session)
                return Reply().say(msg)
        current = flow.steps[state["step"]].ask(turn)
        reply = Reply().say(Message(ctx.T("This is the first question; type 'cancel' to stop.")))
        return reply.say(current) if current else reply

    def pending_prompt(self, person_id: int) -> Message | None:
        """The question a person was last asked, if they are mid-flow (for resuming)."""
        with self.factory() as session:
            conv = repo.get_conversation(self.platform, str(person_id), session=session)
            session.commit()
            if not conv.flow:
                return None
            person = repo.get_person(person_id, session=session)
            assert person is not None
            ctx = Ctx(person, self.platform, self.clock.now())
            return FLOWS[conv.flow].steps[conv.state["step"]].ask(
                Turn(ctx.T, ctx, session, dict(conv.state["data"]), []))


def why_not(T: Translator, case: Case, st: Any, *, session: Session) -> str:
    """Why an action can't be taken on a case now, and what can (C-UX8)."""
    proto = services.protocol_for(case, session=session)
    stage = views.stage_title(T, proto, case.stage_id)
    if st.status is Status.CLOSED:
        return T("That isn't possible on {ref}: the case is closed.", ref=case.ref)
    if st.status is Status.RESOLVED:
        return T("That isn't possible on {ref}: the case was resolved at {stage}.", ref=case.ref, stage=stage)
    allowed = [T(views.ACTION_LABELS[a]) for a in st.allowed if a in views.ACTION_LABELS]
    if not allowed:
        return T("That isn't possible on {ref} at {stage}.", ref=case.ref, stage=stage)
    return T("That isn't possible on {ref} at {stage}. What can be done now: {actions}.", ref=case.ref, stage=stage,
             actions=", ".join(allowed))


def help_message(T: Translator) -> Message:
    return Message("\n".join([
        T("I help you resolve a professional disagreement with another agency, following your board's protocol."),
        T("  new \u2014 raise a concern"),
        T("  list \u2014 your open cases"),
        T("  case REF \u2014 show a case (add 'timeline' for its history, 'log' for the stage contact log)"),
        T("  contact / outcome / done / escalate / bypass / protect / extend / urgent / close / counterpart REF "
          "\u2014 act on a case (or use its buttons)"),
        T("  record REF \u2014 a meeting or discussion record signed by both of you ('record REF N' reads record N; "
          "sign / changes / correct REF N act on it)"),
        T("  form REF \u2014 the protocol's forms for a case ('form REF FORM' sends it to you as PDF and HTML; "
          "'form REF FORM PART' completes a part)"),
        T("  acknowledge REF \u2014 take ownership of an escalation on a case (as its prompt's Acknowledge button)"),
        T("  back / cancel \u2014 during a conversation"),
        T("  language cy / language en \u2014 Parley in Welsh (Cymraeg) or English"),
        T("If anyone is at immediate risk of significant harm, use child or adult protection procedures first."),
    ]), title=T("Parley help"))


def steps_of(flow: str) -> list[str]:
    return [s.name for s in FLOWS[flow].steps]


__all__ = ["Conversation", "FLOWS", "help_message", "parse_date", "risk_message", "StepKind"]
