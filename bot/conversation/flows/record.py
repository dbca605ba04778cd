"""The draft_record flow: a meeting or discussion record signed by both parties (MWW-N5, WOL-9), and
signing it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from bot.cases import protocols
from bot.conversation.engine import (SAME, SKIP, Flow, Invalid, Step, Turn, ask_choice, ask_date, ask_text,
                                     clean_answer, clip, join_hints, parse_date, past_date_hint, pick, require_answer,
                                     required_text)
from bot.core.i18n import N_, Translator
from bot.core.messages import Choice, Message, Outbound, Prompt, PromptKind, Reply
from bot.notify import notify
from bot.records import records
from storage.models import Case


# ---- meeting/discussion records signed by both parties (MWW-N5, WOL-9) -------------------------
def _record_steps() -> list[Step]:
    def kinds(t: Turn) -> list[Choice]:
        return [Choice(k, title) for k, title in records.record_kinds(t.T, t.case(), session=t.session,
                                                                       now=t.ctx.now)]

    def current(t: Turn) -> records.CaseRecord | None:
        if not t.data.get("record"):
            return None
        return records.get_record(t.ctx, t.case(), int(t.data["record"]), session=t.session)

    def kind_ask(t: Turn) -> Message | None:
        if t.data.get("record"):
            return None
        options = kinds(t)
        if len(options) == 1:
            t.data["kind"] = options[0].value
            return None
        return ask_choice(t.T("Which record is this?"), "kind", options)

    def why_ask(t: Turn) -> Message | None:
        rec = current(t)
        if rec is None or rec.standing is None:
            return None
        return ask_text(t.T("Record {n} has been signed by everyone. A correction is a new version and the signed "
                            "one is kept. Why does it need correcting?", n=rec.number), "correction_reason",
                        long=True)

    def field_step(key: str, question: str, required: bool) -> Step:
        def ask(t: Turn) -> Message:
            rec = current(t)
            before = rec.latest.fields.get(key) if rec else None
            if before and key == "date":
                before = t.T.date(dt.date.fromisoformat(before))
            hint = t.T("Now: {value} (type 'same' to keep it)", value=clip(before, 200)) if before else None
            q = t.T(question)
            if key == "date":
                return ask_date(q, key, hint=join_hints(past_date_hint(t.T), hint))
            return ask_text(q, key, long=key != "attendees", optional=not required, hint=hint)

        def answer(t: Turn, v: str) -> None:
            rec = current(t)
            if v.strip().lower() in SAME and rec and rec.latest.fields.get(key):
                t.data.setdefault("values", {})[key] = rec.latest.fields[key]
                return
            if key == "date":
                day = parse_date(v, t.today(), t.T)
                if day > t.today():
                    raise Invalid(t.T("A meeting record can't be dated in the future."))
                value = day.isoformat()
            elif not required and v.strip().lower() in SKIP:
                value = ""
            else:
                value = required_text(t, v) if required else clean_answer(t, v)
            t.data.setdefault("values", {})[key] = value

        return Step(key, ask, answer)

    questions = {
        "date": (N_("When was the meeting or discussion?"), True),
        "attendees": (N_("Who took part (names, roles and agencies)?"), True),
        "reason": (N_("What was the reason for the disagreement?"), True),
        "outcome": (N_("What outcome was agreed?"), True),
        "continuing": (N_("Any continuing concerns, from either side, and how they will be addressed? (or 'none')"),
                       False),
        "actions": (N_("Actions agreed: who will do what, by when? (or 'none')"), False),
    }

    def confirm_ask(t: Turn) -> Message:
        values = t.data.get("values", {})
        lines = [t.T("Please check the record before it is signed:")]
        for key, label in records.FIELDS:
            value = values.get(key) or "-"
            if key == "date" and values.get(key):
                value = t.T.date(dt.date.fromisoformat(values[key]))
            lines.append(f"{t.T(label)}: {clip(value)}")
        return Message("\n".join(lines), prompt=Prompt("confirm", PromptKind.CHOICE, confirm_choices(t.T)))

    return [
        Step("kind", kind_ask, lambda t, v: t.data.__setitem__("kind", pick(v, kinds(t), t.T))),
        Step("correction_reason", why_ask, lambda t, v: require_answer(t, "correction_reason", v)),
        *[field_step(k, q, req) for k, (q, req) in questions.items()],
        Step("confirm", confirm_ask,
             lambda t, v: t.data.__setitem__("confirm", pick(v, list(confirm_choices(t.T)), t.T))),
    ]


def confirm_choices(T: Translator) -> tuple[Choice, ...]:
    return (Choice("submit", T("Submit")), Choice("back", T("Back")), Choice("cancel", T("Cancel")))


def record_to_signers(t: Turn, case: Case, rec: records.CaseRecord, event: notify.Event, headline: str
                       ) -> list[Outbound]:
    """The record by direct message to the people the notification table names for ``event`` (its signatories,
    and its drafter for a signature or a request for changes), other than the actor: the record is private."""
    proto = protocols.protocol_for(case, session=t.session)
    aud = notify.Audience(signatories=tuple(pid for pid in records.signer_ids(case, rec.signers).values() if pid),
                          drafter=rec.latest.drafted_by_id)

    def build(T: Translator, person: Any, _roles: frozenset[notify.To]) -> Message:
        return records.record_message(T, case, rec, session=t.session, viewer_id=person.id,
                                      intro=T(headline, name=t.ctx.actor.name, ref=case.ref, n=rec.number))

    return notify.tell(event, case, proto, build, session=t.session, now=t.ctx.now,
                       key=f"{notify.action_key(case)}:r{rec.number}", aud=aud, actor_id=t.ctx.actor.id).queued


def _finish_record(t: Turn) -> Reply:
    case = t.case()
    number = int(t.data["record"]) if t.data.get("record") else None
    rec, ver = records.draft(t.ctx, case, values=t.data.get("values", {}), kind=t.data.get("kind", records.GENERIC),
                             number=number, correction_reason=t.data.get("correction_reason"), session=t.session)
    intro = t.T("Record {n} saved as version {v}.", n=rec.number, v=ver.version)
    if records.missing_signers(case, rec, session=t.session):
        sent = records.sent_to_phrase(t.T, case, rec, t.ctx.actor.id, session=t.session)
        intro += " " + sent if sent else ""
    reply = Reply().say(records.record_message(t.T, case, rec, session=t.session, viewer_id=t.ctx.actor.id,
                                               intro=intro))
    return reply.told(record_to_signers(t, case, rec, notify.Event.RECORD_DRAFTED, N_(
        "{name} has drafted record {n} on {ref}. Please read it, then sign it or ask for changes.")))


def sign_record(t: Turn, case: Case, number: int, version: int) -> Reply:
    rec, locked = records.sign(t.ctx, case, number, version, session=t.session)
    if locked:
        intro = t.T("You have signed record {n}. Everyone has now signed it: it is locked.", n=number)
    else:
        intro = t.T("You have signed record {n}.", n=number)
    reply = Reply().say(records.record_message(t.T, case, rec, session=t.session, viewer_id=t.ctx.actor.id,
                                               intro=intro))
    headline = (N_("{name} has signed record {n} on {ref}. Everyone has now signed it: it is locked.") if locked
                else N_("{name} has signed record {n} on {ref}."))
    return reply.told(record_to_signers(t, case, rec, notify.Event.RECORD_SIGNED, headline))


FLOW = Flow("draft_record", _record_steps(), _finish_record)
