"""A case's history in words: the timeline of its events, the stage contact log, and each event's summary.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from bot.cases import permissions
from bot.cases.protocols import protocol_for
from bot.core.i18n import N_, Translator
from bot.core.messages import Message
from bot.core.views import contact_method, stage_title, step_title_of
from bot.records.records import GENERIC, GENERIC_TITLE
from protocol.spec import Protocol
from storage import repo
from storage.models import Case


# a side of the case, as a hand-over names it (bot/admin/people.py)
SIDE_WORDS = {"raising": permissions.ROLE_LABELS[permissions.Role.RAISER],
              "responding": permissions.ROLE_LABELS[permissions.Role.COUNTERPART]}


def timeline(T: Translator, case: Case, *, session: Session) -> Message:
    proto = protocol_for(case, session=session)
    tz = proto.calendar().tz
    lines = []
    for ev in repo.events_for(case.id, session=session):
        lines.append(f"{T.datetime(ev.at.astimezone(tz))}  {ev.actor_label} ({ev.via}): "
                     f"{event_summary(T, ev.kind, ev.data, proto)}")
    return Message("\n".join(lines), title=T("Timeline of {ref}", ref=case.ref), case_ref=case.ref)


def contact_log_rows(T: Translator, case: Case, *, session: Session, in_words: bool = False) -> list[list[str]]:
    """The stage contact log (003 Appendix 1's table, SWN-N13/N17): for each stage, the date contact was made,
    who was contacted, how, and the outcome or reason for moving on, built from the recorded contacts and the
    outcomes that ended each stage; never typed twice. One row: [stage, date, who, how, outcome]. Dates are ISO
    (as the forms print them) unless ``in_words`` (as the chat shows them: 'Tue 7 Apr 2026')."""
    proto = protocol_for(case, session=session)
    rows: list[list[str]] = []
    stage = None  # the stage in progress as the history is read
    tz = proto.calendar().tz
    for ev in repo.events_for(case.id, session=session):
        if ev.kind == "opened":
            stage = proto.stage(ev.data["bypass_to"]) if ev.data.get("bypass_to") else proto.first_stage()
        elif ev.kind == "contact":
            n = proto.stage(ev.data["stage"]).number if ev.data.get("stage") else (stage.number if stage else "?")
            on = _day(T, ev.data.get("on"), tz) if in_words else str(ev.data.get("on", ""))
            rows.append([T("Stage {n}", n=n), on, str(ev.data.get("who", "")),
                         contact_method(T, ev.data.get("how")), str(ev.data.get("outcome") or "-")])
        elif ev.kind == "outcome" and stage is not None:
            verdict = T("resolved") if ev.data.get("resolved") else T("not resolved, moved on")
            day = ev.at.astimezone(tz).date()
            rows.append([T("Stage {n}", n=stage.number), T.date(day) if in_words else day.isoformat(),
                         "\u2014", "\u2014",
                         f"{verdict}: {ev.data.get('text', '')}"])
            stage = None if ev.data.get("resolved") else proto.next_stage(stage.id)
        elif ev.kind in ("escalated", "bypassed"):
            target = proto.bypass.to if ev.kind == "bypassed" and proto.bypass else None
            stage = proto.stage(target) if target else stage
    return rows


CONTACT_LOG_HEADER = (N_("Stage"), N_("Date contact made"), N_("Who was contacted"), N_("How"),
                      N_("Outcome / reason for moving on"))


def contact_log(T: Translator, case: Case, *, session: Session) -> Message:
    rows = contact_log_rows(T, case, session=session, in_words=True)
    header = " | ".join(T(h) for h in CONTACT_LOG_HEADER)
    body = "\n".join(" | ".join(r) for r in rows) if rows else T("No contacts recorded yet.")
    return Message(f"{header}\n{body}", title=T("Contact log of {ref}", ref=case.ref), case_ref=case.ref)


def _day(T: Translator, value: object, tz: dt.tzinfo) -> str:
    """A stored ISO date (or datetime) in words, in the reader's language; anything else as it was stored."""
    if not value:
        return ""
    try:
        text = str(value)
        if "T" in text or " " in text.strip():
            moment = dt.datetime.fromisoformat(text)
            return T.date((moment if moment.tzinfo else moment.replace(tzinfo=tz)).astimezone(tz).date())
        return T.date(dt.date.fromisoformat(text))
    except ValueError:
        return str(value)


def _stage_name(T: Translator, proto: Protocol, stage_id: object) -> str:
    try:
        return stage_title(T, proto, str(stage_id)) if stage_id else T("the stage")
    except KeyError:
        return str(stage_id)


def _bypass_reason(T: Translator, proto: Protocol, reason_id: object) -> str:
    """A bypass reason id as the protocol words it (a reason typed in full is shown as it is)."""
    for r in proto.bypass.reasons if proto.bypass else ():
        if r.id == reason_id:
            return T.local(r, "text")
    return str(reason_id or "")


def _flag_step_title(T: Translator, proto: Protocol, name: object) -> str | None:
    """The title of the step a yes/no flag decides (its ``when: flag:<name>``)."""
    return next((T.local(st) for _, st in proto.all_steps() if st.when == f"flag:{name}"), None)


def _refusal(T: Translator, data: dict) -> str:
    """A refused request, with its reason as far as the stored event tells it: the request, and the person's roles
    on the case when they were refused (bot.cases.services.require_may_act stores both)."""
    action = data.get("action")
    act = permissions.ACTION_NAMES.get(str(action))
    what = T(act.value) if act else str(action or "?").replace("_", " ")
    roles = data.get("roles")
    if roles is None and data.get("prompt"):
        # allowed on the case, but the escalation prompt was meant for another agency's or level's managers
        return T("was refused \u201c{action}\u201d: that prompt was for other managers", action=what)
    if roles is None:
        return T("was refused \u201c{action}\u201d", action=what)
    if not roles or set(roles) == {permissions.Role.OTHER.value}:
        return T("was refused \u201c{action}\u201d: not one of the people in this disagreement, their managers "
                 "or the board's business unit", action=what)
    if act is None:
        return T("was refused \u201c{action}\u201d", action=what)
    return T("was refused \u201c{action}\u201d: that is for {who}", action=what, who=permissions.who_may(T, act))


def event_summary(T: Translator, kind: str, data: dict, proto: Protocol) -> str:
    """One event of the case's history as a sentence in the reader's language: ids shown as the protocol's words
    (stages, steps, bypass reasons), dates in words."""
    tz = proto.calendar().tz

    def step_title(step_id: str | None) -> str:
        return step_title_of(T, proto, step_id) or step_id or "?"

    if kind == "opened":
        if data.get("bypass_to"):
            return T("concern raised, going straight to {stage}: {reason}",
                     stage=_stage_name(T, proto, data["bypass_to"]),
                     reason=_bypass_reason(T, proto, data.get("bypass_reason")))
        return T("concern raised")
    if kind == "counterpart_named":
        return T("counterpart named: {name}", name=data.get("name") or "?")
    if kind == "handed_over":
        why = (T("their line manager") if data.get("why") == "line_manager"
               else T("their agency's safeguarding lead"))
        return T("{leaver} left; their part ({side}) passed to {holder}, {why}", leaver=data.get("from") or "?",
                 side=T(SIDE_WORDS.get(data.get("side", ""), "?")), holder=data.get("to") or "?", why=why)
    if kind == "holder_missing":
        return T("{leaver} left and nobody could take over their part ({side}): the business unit was told",
                 leaver=data.get("from") or "?", side=T(SIDE_WORDS.get(data.get("side", ""), "?")))
    if kind == "immediate_risk_answered":
        if data.get("risk"):
            return T("immediate risk reported; same-working-day route shown")
        return T("no immediate risk reported")
    if kind == "contact":
        line = T("contact on {on} with {who} by {how}: {outcome}", on=_day(T, data.get("on"), tz),
                 who=data.get("who"), how=contact_method(T, data.get("how")).lower(),
                 outcome=data.get("outcome") or "-")
        if data.get("step"):
            line += " " + T("(done: {title})", title=step_title(data.get("step")))
        return line
    if kind == "step_done":
        if data.get("on"):
            return T("done on {date}: {title}", date=_day(T, data.get("on"), tz), title=step_title(data.get("step")))
        return T("done: {title}", title=step_title(data.get("step")))
    if kind == "outcome":
        return (T("resolved: {text}", text=data.get("text", "")) if data.get("resolved")
                else T("not resolved: {text}", text=data.get("text", "")))
    if kind == "escalated":
        return T("escalated to the exceptional stage: {reason}", reason=data.get("reason", ""))
    if kind == "bypassed":
        line = T("went straight to {stage}: {reason}",
                 stage=_stage_name(T, proto, proto.bypass.to if proto.bypass else None),
                 reason=_bypass_reason(T, proto, data.get("reason")))
        if data.get("details"):
            line += f" ({data['details']})"
        return line
    if kind == "protective_date":
        if not data.get("date"):
            return T("protective date cleared")
        return T("protective date set to {date}", date=_day(T, data.get("date"), tz))
    if kind == "extended":
        return T("extended {title} to {until}: {reason}", title=step_title(data.get("step")),
                 until=_day(T, data.get("until"), tz), reason=data.get("reason", ""))
    if kind == "closed":
        return T("closed: {reason}", reason=data.get("reason", ""))
    if kind == "flag":
        title = _flag_step_title(T, proto, data.get("name"))
        if title is None:
            return T("recorded {name}: {value}", name=data.get("name"), value=T("Yes") if data.get("value")
                     else T("No"))
        return (T("answered that \u201c{title}\u201d applies", title=title) if data.get("value")
                else T("answered that \u201c{title}\u201d does not apply", title=title))
    if kind == "refused":
        return _refusal(T, data)
    if kind == "escalation_prompted":
        return T("no outcome was recorded by the deadline of {stage}, so managers were asked to take ownership",
                 stage=_stage_name(T, proto, data.get("stage")))
    if kind == "escalation_acknowledged":
        if data.get("agency"):
            return T("took ownership of the escalation after {stage} for {agency}",
                     stage=_stage_name(T, proto, data.get("stage")), agency=data["agency"])
        return T("took ownership of the escalation after {stage}", stage=_stage_name(T, proto, data.get("stage")))
    if kind == "form_part_completed":
        return T("completed {part} of {form}", **_form_part_titles(T, proto, data))
    if kind == "anonymised":
        return T("anonymised under the retention policy (the subject details and the text typed were erased)")
    if kind == "urgent_notice":
        return T("urgent notice sent")
    if kind == "written_outcome_sent":
        return T("written outcome sent")
    if kind == "subject_details_recorded":
        return T("subject details recorded (kept private)")
    if kind == "record_drafted":
        if data.get("correction_reason"):
            return T("record {n} version {v} drafted, correcting the signed version: {reason}", n=data.get("record"),
                     v=data.get("version"), reason=data.get("correction_reason"))
        return T("record {n} version {v} drafted: {title}", n=data.get("record"), v=data.get("version"),
                 title=_record_title(T, proto, data))
    if kind == "record_signed":
        locked = T(" (now signed by everyone: locked)") if data.get("locks") else ""
        return T("record {n} version {v} signed{locked}", n=data.get("record"), v=data.get("version"), locked=locked)
    if kind == "record_changes_requested":
        return T("changes asked for on record {n} version {v}: {text}", n=data.get("record"), v=data.get("version"),
                 text=data.get("changes", ""))
    if kind == "preconditions_answered":
        return T("preliminary questions answered")
    return kind.replace("_", " ")


def _form_part_titles(T: Translator, proto: Protocol, data: dict) -> dict[str, str]:
    form = next((f for f in proto.forms if f.id == data.get("form")), None)
    part = next((p for p in form.parts if p.id == data.get("part")), None) if form else None
    return {"form": T.local(form) if form else str(data.get("form") or "?"),
            "part": T.local(part) if part else str(data.get("part") or "?")}


def _record_title(T: Translator, proto: Protocol, data: dict) -> str:
    """A drafted record's title in the reader's language (see bot.records.records.record_title)."""
    for s in proto.stages:
        for r in s.records:
            if r.id == data.get("kind"):
                return T.local(r)
    return T(GENERIC_TITLE) if data.get("kind") == GENERIC else str(data.get("title", ""))
