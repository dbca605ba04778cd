"""Every flow of the conversation by name: the table the router starts flows from and the forms check against."""

from __future__ import annotations

from bot.conversation.engine import Flow
from bot.conversation.flows import (bypass, close, complete_step, contact, counterpart, escalate_exceptional, extend,
                                    form_part, intake, outcome, protective_date, record, record_changes, urgent_notice,
                                    written_outcome)

FLOWS: dict[str, Flow] = {flow.name: flow for flow in (
    intake.FLOW,
    contact.FLOW,
    outcome.FLOW,
    complete_step.FLOW,
    escalate_exceptional.FLOW,
    bypass.FLOW,
    protective_date.FLOW,
    extend.FLOW,
    urgent_notice.FLOW,
    close.FLOW,
    counterpart.FLOW,
    written_outcome.FLOW,
    record.FLOW,
    form_part.FLOW,
    record_changes.FLOW,
)}
