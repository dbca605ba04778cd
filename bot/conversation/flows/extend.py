"""The extend flow: a new date for a step's deadline, with a reason.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from bot.cases import protocols, services
from bot.conversation.engine import (Flow, Invalid, Step, Turn, ask_choice, ask_date, clip, coming_date_hint,
                                     numeric_date, parse_date, pick)
from bot.conversation.flows.common import case_news, case_state, reason_step
from bot.core import views
from bot.core.i18n import Translator
from bot.core.messages import Choice, Message, Reply
from bot.notify import notify
from protocol.state import Action


def _extend_steps() -> list[Step]:
    def choices(t: Turn) -> list[Choice]:
        _, st = case_state(t)
        return [Choice(i.step.id, t.T.local(i.step)) for i in st.items if i.step.extendable and i.due_at]

    def deadline(t: Turn) -> tuple[Any, dt.date | None]:
        """The case's calendar and the chosen step's current deadline (its local date)."""
        case, st = case_state(t)
        cal = protocols.protocol_for(case, session=t.session).calendar()
        item = next((i for i in st.items if i.step.id == t.data.get("step") and i.due_at), None)
        return cal, cal.local_date(item.due_at) if item else None

    def until_ask(t: Turn) -> Message:
        cal, due = deadline(t)
        if due is None:
            return ask_date(t.T("Until when?"), "until", hint=coming_date_hint(t.T, t.today()))
        return ask_date(t.T("Until when? The deadline is now {date}.", date=t.T.date(due)), "until",
                        hint=t.T("(a working day after it, e.g. {example})",
                                 example=numeric_date(cal.next_working_day(max(due, t.today())))))

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
        reason_step(lambda T: T("Why is more time needed (for example, process issues)?")),
    ]


def _finish_extend(t: Turn) -> Reply:
    case = t.case()
    _, before = case_state(t)
    old = next((i.due_at for i in before.items if i.step.id == t.data["step"]), None)
    st = services.extend_step(t.ctx, case, t.data["step"], until=dt.date.fromisoformat(t.data["until"]),
                              reason=t.data["reason"], session=t.session)
    reply = Reply().say(views.case_view(t.T, case, st, session=t.session, intro=t.T("Extension recorded.")))
    proto = protocols.protocol_for(case, session=t.session)
    step = proto.step(t.data["step"])
    new = next((i.due_at for i in st.items if i.step.id == step.id), None)
    tz = proto.calendar().tz

    def headline(T: Translator, _roles: frozenset[notify.To]) -> str:
        return T("{name} extended the deadline for \u201c{step}\u201d on {ref} from {old} to {new}.",
                 name=t.ctx.actor.name, step=T.local(step), ref=case.ref,
                 old=T.date(old.astimezone(tz).date()) if old else "-",
                 new=T.date(new.astimezone(tz).date()) if new else "-")

    return reply.told(case_news(t, case, notify.Event.EXTENDED, headline, st=st,
                                extra=lambda T: [T("Why: {x}", x=clip(t.data["reason"], 1000))]))


FLOW = Flow("extend", _extend_steps(), _finish_extend, Action.EXTEND)
