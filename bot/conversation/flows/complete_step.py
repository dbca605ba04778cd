"""The complete_step flow: marking a step of the protocol done, with its date.
"""

from __future__ import annotations

import datetime as dt

from bot.cases import protocols, services
from bot.conversation.engine import Flow, Invalid, Step, Turn, ask_choice, ask_date, parse_date, past_date_hint, pick
from bot.conversation.flows.common import case_news, flags_step, step_choices
from bot.conversation.flows.form_part import forms_started_by
from bot.core import views
from bot.core.messages import Message, Reply
from bot.notify import notify
from protocol.state import Action


def _complete_steps() -> list[Step]:
    def which_ask(t: Turn) -> Message:
        return ask_choice(t.T("Which step is done?"), "step", step_choices(t, False))

    def on_answer(t: Turn, v: str) -> None:
        day = parse_date(v, t.today(), t.T)
        if day > t.today():
            raise Invalid(t.T("That date is in the future."))
        t.data["on"] = day.isoformat()

    return [
        Step("step", which_ask, lambda t, v: t.data.__setitem__("step", pick(v, step_choices(t, False), t.T))),
        Step("on", lambda t: ask_date(t.T("When was it done?"), "on", hint=past_date_hint(t.T)), on_answer),
        flags_step(on_resolution=False),
    ]


def _finish_complete(t: Turn) -> Reply:
    case = t.case()
    st = services.complete_step(t.ctx, case, t.data["step"], on=dt.date.fromisoformat(t.data["on"]),
                                flags=t.data.get("flags"), session=t.session)
    reply = Reply().say(views.case_view(t.T, case, st, session=t.session, intro=t.T("Step recorded as done.")))
    proto = protocols.protocol_for(case, session=t.session)
    step = proto.step(t.data["step"])
    forms = forms_started_by(t, case, t.data["step"])  # whoever is sent a form by it hears of the step there
    reply.told(case_news(t, case, notify.Event.STEP_DONE, lambda T, _r: T(
        "{name} recorded a step as done on {ref}: {step}.", name=t.ctx.actor.name, ref=case.ref,
        step=T.local(step)), st=st, skip={o.to.person_id for o in forms.queued if o.to.person_id}))
    return reply.extend(forms)


FLOW = Flow("complete_step", _complete_steps(), _finish_complete, Action.COMPLETE_STEP)
