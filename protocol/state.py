"""A case as the engine sees it: its events (``Event``, of the kinds in ``ENGINE_EVENTS``) and the state the
engine computes from them (``CaseState``: status, stage visits and the items with their deadlines)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from protocol.spec import Stage, Step, StepKind
from protocol.timescales import AnchorKind, Duration

Moment = dt.datetime | dt.date

ENGINE_EVENTS = {
    "opened",
    "step_done",
    "contact",
    "outcome",
    "escalated",
    "bypassed",
    "protective_date",
    "flag",
    "extended",
    "closed",
}


class Status(StrEnum):
    OPEN = "open"
    AWAITING_DECISION = "awaiting_decision"  # a stage ended unresolved; the next stage is exceptional
    RESOLVED = "resolved"
    CLOSED = "closed"


class Action(StrEnum):
    RECORD_CONTACT = "record_contact"
    COMPLETE_STEP = "complete_step"
    RECORD_OUTCOME = "record_outcome"
    ESCALATE_EXCEPTIONAL = "escalate_exceptional"
    BYPASS = "bypass"
    SET_PROTECTIVE_DATE = "set_protective_date"
    EXTEND = "extend"
    URGENT_NOTICE = "urgent_notice"
    CLOSE = "close"


class TransitionError(ValueError):
    """An event that the protocol does not allow in the case's current state."""


@dataclass(frozen=True)
class Event:
    kind: str
    at: dt.datetime  # when it was recorded (timezone-aware)
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def effective(self) -> Moment:
        """When it happened: ``data['on']`` (an ISO date or datetime) if given, else ``at``."""
        return parse_moment(self.data.get("on")) or self.at


def parse_moment(value: Any) -> Moment | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("times must carry a timezone")
        return value
    if isinstance(value, dt.date):
        return value
    text = str(value)
    if "T" in text or " " in text.strip():
        moment = dt.datetime.fromisoformat(text)
        if moment.tzinfo is None:
            raise ValueError(f"{text!r}: times must carry a timezone")
        return moment
    return dt.date.fromisoformat(text)


def moment_data(value: Moment | None) -> str | None:
    """A moment as text that ``moment_from_data`` reads back exactly: a date as ISO; a time as ISO with its offset,
    followed for a named zone by the zone ('2026-04-08T17:00:00+01:00[Europe/London]')."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        zone = getattr(value.tzinfo, "key", None)
        return value.isoformat() + (f"[{zone}]" if zone else "")
    return value.isoformat()


def moment_from_data(text: str | None) -> Moment | None:
    if text is None:
        return None
    if text.endswith("]"):
        stamp, zone = text[:-1].split("[", 1)
        return dt.datetime.fromisoformat(stamp).astimezone(ZoneInfo(zone))
    return parse_moment(text)


@dataclass
class StageVisit:
    stage: Stage
    entered_at: Moment
    how: str  # start | escalation | decision | bypass
    reason: str | None = None
    completed_at: Moment | None = None
    outcome: str | None = None  # resolved | unresolved | bypassed


@dataclass(frozen=True)
class AnchorInfo:
    kind: AnchorKind
    at: Moment
    stage_number: int | None = None  # for stage_start / previous_stage_completed
    step_title: str | None = None  # for step anchors


@dataclass(frozen=True)
class Item:
    """One applicable step: a deadline, a duty with no timescale, or a milestone."""

    step: Step
    stage: Stage | None
    anchor: AnchorInfo | None  # None: its anchor has not happened yet
    due_at: dt.datetime | None
    nominal_due_at: dt.datetime | None  # before any protective cap or extension
    capped: bool = False
    extended_reason: str | None = None
    done_at: Moment | None = None
    overdue: bool = False
    meeting_missing: bool = False
    # the timescale that gave ``due_at``: the step's own, or for a "whichever is sooner/later" rule the one of
    # its two alternatives that applied (None while there is no date)
    due_rule: Duration | None = None

    @property
    def open(self) -> bool:
        return self.done_at is None


@dataclass(frozen=True)
class CaseState:
    status: Status
    stage: Stage | None
    visits: tuple[StageVisit, ...]
    items: tuple[Item, ...]  # open items, soonest first (no-deadline items last)
    done: tuple[Item, ...]
    allowed: tuple[Action, ...]
    escalation_due: bool
    awaiting_stage: Stage | None
    arose_on: dt.date | None
    raised_at: dt.datetime | None
    protective_date: dt.date | None
    resolved_at: Moment | None
    closed_at: Moment | None
    flags: Mapping[str, Any]
    # the sub-step of the resolving stage at which agreement was reached (see ``resolution_step``)
    resolved_step: str | None = None

    @property
    def overdue(self) -> tuple[Item, ...]:
        return tuple(i for i in self.items if i.overdue)

    @property
    def next_deadline(self) -> Item | None:
        dated = [i for i in self.items if i.due_at is not None and i.step.kind is not StepKind.MILESTONE]
        return dated[0] if dated else None

    @property
    def stage_deadline(self) -> Item | None:
        return next((i for i in self.items if i.step.stage_deadline), None)

    def completable(self) -> tuple[Item, ...]:
        return tuple(
            i
            for i in self.items
            if i.step.kind is not StepKind.MILESTONE and not i.step.standing and i.anchor is not None
        )
