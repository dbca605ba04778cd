"""The record_outcome flow: resolved or not, what was agreed, and the stage's flags.
"""

from __future__ import annotations

from bot.cases import protocols, services
from bot.conversation.engine import Flow, Step, Turn, ask_choice, ask_text, clip, pick, require_answer
from bot.conversation.flows.common import case_news, flags_step
from bot.core import views
from bot.core.i18n import Translator
from bot.core.messages import Choice, Reply
from bot.notify import notify
from protocol.state import Action, Status


def _outcome_steps() -> list[Step]:
    def res_choices(T: Translator) -> list[Choice]:
        return [Choice("resolved", T("Resolved")), Choice("unresolved", T("Not resolved"))]

    return [
        Step("resolved", lambda t: None if t.data.get("preset") else ask_choice(
            t.T("What is the outcome at this stage?"), "resolved", res_choices(t.T)),
             lambda t, v: t.data.__setitem__("resolved", pick(v, res_choices(t.T), t.T))),
        Step("text", lambda t: ask_text(t.T("Describe the agreed outcome, and any continuing concerns.")
                                        if t.data["resolved"] == "resolved" else
                                        t.T("Why is it not resolved? (This moves the case to the next stage.)"),
                                        "text", long=True),
             lambda t, v: require_answer(t, "text", v)),
        flags_step(on_resolution=True),
    ]


def _finish_outcome(t: Turn) -> Reply:
    case = t.case()
    before = case.stage_id
    resolved = t.data["resolved"] == "resolved"
    st = services.record_outcome(t.ctx, case, resolved=resolved, text=t.data["text"],
                                 flags=t.data.get("flags"), session=t.session)
    proto = protocols.protocol_for(case, session=t.session)
    if resolved:
        intro = t.T("Outcome recorded: resolved.")
    elif st.status is Status.OPEN and case.stage_id != before:
        intro = t.T("Recorded as not resolved. The case has moved to {stage}.",
                    stage=views.stage_title(t.T, proto, case.stage_id))
    else:
        intro = t.T("Recorded as not resolved.")
    reply = Reply().say(views.case_view(t.T, case, st, session=t.session, intro=intro))
    at_stage = proto.stage(before) if before else None
    moved = case.stage_id != before

    def headline(T: Translator, _roles: frozenset[notify.To]) -> str:
        stage = views.stage_title(T, proto, before) if at_stage else ""
        if resolved:
            return T("{name} recorded {ref} as resolved at {stage}.", name=t.ctx.actor.name, ref=case.ref, stage=stage)
        text = T("{name} recorded {ref} as not resolved at {stage}.", name=t.ctx.actor.name, ref=case.ref,
                 stage=stage)
        if moved and case.stage_id:
            text += " " + T("The case has moved to {stage}.", stage=views.stage_title(T, proto, case.stage_id))
        return text

    event = notify.Event.RESOLVED if resolved else notify.Event.NOT_RESOLVED
    said = t.data["text"]
    return reply.told(case_news(t, case, event, headline, st=st, before=before, extra=lambda T: [
        (T("Agreed outcome: {x}", x=clip(said, 1000)) if resolved else T("Why: {x}", x=clip(said, 1000)))]))


FLOW = Flow("record_outcome", _outcome_steps(), _finish_outcome, Action.RECORD_OUTCOME)
