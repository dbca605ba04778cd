"""Who is told what: one table for every event a case can go through, and the one function that tells them.

``TABLE`` says, for each event (something a person did, or a timer that fell due), which roles are told and
how: a direct message in the person's own language, or a post in a channel (case reference, agencies and
stage only). The people behind each role come from the case and the protocol: the stage's level and sides
say which managers are part of a stage (never who happens to manage someone), a step's side and level say
who owes it. Conversation flows and the scheduler call :func:`tell`; they do not choose recipients
themselves. Every message is written to the outbox in the caller's transaction (bot.delivery.delivery sends it).

The actor of an event is never sent a copy: they get their confirmation in the reply to what they did.
docs/notifications.md is generated from ``TABLE`` (``make notifications-doc``) and a test keeps them equal.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum

from sqlalchemy.orm import Session

from bot.cases import cover
from bot.core.clock import sent_time
from bot.core.i18n import Translator, in_languages, translator
from bot.core.messages import Address, Message, Outbound
from bot.delivery import addressing, outbox
from protocol.state import Item
from protocol.spec import Level, Protocol, Side, Stage, StepKind
from storage import repo
from storage.models import Case, Person


class Event(StrEnum):
    CASE_OPENED = "case_opened"
    COUNTERPART_NAMED = "counterpart_named"
    CONTACT_RECORDED = "contact_recorded"
    STEP_DONE = "step_done"
    RESOLVED = "resolved"
    NOT_RESOLVED = "not_resolved"
    ESCALATED = "escalated"
    BYPASSED = "bypassed"
    EXTENDED = "extended"
    PROTECTIVE_DATE = "protective_date"
    URGENT_NOTICE = "urgent_notice"
    URGENT_POST = "urgent_post"
    CLOSED = "closed"
    WRITTEN_OUTCOME = "written_outcome"
    RECORD_DRAFTED = "record_drafted"
    RECORD_SIGNED = "record_signed"
    RECORD_CHANGES = "record_changes"
    FORM_PART_DUE = "form_part_due"
    FORM_PART_COMPLETED = "form_part_completed"
    FORM_COMPLETE = "form_complete"
    FORM_FOR_ROLE = "form_for_role"
    NUDGE = "nudge"
    OVERDUE = "overdue"
    DUTY = "duty"
    LAPSE_PROMPT = "lapse_prompt"
    LAPSE_NOTICE = "lapse_notice"
    PROTECTIVE_LAPSE_PROMPT = "protective_lapse_prompt"
    PROTECTIVE_LAPSE_NOTICE = "protective_lapse_notice"
    ACKNOWLEDGED = "acknowledged"
    PROMPT_UPDATED = "prompt_updated"
    RENOTIFY_CHANNEL = "renotify_channel"
    RENOTIFY_LEAD = "renotify_lead"
    RENOTIFY_BUSINESS_UNIT = "renotify_business_unit"
    DIGEST = "digest"
    QUARTERLY = "quarterly"
    HANDED_OVER = "handed_over"
    NO_HOLDER = "no_holder"


class To(StrEnum):
    RAISER = "raiser"
    COUNTERPART = "counterpart"
    STAGE_MANAGERS = "stage managers"
    LINE_MANAGERS = "line managers"
    BOARD = "board"
    BUSINESS_UNIT = "business unit"
    STEP_OWNERS = "step owners"
    SAFEGUARDING_LEAD = "safeguarding lead"
    SIGNATORIES = "signatories"
    DRAFTER = "drafter"
    PART_COMPLETERS = "part completers"
    FORM_COORDINATORS = "form coordinators"
    FORM_ROLE = "form role"
    MANAGER_CHANNELS = "manager channels"
    BU_CHANNEL = "business-unit channel"
    PROMPT_COPIES = "prompt copies"


ROLE_TEXT = {
    To.RAISER: "the practitioner who raised the case",
    To.COUNTERPART: "the counterpart (when they are in the directory)",
    To.STAGE_MANAGERS: "each side's manager at the level of the stage the case is at (and, when it moves, of the "
                       "stage it moves to), as the protocol's stage names its level and sides",
    To.LINE_MANAGERS: "each party's own line manager (the next one up while theirs has left)",
    To.BOARD: "the business unit (and the chair) when the stage is run by the board",
    To.BUSINESS_UNIT: "the board's business unit",
    To.STEP_OWNERS: "whoever owes the step: its side, at the step's level (the party for a practitioner step)",
    To.SAFEGUARDING_LEAD: "the safeguarding lead of the agency the prompt was for",
    To.SIGNATORIES: "the record's signatories",
    To.DRAFTER: "the person who drafted the record",
    To.PART_COMPLETERS: "the people who complete the form part (for a part just completed: the next part's)",
    To.FORM_COORDINATORS: "the business unit, when it co-ordinates the form (one of its parts is the business "
                          "unit's)",
    To.FORM_ROLE: "the role the protocol sends the completed form to",
    To.MANAGER_CHANNELS: "each agency's manager channel at the next stage's level (the business-unit channel for a "
                         "stage run by the board or an agency with no channel, and the chair's channel too for a "
                         "stage the independent chair runs)",
    To.BU_CHANNEL: "the board's business-unit channel",
    To.PROMPT_COPIES: "every copy of the escalation prompt already posted or sent, updated in place",
}

CASE_TEAM = (To.RAISER, To.COUNTERPART, To.STAGE_MANAGERS, To.BOARD)
CHANNEL_ROLES = {To.MANAGER_CHANNELS, To.BU_CHANNEL, To.PROMPT_COPIES}


@dataclass(frozen=True)
class Rule:
    to: tuple[To, ...]
    says: str


TABLE: dict[Event, Rule] = {
    Event.CASE_OPENED: Rule(CASE_TEAM, "the concern has been raised (with the concern's summary)"),
    Event.COUNTERPART_NAMED: Rule(CASE_TEAM, "who the counterpart now is"),
    Event.CONTACT_RECORDED: Rule((To.RAISER, To.COUNTERPART), "a contact or meeting was recorded"),
    Event.STEP_DONE: Rule((To.RAISER, To.COUNTERPART), "a step was recorded as done"),
    Event.RESOLVED: Rule(CASE_TEAM, "the outcome: resolved, and what was agreed"),
    Event.NOT_RESOLVED: Rule(CASE_TEAM, "the outcome: not resolved, and the stage the case moves to"),
    Event.ESCALATED: Rule(CASE_TEAM, "the case moved to the exceptional stage"),
    Event.BYPASSED: Rule(CASE_TEAM, "the case went straight to a higher stage (its managers or the board are told)"),
    Event.EXTENDED: Rule(CASE_TEAM, "a deadline was extended: the step, the old and the new deadline, the reason"),
    Event.PROTECTIVE_DATE: Rule(CASE_TEAM, "the protective date was set, changed or cleared"),
    Event.URGENT_NOTICE: Rule((*CASE_TEAM, To.LINE_MANAGERS, To.BUSINESS_UNIT),
                              "an urgent notice, with its text"),
    Event.URGENT_POST: Rule((To.BU_CHANNEL,), "an urgent notice: reference, agencies and stage only"),
    Event.CLOSED: Rule(CASE_TEAM, "the case was closed, and why"),
    Event.WRITTEN_OUTCOME: Rule((To.RAISER,), "the written outcome letter"),
    Event.RECORD_DRAFTED: Rule((To.SIGNATORIES,), "a meeting record to sign or ask changes to"),
    Event.RECORD_SIGNED: Rule((To.SIGNATORIES, To.DRAFTER), "a record was signed (or is now locked)"),
    Event.RECORD_CHANGES: Rule((To.SIGNATORIES, To.DRAFTER), "changes were asked to a record"),
    Event.FORM_PART_DUE: Rule((To.PART_COMPLETERS,), "a form part is now theirs to complete"),
    Event.FORM_PART_COMPLETED: Rule((To.FORM_COORDINATORS, To.PART_COMPLETERS),
                                    "a form part was completed (one message; the next part's completers are told "
                                    "it is theirs)"),
    Event.FORM_COMPLETE: Rule((To.RAISER, To.COUNTERPART), "the completed form"),
    Event.FORM_FOR_ROLE: Rule((To.FORM_ROLE,), "the completed form, for the role the protocol names"),
    Event.NUDGE: Rule((To.STEP_OWNERS,), "a reminder before a deadline"),
    Event.OVERDUE: Rule((To.STEP_OWNERS,), "a deadline that is not a stage deadline has passed"),
    Event.DUTY: Rule((To.STEP_OWNERS,), "a duty with no timescale is owed"),
    Event.LAPSE_PROMPT: Rule((To.MANAGER_CHANNELS,), "the stage deadline passed: acknowledge and take ownership"),
    Event.LAPSE_NOTICE: Rule((To.RAISER, To.COUNTERPART), "the stage deadline passed and who has been asked"),
    Event.PROTECTIVE_LAPSE_PROMPT: Rule((To.MANAGER_CHANNELS,),
                                        "the protective date passed unresolved: acknowledge and take ownership"),
    Event.PROTECTIVE_LAPSE_NOTICE: Rule((To.RAISER, To.COUNTERPART, To.STAGE_MANAGERS),
                                        "the protective date passed unresolved and who has been asked"),
    Event.ACKNOWLEDGED: Rule((*CASE_TEAM, To.PROMPT_COPIES),
                             "who took ownership and the stage the case is at now"),
    Event.PROMPT_UPDATED: Rule((To.PROMPT_COPIES,),
                               "the prompt no longer applies: resolved, closed, or the case moved on"),
    Event.RENOTIFY_CHANNEL: Rule((To.MANAGER_CHANNELS,), "reminder 1: the prompt again in the same channels"),
    Event.RENOTIFY_LEAD: Rule((To.SAFEGUARDING_LEAD,), "reminder 2: the prompt to the agency's safeguarding lead"),
    Event.RENOTIFY_BUSINESS_UNIT: Rule((To.BU_CHANNEL,), "reminder 3: the prompt to the business unit, once for "
                                                         "the lapse"),
    Event.DIGEST: Rule((To.BU_CHANNEL,), "the weekly digest"),
    Event.QUARTERLY: Rule((To.BU_CHANNEL,), "the quarterly data set"),
    Event.HANDED_OVER: Rule((To.RAISER, To.COUNTERPART, To.BUSINESS_UNIT),
                            "a party has left: who now holds their part of the case (their line manager or their "
                            "agency's safeguarding lead), and why; the new holder is told it is now theirs"),
    Event.NO_HOLDER: Rule((To.BUSINESS_UNIT,), "a party has left and nobody active can take over their part of the "
                                               "case (no line manager, no safeguarding lead): someone must be found"),
}


# -- who holds each role ----------------------------------------------------------------------------------
LEVEL_ROLES = {
    Level.PRACTITIONER: {"practitioner"},
    Level.LINE_MANAGER: {"line_manager", "safeguarding_lead"},
    Level.SENIOR_MANAGER: {"senior_manager"},
    Level.DIRECTOR: {"director"},
    Level.BUSINESS_UNIT: {"business_unit"},
    Level.INDEPENDENT_CHAIR: {"chair"},
}
RANK = {"practitioner": 0, "line_manager": 1, "safeguarding_lead": 1, "senior_manager": 2, "director": 3}


def at_level(party: Person, agency_id: int | None, level: Level, *, session: Session) -> list[Person]:
    """Who acts for ``party`` at ``level``: the party themself at the practitioner level or when they already
    hold a role at (or above) it; else up their line until someone does; else anyone in their agency who
    does; else the agency's safeguarding lead. Nobody who has left: a manager who has left is passed over for the
    next one up (and a party who has left is told nothing)."""
    if level is Level.PRACTITIONER:
        return [party] if party.active else []
    roles = LEVEL_ROLES[level]
    want = min(RANK.get(r, 9) for r in roles)
    if party.active and (party.role in roles or RANK.get(party.role, -1) >= want):
        return [party]
    for mgr in repo.managers_of(party, session=session):
        if mgr.active and (mgr.role in roles or RANK.get(mgr.role, -1) >= want):
            return [mgr]
    if agency_id is not None:
        same = [p for p in repo.people(party.board_id, session=session, agency_id=agency_id) if p.role in roles]
        if same:
            return same
        agency = repo.get_agency(agency_id, session=session)
        if agency is not None and agency.safeguarding_lead_id:
            lead = repo.get_person(agency.safeguarding_lead_id, session=session)
            if lead and lead.active:
                return [lead]
    return []


def board_people(board_id: str, level: Level, *, session: Session) -> list[Person]:
    """The board's people for a board-run stage: the business unit, and the chair for a chair's stage."""
    everyone = repo.people(board_id, session=session)
    bu = [p for p in everyone if p.role == "business_unit"]
    if level is Level.INDEPENDENT_CHAIR:
        return [p for p in everyone if p.role == "chair"] + bu
    if level is Level.BUSINESS_UNIT:
        return bu
    return []


def _sides(side: Side) -> list[Side]:
    return {Side.BOTH: [Side.RAISING, Side.RESPONDING], Side.RAISING: [Side.RAISING],
            Side.RESPONDING: [Side.RESPONDING]}.get(side, [])


def _party(case: Case, side: Side, *, session: Session) -> tuple[Person | None, int | None]:
    pid = case.raising_person_id if side is Side.RAISING else case.responding_person_id
    aid = case.raising_agency_id if side is Side.RAISING else case.responding_agency_id
    return (repo.get_person(pid, session=session) if pid else None), aid


def _side_at_level(case: Case, side: Side, level: Level, *, session: Session) -> list[Person]:
    party, aid = _party(case, side, session=session)
    if party is not None:
        return at_level(party, aid, level, session=session)
    if aid is None or level is Level.PRACTITIONER:
        return []
    roles = LEVEL_ROLES[level]
    return [p for p in repo.people(case.board_id, session=session, agency_id=aid) if p.role in roles]


def stage_managers(case: Case, stage: Stage, *, session: Session) -> list[Person]:
    """Each side's manager at the stage's level (none for a practitioners' stage or a board-run one)."""
    if stage.level in (Level.PRACTITIONER, Level.BUSINESS_UNIT, Level.INDEPENDENT_CHAIR):
        return []
    out: list[Person] = []
    for side in _sides(stage.sides):
        out.extend(_side_at_level(case, side, stage.level, session=session))
    return out


def step_owners(case: Case, item: Item, proto: Protocol, *, session: Session) -> list[Person]:
    """The people who owe ``item``: its side at its level. A board's step (the business unit's or the chair's) goes
    to the board; an agency side's step in a board-run stage is the practitioner's unless the step names a level.
    At the line-manager level, a step one side takes to its own manager (an internal discussion, raising it with
    your manager) reminds the practitioner and the manager; a step both sides' managers owe reminds the managers."""
    stage: Stage | None = item.stage or (proto.stage(case.stage_id) if case.stage_id else None)
    stage_level = stage.level if stage else Level.PRACTITIONER
    board_levels = (Level.BUSINESS_UNIT, Level.INDEPENDENT_CHAIR)
    side = item.step.by
    if item.step.kind is StepKind.MILESTONE:  # an overall target (a protective date): whoever owes the stage
        side = stage.sides if stage is not None and stage.sides is not Side.BOARD else side
    if side is Side.BOARD:
        level = item.step.level or stage_level
        if level is Level.INDEPENDENT_CHAIR:
            chair = [p for p in board_people(case.board_id, level, session=session) if p.role == "chair"]
            if chair:
                return chair
        return board_people(case.board_id, Level.BUSINESS_UNIT, session=session)
    level = item.step.level or (stage_level if stage_level not in board_levels else Level.PRACTITIONER)
    out: list[Person] = []
    for sd in _sides(side):
        party, _ = _party(case, sd, session=session)
        if party is not None and level is Level.LINE_MANAGER and side is not Side.BOTH:
            out.append(party)
        out.extend(_side_at_level(case, sd, level, session=session))
    return _unique(out)


def line_managers(case: Case, *, session: Session) -> list[Person]:
    """Each party's line manager; while theirs has left, the next one up who has not."""
    out = []
    for pid in (case.raising_person_id, case.responding_person_id):
        party = repo.get_person(pid, session=session) if pid else None
        if party is not None:
            out.extend([m for m in repo.managers_of(party, session=session) if m.active][:1])
    return out


def _unique(people: Iterable[Person | None]) -> list[Person]:
    """Each person once; nobody who has left (bot/admin/people.py): whatever role they held, they are told nothing."""
    seen: set[int] = set()
    out = []
    for p in people:
        if p is not None and p.active and p.id not in seen:
            seen.add(p.id)
            out.append(p)
    return out


@dataclass
class Audience:
    """What :func:`tell` needs beyond the case to find the people behind each role."""

    stages: tuple[Stage, ...] = ()  # the stage(s) the change is about (before and after a move)
    item: Item | None = None  # the step a reminder is about
    signatories: tuple[int, ...] = ()
    drafter: int | None = None
    completers: tuple[Person, ...] = ()
    coordinators: tuple[Person, ...] = ()
    form_role: str | None = None
    lead_agency_id: int | None = None
    channels: tuple[tuple[str, str], ...] = ()  # (platform, address) of MANAGER_CHANNELS


def people_for(role: To, case: Case, proto: Protocol, aud: Audience, *, session: Session) -> list[Person]:
    if role is To.RAISER:
        return _unique([repo.get_person(case.raising_person_id, session=session)])
    if role is To.COUNTERPART:
        return _unique([repo.get_person(case.responding_person_id, session=session)
                        if case.responding_person_id else None])
    if role is To.STAGE_MANAGERS:
        return _unique(p for st in aud.stages for p in stage_managers(case, st, session=session))
    if role is To.BOARD:
        return _unique(p for st in aud.stages for p in board_people(case.board_id, st.level, session=session))
    if role is To.LINE_MANAGERS:
        return _unique(line_managers(case, session=session))
    if role is To.BUSINESS_UNIT:
        return _unique(board_people(case.board_id, Level.BUSINESS_UNIT, session=session))
    if role is To.STEP_OWNERS:
        assert aud.item is not None
        return step_owners(case, aud.item, proto, session=session)
    if role is To.SAFEGUARDING_LEAD:
        agency = repo.get_agency(aud.lead_agency_id, session=session) if aud.lead_agency_id else None
        return _unique([repo.get_person(agency.safeguarding_lead_id, session=session)
                        if agency and agency.safeguarding_lead_id else None])
    if role is To.SIGNATORIES:
        return _unique(repo.get_person(pid, session=session) for pid in aud.signatories)
    if role is To.DRAFTER:
        return _unique([repo.get_person(aud.drafter, session=session) if aud.drafter else None])
    if role is To.PART_COMPLETERS:
        return _unique(aud.completers)
    if role is To.FORM_COORDINATORS:
        return _unique(aud.coordinators)
    if role is To.FORM_ROLE:
        return _unique(p for p in repo.people(case.board_id, session=session) if p.role == aud.form_role)
    return []


@dataclass
class Told:
    """What one :func:`tell` queued: each person with the roles they were told as, and the channels."""

    people: list[tuple[Person, frozenset[To]]] = field(default_factory=list)
    channels: list[tuple[str, str]] = field(default_factory=list)
    queued: list[Outbound] = field(default_factory=list)


def recipients(event: Event, case: Case, proto: Protocol, aud: Audience, *, session: Session,
               actor_id: int | None = None, skip: Collection[int] = ()
               ) -> tuple[list[tuple[Person, frozenset[To]]], list[tuple[str, str]]]:
    """The people (each once, with every role they hold here) and channels the table names for ``event``."""
    rule = TABLE[event]
    found: dict[int, tuple[Person, set[To]]] = {}
    channels: list[tuple[str, str]] = []
    for role in rule.to:
        if role is To.MANAGER_CHANNELS:
            channels.extend(aud.channels)
            continue
        if role is To.BU_CHANNEL:
            channels.extend((c.platform, c.address)
                            for c in repo.board_channels(case.board_id, "business_unit", session=session))
            continue
        if role is To.PROMPT_COPIES:
            continue  # updates of the rows already sent: bot.escalation.escalation
        for p in people_for(role, case, proto, aud, session=session):
            if p.id == actor_id or p.id in skip:
                continue  # the actor's confirmation is their reply; ``skip``: told more fully by another message
            found.setdefault(p.id, (p, set()))[1].add(role)
    people = [(p, frozenset(r)) for p, r in found.values()]
    return people, list(dict.fromkeys(channels))


Build = Callable[[Translator, Person | None, frozenset[To]], Message]


def tell(event: Event, case: Case, proto: Protocol, build: Build, *, session: Session, now: dt.datetime,
         key: str, aud: Audience | None = None, actor_id: int | None = None, timer_id: int | None = None,
         prompt_id: int | None = None, skip: Collection[int] = ()) -> Told:
    """Queue ``event``'s messages to everyone the table names: each person once, in their own language
    (``build(T, person, roles)``); each channel once, in the board's channel languages (``build(T, None,
    roles)``). ``now`` is the board's time (a training board's clock may be ahead); the outbox rows are due at the
    matching real time. Returns what was queued."""
    aud = aud or Audience()
    now = sent_time(case.board_id, now, session=session)
    people, channels = recipients(event, case, proto, aud, session=session, actor_id=actor_id, skip=skip)
    told = Told(people=people, channels=channels)
    # someone away: their message goes to whoever covers (bot.cases.cover), in the reader's language, unless the
    # reader is told anyway (in their own right, or for someone else away) or is the actor or skipped
    taken = {p.id for p, _ in people} | set(skip) | ({actor_id} if actor_id is not None else set())
    for person, roles in people:
        reach = cover.reach(person, now, session=session)
        if reach.absent is not None:
            if reach.reader.id in taken:
                continue
            taken.add(reach.reader.id)
        T = translator(reach.reader.language)
        msg = replace(build(T, person, roles), kind=event.value)
        row = addressing.queue_to_person(person, msg, session=session, key=f"{key}:{event.value}", now=now, case=case,
                                         timer_id=timer_id, prompt_id=prompt_id, reach=reach)
        if row is not None and row.platform != outbox.UNREACHABLE:  # (else kept, and the business unit told)
            shown = cover.covering(T, msg, reach.absent) if reach.absent is not None else msg
            told.queued.append(Outbound(Address.person(reach.reader.id), shown))
    channel_roles = frozenset(TABLE[event].to) & CHANNEL_ROLES
    for platform, address in channels:
        msg = replace(in_languages(proto.channel_languages, lambda T: build(T, None, channel_roles)), kind=event.value)
        row = outbox.queue_to_channel(platform, address, msg, session=session, key=f"{key}:{event.value}", now=now,
                                      case=case, timer_id=timer_id, prompt_id=prompt_id)
        if row is not None:
            told.queued.append(Outbound(Address.to_channel(platform, address), msg))
    return told


def action_key(case: Case) -> str:
    """The idempotency key's stem for what a person just did to a case (its version moves with every change)."""
    return f"n:{case.id}:v{case.version}"


# -- docs/notifications.md --------------------------------------------------------------------------------
def table_markdown() -> str:
    lines = [
        "# Who is told what",
        "",
        "Generated from `bot/notify/notify.py` (`make notifications-doc`); a test keeps the two the same.",
        "",
        "Each event of a case, and each timer, tells exactly the roles below: a person by direct message in "
        "their own language, once even when they hold several of the roles; a channel by a post that carries "
        "the case reference, the agencies and the stage only. Whoever did the thing is not sent a copy: the "
        "reply to what they did is their confirmation. Every message goes through the outbox. While someone is "
        "away, what they would be sent by direct message goes to whoever covers for them, saying so "
        "([cover](directory.md#cover)).",
        "",
        "| event | who is told | what they are told |",
        "|---|---|---|",
    ]
    for ev, rule in TABLE.items():
        lines.append(f"| `{ev.value}` | {', '.join(r.value for r in rule.to)} | {rule.says} |")
    lines += ["", "## The roles", "", "| role | who it is |", "|---|---|"]
    for role in To:
        lines.append(f"| {role.value} | {ROLE_TEXT[role]} |")
    lines.append("")
    return "\n".join(lines)
