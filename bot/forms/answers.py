"""One door for a submitted form, the same on every platform: Slack's modals and Teams' cards both hand the answers
here and render what comes back. The risk question leads to the intake (its description prefilled when the
concern was raised from a message); a form with problems comes back with every answer as typed and each problem
at its field; a form taken gives the reply. Adapters keep only translation: reading a submission, drawing a form.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from bot.core.messages import FieldKind, Form, Reply
from bot.forms.forms import INTAKE_FORM, OUTCOME_FORM, RISK_FORM, Forms


@dataclass(frozen=True)
class Answered:
    form: Form | None = None  # to show: the same form again (problems in ``errors``), or the next one
    values: dict[str, str] = field(default_factory=dict)  # the answers as typed, for a form shown again
    errors: dict[str, str] = field(default_factory=dict)  # field id (or "") -> the problem
    reply: Reply | None = None  # the form was taken: what the person is told
    changed: bool = False  # something was recorded, which a second submission must not repeat


def filled(form: Form, values: dict[str, str]) -> Form:
    """``form`` with the answers as typed (a person picked on a platform is the platform's to show again)."""
    return dataclasses.replace(form, fields=tuple(
        dataclasses.replace(f, initial=values[f.id]) if values.get(f.id) and f.kind is not FieldKind.PERSON else f
        for f in form.fields))


def with_context(form: Form, context: str) -> Form:
    return dataclasses.replace(form, context=context)


def answer(forms: Forms, person_id: int, form_id: str, values: dict[str, str], context: str = "", *,
           prefill_what: str | None = None) -> Answered:
    """Take a submitted form (``form_id``: risk, intake or outcome) and say what to show next."""
    if form_id == RISK_FORM:
        res = forms.submit_risk(person_id, values)
        if res.errors:
            return Answered(filled(forms.risk(person_id), values), values, res.errors)
        assert res.next_form is not None
        nxt = res.next_form
        if prefill_what and nxt.id == INTAKE_FORM:  # raised from a message: its text describes the concern
            nxt = dataclasses.replace(forms.intake(person_id, prefill_what=prefill_what), context=nxt.context,
                                      intro=nxt.intro, intro_severity=nxt.intro_severity)
        return Answered(nxt, changed=True)
    res = forms.submit(person_id, form_id, values, context)
    if res.errors:
        again = forms.outcome(person_id, context) if form_id == OUTCOME_FORM else \
            with_context(forms.intake(person_id), context)
        return Answered(filled(again, values), values, res.errors)
    assert res.reply is not None
    return Answered(reply=res.reply, changed=True)
