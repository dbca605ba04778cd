"""The set_protective_date flow: the date by which the child or adult must be protected.
"""

from __future__ import annotations

import datetime as dt

from bot.cases import services
from bot.conversation.engine import Flow, Invalid, Step, Turn, ask_date, coming_date_hint, parse_date
from bot.conversation.flows.common import case_news
from bot.core import views
from bot.core.i18n import Translator
from bot.core.messages import Reply
from bot.notify import notify
from protocol.state import Action


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


FLOW = Flow("set_protective_date", _protective_steps(), _finish_protective,
            Action.SET_PROTECTIVE_DATE)
