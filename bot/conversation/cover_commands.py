"""The chat commands of cover (bot/cases/cover.py), on every platform through the router's ``_command``:

- ``away until DATE [cover NAME]``: away from now to the end of DATE (2027-01-15, 15/01/2027, "15 Jan"); NAME is
  found as a counterpart is (one person of the board, the same agency first); ``away`` alone says where things stand;
- ``away EMAIL until DATE [cover NAME]`` and ``back EMAIL``: the business unit or an administrator, for someone else;
- ``back``: returned early (an absence also ends by itself after its last day);
- ``who REF``: for anyone who may see the case, who must act next on it and by when (the engine's next deadline and
  its owners, bot.notify.notify.step_owners), and who covers for whom among the case's people.

In Welsh: ``absennol tan DATE [cyflenwi NAME]``, ``dychwelyd`` / ``nôl`` and ``pwy REF``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from sqlalchemy.orm import Session

from bot.cases import cover, protocols, services
from bot.cases.errors import ServiceError
from bot.cases.services import Ctx
from bot.conversation.engine import Invalid, parse_date
from bot.core import views
from bot.core.i18n import Translator, translator
from bot.core.messages import Address, Button, Message, Outbound, Reply, Severity
from bot.core.routes import Route
from bot.delivery import addressing
from bot.notify import notify
from protocol.spec import Level
from protocol.state import Status
from storage import absence_repo, escalation_repo, repo
from storage.models import Absence, Person

COMMANDS = {"away", "back", "who"}
UNTIL = {"until", "tan"}
COVER_WORDS = {"cover", "cyflenwi"}
MAX_LISTED = 10  # people listed when a name matches several, or nobody


def handle(session: Session, ctx: Ctx, cmd: str, args: list[str]) -> Reply:
    if cmd == "who":
        if not args:
            raise ServiceError(ctx.T("Which case? Type 'who' and its reference, e.g. 'who SWN-2026-0001'."))
        return Reply().say(who(session, ctx, args[0]))
    if cmd == "back":
        return back(session, ctx, args)
    return away(session, ctx, args)


# -- away / back ------------------------------------------------------------------------------------------------
def _usage(T: Translator) -> str:
    return T("Type 'away until DATE' (e.g. 'away until 15/01/2027'), and add 'cover NAME' for who reads your "
             "messages meanwhile (without it, your line manager does). Type 'back' when you return.")


def _target(session: Session, ctx: Ctx, args: list[str]) -> tuple[Person, list[str]]:
    """Whom the command is for: the speaker, or the board's person whose e-mail address comes first."""
    if args and "@" in args[0]:
        person = absence_repo.person_by_email(ctx.actor.board_id, args[0], session=session)
        if person is None:
            raise ServiceError(ctx.T("Nobody in the directory has the e-mail address {email}.",
                                     email=args[0][:80]))
        return person, args[1:]
    return ctx.actor, args


def parse_until(T: Translator, text: str, today: dt.date) -> dt.date:
    """DATE as 2027-01-15, 15/01/2027, 15.1.27, "15 Jan" or "15 January 2027" (a date without a year that has
    passed this year is next year's)."""
    try:
        day = parse_date(text, today, T)
    except Invalid:
        raise ServiceError(T("I couldn't read {text!r} as a date. Try 2027-01-15, 15/01/2027 or 15 Jan.",
                             text=text[:40])) from None
    year_given = re.search(r"\d{4}|\d{1,2}[/.]\d{1,2}[/.]\d{2}\b", text)
    if day < today and not year_given:
        try:
            day = day.replace(year=day.year + 1)
        except ValueError:  # 29 February
            day = day.replace(year=day.year + 1, day=28)
    return day


def away(session: Session, ctx: Ctx, args: list[str]) -> Reply:
    T = ctx.T
    person, rest = _target(session, ctx, args)
    if not rest:
        cover.check_may_set(ctx, person, "away", session=session)
        return Reply().say(Message("\n".join([status(T, person, ctx.actor, ctx.now, session=session), _usage(T)])))
    if rest[0].lower() not in UNTIL:
        raise ServiceError(T("I didn't understand that.") + " " + _usage(T))
    words = rest[1:]
    at = next((i for i, w in enumerate(words) if w.lower() in COVER_WORDS), len(words))
    date_text, name = " ".join(words[:at]), " ".join(words[at + 1:]).strip()
    if not date_text:
        raise ServiceError(T("Until when? Give the last day you will be away.") + " " + _usage(T))
    if at < len(words) and not name:
        raise ServiceError(T("Who covers? Add their name after 'cover', e.g. 'cover Ben Jones'."))
    until = parse_until(T, date_text, cover.today(person.board_id, ctx.now, session=session))
    standin = find_person(T, person, name, session=session) if name else None
    before = cover.reach(person, ctx.now, session=session).reader  # a change of cover: the one before is told
    absence = cover.set_away(ctx, person, until, standin, session=session)
    r = cover.reach(person, ctx.now, session=session)
    reply = Reply().say(Message(confirmation(T, person, ctx.actor, absence, r), severity=Severity.SUCCESS))
    told = []
    if before.id not in (person.id, ctx.actor.id, r.reader.id):
        told.append(_tell(session, ctx, before, f"away:{absence.id}:before", lambda T: T(
            "You no longer cover for {name}: someone else does now.", name=person.name)))
    if r.absent is not None and r.reader.id != ctx.actor.id:  # whoever reads the messages now is told so
        told.append(_tell(session, ctx, r.reader, f"away:{absence.id}:cover",
                          lambda T: _you_cover(T, person, absence, named=r.reader.id == absence.cover_id)))
    if person.id != ctx.actor.id:
        told.append(_tell(session, ctx, person, f"away:{absence.id}:person", lambda T: confirmation(
            T, person, ctx.actor, absence, r, told_by=ctx.actor)))
    return reply.told([o for o in told if o is not None])


def _you_cover(T: Translator, person: Person, absence: Absence, *, named: bool) -> str:
    if named:
        return T("{name} is away until {date} and has named you to cover: their reminders, escalation prompts and "
                 "case messages come to you meanwhile, and you may act on their cases as their manager could.",
                 name=person.name, date=T.date(absence.until))
    return T("{name} is away until {date}: their reminders, escalation prompts and case messages come to you "
             "meanwhile, and you may act on their cases as their manager could.", name=person.name,
             date=T.date(absence.until))


def confirmation(T: Translator, person: Person, actor: Person, absence: Absence, r: cover.Reach, *,
                 told_by: Person | None = None) -> str:
    date = T.date(absence.until)
    if told_by is not None:
        head = T("{name} has marked you away until {date}.", name=told_by.name, date=date)
    elif person.id == actor.id:
        head = T("You are away until {date}.", date=date)
    else:
        head = T("{name} is away until {date}.", name=person.name, date=date)
    if r.absent is None:
        tail = T("Nobody covers (no cover named and no line manager), so messages still go to the person away.")
    elif absence.cover_id == r.reader.id:
        tail = T("{cover} covers: reminders, escalation prompts and case messages go to them meanwhile.",
                 cover=r.reader.name)
    else:
        tail = T("{cover} reads the messages meanwhile.", cover=r.reader.name)
    return " ".join([head, tail, T("Type 'back' on return.") if person.id == actor.id and told_by is None else ""]
                    ).strip()


def back(session: Session, ctx: Ctx, args: list[str]) -> Reply:
    T = ctx.T
    person, rest = _target(session, ctx, args)
    if rest:
        raise ServiceError(T("I didn't understand that.") + " " + _usage(T))
    reader = cover.reach(person, ctx.now, session=session).reader  # told that they no longer read them
    ended = cover.end_away(ctx, person, session=session)
    if not ended:
        return Reply().say(Message(T("You are not marked as away.") if person.id == ctx.actor.id else
                                   T("{name} is not marked as away.", name=person.name)))
    reply = Reply().say(Message(T("Welcome back: your messages come to you again.") if person.id == ctx.actor.id
                                else T("{name} is back: their messages go to them again.", name=person.name),
                                severity=Severity.SUCCESS))
    told = []
    if reader.id not in (person.id, ctx.actor.id):
        told.append(_tell(session, ctx, reader, f"back:{ended[-1].id}:cover", lambda T: T(
            "{name} is back: you no longer cover for them.", name=person.name)))
    if person.id != ctx.actor.id:
        told.append(_tell(session, ctx, person, f"back:{ended[-1].id}:person", lambda T: T(
            "{name} has marked you back: your messages come to you again.", name=ctx.actor.name)))
    return reply.told([o for o in told if o is not None])


def _tell(session: Session, ctx: Ctx, person: Person, key: str, text: Callable[[Translator], str]
          ) -> Outbound | None:
    """A direct message to ``person`` themself about their absence or their cover (never redirected)."""
    msg = Message(text(translator(person.language)), kind="cover")
    row = addressing.queue_to_person(person, msg, session=session, key=key, now=ctx.now, redirect=False,
                                     board_id=person.board_id)
    return Outbound(Address.person(person.id), msg) if row is not None else None


def status(T: Translator, person: Person, actor: Person, now: dt.datetime, *, session: Session) -> str:
    """Where a person's absence stands: away (until when, who covers) or not; and whom they cover for."""
    absence = absence_repo.current(person.id, now, session=session)
    lines = []
    if absence is None:
        lines.append(T("You are not marked as away.") if person.id == actor.id else
                     T("{name} is not marked as away.", name=person.name))
    else:
        lines.append(cover.away_line(T, absence, cover.reach(person, now, session=session)))
    covered = cover.covered_by(person, now, session=session)
    if covered:
        lines.append(T("{name} covers for: {people}.", name=person.name, people=", ".join(p.name for p in covered)))
    return "\n".join(line for line in lines if line)


def _label(person: Person) -> str:
    agency = person.agency.name if person.agency else None
    title = f"{person.name}, {person.title}" if person.title else person.name
    return f"{title} ({agency})" if agency else title


def find_person(T: Translator, absent: Person, name: str, *, session: Session) -> Person:
    """The one person of ``absent``'s board that ``name`` means, as a counterpart is picked: an e-mail address, a
    handle or a whole name exactly; else every word typed begins a word of their name (``absent`` left out). Of
    several, the one in ``absent``'s agency. None or several: a clear message listing whom it could be."""
    people = list(repo.people(absent.board_id, session=session))
    wanted = name.strip().lower()
    words = wanted.split()
    tiers = [
        [p for p in people if wanted in ((p.email or "").lower(), p.key.lower(), p.name.lower())],
        [p for p in people if words and p.id != absent.id
         and all(any(w.startswith(q) for w in re.split(r"[\s\-']+", p.name.lower())) for q in words)],
    ]
    for matches in tiers:
        if len(matches) == 1:
            return matches[0]
        same = [p for p in matches if absent.agency_id is not None and p.agency_id == absent.agency_id]
        if len(same) == 1:
            return same[0]
        if matches:
            listed = "\n".join(f"  \u2022 {_label(p)}" for p in matches[:MAX_LISTED])
            raise ServiceError(T("More than one person matches {name!r}:", name=name[:40]) + "\n" + listed + "\n"
                               + T("Type more of the name, or their e-mail address."))
    nearby = [p for p in people if absent.agency_id is not None and p.agency_id == absent.agency_id
              and p.id != absent.id][:MAX_LISTED]
    text = T("Nobody in the directory matches {name!r}.", name=name[:40])
    if nearby:
        text += "\n" + T("In the same agency:") + "\n" + "\n".join(f"  \u2022 {_label(p)}" for p in nearby)
    raise ServiceError(text)


# -- who REF ----------------------------------------------------------------------------------------------------
def who(session: Session, ctx: Ctx, ref: str) -> Message:
    """Who must act next on the case and by when, and who covers whom among its people."""
    T = ctx.T
    case = services.find_case(ref, ctx, session=session)
    services.require_may_act(ctx, case, "view", session=session)
    proto = protocols.protocol_for(case, session=session)
    st = services.state_of(case, ctx.now, session=session)
    lines: list[str] = []
    if st.status is Status.CLOSED:
        lines.append(T("{ref} is closed: nobody needs to act.", ref=case.ref))
    ag = views.agenda(st)
    item = ag.first_due or (ag.undated[0] if ag.undated else None)
    if item is not None and st.status is not Status.CLOSED:
        lines.append(T("Next: {line}", line=ag.next_text(T, proto, st) or views.deadline_line(T, item, proto)))
        owners = notify.step_owners(case, item, proto, session=session)
        named = [_owner(T, p, ctx.now, session=session) for p in owners]
        lines.append(T("Who must act: {people}", people="; ".join(named)) if named else
                     T("Who must act: {who} (nobody in the directory)",
                       who=views.who_acts(T, case, proto, item, session=session)))
        when = views.due_when(T, item, proto)
        lines.append(T("By: {when}", when=when) if when else T("By: no timescale in the protocol"))
    elif st.status is Status.AWAITING_DECISION:
        lines.append(T("Waiting for a decision: escalate to the exceptional stage, or close the case."))
    elif st.status is not Status.CLOSED:
        lines.append(T("Nothing is due on {ref} now.", ref=case.ref))
    for prompt in escalation_repo.open_prompts(case.id, session=session, by_id=True):
        agency = repo.get_agency(prompt.agency_id, session=session) if prompt.agency_id else None
        lines.append(T("Waiting for the {level} of {agency} to acknowledge the escalation.",
                       level=T(views.LEVEL_LABELS[Level(prompt.level)]),
                       agency=agency.name if agency else T("the board")))
    away_lines = cover.case_lines(T, case, ctx.now, session=session)
    lines.append(T("Who covers whom:") if away_lines else T("Nobody on {ref} is away.", ref=case.ref))
    lines.extend(f"  \u2022 {line}" for line in away_lines)
    return Message("\n".join(lines), title=views.case_headline(T, case, proto, session=session), case_ref=case.ref,
                   buttons=(Button(Route.VIEW, T("View case"), case.ref),))


def _owner(T: Translator, person: Person, now: dt.datetime, *, session: Session) -> str:
    label = f"{person.name} ({person.agency.name})" if person.agency else person.name
    r = cover.reach(person, now, session=session)
    absence = absence_repo.current(person.id, now, session=session)
    if absence is None or r.absent is None:
        return label
    return T("{person}, away until {date}: {cover} covers", person=label, date=T.date(absence.until),
             cover=r.reader.name)
