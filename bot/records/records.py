"""Meeting and discussion records signed by both parties (MWW-N5: "a record ... signed by both parties and
maintained within the child/adult's case file"; WOL-9: professionals "approve and date the record").

A record lives only in the case's append-only event history:

- ``record_drafted``: a version of record N (fields, who drafted it, whether it corrects a locked version
  and why); the drafter signs it at once when they are one of its signatories;
- ``record_signed``: a signature on one version (who, when and via which channel are the event's own);
- ``record_changes_requested``: a signatory asks for changes to an unlocked version.

A version is *locked* once every signatory has signed it. Nothing is ever overwritten: a revision before
locking and a correction after it are new versions; the earlier versions stay readable with their
signatures. While a correction waits for signatures, the last locked version stands.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from bot.cases import protocols, services
from bot.cases.errors import ServiceError
from bot.cases.services import Ctx
from bot.core.i18n import N_, Translator
from bot.core.messages import Button, Field, Message, Severity
from bot.core.routes import Route
from protocol.spec import Protocol, Record
from storage import repo
from storage.models import Case, Person

GENERIC = "discussion"  # a meeting/discussion record any board may keep
GENERIC_TITLE = N_("Record of a meeting or discussion")
DEFAULT_SIGNERS = ("raiser", "counterpart")
FIELDS = (  # (key, label): the record's content, in the order it is asked and shown
    ("date", N_("Date of the meeting or discussion")),
    ("attendees", N_("Attendees")),
    ("reason", N_("Reason for the disagreement")),
    ("outcome", N_("Agreed outcome")),
    ("continuing", N_("Continuing concerns")),
    ("actions", N_("Actions (who, what, by when)")),
)
REQUIRED = ("date", "attendees", "reason", "outcome")


@dataclass
class Signature:
    person_id: int
    name: str
    at: dt.datetime
    via: str


@dataclass
class Version:
    version: int
    fields: dict[str, str]
    drafted_by: str
    drafted_by_id: int | None
    drafted_at: dt.datetime
    via: str
    correction_reason: str | None = None  # set when this version corrects a locked one
    signatures: list[Signature] = field(default_factory=list)
    changes_requested: list[tuple[str, dt.datetime, str]] = field(default_factory=list)
    locked_at: dt.datetime | None = None

    def signed_by(self, person_id: int) -> bool:
        return any(s.person_id == person_id for s in self.signatures)


@dataclass
class CaseRecord:
    number: int
    kind: str
    title: str
    stage_number: int | None
    signers: tuple[str, ...]
    versions: list[Version]

    @property
    def latest(self) -> Version:
        return self.versions[-1]

    @property
    def standing(self) -> Version | None:
        """The last locked version: the record as agreed."""
        return next((v for v in reversed(self.versions) if v.locked_at is not None), None)

    @property
    def pending(self) -> Version | None:
        """The latest version when it still waits for signatures."""
        return self.latest if self.latest.locked_at is None else None


# -- who signs ---------------------------------------------------------------------------------
def signer_ids(case: Case, signers: tuple[str, ...]) -> dict[str, int | None]:
    """Signatory role -> the person who signs for it (None: not in the directory, so can't sign in chat)."""
    out: dict[str, int | None] = {}
    for role in signers:
        if role == "raiser":
            out[role] = case.raising_person_id
        elif role == "counterpart":
            out[role] = case.responding_person_id
    return out


def record_kinds(T: Translator, case: Case, *, session: Session, now: dt.datetime) -> list[tuple[str, str]]:
    """(id, title) of the records this case can keep: the protocol's records for the stages it has reached,
    then the general meeting/discussion record."""
    proto = protocols.protocol_for(case, session=session)
    st = services.state_of(case, now, session=session)
    reached = {v.stage.id for v in st.visits}
    out = [(r.id, T.local(r)) for s in proto.stages if s.id in reached for r in s.records]
    out.append((GENERIC, T(GENERIC_TITLE)))
    return out


def _spec(proto: Protocol, kind: str) -> tuple[Record | None, int | None]:
    for s in proto.stages:
        for r in s.records:
            if r.id == kind:
                return r, s.number
    return None, None


# -- reading -----------------------------------------------------------------------------------
def records_of(case: Case, *, session: Session) -> list[CaseRecord]:
    """Every record of the case with all its versions, folded from the event history."""
    recs: dict[int, CaseRecord] = {}
    for ev in repo.events_for(case.id, session=session):
        d = ev.data
        if ev.kind == "record_drafted":
            n = int(d["record"])
            if n not in recs:
                recs[n] = CaseRecord(n, d["kind"], d["title"], d.get("stage"), tuple(d.get("signers") or ()), [])
            recs[n].versions.append(Version(int(d["version"]), dict(d["fields"]), ev.actor_label, ev.actor_id,
                                            ev.at, ev.via, d.get("correction_reason")))
        elif ev.kind == "record_signed":
            rec = recs[int(d["record"])]
            ver = rec.versions[int(d["version"]) - 1]
            ver.signatures.append(Signature(int(d["person"]), ev.actor_label, ev.at, ev.via))
            if d.get("locks"):
                ver.locked_at = ev.at
        elif ev.kind == "record_changes_requested":
            ver = recs[int(d["record"])].versions[int(d["version"]) - 1]
            ver.changes_requested.append((ev.actor_label, ev.at, str(d.get("changes", ""))))
    return [recs[n] for n in sorted(recs)]


def get_record(ctx: Ctx, case: Case, number: int, *, session: Session) -> CaseRecord:
    for rec in records_of(case, session=session):
        if rec.number == number:
            return rec
    raise ServiceError(ctx.T("{ref} has no record {n}.", ref=case.ref, n=number))


# -- writing -----------------------------------------------------------------------------------
def _clean_fields(ctx: Ctx, values: dict[str, str]) -> dict[str, str]:
    out = {}
    for key, _label in FIELDS:
        out[key] = services.clean_text(values.get(key))
    for key in REQUIRED:
        if not out[key]:
            label = dict(FIELDS)[key]
            raise ServiceError(ctx.T("The record needs '{label}'.", label=ctx.T(label)))
    return out


def draft(ctx: Ctx, case: Case, *, values: dict[str, str], kind: str = GENERIC, number: int | None = None,
          correction_reason: str | None = None, session: Session) -> tuple[CaseRecord, Version]:
    """A new record (``number`` None) or a new version of record ``number``: a revision while it is unsigned,
    a correction (with its reason) once it is locked. The signatories are the case's two parties (or those the
    protocol's record names): a drafter who is one signs it as they save it; a manager or the business unit who
    drafts it is not a signatory, and the parties sign."""
    services.require_may_act(ctx, case, "write_record", session=session)
    fields = _clean_fields(ctx, values)
    day = dt.date.fromisoformat(fields["date"])
    proto = protocols.protocol_for(case, session=session)
    if day > proto.calendar().local_date(ctx.now):
        raise ServiceError(ctx.T("A meeting record can't be dated in the future."))
    existing = records_of(case, session=session)
    if number is None:
        if kind not in {k for k, _ in record_kinds(ctx.T, case, session=session, now=ctx.now)}:
            raise ServiceError(ctx.T("That kind of record isn't available on {ref}.", ref=case.ref))
        spec, stage_number = _spec(proto, kind)
        title = spec.title if spec else GENERIC_TITLE  # stored in English; shown by record_title
        signers = (spec.signed_by if spec and spec.signed_by else DEFAULT_SIGNERS)
        if stage_number is None:
            stage_number = case.stage_number
        number, version, reason = max((r.number for r in existing), default=0) + 1, 1, None
    else:
        rec = get_record(ctx, case, number, session=session)
        kind, title, signers, stage_number = rec.kind, rec.title, rec.signers, rec.stage_number
        version = rec.latest.version + 1
        reason = None
        if rec.latest.locked_at is not None or rec.standing is not None:
            reason = services.clean_text(correction_reason)
            if not reason:
                raise ServiceError(ctx.T("A correction to a signed record needs its reason."))
    repo.append_event(case, "record_drafted", session=session, at=ctx.now, actor=ctx.actor, via=ctx.via, data={
        "record": number, "version": version, "kind": kind, "title": title, "stage": stage_number,
        "signers": list(signers), "fields": fields, "correction_reason": reason})
    if ctx.actor.id in signer_ids(case, tuple(signers)).values():
        _sign(ctx, case, number, version, tuple(signers), set(), session=session)  # a new version: unsigned
    services.refresh(case, session=session, now=ctx.now)
    rec = get_record(ctx, case, number, session=session)
    return rec, rec.versions[version - 1]


def _sign(ctx: Ctx, case: Case, number: int, version: int, signers: tuple[str, ...], signed_before: set[int], *,
          session: Session) -> bool:
    """Append the actor's signature; True when it completes the signatories (the version is locked)."""
    ids = {pid for pid in signer_ids(case, signers).values() if pid is not None}
    signed = signed_before | {ctx.actor.id}
    locks = ids <= signed and len(ids) == len(signers)
    repo.append_event(case, "record_signed", session=session, at=ctx.now, actor=ctx.actor, via=ctx.via,
                      data={"record": number, "version": version, "person": ctx.actor.id, "locks": locks})
    return locks


def sign(ctx: Ctx, case: Case, number: int, version: int, *, session: Session) -> tuple[CaseRecord, bool]:
    """Sign version ``version`` of record ``number``; returns the record and whether this locked it."""
    services.require_may_act(ctx, case, "sign_record", session=session)
    rec = get_record(ctx, case, number, session=session)
    check_signable(ctx, case, rec, version)
    locks = _sign(ctx, case, number, version, rec.signers, {sig.person_id for sig in rec.latest.signatures},
                  session=session)
    services.refresh(case, session=session, now=ctx.now)
    return get_record(ctx, case, number, session=session), locks


def request_changes(ctx: Ctx, case: Case, number: int, version: int, changes: str, *, session: Session
                    ) -> CaseRecord:
    services.require_may_act(ctx, case, "request_record_changes", session=session)
    rec = get_record(ctx, case, number, session=session)
    check_signable(ctx, case, rec, version)
    text = services.clean_text(changes)
    if not text:
        raise ServiceError(ctx.T("Please say what needs changing."))
    repo.append_event(case, "record_changes_requested", session=session, at=ctx.now, actor=ctx.actor,
                      via=ctx.via, data={"record": number, "version": version, "changes": text})
    services.refresh(case, session=session, now=ctx.now)
    return get_record(ctx, case, number, session=session)


def check_signable(ctx: Ctx, case: Case, rec: CaseRecord, version: int) -> None:
    """Refuse, with the reason, a signature or a request for changes the record cannot take from this person."""
    T = ctx.T
    if ctx.actor.id not in signer_ids(case, rec.signers).values():
        raise ServiceError(T("Only the people the record names as signatories can sign it or ask for changes."))
    if not 1 <= version <= len(rec.versions):
        raise ServiceError(T("Record {n} on {ref} has no version {v}.", n=rec.number, ref=case.ref, v=version))
    if version != rec.latest.version:
        raise ServiceError(T("Version {v} of record {n} has been replaced by version {latest}; please read "
                             "that one.", v=version, n=rec.number, latest=rec.latest.version))
    ver = rec.latest
    if ver.locked_at is not None:
        raise ServiceError(T("Record {n} on {ref} is already signed by everyone and locked. To change it, "
                             "draft a correction.", n=rec.number, ref=case.ref))
    if ver.signed_by(ctx.actor.id):
        raise ServiceError(T("You have already signed version {v} of record {n}.", v=version, n=rec.number))


def recipients(case: Case, rec: CaseRecord, actor_id: int | None, *, session: Session) -> list[Person]:
    """The signatories the record is actually sent to: those in the directory, other than the drafter."""
    out: list[Person] = []
    for _role, pid in signer_ids(case, rec.signers).items():
        if pid is None or pid == actor_id:
            continue
        person = repo.get_person(pid, session=session)
        if person is not None and person not in out:
            out.append(person)
    return out


def names_and(T: Translator, names: list[str]) -> str:
    """'Bob Evans', 'Bob Evans and Sam Patel', 'A, B and C'."""
    if len(names) <= 1:
        return "".join(names)
    return T("{first} and {last}", first=", ".join(names[:-1]), last=names[-1])


def _unnamed_counterpart(case: Case, rec: CaseRecord) -> bool:
    return any(pid is None for pid in signer_ids(case, rec.signers).values())


def sent_to_phrase(T: Translator, case: Case, rec: CaseRecord, actor_id: int | None, *, session: Session) -> str:
    """Who the drafter's record has been sent to, in words: the signatories who really get it (see
    :func:`recipients`), and a counterpart who cannot get it because they are not in the directory. Empty when
    there is nobody else to sign."""
    people = recipients(case, rec, actor_id, session=session)
    out = []
    if people:
        out.append(T("It has been sent to {names} to sign or ask for changes.",
                     names=names_and(T, [p.name for p in people])))
    if _unnamed_counterpart(case, rec):
        if people:
            out.append(T("The counterpart is not in the directory, so they could not be sent it: name them on the "
                         "case first (counterpart {ref}).", ref=case.ref))
        else:
            out.append(T("Nobody could be sent it: the counterpart is not in the directory; name them on the case "
                         "first (counterpart {ref}).", ref=case.ref))
    return " ".join(out)


def missing_signers(case: Case, rec: CaseRecord, *, session: Session) -> list[tuple[str, Person | None]]:
    """(role, person) of the signatories who have not signed the latest version."""
    out = []
    for role, pid in signer_ids(case, rec.signers).items():
        if pid is None or not rec.latest.signed_by(pid):
            out.append((role, repo.get_person(pid, session=session) if pid else None))
    return out


# -- showing -----------------------------------------------------------------------------------
def record_title(T: Translator, proto: Protocol, rec: CaseRecord) -> str:
    """The record's title in the reader's language: the protocol's record (``title_cy``), the general meeting
    record, or the title stored when it was drafted."""
    spec, _ = _spec(proto, rec.kind)
    if spec is not None:
        return T.local(spec)
    if rec.kind == GENERIC:
        return T(GENERIC_TITLE)
    return rec.title


def _fmt_sig(T: Translator, s: Signature, tz: dt.tzinfo) -> str:
    return T("{name}, {when} (via {via})", name=s.name, when=T.datetime(s.at.astimezone(tz)), via=s.via)


def record_message(T: Translator, case: Case, rec: CaseRecord, *, session: Session, version: int | None = None,
                   viewer_id: int | None = None, intro: str | None = None) -> Message:
    """One version of a record (the latest by default), with its signatures and the record's history.
    Sent privately: a record's free text can name the child or adult."""
    proto = protocols.protocol_for(case, session=session)
    tz = proto.calendar().tz
    ver = rec.versions[(version or rec.latest.version) - 1]
    # a reader who may not see the subject details (e.g. another manager in one of the agencies) sees the record
    # with the child's or adult's name, date of birth ... withheld
    withhold = services.subject_withholder(T, case, viewer_id, session=session)
    lines = [intro] if intro else []
    if ver.locked_at is not None:
        state = T("Signed by everyone and locked on {when}.", when=T.datetime(ver.locked_at.astimezone(tz)))
        if ver is not rec.latest and rec.latest.locked_at is None:
            state += " " + T("A later version (version {v}) is waiting for signatures.", v=rec.latest.version)
        elif ver is not rec.standing:
            state += " " + T("It has been replaced by version {v}.", v=rec.standing.version)  # type: ignore[union-attr]
    else:
        missing = missing_signers(case, rec, session=session)
        waiting = [p.name for _, p in missing if p is not None]
        states = [T("Waiting for the signature of {names}.", names=names_and(T, waiting))] if waiting else []
        if any(p is None for _, p in missing):
            states.append(T("The counterpart is not in the directory, so they can't sign it yet: name them on the "
                            "case first (counterpart {ref}).", ref=case.ref))
        state = " ".join(states)
        if rec.standing is not None:
            state += " " + T("Until then version {v} stands.", v=rec.standing.version)
    lines.append(state)
    if ver.correction_reason:
        lines.append(T("This version corrects version {v}: {reason}", v=ver.version - 1,
                       reason=withhold(ver.correction_reason)))
    for who, at, text in ver.changes_requested:
        lines.append(T("{who} asked for changes ({when}): {text}", who=who, when=T.datetime(at.astimezone(tz)),
                       text=withhold(text)))
    fields = []
    for key, label in FIELDS:
        value = withhold(ver.fields.get(key) or "-")
        if key == "date" and ver.fields.get(key):
            value = T.date(dt.date.fromisoformat(ver.fields[key]))
        fields.append(Field(T(label), value))
    fields.append(Field(T("Drafted by"), T("{name}, {when} (via {via})", name=ver.drafted_by,
                                           when=T.datetime(ver.drafted_at.astimezone(tz)), via=ver.via)))
    fields.append(Field(T("Signatures"), "; ".join(_fmt_sig(T, s, tz) for s in ver.signatures) or T("none yet")))
    if len(rec.versions) > 1:
        history = []
        for v in rec.versions:
            mark = T("locked") if v.locked_at else T("not locked")
            history.append(T("v{v} by {who} ({mark})", v=v.version, who=v.drafted_by, mark=mark))
        fields.append(Field(T("Versions"), "; ".join(history)))
    buttons = []
    value = f"{case.ref} {rec.number} {rec.latest.version}"
    if viewer_id is not None and rec.latest.locked_at is None and not rec.latest.signed_by(viewer_id) and \
            viewer_id in signer_ids(case, rec.signers).values():
        buttons.append(Button(Route.SIGN_RECORD, T("Sign"), value, "primary"))
        buttons.append(Button(Route.RECORD_CHANGES, T("Ask for changes"), value))
    if rec.latest.locked_at is None:
        buttons.append(Button(Route.REVISE_RECORD, T("Revise"), f"{case.ref} {rec.number}"))
    else:
        buttons.append(Button(Route.REVISE_RECORD, T("Correct"), f"{case.ref} {rec.number}"))
    title = T("{ref} record {n}, version {v}: {title}", ref=case.ref, n=rec.number, v=ver.version,
              title=record_title(T, proto, rec))
    return Message("\n".join(lines), title=title, fields=tuple(fields), buttons=tuple(buttons), case_ref=case.ref,
                   private=True, severity=Severity.SUCCESS if ver.locked_at else Severity.INFO)


def records_list(T: Translator, case: Case, *, session: Session) -> Message:
    recs = records_of(case, session=session)
    proto = protocols.protocol_for(case, session=session)
    lines = []
    for rec in recs:
        if rec.latest.locked_at is not None:
            state = T("locked")
        elif rec.standing is not None:
            state = T("correction waiting for signatures (version {v} stands)", v=rec.standing.version)
        else:
            state = T("waiting for signatures")
        lines.append(T("Record {n}: {title} \u2014 version {v}, {state}", n=rec.number,
                       title=record_title(T, proto, rec),
                       v=rec.latest.version, state=state))
    if not lines:
        lines.append(T("No records yet."))
    lines.append(T("Type 'record {ref}' to draft one, or 'record {ref} N' to read record N.", ref=case.ref))
    return Message("\n".join(lines), title=T("Records of {ref}", ref=case.ref), case_ref=case.ref,
                   buttons=(Button(Route.NEW_RECORD, T("Draft a record"), case.ref, "primary"),))
