"""Cover: someone away (leave, sickness, a course) until a date, and who is told in their place meanwhile.

A person says ``away until DATE [cover NAME]`` (the business unit or an administrator may say it for someone else)
and ``back`` when they return; an absence also ends by itself after its last day. While it is in force (from when
it was set to the end of its last day in the board's calendar), every message Parley would send that person
directly (reminders, escalation prompts sent by direct message, case news, form parts) goes instead to their cover,
or without one to their line manager, in the reader's own language and opening "Covering for NAME:". The absent
person is not sent it as well. bot.delivery.addressing.queue_to_person, the one door of every direct message, asks
:func:`reach` who reads it.

Should the cover be away too, their own stand-in (cover, else line manager) reads it, once; beyond that it goes to
the absent person's line manager: the chain never loops. While covering, the reader may act on the cases of the
person they cover for as that person's manager could (``Role.COVER`` in bot.cases.permissions' matrix).

Every change is audited (``away_set``, ``away_ended``; a refusal as ``refused``). Queries: storage.absence_repo.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from bot.cases import permissions, protocols
from bot.cases.errors import PermissionDenied, ServiceError
from bot.core.i18n import Translator
from bot.core.messages import Message
from bot.delivery import outbox
from storage import absence_repo, repo
from storage.models import Absence, Case, Person

if TYPE_CHECKING:
    from bot.cases.services import Ctx

MAX_AHEAD_DAYS = 2 * 366  # an absence longer than this is a typing mistake, or a leaver (not cover)
CASE_ROLES = {permissions.Role.RAISER, permissions.Role.COUNTERPART, permissions.Role.MANAGER,
              permissions.Role.SAFEGUARDING_LEAD}  # who is "on a case" for cover: someone it would tell or wait for


# -- who reads a person's messages ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reach:
    """Who reads a message for ``person``: ``reader``, covering for ``absent`` (None: the person themself)."""

    person: Person
    reader: Person
    absent: Person | None = None


def _line_manager(person: Person, *, session: Session) -> Person | None:
    mgr = session.get(Person, person.line_manager_id) if person.line_manager_id else None
    return mgr if mgr is not None and mgr.id != person.id else None


def _stand_in(person: Person, absence: Absence, *, session: Session) -> Person | None:
    """Who stands in for ``person`` during ``absence``: the cover named, else their line manager."""
    named = session.get(Person, absence.cover_id) if absence.cover_id else None
    return named if named is not None else _line_manager(person, session=session)


def reach(person: Person, now: dt.datetime, *, session: Session) -> Reach:
    """Who reads a direct message for ``person`` at ``now``: themself unless they are away; else their stand-in; if
    the stand-in is away too, the stand-in's own stand-in (once); else the person's line manager. Someone away with
    nobody to stand in (no cover, no line manager) still reads their own messages."""
    away = absence_repo.current(person.id, now, session=session)
    if away is None:
        return Reach(person, person)
    first = _stand_in(person, away, session=session)
    if first is None:
        return Reach(person, person)
    first_away = absence_repo.current(first.id, now, session=session)
    if first_away is None:
        return Reach(person, first, person)
    second = _stand_in(first, first_away, session=session)
    if second is not None and second.id not in (person.id, first.id) and \
            absence_repo.current(second.id, now, session=session) is None:
        return Reach(person, second, person)
    manager = _line_manager(person, session=session)
    return Reach(person, manager, person) if manager is not None else Reach(person, person)


def covering(T: Translator, message: Message, absent: Person) -> Message:
    """``message`` as the reader who covers for ``absent`` receives it (``T``: the reader's language)."""
    head = T("Covering for {name}:", name=absent.name)
    return replace(message, text=f"{head} {message.text}")


# -- who covers whom on a case ----------------------------------------------------------------------------------
def away_on_case(case: Case, now: dt.datetime, *, session: Session) -> list[tuple[Absence, Reach]]:
    """The absences in force at ``now`` of the people on ``case`` (its parties, their managers up the line, the two
    agencies' safeguarding leads), each with who reads their messages."""
    out: list[tuple[Absence, Reach]] = []
    for absence in absence_repo.board_current(case.board_id, now, session=session):
        person = session.get(Person, absence.person_id)
        if person is None or not permissions.roles_of(person, case, session=session) & CASE_ROLES:
            continue
        if any(a.person_id == person.id for a, _ in out):
            continue
        out.append((absence, reach(person, now, session=session)))
    return out


def roles(person: Person, case: Case | None, now: dt.datetime, *, session: Session) -> set[permissions.Role]:
    """The person's roles on ``case`` (bot.cases.permissions), with ``Role.COVER`` while they read the messages of
    someone away who is on the case."""
    found = permissions.roles_of(person, case, session=session)
    if case is None or person.board_id != case.board_id:
        return found
    if any(r.absent is not None and r.reader.id == person.id for _, r in away_on_case(case, now, session=session)):
        found = (found - {permissions.Role.OTHER}) | {permissions.Role.COVER}
    return found


def covered_by(person: Person, now: dt.datetime, *, session: Session) -> list[Person]:
    """The people away at ``now`` whose messages ``person`` reads."""
    out = []
    for absence in absence_repo.board_current(person.board_id, now, session=session):
        absent = session.get(Person, absence.person_id)
        if absent is not None and absent.id != person.id:
            r = reach(absent, now, session=session)
            if r.absent is not None and r.reader.id == person.id:
                out.append(absent)
    return out


def away_line(T: Translator, absence: Absence, r: Reach) -> str:
    """'Ann Smith is away until Fri 15 Jan 2027; Ben Jones covers.'"""
    if r.absent is None:
        return T("{name} is away until {date}; nobody covers (no cover named and no line manager), so their "
                 "messages still go to them.", name=r.person.name, date=T.date(absence.until))
    return T("{name} is away until {date}; {cover} covers.", name=r.person.name, date=T.date(absence.until),
             cover=r.reader.name)


def case_lines(T: Translator, case: Case, now: dt.datetime, *, session: Session) -> list[str]:
    """A case view's lines on who is away and who covers (none when nobody on the case is away)."""
    return [away_line(T, a, r) for a, r in away_on_case(case, now, session=session)]


# -- setting and ending an absence ------------------------------------------------------------------------------
def _refusal(ctx: Ctx, data: dict[str, object]) -> Callable[[Session], object]:
    actor_id, at, via = ctx.actor.id, ctx.now, ctx.via

    def record(s: Session) -> object:
        return repo.audit("refused", session=s, at=at, actor=s.get(Person, actor_id), via=via, data=data)

    return record


def check_may_set(ctx: Ctx, person: Person, action: str, *, session: Session) -> None:
    """Anyone for themself; the business unit or an administrator of the board for anyone of it; else refused."""
    if person.id == ctx.actor.id:
        return
    if person.board_id == ctx.actor.board_id and permissions.allowed(ctx.actor, permissions.Act.SET_COVER,
                                                                     session=session):
        return
    T = ctx.T
    raise PermissionDenied(T("Sorry, only the business unit or an administrator can mark someone else away or "
                             "back. To mark yourself away, type 'away until DATE'."),
                           record=_refusal(ctx, {"action": action, "person": person.id}))


def today(board_id: str, now: dt.datetime, *, session: Session) -> dt.date:
    return protocols.board_protocol(board_id, session=session).calendar().local_date(now)


def set_away(ctx: Ctx, person: Person, until: dt.date, cover: Person | None, *, session: Session) -> Absence:
    """Mark ``person`` away from now to the end of ``until`` (the board's calendar), covered by ``cover`` (None: their
    line manager is told in their place). Replaces any absence of theirs not yet over. Audited."""
    check_may_set(ctx, person, "away", session=session)
    T = ctx.T
    cal = protocols.board_protocol(person.board_id, session=session).calendar()
    day = cal.local_date(ctx.now)
    if until < day:
        raise ServiceError(T("{date} has already passed: give the last day you will be away, today or later.",
                             date=T.date(until)))
    if (until - day).days > MAX_AHEAD_DAYS:
        raise ServiceError(T("{date} is more than two years away; please check the date.", date=T.date(until)))
    if cover is not None:
        if cover.id == person.id:
            raise ServiceError(T("Nobody can cover for themself: name someone else, or leave the cover out and "
                                 "the line manager is told instead."))
        if cover.board_id != person.board_id:
            raise ServiceError(T("The cover must be someone of the same board."))
        if outbox.person_address(cover, session=session) is None:
            raise ServiceError(T("Parley cannot reach {name}: no Slack, Teams or other account is linked to them. "
                                 "Choose someone else, or ask the business unit to link them first.",
                                 name=cover.name))
    replaced = []
    for old in absence_repo.open_of(person.id, ctx.now, session=session):
        old.ended_at, old.ended_by_id = ctx.now, ctx.actor.id
        replaced.append(old.id)
    ends = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(0), tzinfo=cal.tz).astimezone(dt.timezone.utc)
    absence = Absence(board_id=person.board_id, person_id=person.id, cover_id=cover.id if cover else None,
                      starts_at=ctx.now, until=until, ends_at=ends, created_at=ctx.now, created_by_id=ctx.actor.id)
    session.add(absence)
    session.flush()
    repo.audit("away_set", session=session, at=ctx.now, actor=ctx.actor, via=ctx.via, board_id=person.board_id,
               data={"absence": absence.id, "person": person.id, "until": until.isoformat(),
                     "cover": cover.id if cover else None, "replaced": replaced})
    return absence


def end_away(ctx: Ctx, person: Person, *, session: Session) -> list[Absence]:
    """``back``: end ``person``'s absences not yet over (none: an empty list, and nothing is recorded). Audited."""
    check_may_set(ctx, person, "back", session=session)
    ended = list(absence_repo.open_of(person.id, ctx.now, session=session))
    for absence in ended:
        absence.ended_at, absence.ended_by_id = ctx.now, ctx.actor.id
    if ended:
        session.flush()
        repo.audit("away_ended", session=session, at=ctx.now, actor=ctx.actor, via=ctx.via, board_id=person.board_id,
                   data={"person": person.id, "absences": [a.id for a in ended]})
    return ended
