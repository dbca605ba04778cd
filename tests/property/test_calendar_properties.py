"""Properties of the working-day calendar and of protocol snapshots (hypothesis)."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from protocol.calendar import WorkingCalendar
from protocol.loader import board_ids, from_snapshot, load_board, snapshot

CALENDARS = {n: WorkingCalendar(n) for n in ("england-and-wales", "scotland", "northern-ireland")}
LONDON = CALENDARS["england-and-wales"].tz

SETTINGS = settings(max_examples=200, deadline=None)

nations = st.sampled_from(sorted(CALENDARS))
anchors = st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2035, 12, 31))
counts = st.integers(min_value=1, max_value=60)

# Hard cases pinned as examples: both 2026 clock changes, year ends with observed holidays,
# Easter, the leap day 29 Feb 2028 and Scotland's one-off 15 June 2026.
HARD_DATES = [
    dt.date(2026, 3, 29),  # clocks go forward
    dt.date(2026, 10, 25),  # clocks go back
    dt.date(2026, 12, 24),
    dt.date(2026, 12, 31),
    dt.date(2027, 12, 24),  # 25/26 Dec 2027 fall at the weekend: observed 27 and 28 Dec
    dt.date(2028, 2, 29),
    dt.date(2026, 4, 3),  # Good Friday
    dt.date(2026, 6, 12),
]


def _pin(*cases):
    """Stack @example decorators."""

    def wrap(fn):
        for case in cases:
            fn = example(*case)(fn)
        return fn

    return wrap


def _np_offset(cal: WorkingCalendar, anchor: dt.date, n: int) -> dt.date:
    hols = np.array(cal.holiday_list(anchor.year - 1, anchor.year + 2), dtype="datetime64[D]")
    out = np.busday_offset(np.datetime64(anchor, "D"), n, roll="backward", holidays=hols)
    return out.astype(dt.date)


@SETTINGS
@given(nations, anchors, counts)
@_pin(*[("england-and-wales", day, 1) for day in HARD_DATES],
      ("scotland", dt.date(2026, 6, 12), 1), ("scotland", dt.date(2026, 12, 31), 2),
      ("northern-ireland", dt.date(2026, 7, 10), 1), ("england-and-wales", dt.date(2028, 2, 28), 20))
def test_due_date_is_a_working_day(nation: str, anchor: dt.date, n: int) -> None:
    cal = CALENDARS[nation]
    day = cal.add_working_days(anchor, n)
    assert day > anchor
    assert day.weekday() < 5
    assert day not in cal.holidays_in(day.year)
    # and exactly n working days lie in (anchor, day]
    assert cal.working_days_between(anchor, day) == n


@SETTINGS
@given(nations, anchors, counts, counts)
@_pin(*[("england-and-wales", day, 1, 2) for day in HARD_DATES])
def test_monotonic_in_n(nation: str, anchor: dt.date, n: int, m: int) -> None:
    cal = CALENDARS[nation]
    lo, hi = sorted((n, m))
    a, b = cal.add_working_days(anchor, lo), cal.add_working_days(anchor, hi)
    assert a <= b
    assert (a < b) == (lo < hi)  # strictly increasing


@SETTINGS
@given(nations, anchors, st.integers(min_value=0, max_value=30), counts)
@_pin(("england-and-wales", dt.date(2026, 4, 2), 1, 1), ("england-and-wales", dt.date(2026, 12, 24), 4, 2),
      ("scotland", dt.date(2026, 6, 12), 3, 1), ("england-and-wales", dt.date(2028, 2, 28), 1, 1))
def test_monotonic_in_the_anchor(nation: str, anchor: dt.date, gap: int, n: int) -> None:
    cal = CALENDARS[nation]
    later = anchor + dt.timedelta(days=gap)
    assert cal.add_working_days(anchor, n) <= cal.add_working_days(later, n)


@SETTINGS
@given(nations, anchors, counts)
@_pin(*[("england-and-wales", day, 2) for day in HARD_DATES],
      *[("scotland", day, 2) for day in HARD_DATES],
      ("england-and-wales", dt.date(2026, 3, 7), 2))  # Saturday: Tuesday
def test_agrees_with_numpy_busday_offset_roll_backward(nation: str, anchor: dt.date, n: int) -> None:
    cal = CALENDARS[nation]
    assert cal.add_working_days(anchor, n) == _np_offset(cal, anchor, n)


@SETTINGS
@given(nations, anchors, counts, st.integers(min_value=-5, max_value=90))
@_pin(("england-and-wales", dt.date(2026, 12, 23), 3, 1), ("england-and-wales", dt.date(2028, 2, 28), 1, 1),
      ("england-and-wales", dt.date(2026, 3, 27), 2, 2), ("scotland", dt.date(2026, 10, 23), 1, 2))
def test_adding_a_holiday_never_moves_a_deadline_earlier(nation: str, anchor: dt.date, n: int, offset: int) -> None:
    base = CALENDARS[nation]
    extra = anchor + dt.timedelta(days=offset)
    cal = WorkingCalendar(nation, extra_holidays=frozenset({extra}))
    before, after = base.add_working_days(anchor, n), cal.add_working_days(anchor, n)
    assert after >= before
    # it moves only if the new holiday was a working day inside (anchor, deadline]
    moved = base.is_working_day(extra) and anchor < extra <= before
    assert (after > before) == moved
    if moved:
        assert after == base.next_working_day(before)


@SETTINGS
@given(st.datetimes(min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2035, 12, 31),
                    timezones=st.just(LONDON)), st.integers(min_value=1, max_value=72))
@_pin((dt.datetime(2026, 10, 24, 12, 0, tzinfo=LONDON), 24), (dt.datetime(2026, 3, 28, 12, 0, tzinfo=LONDON), 24),
      (dt.datetime(2026, 10, 25, 0, 30, tzinfo=LONDON), 24), (dt.datetime(2028, 2, 28, 9, 0, tzinfo=LONDON), 24))
def test_hours_are_elapsed_time(start: dt.datetime, n: int) -> None:
    cal = CALENDARS["england-and-wales"]
    due = cal.due_hours(start, n)
    utc = dt.timezone.utc
    assert due.astimezone(utc) - start.astimezone(utc) == dt.timedelta(hours=n)


@SETTINGS
@given(anchors)
@_pin(*[(day,) for day in HARD_DATES])
def test_24_hours_from_a_date_is_the_end_of_the_next_day(anchor: dt.date) -> None:
    """A3: with only a date known, 24 hours ends at the end of the next calendar day, clock change or not."""
    cal = CALENDARS["england-and-wales"]
    assert cal.due_hours(anchor, 24) == cal.end_of_day(anchor + dt.timedelta(days=1))


@SETTINGS
@given(anchors, st.integers(min_value=1, max_value=24))
@_pin((dt.date(2026, 1, 31), 1), (dt.date(2028, 1, 31), 1), (dt.date(2028, 2, 29), 12), (dt.date(2026, 12, 31), 2))
def test_months_land_on_the_same_day_or_the_month_end(anchor: dt.date, n: int) -> None:
    cal = CALENDARS["england-and-wales"]
    due = cal.due_months(anchor, n).date()
    months = (due.year - anchor.year) * 12 + due.month - anchor.month
    assert months == n
    month_end = (due.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    assert due.day == anchor.day or (due.day < anchor.day and due == month_end)


@pytest.mark.parametrize("board", board_ids())
def test_snapshot_round_trips_for_each_board(board: str) -> None:
    p = load_board(board)
    stored = json.loads(json.dumps(snapshot(p)))  # what a case would keep in its row
    again = from_snapshot(stored)
    assert again == p
    assert snapshot(again) == stored
