"""Joiners, leavers and movers: a person deactivated (a leaver) or made active again, and the hand-over of the open
cases a leaver held.

A deactivated person stays in the directory, so that their cases' history still names them, but is told nothing
more (bot/notify/notify.py leaves out anyone who is not active and passes over a manager who has left for the next
one up; messages still waiting for them are stopped), may no longer act (whatever they send, Parley answers that
their account is no longer active), is offered in no list of people, and the spreadsheet export leaves them out.
They are deactivated by ``parley directory import --deactivate-missing`` or by the business unit or an administrator
in chat (``leaver EMAIL``), and made active again by an import that lists them or by ``reactivate EMAIL``.

**Hand-over.** Each open case where a leaver is the raiser or the counterpart passes to the person the protocol's
line-manager level names for their side: their line manager (the next one up when that one has left too), or else
the safeguarding lead of the case's agency on that side. It is recorded as a case event (``handed_over``: who, to
whom, why) and an audit entry, and the new holder, the other party and the business unit are told (bot/notify's
``handed_over``). When nobody active can take it, the business unit is told once (``no_holder``; the case event
``holder_missing``), ``parley directory check`` lists the case, and the next change to the directory that gives
that side someone (an import, a reactivation) hands it over. A mover needs nothing here: who is told is worked out
from the directory as it is when each message is sent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from bot.cases import permissions, protocols, services
from bot.cases.errors import PermissionDenied, ServiceError
from bot.cases.permissions import Role
from bot.cases.services import Ctx
from bot.core import views
from bot.core.i18n import N_, Translator, translator
from bot.core.messages import Message, Outbound, Reply, Severity
from bot.notify import notify
from storage import people_repo, repo
from storage.models import Case, Person

SIDES = ("raising", "responding")
SIDE_WORDS = {"raising": permissions.ROLE_LABELS[Role.RAISER], "responding": permissions.ROLE_LABELS[Role.COUNTERPART]}
STOPPED = "person deactivated"  # why the messages still waiting for a leaver were not sent (the outbox's last_error)
# the chat commands (bot/conversation/router.py): the word typed -> what it does
COMMANDS = {"leaver": "deactivate", "deactivate": "deactivate", "reactivate": "reactivate"}
INACTIVE = N_("Your Parley account is no longer active, so Parley can't do this for you. If you still work with the "
              "partnership, ask your board's business unit to make your account active again.")


@dataclass(frozen=True)
class By:
    """Who changes the directory: a person in chat, or the command line (``person`` None)."""

    person: Person | None
    label: str
    via: str

    @property
    def actor_id(self) -> int | None:
        return self.person.id if self.person is not None else None


CLI = By(None, "parley directory import", "cli")


@dataclass(frozen=True)
class HandOver:
    """One side of one case passed on (or, ``holder`` None, with nobody to pass it to)."""

    ref: str
    side: str  # raising | responding
    leaver: str
    holder: str | None
    why: str | None  # line_manager | safeguarding_lead
    agency: str  # the case's agency on that side

    def line(self) -> str:
        """In English, for the command line."""
        side = "raiser" if self.side == "raising" else "counterpart"
        if self.holder is None:
            return (f"{self.ref}: nobody active can take over {self.leaver}'s part ({side}); the business unit is "
                    f"told")
        why = "line manager" if self.why == "line_manager" else f"safeguarding lead of {self.agency}"
        return f"{self.ref}: {self.leaver}'s part ({side}) passes to {self.holder} ({why})"

    def text(self, T: Translator, *, to_holder: bool = False) -> str:
        side = T(SIDE_WORDS[self.side])
        if self.holder is None:
            return T("{leaver} is no longer active in Parley and nobody can take over their part in {ref} ({side}): "
                     "they have no active line manager and {agency} has no active safeguarding lead. Give them a "
                     "line manager or {agency} a safeguarding lead in the directory: the case then passes to them.",
                     leaver=self.leaver, ref=self.ref, side=side, agency=self.agency)
        why = (T("their line manager") if self.why == "line_manager"
               else T("the safeguarding lead of {agency}", agency=self.agency))
        if to_holder:
            return T("{leaver} is no longer active in Parley, so their part in {ref} ({side}) passes to you, as "
                     "{why}.", leaver=self.leaver, ref=self.ref, side=side, why=why)
        return T("{leaver} is no longer active in Parley, so their part in {ref} ({side}) passes to {holder}, {why}.",
                 leaver=self.leaver, ref=self.ref, side=side, holder=self.holder, why=why)


# -- leaving and coming back --------------------------------------------------------------------------------------
def deactivate(person: Person, *, by: By, now: dt.datetime, session: Session) -> list[str]:
    """Deactivate ``person`` (audited) and stop what is still waiting to be sent to them; returns what changed, in
    English. Their cases are handed over by :func:`hand_over`."""
    if not person.active:
        return []
    person.active, person.deactivated_at = False, now
    stopped = people_repo.stop_waiting_messages(person.id, STOPPED, session=session)
    repo.audit("person_deactivated", session=session, at=now, actor=by.person, actor_label=by.label, via=by.via,
               board_id=person.board_id, data={"person": person.id, "messages_stopped": stopped})
    return [f"deactivated person {person.email or person.key}"]


def reactivate(person: Person, *, by: By, now: dt.datetime, session: Session) -> list[str]:
    """Make ``person`` active again (audited); returns what changed, in English. Cases handed over while they were
    away stay with their new holders."""
    if person.active:
        return []
    person.active, person.deactivated_at = True, None
    repo.audit("person_reactivated", session=session, at=now, actor=by.person, actor_label=by.label, via=by.via,
               board_id=person.board_id, data={"person": person.id})
    return [f"reactivated person {person.email or person.key}"]


# -- hand-over ----------------------------------------------------------------------------------------------------
def _party(case: Case, side: str) -> tuple[int | None, int | None]:
    """(person id, agency id) of the case's ``side``."""
    return ((case.raising_person_id, case.raising_agency_id) if side == "raising"
            else (case.responding_person_id, case.responding_agency_id))


def holder_for(case: Case, side: str, leaver: Person, *, session: Session) -> tuple[Person | None, str | None]:
    """Who takes over ``leaver``'s part on ``side``, and why: their line manager (the next one up while that one has
    left too), else the safeguarding lead of the case's agency on that side; never the other party. (None, None)
    when nobody active can."""
    other, _ = _party(case, "responding" if side == "raising" else "raising")
    for manager in repo.managers_of(leaver, session=session):
        if manager.active and manager.id != other:
            return manager, "line_manager"
    _, agency_id = _party(case, side)
    agency = repo.get_agency(agency_id, session=session) if agency_id else None
    lead = repo.get_person(agency.safeguarding_lead_id, session=session) if agency and agency.safeguarding_lead_id \
        else None
    if lead is not None and lead.active and lead.id not in (other, leaver.id):
        return lead, "safeguarding_lead"
    return None, None


def hand_over(board_id: str, *, by: By, now: dt.datetime, session: Session
              ) -> tuple[list[HandOver], list[Outbound]]:
    """Hand over every side of the board's open cases that a leaver holds; tell the business unit of each that
    nobody can take (once). Returns what was done (a side already reported as having nobody is not repeated) and
    the messages queued."""
    done: list[HandOver] = []
    queued: list[Outbound] = []
    for case in people_repo.open_cases_with_a_leaver(board_id, session=session):
        for side in SIDES:
            person_id, agency_id = _party(case, side)
            leaver = repo.get_person(person_id, session=session) if person_id else None
            if leaver is None or leaver.active:
                continue
            agency = repo.get_agency(agency_id, session=session) if agency_id else None
            holder, why = holder_for(case, side, leaver, session=session)
            result = HandOver(case.ref, side, leaver.name, holder.name if holder else None, why,
                              agency.name if agency else "?")
            if holder is None and _reported(case, side, leaver, session=session):
                continue
            queued += _record(case, result, leaver, holder, by=by, now=now, session=session)
            done.append(result)
    return done, queued


def _reported(case: Case, side: str, leaver: Person, *, session: Session) -> bool:
    """Whether the business unit was told already, since ``leaver`` left, that nobody holds their side."""
    for ev in reversed(repo.events_for(case.id, session=session)):
        if ev.kind in ("handed_over", "holder_missing") and ev.data.get("side") == side:
            return (ev.kind == "holder_missing" and ev.data.get("from_id") == leaver.id
                    and (leaver.deactivated_at is None or ev.at >= leaver.deactivated_at))
    return False


def _record(case: Case, result: HandOver, leaver: Person, holder: Person | None, *, by: By, now: dt.datetime,
            session: Session) -> list[Outbound]:
    """The case event and audit entry of a hand-over (or of a side nobody can take), and the messages."""
    data = {"side": result.side, "from_id": leaver.id, "from": leaver.name}
    if holder is not None:
        data.update(to_id=holder.id, to=holder.name, why=result.why or "")
        if result.side == "raising":
            case.raising_person_id = holder.id
        else:
            case.responding_person_id, case.responding_person_name = holder.id, None
    kind = "handed_over" if holder is not None else "holder_missing"
    repo.append_event(case, kind, session=session, at=now, actor=by.person, actor_label=by.label, via=by.via,
                      data=data)
    repo.audit(f"case_{kind}", session=session, at=now, actor=by.person, actor_label=by.label, via=by.via,
               board_id=case.board_id, data={"case": case.ref, **{k: v for k, v in data.items()
                                                                 if k not in ("from", "to")}})
    state = services.refresh(case, session=session, now=now)
    proto = protocols.protocol_for(case, session=session)

    def build(T: Translator, person: Person | None, _roles: frozenset[notify.To]) -> Message:
        intro = result.text(T, to_holder=holder is not None and person is not None and person.id == holder.id)
        return views.case_view(T, case, state, session=session, intro=intro)

    event = notify.Event.HANDED_OVER if holder is not None else notify.Event.NO_HOLDER
    return notify.tell(event, case, proto, build, session=session, now=now,
                       key=f"{notify.action_key(case)}:{result.side}", actor_id=by.actor_id).queued


# -- what a business unit must still see to ----------------------------------------------------------------------
def gaps(board_id: str, *, session: Session) -> list[str]:
    """In English, what leavers have left undone on the board: people whose line manager has left (escalation passes
    over that manager to the next one up, but they need a new one), and open cases nobody holds a side of."""
    out = [f"{p.email or p.key} has no line manager: {m.email or m.key} has left"
           for p, m in people_repo.managed_by_leavers(board_id, session=session)]
    for case in people_repo.open_cases_with_a_leaver(board_id, session=session):
        for side in SIDES:
            person_id, agency_id = _party(case, side)
            leaver = repo.get_person(person_id, session=session) if person_id else None
            if leaver is not None and not leaver.active:
                agency = repo.get_agency(agency_id, session=session) if agency_id else None
                out.append(f"{case.ref}: nobody holds the {'raiser' if side == 'raising' else 'counterpart'}'s part "
                           f"since {leaver.email or leaver.key} left: give them a line manager or agency "
                           f"{agency.key if agency else '?'} a safeguarding lead")
    return out


def leavers(board_id: str, *, session: Session) -> list[str]:
    """The board's deactivated people's e-mail addresses."""
    return sorted((p.email or p.key) for p in repo.people(board_id, session=session, include_inactive=True)
                  if not p.active)


# -- in chat ------------------------------------------------------------------------------------------------------
def refuse_inactive(person: Person, via: str, now: dt.datetime, *, session: Session) -> Message:
    """What a leaver is answered, whatever they send (recorded as a refusal)."""
    repo.audit("refused", session=session, at=now, actor=person, via=via, data={"reason": "inactive"})
    return Message(translator(person.language)(INACTIVE), severity=Severity.ERROR)


def command(ctx: Ctx, verb: str, who: str, *, session: Session) -> Reply:
    """``leaver EMAIL`` / ``deactivate EMAIL`` and ``reactivate EMAIL`` (an e-mail address or a console handle), for
    the business unit and administrators (the permission matrix's "edit the directory"); anyone else is refused,
    and the refusal recorded."""
    T = ctx.T
    what = COMMANDS[verb]
    if not permissions.allowed(ctx.actor, permissions.Act.EDIT_DIRECTORY, session=session):
        raise PermissionDenied(T("Only an administrator or the business unit can deactivate or reactivate people."),
                               record=services.refusal_audit(ctx, {"action": f"{what}_person"}))
    needle = services.clean_short(who)
    person = (people_repo.person_by_email(ctx.actor.board_id, needle, session=session)
              or repo.person_by_key(ctx.actor.board_id, needle.lower(), session=session))
    if person is None:
        raise ServiceError(T("There is nobody with the address {who} in the directory.", who=needle[:80] or "?"))
    if person.id == ctx.actor.id:
        raise ServiceError(T("You can't deactivate or reactivate yourself: ask someone else in the business unit."))
    by = By(ctx.actor, ctx.actor.name, ctx.via)
    if what == "deactivate":
        changed = deactivate(person, by=by, now=ctx.now, session=session)
        text = (T("{name} is deactivated: Parley tells them nothing more and they can no longer act; their history "
                  "stays.", name=person.name) if changed else T("{name} is already deactivated.", name=person.name))
    else:
        changed = reactivate(person, by=by, now=ctx.now, session=session)
        text = (T("{name} is active again. Cases handed over while they were deactivated stay with their new "
                  "holders.", name=person.name) if changed else T("{name} is already active.", name=person.name))
    session.flush()
    done, queued = hand_over(ctx.actor.board_id, by=by, now=ctx.now, session=session)
    lines = [text, *(d.text(T) for d in done)]
    if what == "deactivate":
        lines += [T("{name} now has no line manager: give them one in the directory.", name=p.name)
                  for p, m in people_repo.managed_by_leavers(ctx.actor.board_id, session=session) if m.id == person.id]
    return Reply().say(Message("\n".join(lines), severity=Severity.SUCCESS)).told(queued)
