"""The name_counterpart flow: naming the other agency's practitioner on a case.
"""

from __future__ import annotations

from bot.cases import services
from bot.conversation.engine import SKIP_WORDS, Flow, Invalid, Step, Turn, ask_choice, ask_text, clean_answer, pick
from bot.conversation.flows.common import agency_choices, case_news, person_choices
from bot.core import views
from bot.core.i18n import Translator
from bot.core.messages import Message, Reply
from bot.notify import notify
from storage import repo


def counterpart_steps() -> list[Step]:
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
                                            agency_choices(t)),
             lambda t, v: t.data.__setitem__("agency", int(pick(v, agency_choices(t), t.T)))),
        Step("person", lambda t: ask_choice(t.T("Who is the professional you disagree with?"), "person",
                                            person_choices(t)),
             lambda t, v: t.data.__setitem__("person", pick(v, person_choices(t), t.T))),
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


FLOW = Flow("name_counterpart", counterpart_steps(), _finish_counterpart)
