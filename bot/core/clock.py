"""Clocks. Services never call ``datetime.now()``: they ask a Clock.

``SimulatedClock`` keeps its time in the database (settings table), so the console's simulated time
survives a restart and a user can move it (``/clock +3wd``) to watch deadlines pass.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Protocol as TypingProtocol

from sqlalchemy.orm import Session, sessionmaker

from protocol.calendar import WorkingCalendar
from storage import repo

CLOCK_KEY = "clock.now"


class Clock(TypingProtocol):
    def now(self) -> dt.datetime: ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc)


class FixedClock:
    """A clock tests move by hand."""

    def __init__(self, at: dt.datetime):
        if at.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware time")
        self.at = at

    def now(self) -> dt.datetime:
        return self.at

    def set(self, at: dt.datetime) -> None:
        self.at = at


class SimulatedClock:
    def __init__(self, factory: sessionmaker[Session], start: dt.datetime | None = None):
        self.factory = factory
        with factory() as s:
            if repo.get_setting(CLOCK_KEY, session=s) is None:
                repo.set_setting(CLOCK_KEY, (start or dt.datetime.now(dt.timezone.utc)).isoformat(), session=s)
                s.commit()

    def now(self) -> dt.datetime:
        with self.factory() as s:
            value = repo.get_setting(CLOCK_KEY, session=s)
        assert value is not None
        return dt.datetime.fromisoformat(value)

    def set(self, at: dt.datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("the clock needs a timezone-aware time")
        with self.factory() as s:
            repo.set_setting(CLOCK_KEY, at.astimezone(dt.timezone.utc).isoformat(), session=s)
            s.commit()


class ClockSyntaxError(ValueError):
    pass


_REL = re.compile(r"^\+\s*(\d+)\s*(wd|d|h|m|w)$")


def move(now: dt.datetime, spec: str, calendar: WorkingCalendar) -> dt.datetime:
    """Where ``/clock SPEC`` moves the clock: ``+3wd`` working days (same time of day), ``+2d``
    days, ``+1w`` weeks, ``+2h`` hours, ``+30m`` minutes, or an absolute ``YYYY-MM-DD [HH:MM]``
    in the board's timezone. The clock never moves backwards."""
    text = spec.strip().lower()
    m = _REL.match(text)
    if m:
        n, unit = int(m[1]), m[2]
        if unit == "wd":
            local = calendar.local(now)
            day = calendar.add_working_days(local.date(), n) if n else local.date()
            target = calendar.at(day, local.timetz().replace(tzinfo=None))
        elif unit == "d":
            target = now + dt.timedelta(days=n)
        elif unit == "w":
            target = now + dt.timedelta(weeks=n)
        elif unit == "h":
            target = now + dt.timedelta(hours=n)
        else:
            target = now + dt.timedelta(minutes=n)
    else:
        try:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                target = calendar.at(dt.date.fromisoformat(text), calendar.day_start)
            else:
                parsed = dt.datetime.fromisoformat(text.replace(" ", "T"))
                target = parsed if parsed.tzinfo else parsed.replace(tzinfo=calendar.tz)
        except ValueError as exc:
            raise ClockSyntaxError(
                "I can move the clock by +3wd (working days), +2d, +1w, +2h or +30m, "
                "or to a date and time such as 2026-04-09 10:00."
            ) from exc
    if target < now:
        raise ClockSyntaxError("The simulated clock only moves forward.")
    return target
