"""The escalate_exceptional flow: taking a case to the exceptional stage, with a reason.
"""

from __future__ import annotations

from bot.cases import protocols, services
from bot.conversation.engine import Flow, Turn, clip
from bot.conversation.flows.common import case_news, reason_step
from bot.core import views
from bot.core.messages import Reply
from bot.notify import notify
from protocol.state import Action


def _finish_escalate(t: Turn) -> Reply:
    case = t.case()
    before = case.stage_id
    st = services.escalate(t.ctx, case, reason=t.data["reason"], session=t.session)
    proto = protocols.protocol_for(case, session=t.session)
    reply = Reply().say(views.case_view(t.T, case, st, session=t.session, intro=t.T(
        "Escalated to {stage}.", stage=views.stage_title(t.T, proto, case.stage_id))))
    return reply.told(case_news(t, case, notify.Event.ESCALATED, lambda T, _r: T(
        "{name} escalated {ref} to {stage}.", name=t.ctx.actor.name, ref=case.ref,
        stage=views.stage_title(T, proto, case.stage_id)), st=st, before=before,
        extra=lambda T: [T("Why: {x}", x=clip(t.data["reason"], 1000))]))


FLOW = Flow("escalate_exceptional", [reason_step(
    lambda T: T("Why does this need the exceptional stage?"))], _finish_escalate, Action.ESCALATE_EXCEPTIONAL)
