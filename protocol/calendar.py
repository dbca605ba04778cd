"""Working-day calendar for UK safeguarding protocols.

Pure: no clock, no I/O. Bank holidays come from the ``holidays`` library (GB subdivisions).

The counting conventions (written down once, here, and in docs/protocol-format.md):

* **Working day**: Monday to Friday, not a bank holiday of the board's nation.
* **"within N working days of D"** ends at close of business on the Nth working day after D.
  D itself is day 0. If D is not a working day, counting still starts from the next working
  day (that day is day 1). In numpy terms: ``busday_offset(D, N, roll="backward")``.
* **"within N days"** (calendar days, only where a protocol says plain "days"): end of the day
  (23:59:59) N calendar days after D.
* **"within N hours"**: the anchor's timestamp plus N elapsed clock hours. If only a date is
  known for the anchor, it is taken as the start of that date, and the deadline is the end of
  the calendar day N hours later, counted on the wall clock (24 hours from a date is always the
  end of the next calendar day, even across a clock change).
* **"same working day"**: close of business on the day of the anchor, or on the next working day
  when the anchor falls after close of business or on a non-working day.
* **"immediately"**: due at the anchor itself (overdue as soon as time passes it).
* **"within a month" / N months**: the same day N calendar months later, clamped to the month end
  (31 Jan + 1 month = 28/29 Feb), end of that day.

All datetimes are timezone-aware; the board's timezone (default Europe/London) decides which date
an instant falls on and when close of business is.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import sys
import threading
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
from dateutil.relativedelta import relativedelta

# the library's module for the United Kingdom, loaded on its own (see _gb)
GB_MODULE = "holidays.countries.united_kingdom"
_gb_lock = threading.Lock()

NATIONS: dict[str, str] = {
    "england-and-wales": "ENG",
    "scotland": "SCT",
    "northern-ireland": "NIR",
}

END_OF_DAY = dt.time(23, 59, 59)


class CalendarError(ValueError):
    """A calendar was asked for something it cannot do (unknown nation, bad hours)."""


def _gb(subdiv: str, year: int) -> holidays.HolidayBase:
    """``holidays.country_holidays("GB", subdiv=subdiv, years=year)``, without importing every other country: the
    library imports a country's module by name, which runs the package ``holidays.countries``, whose ``__init__``
    imports all 250 (some 8 MB a server kept for the life of the process, to use one). The UK's module is loaded
    from its file under its own name instead; a later import of the package finds it in ``sys.modules``."""
    with _gb_lock:
        module = sys.modules.get(GB_MODULE)
        if module is None:
            path = Path(holidays.__file__).parent / "countries" / "united_kingdom.py"
            spec = importlib.util.spec_from_file_location(GB_MODULE, path) if path.is_file() else None
            if spec is None or spec.loader is None:  # pragma: no cover - the library changed its layout
                return holidays.country_holidays("GB", subdiv=subdiv, years=year)
            module = importlib.util.module_from_spec(spec)
            sys.modules[GB_MODULE] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[GB_MODULE]
                raise
    gb: type[holidays.HolidayBase] = module.GB
    return gb(years=year, subdiv=subdiv)


@lru_cache(maxsize=512)
def _bank_holidays(subdiv: str, year: int) -> frozenset[dt.date]:
    return frozenset(_gb(subdiv, year).keys())


@lru_cache(maxsize=512)
def _working_ordinals(subdiv: str, extra: frozenset[dt.date], year: int) -> tuple[int, ...]:
    """The working days of one year as sorted ordinals (for bisecting instead of stepping day by day)."""
    hols = _bank_holidays(subdiv, year) | {d for d in extra if d.year == year}
    first, last = dt.date(year, 1, 1).toordinal(), dt.date(year, 12, 31).toordinal()
    return tuple(o for o in range(first, last + 1)
                 if (o - 1) % 7 < 5 and dt.date.fromordinal(o) not in hols)  # ordinal 1 is a Monday


@lru_cache(maxsize=512)
def bank_holiday_names(subdiv: str, year: int) -> tuple[tuple[dt.date, str], ...]:
    return tuple(sorted(_gb(subdiv, year).items()))


@dataclass(frozen=True)
class WorkingCalendar:
    nation: str = "england-and-wales"
    timezone: str = "Europe/London"
    day_start: dt.time = dt.time(9, 0)
    day_end: dt.time = dt.time(17, 0)
    extra_holidays: frozenset[dt.date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.nation not in NATIONS:
            raise CalendarError(
                f"unknown nation {self.nation!r}; expected one of {', '.join(sorted(NATIONS))}"
            )
        if not self.day_start < self.day_end:
            raise CalendarError("working hours must start before they end")
        ZoneInfo(self.timezone)  # raises for an unknown zone

    # -- basic facts -------------------------------------------------------------------------
    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def subdiv(self) -> str:
        return NATIONS[self.nation]

    def holidays_in(self, year: int) -> frozenset[dt.date]:
        extra = frozenset(d for d in self.extra_holidays if d.year == year)
        return _bank_holidays(self.subdiv, year) | extra

    def holiday_list(self, start_year: int, end_year: int) -> list[dt.date]:
        out: set[dt.date] = set()
        for y in range(start_year, end_year + 1):
            out |= self.holidays_in(y)
        return sorted(out)

    def is_holiday(self, day: dt.date) -> bool:
        return day in self.holidays_in(day.year)

    def holiday_name(self, day: dt.date) -> str | None:
        """The name of the bank holiday on ``day`` ("Christmas Day"), "holiday" for an extra holiday of this
        calendar, None on any other day."""
        if day in self.extra_holidays:
            return "holiday"
        return dict(bank_holiday_names(self.subdiv, day.year)).get(day)

    def is_working_day(self, day: dt.date) -> bool:
        return day.weekday() < 5 and not self.is_holiday(day)

    def local(self, moment: dt.datetime) -> dt.datetime:
        if moment.tzinfo is None:
            raise CalendarError("naive datetime given; Parley works with timezone-aware times")
        return moment.astimezone(self.tz)

    def local_date(self, moment: dt.datetime | dt.date) -> dt.date:
        if isinstance(moment, dt.datetime):
            return self.local(moment).date()
        return moment

    def at(self, day: dt.date, time: dt.time) -> dt.datetime:
        return dt.datetime.combine(day, time, tzinfo=self.tz)

    def close_of_business(self, day: dt.date) -> dt.datetime:
        return self.at(day, self.day_end)

    def end_of_day(self, day: dt.date) -> dt.datetime:
        return self.at(day, END_OF_DAY)

    def start_of_business(self, day: dt.date) -> dt.datetime:
        return self.at(day, self.day_start)

    def is_working_time(self, moment: dt.datetime) -> bool:
        loc = self.local(moment)
        return self.is_working_day(loc.date()) and self.day_start <= loc.time() < self.day_end

    # -- arithmetic --------------------------------------------------------------------------
    def next_working_day(self, day: dt.date) -> dt.date:
        """The first working day strictly after ``day``."""
        d = day + dt.timedelta(days=1)
        while not self.is_working_day(d):
            d += dt.timedelta(days=1)
        return d

    def previous_working_day(self, day: dt.date) -> dt.date:
        d = day - dt.timedelta(days=1)
        while not self.is_working_day(d):
            d -= dt.timedelta(days=1)
        return d

    def add_working_days(self, anchor: dt.date, n: int) -> dt.date:
        """The Nth working day after ``anchor`` (anchor is day 0). ``n`` must be >= 1."""
        if n < 1:
            raise CalendarError("add_working_days counts whole working days from 1 upwards")
        year = anchor.year
        days = _working_ordinals(self.subdiv, self.extra_holidays, year)
        index = bisect_right(days, anchor.toordinal()) + n - 1  # first working day after anchor is day 1
        while index >= len(days):
            index -= len(days)
            year += 1
            days = _working_ordinals(self.subdiv, self.extra_holidays, year)
        return dt.date.fromordinal(days[index])

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days in the half-open range (start, end]: how many days ``end`` is after ``start``."""
        if end <= start:
            return -self.working_days_between(end, start) if end < start else 0
        count = 0
        d = start
        while d < end:
            d += dt.timedelta(days=1)
            if self.is_working_day(d):
                count += 1
        return count

    def same_working_day(self, moment: dt.datetime) -> dt.datetime:
        loc = self.local(moment)
        day = loc.date()
        if self.is_working_day(day) and loc.time() < self.day_end:
            return self.close_of_business(day)
        return self.close_of_business(self.next_working_day(day))

    def next_working_time(self, moment: dt.datetime) -> dt.datetime:
        """``moment`` if it is inside working hours, else the start of the next working period."""
        loc = self.local(moment)
        day = loc.date()
        if self.is_working_day(day):
            if loc.time() < self.day_start:
                return self.start_of_business(day)
            if loc.time() < self.day_end:
                return loc
        return self.start_of_business(self.next_working_day(day))

    def add_working_hours(self, moment: dt.datetime, hours: float) -> dt.datetime:
        """``moment`` plus ``hours`` of working time (only time inside working hours on working days
        counts). A moment outside working hours starts counting at the next working period."""
        if hours < 0:
            raise CalendarError("add_working_hours counts forwards only")
        left = dt.timedelta(hours=hours)
        cur = self.next_working_time(moment)
        while True:
            end = self.close_of_business(self.local_date(cur))
            if cur + left <= end:
                return self.local(cur + left)
            left -= end - cur
            cur = self.start_of_business(self.next_working_day(self.local_date(cur)))

    def due_working_days(self, anchor: dt.datetime | dt.date, n: int) -> dt.datetime:
        return self.close_of_business(self.add_working_days(self.local_date(anchor), n))

    def due_calendar_days(self, anchor: dt.datetime | dt.date, n: int) -> dt.datetime:
        return self.end_of_day(self.local_date(anchor) + dt.timedelta(days=n))

    def due_months(self, anchor: dt.datetime | dt.date, n: int) -> dt.datetime:
        return self.end_of_day(self.local_date(anchor) + relativedelta(months=n))

    def due_hours(self, anchor: dt.datetime | dt.date, n: int) -> dt.datetime:
        # Elapsed hours: add in UTC so a clock change in between does not shift the result.
        if isinstance(anchor, dt.datetime):
            return self.local(self.local(anchor).astimezone(dt.timezone.utc) + dt.timedelta(hours=n))
        # Date-only anchor (reading A3: "the end of the next calendar day" for 24 hours). Count on
        # the wall clock from the start of the date: adding elapsed hours here put 25 Oct 2026 (a
        # 25-hour clock-change day) + 24 hours on 25 Oct itself, not on 26 Oct.
        return self.end_of_day((dt.datetime.combine(anchor, dt.time(0, 0)) + dt.timedelta(hours=n)).date())
