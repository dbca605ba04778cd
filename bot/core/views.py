"""Channel-neutral views of cases: what the bot shows, built as bot.core.messages objects.

``case_view`` shows the case to an entitled person; it never includes subject details (those are
added only by ``subject_fields`` for parties, in private messages).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from bot.cases import cover
from bot.cases.protocols import protocol_for
from bot.cases.services import agency_name, states_of, status_label
from bot.core.anchors import anchor_clause, anchor_phrase
from bot.core.i18n import N_, Translator
from bot.core.messages import Button, Field, Message, Severity
from bot.core.routes import Route, for_action
from protocol.state import Action, CaseState, Item, Status
from protocol.spec import Level, Protocol, Side, StepKind
from protocol.timescales import AnchorKind, Duration, Unit
from storage import repo
from storage.models import Case

LEVEL_LABELS = {
    Level.PRACTITIONER: N_("practitioners"),
    Level.LINE_MANAGER: N_("line managers or named safeguarding leads"),
    Level.SENIOR_MANAGER: N_("senior managers"),
    Level.DIRECTOR: N_("heads or directors of service"),
    Level.BUSINESS_UNIT: N_("the board's business unit"),
    Level.INDEPENDENT_CHAIR: N_("the independent chair"),
}

# how a contact was made: the value recorded in the event, and its label
CONTACT_METHODS = {
    "meeting": N_("Meeting"), "phone": N_("Phone call"), "video": N_("Video call"), "email": N_("Email"),
    "letter": N_("Letter"), "other": N_("Other"),
}


def contact_method(T: Translator, how: object) -> str:
    """A recorded contact method in words, in the reader's language (an unknown value as it was recorded)."""
    return T(CONTACT_METHODS[how]) if isinstance(how, str) and how in CONTACT_METHODS else str(how or "")


ACTION_LABELS = {
    Action.RECORD_CONTACT: N_("Record a contact or meeting"),
    Action.COMPLETE_STEP: N_("Mark a step done"),
    Action.RECORD_OUTCOME: N_("Record the outcome"),
    Action.ESCALATE_EXCEPTIONAL: N_("Escalate to the exceptional stage"),
    Action.BYPASS: N_("Go straight to a higher stage"),
    Action.SET_PROTECTIVE_DATE: N_("Set a sooner protective date"),
    Action.EXTEND: N_("Record an extension"),
    Action.URGENT_NOTICE: N_("Send an urgent notice"),
    Action.CLOSE: N_("Close the case"),
}


def duration_phrase(T: Translator, item: Item) -> str:
    """The timescale that set the item's deadline (of two "whichever is sooner/later", the one that applied)."""
    return duration_text(T, item.due_rule or item.step.due)


def duration_text(T: Translator, d: Duration) -> str:
    """A protocol duration in words: '5 working days', 'a further 2 working days', '24 hours' ..."""
    n = d.amount
    further = d.text.startswith("a further")
    if d.unit is Unit.WORKING_DAYS:
        if further:
            return T("a further {n} working days", n=n) if n != 1 else T("a further working day")
        return T("{n} working days", n=n) if n != 1 else T("1 working day")
    if d.unit is Unit.CALENDAR_DAYS:
        return T("{n} calendar days", n=n) if n != 1 else T("1 calendar day")
    if d.unit is Unit.HOURS:
        return T("{n} hours", n=n)
    if d.unit is Unit.MONTHS:
        return T("a month") if n == 1 else T("{n} months", n=n)
    if d.unit is Unit.SAME_WORKING_DAY:
        return T("the same working day")
    if d.unit is Unit.IMMEDIATELY:
        return T("immediately")
    if d.unit is Unit.NEXT_MEETING:
        return T("the next {meeting} meeting", meeting=(d.meeting or "").replace("-", " "))
    return T("no timescale")


def _when(T: Translator, moment: dt.datetime | dt.date, cal_tz: dt.tzinfo, with_time: bool,
          with_year: bool = True) -> str:
    if isinstance(moment, dt.datetime):
        local = moment.astimezone(cal_tz)
        return T.datetime(local, with_year) if with_time else T.date(local.date(), with_year)
    return T.date(moment, with_year)


def due_phrase(T: Translator, item: Item, proto: Protocol) -> str:
    """'due by Wed 15 Apr 2026' (or with a time for hours and 'immediately')."""
    if item.due_at is None:
        if item.meeting_missing:
            return T("due at the next {meeting} meeting (no meeting date is set)",
                     meeting=(item.step.due.meeting or "").replace("-", " "))
        return T("no timescale in the protocol")
    return T("due by {when}", when=due_when(T, item, proto))


def due_when(T: Translator, item: Item, proto: Protocol) -> str:
    """The deadline alone, in words: 'Wed 15 Apr 2026' (with a time for hours, 'immediately' and a protective
    cap); '' when the item has no deadline. For a label that already says 'Due:'."""
    if item.due_at is None:
        return ""
    timed = (item.due_rule or item.step.due).unit in (Unit.HOURS, Unit.IMMEDIATELY) or item.capped
    return _when(T, item.due_at, proto.calendar().tz, timed)


def reason_phrase(T: Translator, item: Item, proto: Protocol) -> str:
    """'5 working days after Stage 1 completed on Wed 8 Apr' plus any cap or extension."""
    if item.anchor is None or item.due_at is None:
        return ""
    tz = proto.calendar().tz
    timed = item.step.due.unit in (Unit.HOURS,)
    title = step_title_of(T, proto, item.step.anchor.step)
    anchor = anchor_phrase(T, item.anchor, title)
    base = T("{duration} after {anchor} on {date}", duration=duration_phrase(T, item),
             anchor=anchor, date=_when(T, item.anchor.at, tz, timed, with_year=False))
    if item.step.due.unit is Unit.IMMEDIATELY:
        base = T("immediately when {anchor} on {date}", anchor=anchor_clause(T, item.anchor, title),
                 date=_when(T, item.anchor.at, tz, True, with_year=False))
    if item.step.due.unit is Unit.SAME_WORKING_DAY:
        base = T("the same working day as {anchor} on {date}", anchor=anchor_clause(T, item.anchor, title),
                 date=_when(T, item.anchor.at, tz, True, with_year=False))
    if item.capped and item.nominal_due_at is not None:
        base += T("; brought forward from {date} to the protective date set for this case",
                  date=T.date(item.nominal_due_at.astimezone(tz).date(), with_year=False))
    if item.extended_reason:
        base += T("; extended: {reason}", reason=item.extended_reason)
    return base


def step_title_of(T: Translator, proto: Protocol, step_id: str | None) -> str | None:
    """A step's title in the reader's language (None: no such step)."""
    try:
        return T.local(proto.step(step_id or ""))
    except KeyError:
        return None


def waiting_line(T: Translator, item: Item, proto: Protocol) -> str:
    """A step whose clock has not started: '<title> (2 working days after "<step>" is done)'."""
    a = item.step.anchor
    if a.kind is AnchorKind.STEP:
        try:
            what = T("\u201c{title}\u201d is done", title=T.local(proto.step(a.step or "")))
        except KeyError:
            what = a.step or "?"
    elif a.kind is AnchorKind.RESOLUTION:
        what = T("the resolution")
    else:
        what = T("it starts")
    return T("{title} ({duration} after {what})", title=T.local(item.step), duration=duration_phrase(T, item),
             what=what)


def stage_title(T: Translator, proto: Protocol, stage_id: str | None) -> str:
    if not stage_id:
        return T("no stage")
    s = proto.stage(stage_id)
    return T("Stage {n}: {title}", n=s.number, title=T.local(s))


def deadline_line(T: Translator, item: Item, proto: Protocol, *, overdue: bool | None = None) -> str:
    """'Stage 2 — Inter-agency discussion with the other professional: due by Wed 15 Apr 2026
    (5 working days after Stage 1 completed on Wed 8 Apr)', led by 'OVERDUE — ' when ``overdue`` (by default
    the item's own flag; pass False where the message already says it is overdue, and ``is_overdue`` for a
    case that may be resolved or closed)."""
    prefix = T("Stage {n}", n=item.stage.number) + " \u2014 " if item.stage else ""
    line = f"{prefix}{T.local(item.step)}: {due_phrase(T, item, proto)}"
    reason = reason_phrase(T, item, proto)
    if reason:
        line += f" ({reason})"
    if item.overdue if overdue is None else overdue:
        line = T("OVERDUE") + " \u2014 " + line
    return line


def outcome_line(T: Translator, deadline: Item, proto: Protocol) -> str:
    """The stage's outcome still to record once its deadline step is done: 'Stage 1 — Record the outcome of this
    stage (resolved or not): due by Wed 8 Apr 2026'."""
    prefix = T("Stage {n}", n=deadline.stage.number) + " \u2014 " if deadline.stage else ""
    return prefix + T("Record the outcome of this stage (resolved or not): {due}", due=due_phrase(T, deadline, proto))


# -- what a case has to do next ----------------------------------------------------------------------------------
ENDED = (Status.RESOLVED, Status.CLOSED)


def is_overdue(st: CaseState, item: Item) -> bool:
    """Overdue as a person is told it: never on a resolved or closed case."""
    return item.overdue and st.status not in ENDED


def overdue_items(st: CaseState) -> tuple[Item, ...]:
    """The case's overdue items as lists, overviews, digests and the App Home show them: none once the case is
    resolved or closed (the engine still knows which duties were never done)."""
    return () if st.status in ENDED else st.overdue


@dataclass(frozen=True)
class Agenda:
    """What a case shows as to do. ``next`` is the current stage's earliest deadline (a milestone brought
    forward to a protective date counts: it is the safety-critical date). ``outcome_due`` is the stage's deadline
    step once it is done while the stage's outcome is still to record: the outcome is due by that deadline, and
    is Next when nothing in the stage is due sooner (``outcome_next``). ``earlier`` are items still open from
    stages the case has left: never Next."""

    next: Item | None = None
    outcome_due: Item | None = None
    outcome_next: bool = False
    dated: tuple[Item, ...] = ()
    waiting: tuple[Item, ...] = ()
    undated: tuple[Item, ...] = ()
    earlier: tuple[Item, ...] = ()

    @property
    def first_due(self) -> Item | None:
        """The item whose date leads (the outcome's deadline step when the outcome is Next)."""
        return self.outcome_due if self.outcome_next else self.next

    def next_text(self, T: Translator, proto: Protocol, st: CaseState) -> str | None:
        """The Next line, or None when nothing is due."""
        if self.outcome_next and self.outcome_due is not None:
            return outcome_line(T, self.outcome_due, proto)
        if self.next is None:
            return None
        return deadline_line(T, self.next, proto, overdue=is_overdue(st, self.next))

    def next_short(self, T: Translator, proto: Protocol) -> str | None:
        """'<step>, due by <date>' for one-line lists."""
        if self.outcome_next and self.outcome_due is not None:
            return T("record the outcome of Stage {n}, {due}", n=self.outcome_due.stage.number if
                     self.outcome_due.stage else "?", due=due_phrase(T, self.outcome_due, proto))
        if self.next is None:
            return None
        return f"{T.local(self.next.step)}, {due_phrase(T, self.next, proto)}"


def _in_current_stage(st: CaseState, item: Item) -> bool:
    """An item of the stage in progress (or that ended the case), a milestone or after-resolution step, or a
    standing duty (it runs for the rest of the case)."""
    return item.stage is None or st.stage is None or item.stage.id == st.stage.id or item.step.standing


def agenda(st: CaseState) -> Agenda:
    if st.status is Status.CLOSED:
        return Agenda()  # nothing is due on a closed case
    current = [i for i in st.items if _in_current_stage(st, i)]
    earlier = tuple(i for i in st.items if not _in_current_stage(st, i))
    candidates = [i for i in current if i.due_at is not None
                  and (i.step.kind is not StepKind.MILESTONE or i.capped)]
    nxt = min(candidates, key=lambda i: i.due_at) if candidates else None  # type: ignore[arg-type, return-value]
    outcome_due = None
    if st.status is Status.OPEN and st.stage is not None:
        outcome_due = next((i for i in st.done if i.step.stage_deadline and i.stage is not None
                            and i.stage.id == st.stage.id and i.due_at is not None), None)
    outcome_next = outcome_due is not None and (
        nxt is None or outcome_due.due_at <= nxt.due_at)  # type: ignore[operator]
    others = [i for i in current if i is not nxt or outcome_next]
    return Agenda(
        next=None if outcome_next else nxt, outcome_due=outcome_due, outcome_next=outcome_next,
        dated=tuple(i for i in others if i.due_at is not None),
        waiting=tuple(i for i in others if i.anchor is None and i.step.due.has_deadline),
        undated=tuple(i for i in others if i.due_at is None and (i.anchor is not None or not i.step.due.has_deadline)),
        earlier=earlier,
    )


def who_acts(T: Translator, case: Case, proto: Protocol, item: Item | None, *, session: Session) -> str:
    stage = item.stage if item and item.stage else (proto.stage(case.stage_id) if case.stage_id else None)
    if stage is None:
        return ""
    level = (item.step.level if item and item.step.level else None) or stage.level
    side = item.step.by if item else stage.sides
    raising = agency_name(case.raising_agency_id, session=session)
    responding = agency_name(case.responding_agency_id, session=session)
    who = T(LEVEL_LABELS[level])
    if level in (Level.BUSINESS_UNIT, Level.INDEPENDENT_CHAIR) or side is Side.BOARD:
        return who
    if side is Side.RAISING:
        return T("{who} in {agency}", who=who, agency=raising)
    if side is Side.RESPONDING:
        return T("{who} in {agency}", who=who, agency=responding)
    return T("{who} in {a} and {b}", who=who, a=raising, b=responding)


def case_headline(T: Translator, case: Case, proto: Protocol, *, session: Session) -> str:
    """Reference, agencies and stage only: safe for any channel."""
    return T("{ref} \u00b7 {raising} \u2192 {responding} \u00b7 {stage}", ref=case.ref,
             raising=agency_name(case.raising_agency_id, session=session),
             responding=agency_name(case.responding_agency_id, session=session),
             stage=stage_title(T, proto, case.stage_id))


def action_buttons(T: Translator, case: Case, state: CaseState) -> tuple[Button, ...]:
    out = []
    for act in state.allowed:
        style = "primary" if act is Action.RECORD_OUTCOME else ("danger" if act is Action.CLOSE else None)
        out.append(Button(for_action(act.value), T(ACTION_LABELS[act]), case.ref, style))
    if case.responding_person_id is None and state.status in (Status.OPEN, Status.AWAITING_DECISION):
        out.insert(0, Button(Route.NAME_COUNTERPART, T("Name the counterpart"), case.ref))
    out.append(Button(Route.RECORDS, T("Records"), case.ref))
    if any(i.step.written_outcome and i.anchor is not None for i in state.items):
        out.insert(0, Button(Route.SEND_WRITTEN_OUTCOME, T("Send the written outcome"), case.ref, "primary"))
    return tuple(out)


def case_view(T: Translator, case: Case, state: CaseState, *, session: Session, intro: str | None = None,
              now: dt.datetime | None = None) -> Message:
    """The case as its people see it; with ``now``, who on it is away then and who covers (bot.cases.cover)."""
    proto = protocol_for(case, session=session)
    lines: list[str] = []
    if intro:
        lines.append(intro)
    if state.status is Status.RESOLVED:
        lines.append(T("Resolved at {stage}.", stage=stage_title(T, proto, case.stage_id)))
    elif state.status is Status.CLOSED:
        lines.append(T("This case is closed."))
    elif state.status is Status.AWAITING_DECISION and state.awaiting_stage is not None:
        lines.append(T("{stage} ended without agreement. {next} is used only in exceptional circumstances: "
                       "escalate to it, or close the case.", stage=stage_title(T, proto, case.stage_id),
                       next=stage_title(T, proto, state.awaiting_stage.id)))
    ag = agenda(state)
    next_text = ag.next_text(T, proto, state)
    if next_text is not None:
        lines.append(T("Next: {line}", line=next_text))
        who = who_acts(T, case, proto, ag.next, session=session)
        if who:
            lines.append(T("Who acts: {who}", who=who))
    if now is not None:
        lines.extend(cover.case_lines(T, case, now, session=session))
    if state.escalation_due:
        lines.append(T("The stage deadline has passed with no outcome recorded: record the outcome, "
                       "or escalate by recording it as not resolved."))
    if ag.dated or (ag.outcome_due is not None and not ag.outcome_next):
        lines.append(T("Also due:"))
        if ag.outcome_due is not None and not ag.outcome_next:
            lines.append(f"  \u2022 {outcome_line(T, ag.outcome_due, proto)}")
        lines.extend(f"  \u2022 {deadline_line(T, i, proto, overdue=is_overdue(state, i))}" for i in ag.dated)
    if ag.waiting:
        lines.append(T("Then, once the step before is done:"))
        lines.extend(f"  \u2022 {waiting_line(T, i, proto)}" for i in ag.waiting)
    if ag.undated:
        lines.append(T("To do (no timescale set by the protocol):"))
        lines.extend(_undated_line(T, i, proto) for i in ag.undated)
    if ag.earlier:
        lines.append(T("Still outstanding from earlier stages:"))
        for i in ag.earlier:
            lines.append(f"  \u2022 {deadline_line(T, i, proto, overdue=is_overdue(state, i))}" if i.due_at
                         else _undated_line(T, i, proto, with_stage=True))
    fields = [
        Field(T("Status"), status_label(T, state.status)),
        Field(T("Stage"), stage_title(T, proto, case.stage_id)),
        Field(T("Raised by"), _person_label(T, case.raising_person_id, case.raising_agency_id, session=session)),
        Field(T("Counterpart"), _person_label(T, case.responding_person_id, case.responding_agency_id,
                                              case.responding_person_name, session=session)),
        Field(T("Category"), _category(proto, case.category, T)),
    ]
    if state.protective_date:
        fields.append(Field(T("Protective date"), T.date(state.protective_date)))
    severity = Severity.WARNING if overdue_items(state) else Severity.INFO
    return Message(text="\n".join(lines), title=case_headline(T, case, proto, session=session),
                   fields=tuple(fields), buttons=action_buttons(T, case, state), severity=severity,
                   case_ref=case.ref)


def _undated_line(T: Translator, i: Item, proto: Protocol, with_stage: bool = False) -> str:
    prefix = T("Stage {n}", n=i.stage.number) + " \u2014 " if with_stage and i.stage else ""
    line = f"  \u2022 {prefix}{T.local(i.step)}"
    if i.meeting_missing:
        line += f": {due_phrase(T, i, proto)}"
    if i.step.to:
        line += f" \u2192 {proto.recipient(i.step.to, T.language)}"
    return line


def _category(proto: Protocol, cat: str, T: Translator | None = None) -> str:
    """A case's category title (in the reader's language when ``T`` is given)."""
    try:
        c = proto.category(cat)
    except KeyError:
        return cat
    return T.local(c) if T is not None else c.title


def _person_label(T: Translator, person_id: int | None, agency_id: int | None, name: str | None = None, *,
                  session: Session) -> str:
    person = repo.get_person(person_id, session=session) if person_id else None
    who = person.name if person else (name or "?")
    label = f"{who} ({agency_name(agency_id, session=session)})"
    # a leaver nobody could take over from yet (bot/admin/people.py)
    if person is None or person.active:
        return label
    return label + " \u2014 " + T("no longer active")


def case_list(T: Translator, cases: list[Case], now: dt.datetime, *, session: Session) -> Message:
    if not cases:
        return Message(T("You have no open cases. Type 'new' to raise a concern."))
    rows = []
    for case, st in zip(cases, states_of(cases, now, session=session), strict=True):
        proto = protocol_for(case, session=session)
        nxt = agenda(st).next_short(T, proto)
        flag = "\u26a0 " if overdue_items(st) else ""
        due = T(" \u2014 next: {line}", line=nxt) if nxt else ""
        rows.append(f"{flag}{case_headline(T, case, proto, session=session)}{due}")
    return Message("\n".join(rows), title=T("Your cases"),
                   buttons=tuple(Button(Route.VIEW, c.ref, c.ref) for c in cases))


def completable_labels(state: CaseState, T: Translator | None = None) -> list[tuple[str, str]]:
    return [(i.step.id, T.local(i.step) if T is not None else i.step.title) for i in state.completable()
            if i.step.kind in (StepKind.ACTION, StepKind.DUTY)]
