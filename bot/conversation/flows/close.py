"""The close flow: closing a case, with a reason.
"""

from __future__ import annotations

from bot.cases import services
from bot.conversation.engine import Flow, Turn, clip
from bot.conversation.flows.common import case_news, reason_step
from bot.core import views
from bot.core.messages import Reply
from bot.notify import notify
from protocol.state import Action


def _finish_close(t: Turn) -> Reply:
    case = t.case()
    st = services.close_case(t.ctx, case, reason=t.data["reason"], session=t.session)
    reply = Reply().say(views.case_view(t.T, case, st, session=t.session, intro=t.T("Case closed.")))
    return reply.told(case_news(t, case, notify.Event.CLOSED, lambda T, _r: T(
        "{name} closed {ref}.", name=t.ctx.actor.name, ref=case.ref), st=st,
        extra=lambda T: [T("Why: {x}", x=clip(t.data["reason"], 1000))]))


FLOW = Flow("close", [reason_step(lambda T: T("Why is the case being closed?"))], _finish_close, Action.CLOSE)
