"""The record_contact flow: when, with whom and how contact was made at the current stage.
"""

from __future__ import annotations

import datetime as dt

from bot.cases import services
from bot.conversation.engine import (SKIP_WORDS, Flow, Invalid, Step, Turn, ask_choice, ask_date, ask_text,
                                     clean_answer, parse_date, past_date_hint, pick)
from bot.conversation.flows.common import case_news, step_choices
from bot.core import views
from bot.core.i18n import Translator
from bot.core.messages import Choice, Reply
from bot.notify import notify
from protocol.state import Action


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
                                          step_choices(t, True)) if len(step_choices(t, True)) > 1 else None,
             lambda t, v: t.data.__setitem__("step", pick(v, step_choices(t, True), t.T))),
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


FLOW = Flow("record_contact", _contact_steps(), _finish_contact, Action.RECORD_CONTACT)
