"""The record_changes flow: asking for changes to a record before signing it.
"""

from __future__ import annotations

from bot.conversation.engine import Flow, Turn
from bot.conversation.flows.common import reason_step
from bot.conversation.flows.record import record_to_signers
from bot.core.i18n import N_
from bot.core.messages import Message, Reply
from bot.notify import notify
from bot.records import records


def _finish_record_changes(t: Turn) -> Reply:
    case = t.case()
    rec = records.request_changes(t.ctx, case, int(t.data["record"]), int(t.data["version"]), t.data["reason"],
                                  session=t.session)
    reply = Reply().say(Message(t.T("Your request for changes to record {n} has been sent.", n=rec.number),
                                case_ref=case.ref))
    return reply.told(record_to_signers(t, case, rec, notify.Event.RECORD_CHANGES, N_(
        "{name} has asked for changes to record {n} on {ref}. Use 'Revise' to draft a new version.")))


FLOW = Flow("record_changes", [reason_step(
    lambda T: T("What needs changing in the record?"))], _finish_record_changes)
