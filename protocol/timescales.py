"""Timescales and anchors as a board file writes them: ``due: 5 working days``, ``from: stage_start``.

``Duration.parse`` reads a timescale ("a further 2 working days", "48 hours or 2 working days, whichever is
sooner" ...); ``Anchor.parse`` reads what its clock runs from. The engine (protocol.engine) turns them into dates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Unit(StrEnum):
    WORKING_DAYS = "working_days"
    CALENDAR_DAYS = "calendar_days"
    HOURS = "hours"
    MONTHS = "months"
    SAME_WORKING_DAY = "same_working_day"
    IMMEDIATELY = "immediately"
    NEXT_MEETING = "next_meeting"
    NONE = "none"


class AnchorKind(StrEnum):
    DISAGREEMENT = "disagreement"  # the disagreement arose, or the decision was received
    CONCERN_RAISED = "concern_raised"  # the concern was put in writing (the case was opened)
    STAGE_START = "stage_start"  # this stage was entered
    PREVIOUS_STAGE_COMPLETED = "previous_stage_completed"  # the stage before this one ended unresolved
    STEP = "step"  # a named earlier step was done (a form received, a referral made ...)
    RESOLUTION = "resolution"  # the case was resolved


_DURATION_RE = re.compile(
    r"^(?:(?P<further>a further )?(?P<n>\d+) (?P<unit>working days?|working weeks?|days?|hours?|months?)"
    r"|(?P<week>a working week|a further working week)"
    r"|(?P<month>a month)|(?P<swd>same working day)|(?P<imm>immediately)"
    r"|next meeting of (?P<meeting>[a-z0-9-]+)|(?P<none>none))$"
)
# "48 hours or 2 working days, whichever is sooner": two timescales from the same anchor, the sooner or the later
_EITHER_RE = re.compile(r"^(?P<a>.+?) or (?P<b>.+?),? whichever is (?P<pick>sooner|earlier|later)$")
# the units a "whichever is sooner/later" rule may combine: each always gives a date
_COMBINABLE = ("working_days", "calendar_days", "hours", "months", "same_working_day")
WORKING_DAYS_A_WEEK = 5

_DURATION_HELP = (
    "write e.g. '5 working days', 'a further 2 working days', 'a working week', '5 days' (calendar), "
    "'24 hours', 'a month', 'same working day', 'immediately', 'next meeting of delivery-group', "
    "'48 hours or 2 working days, whichever is sooner' or 'none'"
)


class DurationError(ValueError):
    pass


@dataclass(frozen=True)
class Duration:
    """A timescale. ``unit`` and ``amount`` say how it is counted; ``text`` is what the protocol file says.

    "A working week" is 5 working days (``text`` keeps the words). A rule of two timescales ("48 hours or 2
    working days, whichever is sooner") lists them in ``alternatives`` and says in ``pick`` whether the sooner
    or the later deadline applies; its own ``unit`` and ``amount`` are those of the first alternative, so code
    that knows only single timescales still sees one of the two (the engine computes both and says which
    applied: ``Item.due_rule``).
    """

    unit: Unit
    amount: int = 0
    meeting: str | None = None
    text: str = ""
    alternatives: tuple[Duration, ...] = ()  # the two timescales of a "whichever is sooner/later" rule
    pick: str | None = None  # "sooner" or "later" for such a rule

    @classmethod
    def parse(cls, text: str) -> Duration:
        raw = " ".join(str(text).strip().lower().split())
        either = _EITHER_RE.match(raw)
        if either:
            parts = []
            for part in (either["a"], either["b"]):
                try:
                    one = cls._parse_one(part, text)
                except DurationError:
                    raise DurationError(f"{text!r}: {part!r} is not a duration; in 'A or B, whichever is "
                                        f"sooner' each of A and B is a timescale, e.g. '48 hours or 2 working "
                                        f"days, whichever is sooner'") from None
                if one.unit.value not in _COMBINABLE:
                    raise DurationError(f"{text!r}: {part!r} cannot be combined; 'whichever is sooner/later' "
                                        "combines working days or weeks, days, hours, months and 'same working day'")
                parts.append(one)
            if parts[0] == parts[1]:
                raise DurationError(f"{text!r}: the two timescales are the same")
            first = parts[0]
            return cls(first.unit, first.amount, text=raw, alternatives=tuple(parts),
                       pick="later" if either["pick"] == "later" else "sooner")
        return cls._parse_one(raw, text)

    @classmethod
    def _parse_one(cls, raw: str, text: str) -> Duration:
        m = _DURATION_RE.match(raw)
        if not m:
            if re.search(r"\bweeks?\b", raw) and "working week" not in raw:
                raise DurationError(f"{text!r} is not a duration: Parley counts weeks only as working weeks; "
                                    "write 'a working week' or 'N working weeks' (5 working days each), "
                                    "or 'N days' for calendar days")
            raise DurationError(f"{text!r} is not a duration; {_DURATION_HELP}")
        if m["none"]:
            return cls(Unit.NONE, text=raw)
        if m["imm"]:
            return cls(Unit.IMMEDIATELY, text=raw)
        if m["swd"]:
            return cls(Unit.SAME_WORKING_DAY, text=raw)
        if m["month"]:
            return cls(Unit.MONTHS, 1, text=raw)
        if m["week"]:
            return cls(Unit.WORKING_DAYS, WORKING_DAYS_A_WEEK, text=raw)
        if m["meeting"]:
            return cls(Unit.NEXT_MEETING, meeting=m["meeting"], text=raw)
        n = int(m["n"])
        if n < 1:
            raise DurationError(f"{text!r}: a duration must be at least 1")
        unit = m["unit"]
        if unit.startswith("working week"):
            return cls(Unit.WORKING_DAYS, n * WORKING_DAYS_A_WEEK, text=raw)
        if unit.startswith("working"):
            u = Unit.WORKING_DAYS
        elif unit.startswith("day"):
            u = Unit.CALENDAR_DAYS
        elif unit.startswith("hour"):
            u = Unit.HOURS
        else:
            u = Unit.MONTHS
        return cls(u, n, text=raw)

    @property
    def has_deadline(self) -> bool:
        return self.unit is not Unit.NONE

    @property
    def combined(self) -> bool:
        """True for a "whichever is sooner/later" rule of two timescales."""
        return bool(self.alternatives)


@dataclass(frozen=True)
class Anchor:
    kind: AnchorKind
    step: str | None = None

    @classmethod
    def parse(cls, text: str) -> Anchor:
        raw = str(text).strip()
        if raw.startswith("step:"):
            return cls(AnchorKind.STEP, raw[5:].strip())
        return cls(AnchorKind(raw))

    def to_data(self) -> str:
        return f"step:{self.step}" if self.kind is AnchorKind.STEP else self.kind.value
