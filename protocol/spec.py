"""The protocol model: frozen dataclasses describing one board's escalation protocol.

Built by :mod:`protocol.loader` from YAML; serialisable back to plain data (``to_data``) so a case
can keep a snapshot of the protocol it started under.
"""

from __future__ import annotations
import datetime as dt
from typing import Any
from dataclasses import dataclass, field
from enum import StrEnum

from protocol.calendar import WorkingCalendar
from protocol.timescales import Anchor, Duration


class StepKind(StrEnum):
    ACTION = "action"  # someone must do something by the due time
    DUTY = "duty"  # a side duty: tell, copy or send something to a recipient
    MILESTONE = "milestone"  # an overall target; nobody "completes" it


class Level(StrEnum):
    PRACTITIONER = "practitioner"
    LINE_MANAGER = "line_manager"  # or named safeguarding lead
    SENIOR_MANAGER = "senior_manager"
    DIRECTOR = "director"  # heads/directors of service, board representatives
    BUSINESS_UNIT = "business_unit"
    INDEPENDENT_CHAIR = "independent_chair"


LEVEL_ORDER = [lv.value for lv in Level]


class Side(StrEnum):
    RAISING = "raising"
    RESPONDING = "responding"
    BOTH = "both"
    BOARD = "board"  # the business unit, chair or panel: neither agency


# Protocol text in another language sits beside the English as ``<key>_<language>`` (``title_cy``,
# ``text_cy`` ...): Welsh is the one other language the format carries (docs/protocol-format.md).
TEXT_LANGUAGES = ("en", "cy")


def localized(obj: object, attr: str, language: str) -> str:
    """``obj.<attr>`` in ``language``: its ``<attr>_<language>`` text when the protocol gives one, else the
    English. ``localized(stage, "title", "cy")`` is the stage's Welsh title."""
    if language != "en":
        text: str | None = getattr(obj, f"{attr}_{language}", None)
        if text:
            return text
    english: str = getattr(obj, attr)
    return english


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    due: Duration
    anchor: Anchor
    kind: StepKind = StepKind.ACTION
    by: Side = Side.RAISING
    level: Level | None = None  # overrides the stage's level for who acts
    to: str | None = None  # recipient id (duties)
    refs: tuple[str, ...] = ()
    stage_deadline: bool = False  # its lapse means the stage is overdue and escalation is due
    protective_cap: bool = False  # "or a timescale that protects the child/adult, whichever is less"
    when: str | None = None  # "resolved", "bypassed" or "flag:<name>"
    extendable: bool = False  # a recorded extension with a reason may move the date (CV-7)
    standing: bool = False  # a standing duty for the rest of the case (e.g. copy the Partnership)
    until_stage: int | None = None  # milestones: applies while the stage number is at most this
    timetable_stage: int | None = None  # milestones: which stage the timetable lists it under
    reading: str | None = None  # the reading Parley uses where the protocol is ambiguous
    source: str | None = None  # seed file and lines
    written_outcome: bool = False  # done by sending the recorded outcome in writing to the other party
    title_cy: str | None = None  # the title in Welsh (see ``localized``)
    # a follow-up owed only if the stage was resolved at this sub-step of the same stage (``resolved_at:``)
    resolved_at: str | None = None


@dataclass(frozen=True)
class Record:
    id: str
    title: str
    signed_by: tuple[str, ...] = ()  # "raiser", "counterpart", "business_unit" ...
    refs: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    when: str | None = None
    title_cy: str | None = None


@dataclass(frozen=True)
class Stage:
    id: str
    number: int
    title: str
    level: Level
    sides: Side = Side.BOTH
    exceptional: bool = False  # entered only by a recorded decision
    description: str = ""
    steps: tuple[Step, ...] = ()
    records: tuple[Record, ...] = ()
    forms: tuple[str, ...] = ()
    refs: tuple[str, ...] = ()
    title_cy: str | None = None
    description_cy: str | None = None

    def sub_steps(self) -> tuple[Step, ...]:
        """The stage's sub-steps: its actions that apply whatever happens (no ``when:``, not standing), in the
        order the file lists them. A follow-up with ``resolved_at:`` names one of them."""
        return tuple(st for st in self.steps if st.when is None and st.kind is StepKind.ACTION and not st.standing)


@dataclass(frozen=True)
class Contact:
    label: str
    phone: str | None = None
    email: str | None = None
    serves: str = "both"  # children | adults | both
    note: str | None = None
    label_cy: str | None = None
    note_cy: str | None = None


@dataclass(frozen=True)
class ImmediateRisk:
    rule: str  # "same_working_day" (a protocol rule) or "advisory" (product default banner)
    text: str
    contacts: tuple[Contact, ...] = ()
    refs: tuple[str, ...] = ()
    inform_safeguarding_lead: bool = False
    text_cy: str | None = None


@dataclass(frozen=True)
class Category:
    id: str
    title: str
    title_cy: str | None = None


@dataclass(frozen=True)
class Exclusion:
    id: str
    text: str
    refs: tuple[str, ...] = ()
    text_cy: str | None = None


@dataclass(frozen=True)
class PreconditionAnswer:
    advice: str | None = None
    block: bool = False
    ask_date: str | None = None  # a question whose answer becomes the disagreement date
    advice_cy: str | None = None
    ask_date_cy: str | None = None


@dataclass(frozen=True)
class Precondition:
    id: str
    question: str
    refs: tuple[str, ...] = ()
    only_if: tuple[tuple[str, bool], ...] = ()
    on_yes: PreconditionAnswer = field(default_factory=PreconditionAnswer)
    on_no: PreconditionAnswer = field(default_factory=PreconditionAnswer)
    question_cy: str | None = None


@dataclass(frozen=True)
class BypassReason:
    id: str
    text: str
    text_cy: str | None = None


@dataclass(frozen=True)
class Bypass:
    to: str
    reasons: tuple[BypassReason, ...]
    refs: tuple[str, ...] = ()
    note: str | None = None


@dataclass(frozen=True)
class UrgentNotice:
    """A notification that may be sent at any stage without moving the case (SWN-2, reading A9)."""

    title: str
    to: str
    when_text: str
    refs: tuple[str, ...] = ()
    title_cy: str | None = None


# where a form field's value comes from when Parley fills it from the case (see docs/protocol-format.md);
# a field with no source is asked in chat of the person completing the part
FORM_SOURCES = (
    "subject.name", "subject.dob", "subject.name_and_dob", "subject.address", "subject.case_number",
    "raiser.name", "raiser.title", "raiser.agency", "raiser.email",
    "counterpart.name", "counterpart.title", "counterpart.agency", "counterpart.email",
    "case.ref", "case.raised_on", "case.la_area", "case.category", "case.what_happened", "case.done_so_far",
    "case.outcome_sought", "case.stage", "case.resolved", "case.resolved_on", "case.outcome", "case.contact_log",
    "record.date", "record.attendees", "record.reason", "record.outcome", "record.continuing", "record.actions",
    "part.by", "part.by_title", "part.by_agency", "part.by_email", "part.by_contact", "part.on",
)
FORM_FIELD_TYPES = ("text", "long_text", "date", "yes_no")


@dataclass(frozen=True)
class FormField:
    label: str
    source: str | None = None  # one of FORM_SOURCES, or "form.<part id>.on"; None: asked in chat
    private: bool = False  # personal data about the child, adult or family: kept with the subject details
    type: str = "text"  # how an asked field is asked and checked: text | long_text | date | yes_no
    optional: bool = False  # an asked field that may be left empty
    label_cy: str | None = None

    @property
    def asked(self) -> bool:
        return self.source is None


@dataclass(frozen=True)
class FormPart:
    id: str
    title: str
    by: str
    fields: tuple[FormField, ...] = ()
    due_step: str | None = None
    title_cy: str | None = None


@dataclass(frozen=True)
class Form:
    id: str
    title: str
    stage: str | None
    parts: tuple[FormPart, ...]
    refs: tuple[str, ...] = ()
    contains_subject_details: bool = True
    send_to_role: str | None = None  # besides the next part's completers, DM the completed form to this role
    title_cy: str | None = None

    def part(self, part_id: str) -> FormPart:
        for p in self.parts:
            if p.id == part_id:
                return p
        raise KeyError(part_id)


@dataclass(frozen=True)
class Reporting:
    cadence: str  # quarterly | regular | none
    quarter_numbering: str = "calendar"  # calendar (Q1 = Jan-Mar) | financial (Q1 = Apr-Jun)
    refs: tuple[str, ...] = ()
    log_columns: tuple[str, ...] = ()
    note: str | None = None


@dataclass(frozen=True)
class Retention:
    """How long a board keeps a resolved or closed case before ``parley retention apply`` anonymises it."""

    closed_case_years: int = 6  # whole years after the resolution or closure
    note: str | None = None
    refs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Nudge:
    working_days_before: int  # 0: the morning of the deadline
    at: dt.time | None = None  # None: the start of the working day


@dataclass(frozen=True)
class Schedule:
    """When Parley chases: nudges before each deadline, re-notification of unacknowledged escalations,
    and the business unit's digests (cron, in the board's timezone)."""

    nudges: tuple[Nudge, ...] = (Nudge(1), Nudge(0))
    renotify_after_working_hours: float = 4
    renotify_max: int = 3
    digest_cron: str = "0 9 * * mon"
    quarterly_cron: str = "0 9 1 1,4,7,10 *"


@dataclass(frozen=True)
class Protocol:
    id: str
    name: str
    version: str
    ref_prefix: str
    nation: str
    timezone: str
    day_start: dt.time
    day_end: dt.time
    scope: tuple[str, ...]
    categories: tuple[Category, ...]
    stages: tuple[Stage, ...]
    immediate_risk: ImmediateRisk
    recipients: dict[str, str]
    exclusions: tuple[Exclusion, ...] = ()
    preconditions: tuple[Precondition, ...] = ()
    bypass: Bypass | None = None
    urgent_notice: UrgentNotice | None = None
    after_resolution: tuple[Step, ...] = ()
    milestones: tuple[Step, ...] = ()
    forms: tuple[Form, ...] = ()
    reporting: Reporting = field(default_factory=lambda: Reporting("none"))
    meetings: dict[str, tuple[dt.date, ...]] = field(default_factory=dict)
    schedule: Schedule = field(default_factory=Schedule)
    retention: Retention = field(default_factory=Retention)
    source: str | None = None
    notes: tuple[str, ...] = ()
    name_cy: str | None = None
    recipients_cy: dict[str, str] = field(default_factory=dict)
    # the languages of the board's channel posts, in order: ("cy", "en") posts Welsh first, then English
    channel_languages: tuple[str, ...] = ("en",)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    # -- lookups -------------------------------------------------------------------------------
    def calendar(self) -> WorkingCalendar:
        return WorkingCalendar(self.nation, self.timezone, self.day_start, self.day_end)

    def stage(self, stage_id: str) -> Stage:
        for s in self.stages:
            if s.id == stage_id:
                return s
        raise KeyError(stage_id)

    def stage_index(self, stage_id: str) -> int:
        return [s.id for s in self.stages].index(stage_id)

    def first_stage(self) -> Stage:
        return next(s for s in self.stages if not s.exceptional)

    def next_stage(self, stage_id: str) -> Stage | None:
        i = self.stage_index(stage_id)
        return self.stages[i + 1] if i + 1 < len(self.stages) else None

    def all_steps(self) -> list[tuple[Stage | None, Step]]:
        out: list[tuple[Stage | None, Step]] = []
        for s in self.stages:
            out.extend((s, st) for st in s.steps)
        out.extend((None, st) for st in self.milestones)
        out.extend((None, st) for st in self.after_resolution)
        return out

    def step(self, step_id: str) -> Step:
        for _, st in self.all_steps():
            if st.id == step_id:
                return st
        raise KeyError(step_id)

    def step_stage(self, step_id: str) -> Stage | None:
        for s, st in self.all_steps():
            if st.id == step_id:
                return s
        raise KeyError(step_id)

    def recipient(self, key: str, language: str = "en") -> str:
        """A recipient's description in ``language`` (Welsh from ``recipients_cy`` when given)."""
        if language == "cy" and key in self.recipients_cy:
            return self.recipients_cy[key]
        return self.recipients.get(key, key)

    def category(self, cat_id: str) -> Category:
        for c in self.categories:
            if c.id == cat_id:
                return c
        raise KeyError(cat_id)
