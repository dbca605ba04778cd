"""The protocols' forms, filled from the case (Cardiff & Vale Appendix 1 Parts A/B/C and Appendix 3, Swindon
Appendix 1, the Mid & West Wales Stage 2 record for the LOG Chair).

A form is declared in the board's protocol YAML: its parts, who completes each part, and for each field either
where Parley takes the value from (``from: case.what_happened``) or nothing, in which case the person completing
the part is asked for it in chat. Completing a part appends a ``form_part_completed`` event holding the part's
values *except* personal data about the child, adult or family: those go to the subject details (subject.* and
fields marked ``private``), which only entitled people ever see. A part that has a ``due_step`` completes that
step, so its deadline and reminders are the protocol's own.

Rendered as accessible HTML (headings, a description list per part, a real table for the contact log, each
part's state in words) and as PDF through WeasyPrint, with the DejaVu fonts that ship inside matplotlib so the
PDF never depends on fonts installed on the machine or on the network.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from bot.cases import permissions, protocols, services
from bot.cases.errors import ServiceError
from bot.cases.permissions import Role
from bot.cases.services import MANAGER_ROLES, Ctx
from bot.core import history, views
from bot.core.i18n import N_, Translator, translator
from bot.records import records
from protocol.state import Action, Status
from protocol.spec import Form, FormField, FormPart, Protocol
from storage import repo, subjects
from storage.models import Case, Person

YES_NO = {"yes": "Yes", "no": "No"}
COMPLETERS = {  # a part's "by" in words
    "raising": N_("the agency raising the concern"),
    "responding": N_("the responding agency"),
    "business_unit": N_("the board's business unit"),
    "line_manager": N_("a line manager or safeguarding lead"),
}


@dataclass
class FilledField:
    label: str  # the protocol's (English) label: the key the answers are kept under
    value: str = ""
    table: list[list[str]] | None = None  # the stage contact log
    private: bool = False
    withheld: bool = False  # personal data left out for this reader
    shown: str = ""  # the label in the reader's language


@dataclass
class FilledPart:
    spec: FormPart
    completed_by: str | None = None
    completed_on: dt.date | None = None
    via: str | None = None
    versions: int = 0
    fields: list[FilledField] = field(default_factory=list)
    due: str | None = None  # the part's deadline in words, while it is open
    completer: str = ""  # who completes it, in words

    @property
    def done(self) -> bool:
        return self.completed_on is not None


@dataclass
class FilledForm:
    spec: Form
    board: str
    ref: str
    parts: list[FilledPart]
    with_subject_details: bool

    @property
    def open_parts(self) -> list[FilledPart]:
        return [p for p in self.parts if not p.done]


# -- which forms, who completes -----------------------------------------------------------------------
def forms_for(case: Case, *, session: Session, now: dt.datetime) -> list[Form]:
    """The board's forms this case has reached (a form tied to a stage applies once that stage is entered)."""
    proto = protocols.protocol_for(case, session=session)
    reached = {v.stage.id for v in services.state_of(case, now, session=session).visits}
    return [f for f in proto.forms if f.stage is None or f.stage in reached]


def form_of(ctx: Ctx, case: Case, form_id: str, *, session: Session) -> Form:
    return reached_form(ctx.T, case, form_id, session=session, now=ctx.now)


def reached_form(T: Translator, case: Case, form_id: str, *, session: Session, now: dt.datetime) -> Form:
    """The board's form ``form_id`` if the case has reached it (:func:`forms_for`: the one rule for the chat and
    the command line); otherwise a ServiceError that names the forms the case has reached."""
    proto = protocols.protocol_for(case, session=session)
    for f in proto.forms:
        if f.id == form_id:
            reached = forms_for(case, session=session, now=now)
            if f not in reached:
                names = ", ".join(f"{r.id} ({T.local(r)})" for r in reached) or T("none")
                raise ServiceError(T("{form} applies once a case reaches {stage}, and {ref} has not. The forms "
                                     "{ref} has reached: {names}.", form=T.local(f), ref=case.ref,
                                     stage=views.stage_title(T, proto, f.stage), names=names))
            return f
    names = ", ".join(f.id for f in proto.forms) or T("none")
    raise ServiceError(T("This board has no form {form!r} (its forms: {names}).", form=form_id[:40], names=names))


def may_complete(person: Person, case: Case, part: FormPart, *, session: Session) -> bool:
    """The permission matrix's 'complete a form part', limited to the side the protocol names for the part."""
    roles = permissions.roles_of(person, case, session=session)
    if not roles & permissions.MATRIX[permissions.Act.FORM_PART]:
        return False
    if part.by == "business_unit":
        return Role.BUSINESS_UNIT in roles
    if part.by == "raising":
        return person.agency_id == case.raising_agency_id
    if part.by == "responding":
        return person.agency_id is not None and person.agency_id == case.responding_agency_id
    if part.by == "line_manager":
        return person.role in MANAGER_ROLES and bool(roles & {Role.MANAGER, Role.SAFEGUARDING_LEAD})
    return False


def part_to_offer(person: Person, case: Case, filled: FilledForm, *, session: Session) -> FilledPart | None:
    """The part to offer this person a button for: the first open part they may complete whose earlier parts
    are all done (parts go in order), otherwise the last part they completed (to amend it); None if neither."""
    mine = [p for p in filled.parts if may_complete(person, case, p.spec, session=session)]
    for p in mine:
        if not p.done and all(q.done for q in filled.parts[: filled.parts.index(p)]):
            return p
    done = [p for p in mine if p.done]
    return done[-1] if done else None


def completers(case: Case, part: FormPart, *, session: Session) -> list[Person]:
    """The people a part is sent to for completion: the party on that side when they are in the directory,
    otherwise that agency's safeguarding lead; the business unit; the parties' line managers."""
    if part.by == "business_unit":
        return [p for p in repo.people(case.board_id, session=session) if p.role == "business_unit"]
    if part.by in ("raising", "responding"):
        pid = case.raising_person_id if part.by == "raising" else case.responding_person_id
        person = repo.get_person(pid, session=session) if pid else None
        if person is not None and person.active:
            return [person]
        aid = case.raising_agency_id if part.by == "raising" else case.responding_agency_id
        agency = repo.get_agency(aid, session=session) if aid else None
        lead = repo.get_person(agency.safeguarding_lead_id, session=session) if agency and \
            agency.safeguarding_lead_id else None
        return [lead] if lead and lead.active else []
    out: list[Person] = []
    for pid in (case.raising_person_id, case.responding_person_id):
        party = repo.get_person(pid, session=session) if pid else None
        # their line manager; while theirs has left (bot/admin/people.py), the next one up who has not
        mgr = next((m for m in repo.managers_of(party, session=session) if m.active), None) if party else None
        if mgr and mgr not in out:
            out.append(mgr)
    return out


# -- filling -------------------------------------------------------------------------------------------
def _completions(case: Case, form_id: str, *, session: Session) -> dict[str, list]:
    out: dict[str, list] = {}
    for ev in repo.events_for(case.id, session=session):
        if ev.kind == "form_part_completed" and ev.data.get("form") == form_id:
            out.setdefault(ev.data["part"], []).append(ev)
    return out


def _person_bits(T: Translator, person: Person | None, *, session: Session) -> dict[str, str]:
    if person is None:
        return {}
    agency = services.agency_name(person.agency_id, session=session) if person.agency_id else T("Board")
    return {"by": person.name, "by_title": person.title or "", "by_agency": agency, "by_email": person.email or "",
            "by_contact": ", ".join(x for x in (person.name, person.title, person.email) if x)}


def _side_bits(case: Case, part: FormPart, *, session: Session) -> dict[str, str]:
    """What is known of an open part's completer before anyone completes it: the agency of the side that
    completes it (the raising or the responding agency)."""
    aid = {"raising": case.raising_agency_id, "responding": case.responding_agency_id}.get(part.by)
    return {"by_agency": services.agency_name(aid, session=session)} if aid else {}


# A field's source as Parley reads it, where a protocol file takes it from the wrong place (until the file is
# corrected): Cardiff & Vale's Part A asks for the name of the person raising the concern, who is the case's
# raiser, while its YAML takes whoever completed the part (a manager may complete Part A for the raiser).
SOURCE_READINGS = {("Name of person raising concern", "part.by"): "raiser.name"}


def _source(fld: FormField) -> str | None:
    return SOURCE_READINGS.get((fld.label, fld.source or ""), fld.source)


def _standing_record(case: Case, *, session: Session) -> dict[str, str]:
    """The fields of the most recent signed-and-locked meeting record, if any."""
    for rec in reversed(records.records_of(case, session=session)):
        if rec.standing is not None:
            return rec.standing.fields
    return {}


class _Sources:
    """Values for a form's ``from:`` sources, read once per rendering."""

    def __init__(self, T: Translator, case: Case, form: Form, *, session: Session, now: dt.datetime,
                 with_subject_details: bool):
        self.T, self.case, self.form, self.session, self.now = T, case, form, session, now
        self.proto: Protocol = protocols.protocol_for(case, session=session)
        self.state = services.state_of(case, now, session=session)
        self.subject = subjects.get_subject(case.id, session=session) if with_subject_details else None
        self.record = _standing_record(case, session=session)
        self.completions = _completions(case, form.id, session=session)
        self._outcome: str | None = None

    def _date(self, day: dt.date | dt.datetime | None) -> str:
        if day is None:
            return ""
        if isinstance(day, dt.datetime):
            day = self.proto.calendar().local_date(day)
        return self.T.date(day)

    def outcome(self) -> str:
        if self._outcome is None:
            self._outcome = ""
            for ev in repo.events_for(self.case.id, session=self.session):
                if ev.kind == "outcome" and ev.data.get("resolved"):
                    self._outcome = str(ev.data.get("text", ""))
        return self._outcome

    def value(self, source: str, person: dict[str, str], on: dt.date | None) -> str | list[list[str]]:
        T, case, sess = self.T, self.case, self.session
        kind, _, key = source.partition(".")
        if kind == "subject":
            s = self.subject
            if s is None:
                return ""
            dob = self._date(s.date_of_birth) if s.date_of_birth else ""
            return {"name": s.name, "dob": dob, "address": s.address, "case_number": s.case_number,
                    "name_and_dob": ", ".join(x for x in (s.name, dob) if x)}[key]
        if kind in ("raiser", "counterpart"):
            pid = case.raising_person_id if kind == "raiser" else case.responding_person_id
            aid = case.raising_agency_id if kind == "raiser" else case.responding_agency_id
            who = repo.get_person(pid, session=sess) if pid else None
            if key == "agency":
                return services.agency_name(aid, session=sess) if aid else ""
            if who is None:
                return (case.responding_person_name or "") if key == "name" else ""
            return {"name": who.name, "title": who.title or "", "email": who.email or ""}[key]
        if kind == "record":
            value = self.record.get(key, "")
            return self._date(dt.date.fromisoformat(value)) if key == "date" and value else value
        if kind == "part":
            if key == "on":
                return self._date(on) if on else ""
            return person.get(key, "")
        if kind == "form":  # form.<part>.on: the date another part was completed
            part_id = key.split(".")[0]
            evs = self.completions.get(part_id)
            return self._date(evs[0].at) if evs else ""
        st = self.state
        resolved = st.status is Status.RESOLVED
        return {
            "ref": lambda: case.ref,
            "raised_on": lambda: self._date(case.opened_at),
            "la_area": lambda: case.la_area or "",
            "category": lambda: views._category(self.proto, case.category),
            "what_happened": lambda: case.what_happened,
            "done_so_far": lambda: case.done_so_far,
            "outcome_sought": lambda: case.outcome_sought,
            "stage": lambda: views.stage_title(T, self.proto, case.stage_id),
            "resolved": lambda: T("Yes") if resolved else T("No"),
            "resolved_on": lambda: self._date(st.resolved_at) if resolved and st.resolved_at else "",
            "outcome": lambda: self.outcome() if resolved else services.status_label(T, st.status),
            "contact_log": lambda: history.contact_log_rows(T, case, session=sess),
        }[key]()


def _private_key(form: Form, part: FormPart, fld: FormField) -> str:
    return f"{form.id}/{part.id}/{fld.label}"


def fill(T: Translator, case: Case, form: Form, *, session: Session, now: dt.datetime, with_subject_details: bool
         ) -> FilledForm:
    """The form as it stands: completed parts with the values they were completed with, open parts with what
    Parley can already fill and blanks for what the completer will be asked."""
    src = _Sources(T, case, form, session=session, now=now, with_subject_details=with_subject_details)
    proto = src.proto
    parts = []
    for part in form.parts:
        evs = src.completions.get(part.id, [])
        last = evs[-1] if evs else None
        fp = FilledPart(part, versions=len(evs), completer=T(COMPLETERS.get(part.by, part.by)))
        stored: dict[str, str] = dict(last.data.get("values", {})) if last else {}
        if last is not None:
            fp.completed_by, fp.via = last.actor_label, last.via
            fp.completed_on = proto.calendar().local_date(last.at)
            person = _person_bits(T, repo.get_person(last.actor_id, session=session) if last.actor_id else None,
                                  session=session)
        else:
            person = _side_bits(case, part, session=session)
            item = next((i for i in src.state.items if part.due_step and i.step.id == part.due_step), None)
            if item is not None and item.due_at is not None:
                fp.due = views.due_when(T, item, proto)
        for fld in part.fields:
            source = _source(fld)
            private = fld.private or (source or "").startswith("subject.")
            ff = FilledField(fld.label, private=private, shown=T.local(fld, "label"))
            if private and not with_subject_details:
                ff.withheld = True
            elif private and not (source or "").startswith("subject."):
                extra = src.subject.extra if src.subject is not None else {}
                ff.value = str((extra or {}).get(_private_key(form, part, fld), ""))
            elif fld.label in stored:  # frozen when the part was completed
                ff.value = stored[fld.label]
            elif source is not None:
                v = src.value(source, person, fp.completed_on)
                if isinstance(v, list):
                    ff.table = v
                else:
                    ff.value = v
            if source == "case.contact_log" and ff.table is None and not ff.withheld:
                ff.table = history.contact_log_rows(T, case, session=session)
            fp.fields.append(ff)
        parts.append(fp)
    return FilledForm(form, T.local(proto, "name"), case.ref, parts, with_subject_details)


# -- completing a part ---------------------------------------------------------------------------------
def questions(T: Translator, case: Case, form: Form, part: FormPart, *, session: Session, now: dt.datetime
              ) -> list[FormField]:
    """What the completer is asked: the part's fields with no source, and sourced fields that are still empty
    (e.g. an address the intake did not ask for). The contact log and dates of completion are never asked."""
    return _questions(_Sources(T, case, form, session=session, now=now, with_subject_details=True), part)


def _questions(src: _Sources, part: FormPart) -> list[FormField]:
    out = []
    for fld in part.fields:
        source = _source(fld)
        if source is None:
            out.append(fld)
        elif source.startswith(("part.", "form.")) or source == "case.contact_log":
            continue
        elif src.value(source, {}, None) == "":
            out.append(FormField(fld.label, source, fld.private,
                                 "date" if source == "subject.dob" else fld.type,
                                 optional=fld.optional or source in OPTIONAL_WHEN_EMPTY, label_cy=fld.label_cy))
    return out


# sources that may stay empty on a completed part (e.g. no resolution yet, no agency case number)
OPTIONAL_WHEN_EMPTY = {"case.resolved_on", "case.la_area", "subject.case_number", "record.continuing",
                       "record.actions", "counterpart.name", "counterpart.title", "counterpart.email",
                       "raiser.title", "raiser.email"}


def complete_part(ctx: Ctx, case: Case, form_id: str, part_id: str, answers: dict[str, str], *, session: Session
                  ) -> FilledForm:
    """Complete (or, completed again, amend) one part. ``answers``: label -> text for the asked fields. Parts are
    completed in order; personal data goes to the subject details, everything else is frozen in the event."""
    T = ctx.T
    services.require_may_act(ctx, case, "complete_form_part", session=session)
    form = form_of(ctx, case, form_id, session=session)
    try:
        part = form.part(part_id)
    except KeyError:
        raise ServiceError(T("{form} has no part {part!r}.", form=T.local(form), part=part_id[:40])) from None
    if not may_complete(ctx.actor, case, part, session=session):
        raise ServiceError(T("{part} is completed by {who}.", part=T.local(part),
                             who=T(COMPLETERS.get(part.by, part.by))))
    # one read of the case for the questions and for the values frozen below (only subject details change
    # in between, and those are never frozen)
    src = _Sources(T, case, form, session=session, now=ctx.now, with_subject_details=True)
    before = form.parts[: form.parts.index(part)]
    missing = [T.local(p) for p in before if p.id not in src.completions]
    if missing:
        raise ServiceError(T("Complete {parts} first.", parts="; ".join(missing)))
    asked = {f.label: f for f in _questions(src, part)}
    clean: dict[str, str] = {}
    for label, fld in asked.items():
        value = services.clean_text(answers.get(label))
        if not value and not fld.optional:
            raise ServiceError(T("'{label}' is needed.", label=label))
        clean[label] = value
    decision = _decision(ctx, case, part, asked, clean, session=session)  # checked before anything is written
    # personal data: to the subject details, never into the event
    for label, value in clean.items():
        fld = asked[label]
        if fld.source and fld.source.startswith("subject.") and value:
            row = subjects.ensure_subject(case.id, session=session)
            key = fld.source.split(".")[1]
            if key == "dob":
                row.date_of_birth = dt.date.fromisoformat(value)
            elif key in ("name", "address", "case_number"):
                setattr(row, key, value)
            session.flush()
        elif fld.private:
            subjects.set_extra(case.id, _private_key(form, part, fld), value, session=session)
    # everything else, frozen as completed (so a later change to the case does not rewrite a signed-off form)
    person = _person_bits(T, ctx.actor, session=session)
    on = src.proto.calendar().local_date(ctx.now)
    values: dict[str, str] = {}
    for fld in part.fields:
        source = _source(fld)
        if fld.private or (source or "").startswith("subject.") or source == "case.contact_log":
            continue
        if fld.label in clean:
            values[fld.label] = _shown(T, fld, clean[fld.label])
        elif source is not None:
            v = src.value(source, person, on)
            values[fld.label] = v if isinstance(v, str) else ""
    repo.append_event(case, "form_part_completed", session=session, at=ctx.now, actor=ctx.actor, via=ctx.via,
                      data={"form": form.id, "part": part.id, "values": values})
    st = services.state_of(case, ctx.now, session=session)
    if part.due_step and any(i.step.id == part.due_step for i in st.completable()):
        note = translator()("{form}: {part} completed", form=form.title, part=part.title)  # stored, in English
        services.complete_step(ctx, case, part.due_step, on=ctx.now, note=note, session=session)
    else:
        services.refresh(case, session=session, now=ctx.now)
    if decision is not None:  # the part decides the case: recorded exactly as the outcome flow records it
        services.record_outcome(ctx, case, resolved=decision[0], text=decision[1], session=session)
    return fill(T, case, form, session=session, now=ctx.now, with_subject_details=True)


# A part that decides the case (Cardiff & Vale's Part C, completed by the Business Unit): the yes/no field with
# one of these labels says whether the case is resolved, and the part's field with OUTCOME_TEXT_LABEL says how.
RESOLVED_LABELS = ("Resolved (Y/N)",)
OUTCOME_TEXT_LABEL = "Outcome"


def _decision(ctx: Ctx, case: Case, part: FormPart, asked: dict[str, FormField], clean: dict[str, str], *,
              session: Session) -> tuple[bool, str] | None:
    """(resolved, outcome text) to record on the case with this part, or None when the case already agrees (or
    'not resolved' is not an outcome the protocol takes now). A 'resolved' the case cannot take, or a 'not
    resolved' on a resolved case, is refused before anything is written, so the form and the case agree."""
    T = ctx.T
    label = next((lb for lb in RESOLVED_LABELS if lb in asked and asked[lb].type == "yes_no"), None)
    if label is None or clean.get(label) not in YES_NO:
        return None
    resolved = clean[label] == "yes"
    st = services.state_of(case, ctx.now, session=session)
    if st.status is Status.RESOLVED:
        if resolved:
            return None
        raise ServiceError(T("{ref} is recorded as resolved, so '{label}' can't be No.", ref=case.ref,
                             label=T.local(asked[label], "label")))
    if Action.RECORD_OUTCOME not in st.allowed:
        if not resolved:
            return None
        raise ServiceError(T("{ref} can't be recorded as resolved at the moment (the case is {status}).",
                             ref=case.ref, status=services.status_label(T, st.status)))
    services.require_may_act(ctx, case, "record_outcome", session=session)
    text = clean.get(OUTCOME_TEXT_LABEL) or T("{part} completed", part=part.title)
    return resolved, text


def _shown(T: Translator, fld: FormField, value: str) -> str:
    if fld.type == "yes_no" and value in YES_NO:
        return T(YES_NO[value])
    if fld.type == "date" and value:
        return T.date(dt.date.fromisoformat(value))
    return value
