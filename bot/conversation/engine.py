"""The conversation engine: answer parsing (dates, yes/no, choices), and the Turn, Step and Flow that every
flow is built from.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from bot.cases import protocols, services
from bot.cases.services import Ctx
from bot.core.i18n import Translator
from bot.core.messages import Choice, Message, Prompt, PromptKind, Reply
from protocol.state import Action
from protocol.spec import Protocol
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
        return protocols.board_protocol(self.ctx.actor.board_id, session=self.session)

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


def join_hints(*hints: str | None) -> str | None:
    return " ".join(h for h in hints if h) or None


def numeric_date(day: dt.date) -> str:
    return f"{day.day}/{day.month}/{day.year}"


def past_date_hint(T: Translator) -> str:
    """How to answer a question about a day that has been (a contact, a meeting, when something arose)."""
    return T("(a date: today, yesterday, 2026-04-08 or 8/4/2026)")


def coming_date_hint(T: Translator, today: dt.date) -> str:
    """How to answer a question about a day still to come (a protective date): 'yesterday' would be refused."""
    return T("(today or a later date, e.g. {example})", example=numeric_date(today + dt.timedelta(days=14)))


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


def clip(text: str, n: int = 300) -> str:
    return text if len(text) <= n else text[: n - 1] + "\u2026"


def require_answer(t: Turn, key: str, v: str) -> None:
    value = clean_answer(t, v)
    if not value:
        raise Invalid(t.T("Please write a few words."))
    t.data[key] = value


@dataclass
class Flow:
    name: str
    steps: list[Step]
    finish: Callable[[Turn], Reply]
    action: Action | None = None  # the engine action that must be allowed to start it
    ready: Callable[[Any], bool] | None = None  # or: a test of the case's state that must pass to start it
