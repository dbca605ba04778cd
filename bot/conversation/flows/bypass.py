"""The bypass flow: going straight to a later stage for one of the protocol's bypass reasons.
"""

from __future__ import annotations

from bot.cases import protocols, services
from bot.conversation.engine import SKIP, Flow, Step, Turn, ask_choice, ask_text, clean_answer, clip, pick
from bot.conversation.flows.common import case_news
from bot.core import views
from bot.core.i18n import Translator
from bot.core.messages import Choice, Reply
from bot.notify import notify
from protocol.state import Action


def _bypass_steps() -> list[Step]:
    def choices(t: Turn) -> list[Choice]:
        bp = protocols.protocol_for(t.case(), session=t.session).bypass
        return [Choice(r.id, t.T.local(r, "text")) for r in bp.reasons] if bp else []

    return [
        Step("why", lambda t: ask_choice(t.T("Why does this need to go straight to a higher stage?"), "why",
                                         choices(t)),
             lambda t, v: t.data.__setitem__("why", pick(v, choices(t), t.T))),
        Step("details", lambda t: ask_text(t.T("Any details to record?"), "details", long=True, optional=True),
             lambda t, v: t.data.__setitem__("details", "" if v.strip().lower() in SKIP else clean_answer(t, v))),
    ]


def _finish_bypass(t: Turn) -> Reply:
    case = t.case()
    before = case.stage_id
    st = services.bypass_to_stage(t.ctx, case, reason_id=t.data["why"], details=t.data.get("details", ""),
                                  session=t.session)
    proto = protocols.protocol_for(case, session=t.session)
    reply = Reply().say(views.case_view(t.T, case, st, session=t.session, intro=t.T(
        "Moved straight to {stage}.", stage=views.stage_title(t.T, proto, case.stage_id))))
    reason = next((r for r in proto.bypass.reasons if r.id == t.data["why"]), None) if proto.bypass else None
    details = t.data.get("details", "")

    def extra(T: Translator) -> list[str]:
        lines = [T("Why: {x}", x=T.local(reason, "text"))] if reason else []
        return lines + ([T("Details: {x}", x=clip(details, 1000))] if details else [])

    return reply.told(case_news(t, case, notify.Event.BYPASSED, lambda T, _r: T(
        "{name} moved {ref} straight to {stage}.", name=t.ctx.actor.name, ref=case.ref,
        stage=views.stage_title(T, proto, case.stage_id)), st=st, before=before, extra=extra))


FLOW = Flow("bypass", _bypass_steps(), _finish_bypass, Action.BYPASS)
