"""The routing keys of buttons, one name for each thing a button can ask, the same on every platform (a Slack
``action_id``, a Teams ``Action.Execute`` verb, a numbered console choice). The conversation's router
(bot/conversation/router.py) takes them back: ``case.<verb> REF`` acts on a case, ``esc.ack`` acknowledges an
escalation prompt, ``answer`` answers the question being asked."""

from __future__ import annotations

from enum import StrEnum

CASE = "case."  # every verb on a case starts so: the router hands what follows to the case's verb


class Route(StrEnum):
    VIEW = "case.view"
    RECORD_CONTACT = "case.record_contact"
    RECORD_OUTCOME = "case.record_outcome"
    COMPLETE_STEP = "case.complete_step"
    NAME_COUNTERPART = "case.name_counterpart"
    SEND_WRITTEN_OUTCOME = "case.send_written_outcome"
    FORM = "case.form"
    RECORDS = "case.records"
    NEW_RECORD = "case.new_record"
    SIGN_RECORD = "case.sign_record"
    RECORD_CHANGES = "case.record_changes"
    REVISE_RECORD = "case.revise_record"
    ACKNOWLEDGE = "esc.ack"
    ANSWER = "answer"


def for_action(action: str) -> str:
    """The route of one of the protocol's actions on a case (``extend``, ``bypass`` ...): ``case.<action>``."""
    return f"{CASE}{action}"
