"""The send_written_outcome flow: the written outcome of a stage, and how open issues are pursued.
"""

from __future__ import annotations

from bot.cases import protocols, services
from bot.conversation.engine import SKIP, Flow, Turn
from bot.conversation.flows.common import reason_step
from bot.core import views
from bot.core.messages import Message, Reply, Severity
from bot.notify import notify


def _finish_written_outcome(t: Turn) -> Reply:
    case = t.case()
    further = "" if t.data.get("reason", "").strip().lower() in SKIP else t.data.get("reason", "")
    st, letter = services.send_written_outcome(t.ctx, case, further=further, session=t.session)
    reply = Reply().say(views.case_view(t.T, case, st, session=t.session, intro=t.T("Written outcome sent.")))
    proto = protocols.protocol_for(case, session=t.session)
    return reply.told(notify.tell(
        notify.Event.WRITTEN_OUTCOME, case, proto,
        lambda T, _p, _r: Message(letter, title=T("Written outcome"), case_ref=case.ref, severity=Severity.SUCCESS),
        session=t.session, now=t.ctx.now, key=notify.action_key(case), actor_id=t.ctx.actor.id).queued)


FLOW = Flow("send_written_outcome", [reason_step(
    lambda T: T("How will any outstanding issues be pursued? (or 'none')"))], _finish_written_outcome,
            ready=lambda st: any(i.step.written_outcome and i.anchor is not None for i in st.items))
