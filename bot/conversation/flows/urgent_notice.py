"""The urgent_notice flow: what needs immediate attention, posted to the channel without details.
"""

from __future__ import annotations

from typing import Any

from bot.cases import protocols, services
from bot.conversation.engine import Flow, Turn, clip
from bot.conversation.flows.common import reason_step
from bot.core import views
from bot.core.i18n import Translator
from bot.core.messages import Button, Message, Reply, Severity
from bot.notify import notify
from bot.core.routes import Route
from protocol.state import Action


def _finish_urgent(t: Turn) -> Reply:
    case = t.case()
    st = services.urgent_notice(t.ctx, case, details=t.data["reason"], session=t.session)
    proto = protocols.protocol_for(case, session=t.session)
    reply = Reply().say(views.case_view(t.T, case, st, session=t.session, intro=t.T("Urgent notice sent.")))
    notice = proto.urgent_notice
    assert notice is not None
    details = t.data["reason"]

    def dm(T: Translator, _person: Any, _roles: frozenset[notify.To]) -> Message:  # to the people: with its text
        return Message("\n".join([
            T("{name} has sent an urgent notice on {ref}: it needs immediate attention.", name=t.ctx.actor.name,
              ref=case.ref),
            T("What needs attention: {x}", x=clip(details, 1500)),
            T("The protocol says: {title} ({recipient}).", title=T.local(notice),
              recipient=proto.recipient(notice.to, T.language))]),
            title=views.case_headline(T, case, proto, session=t.session), severity=Severity.URGENT,
            case_ref=case.ref, buttons=(Button(Route.VIEW, T("View case"), case.ref),))

    def post(T: Translator, _person: Any, _roles: frozenset[notify.To]) -> Message:
        # channel post: reference, agencies and stage only; the text goes to the people by direct message
        return Message(
            T("{title}: {ref} needs immediate attention ({recipient}). The details have been sent to the people "
              "on the case.", title=T.local(notice), ref=case.ref, recipient=proto.recipient(notice.to, T.language)),
            title=views.case_headline(T, case, proto, session=t.session), severity=Severity.URGENT,
            case_ref=case.ref, buttons=(Button(Route.VIEW, T("View case"), case.ref),))

    key = notify.action_key(case)
    aud = notify.Audience(stages=(proto.stage(case.stage_id),) if case.stage_id else ())
    for event, build in ((notify.Event.URGENT_NOTICE, dm), (notify.Event.URGENT_POST, post)):
        reply.told(notify.tell(event, case, proto, build, session=t.session, now=t.ctx.now, key=key, aud=aud,
                               actor_id=t.ctx.actor.id).queued)
    return reply


FLOW = Flow("urgent_notice", [reason_step(
    lambda T: T("What needs immediate attention? (Case reference and agencies only are posted to the "
                "channel.)"))], _finish_urgent, Action.URGENT_NOTICE)
