"""Hand-computed working-day arithmetic on the three UK calendars (conventions: protocol/calendar.py).

2026 facts used below (gov.uk bank holidays):
* England & Wales: Good Friday 3 Apr, Easter Monday 6 Apr, Early May 4 May, Spring 25 May,
  Summer 31 Aug, Christmas Fri 25 Dec, Boxing Day Sat 26 Dec observed Mon 28 Dec; 1 Jan 2027 Fri.
* Scotland: 2 Jan, Good Friday 3 Apr but *no* Easter Monday, 15 Jun (one-off), Summer 3 Aug,
  St Andrew's Day Mon 30 Nov; 1-2 Jan 2027 with 4 Jan 2027 observed.
* Northern Ireland: St Patrick's Day Tue 17 Mar, Easter Monday 6 Apr, Boyne observed Mon 13 Jul.
* Clocks go forward Sun 29 Mar 2026 (01:00 GMT -> 02:00 BST) and back Sun 25 Oct 2026 (02:00 BST -> 01:00 GMT).
"""

from __future__ import annotations

import datetime as dt

import pytest

from protocol.calendar import CalendarError, WorkingCalendar
from tests.protocol.helpers import LONDON, cob, d, eod, t

EW = WorkingCalendar("england-and-wales")
SCT = WorkingCalendar("scotland")
NI = WorkingCalendar("northern-ireland")
UTC = dt.timezone.utc


# -- which days are working days ------------------------------------------------------------------
@pytest.mark.parametrize(
    "cal, day, working",
    [
        (EW, "2026-04-02", True),  # Maundy Thursday
        (EW, "2026-04-03", False),  # Good Friday
        (EW, "2026-04-06", False),  # Easter Monday
        (SCT, "2026-04-03", False),  # Good Friday is a Scottish bank holiday too
        (SCT, "2026-04-06", True),  # ... but Easter Monday is not
        (NI, "2026-04-06", False),
        (EW, "2026-05-04", False),  # Early May
        (SCT, "2026-05-04", False),
        (SCT, "2026-06-15", False),  # Scotland's one-off 15 June 2026 bank holiday
        (EW, "2026-06-15", True),
        (NI, "2026-06-15", True),
        (NI, "2026-03-17", False),  # St Patrick's Day
        (EW, "2026-03-17", True),
        (SCT, "2026-08-03", False),  # Scottish summer bank holiday
        (EW, "2026-08-03", True),
        (EW, "2026-08-31", False),
        (SCT, "2026-08-31", True),
        (EW, "2026-12-25", False),
        (EW, "2026-12-26", False),  # Saturday anyway
        (EW, "2026-12-28", False),  # Boxing Day observed
        (EW, "2026-12-29", True),
        (SCT, "2027-01-04", False),  # 2 Jan 2027 is a Saturday: observed Mon 4 Jan in Scotland
        (EW, "2027-01-04", True),
        (EW, "2026-03-07", False),  # plain Saturday
        (EW, "2026-03-08", False),  # plain Sunday
        (EW, "2026-03-09", True),
    ],
)
def test_is_working_day(cal: WorkingCalendar, day: str, working: bool) -> None:
    assert cal.is_working_day(d(day)) is working


def test_holiday_list_is_sorted_and_spans_the_years() -> None:
    hols = EW.holiday_list(2026, 2027)
    assert hols == sorted(hols)
    assert d("2026-04-03") in hols and d("2027-03-29") in hols  # Easter Monday 2027
    assert d("2026-06-15") not in hols and d("2026-06-15") in SCT.holiday_list(2026, 2026)


def test_extra_holidays_count_as_holidays() -> None:
    cal = WorkingCalendar(extra_holidays=frozenset({d("2026-03-10")}))
    assert not cal.is_working_day(d("2026-03-10"))
    assert cal.add_working_days(d("2026-03-09"), 1) == d("2026-03-11")
    assert d("2026-03-10") in cal.holiday_list(2026, 2026)


# -- N working days (day 0 = anchor) --------------------------------------------------------------
@pytest.mark.parametrize(
    "cal, anchor, n, expected",
    [
        # Easter 2026
        (EW, "2026-04-02", 1, "2026-04-07"),  # Thu -> skip Good Friday, weekend, Easter Monday
        (EW, "2026-04-02", 2, "2026-04-08"),
        (EW, "2026-04-02", 5, "2026-04-13"),
        (SCT, "2026-04-02", 1, "2026-04-06"),  # Scotland works on Easter Monday
        (SCT, "2026-04-02", 2, "2026-04-07"),
        (NI, "2026-04-02", 1, "2026-04-07"),
        (EW, "2026-04-01", 2, "2026-04-07"),
        (EW, "2026-04-03", 1, "2026-04-07"),  # anchor on Good Friday: Tue is day 1
        (EW, "2026-04-06", 1, "2026-04-07"),  # anchor on Easter Monday
        # Christmas / New Year 2026-27
        (EW, "2026-12-24", 1, "2026-12-29"),  # Fri 25 hol, weekend, Mon 28 Boxing Day observed
        (EW, "2026-12-23", 2, "2026-12-29"),
        (EW, "2026-12-23", 5, "2027-01-04"),  # 24, 29, 30, 31, (1 Jan hol) 4 Jan
        (EW, "2026-12-31", 1, "2027-01-04"),
        (SCT, "2026-12-31", 1, "2027-01-05"),  # Scotland: 1, 2 Jan and 4 Jan (observed) off
        # Early May 2026
        (EW, "2026-05-01", 1, "2026-05-05"),
        (EW, "2026-04-30", 2, "2026-05-05"),
        (SCT, "2026-05-01", 1, "2026-05-05"),
        # Scotland's 15 June 2026
        (SCT, "2026-06-12", 1, "2026-06-16"),
        (EW, "2026-06-12", 1, "2026-06-15"),
        (SCT, "2026-06-11", 3, "2026-06-17"),
        # Northern Ireland's St Patrick's Day (Tue 17 Mar 2026)
        (NI, "2026-03-16", 1, "2026-03-18"),
        (EW, "2026-03-16", 1, "2026-03-17"),
        # plain weeks
        (EW, "2026-03-02", 2, "2026-03-04"),
        (EW, "2026-03-02", 5, "2026-03-09"),
        (EW, "2026-03-02", 10, "2026-03-16"),
    ],
)
def test_add_working_days(cal: WorkingCalendar, anchor: str, n: int, expected: str) -> None:
    assert cal.add_working_days(d(anchor), n) == d(expected)


@pytest.mark.parametrize(
    "anchor, expected",
    [
        ("2026-03-06", "2026-03-10"),  # Friday: Mon is day 1, Tue day 2
        ("2026-03-07", "2026-03-10"),  # Saturday: "within 2 working days of Saturday" is Tuesday
        ("2026-03-08", "2026-03-10"),  # Sunday: the same Tuesday
        ("2026-04-04", "2026-04-08"),  # Easter Saturday: Tue 7 is day 1 (Easter Monday is off)
    ],
)
def test_day_zero_convention_for_weekend_anchors(anchor: str, expected: str) -> None:
    """A1: the anchor is day 0; an anchor on a non-working day counts the next working day as day 1."""
    assert EW.add_working_days(d(anchor), 2) == d(expected)


def test_due_working_days_is_close_of_business_on_the_nth_day() -> None:
    assert EW.due_working_days(d("2026-04-02"), 2) == cob("2026-04-08")
    # a datetime anchor counts from its *London* date: 23:30 UTC on 30 Jun is 00:30 BST on 1 Jul
    assert EW.due_working_days(dt.datetime(2026, 6, 30, 23, 30, tzinfo=UTC), 1) == cob("2026-07-02")
    # the hour of the anchor does not matter, only its date
    assert EW.due_working_days(t("2026-03-02T16:59"), 1) == EW.due_working_days(t("2026-03-02T08:00"), 1)
    due = EW.due_working_days(d("2026-10-23"), 1)  # Fri -> Mon 26 Oct, after the clock change
    assert due == cob("2026-10-26") and due.utcoffset() == dt.timedelta(0)


def test_add_working_days_rejects_zero() -> None:
    with pytest.raises(CalendarError):
        EW.add_working_days(d("2026-03-02"), 0)


def test_next_and_previous_working_day() -> None:
    assert EW.next_working_day(d("2026-04-02")) == d("2026-04-07")
    assert EW.previous_working_day(d("2026-04-07")) == d("2026-04-02")
    assert SCT.previous_working_day(d("2026-04-07")) == d("2026-04-06")
    assert EW.previous_working_day(d("2026-12-29")) == d("2026-12-24")


@pytest.mark.parametrize(
    "start, end, n",
    [
        ("2026-04-02", "2026-04-08", 2),
        ("2026-04-02", "2026-05-07", 22),  # Swindon stage 5 referral from 2 Apr 2026
        ("2026-03-02", "2026-03-02", 0),
        ("2026-04-08", "2026-04-02", -2),
        ("2026-04-03", "2026-04-06", 0),  # Good Friday to Easter Monday: no working day in between
    ],
)
def test_working_days_between(start: str, end: str, n: int) -> None:
    assert EW.working_days_between(d(start), d(end)) == n


# -- same working day ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "cal, moment, expected",
    [
        (EW, "2026-03-11T10:00", "2026-03-11"),  # during the working day
        (EW, "2026-03-11T07:30", "2026-03-11"),  # before opening: still today
        (EW, "2026-03-11T16:59", "2026-03-11"),
        (EW, "2026-03-11T17:00", "2026-03-12"),  # at close of business: the next working day
        (EW, "2026-03-11T17:30", "2026-03-12"),  # after close of business
        (EW, "2026-03-13T18:00", "2026-03-16"),  # Friday evening -> Monday
        (EW, "2026-03-14T10:00", "2026-03-16"),  # Saturday
        (EW, "2026-04-02T18:00", "2026-04-07"),  # Maundy Thursday evening -> Tuesday after Easter
        (EW, "2026-04-03T09:00", "2026-04-07"),  # Good Friday
        (SCT, "2026-04-03T09:00", "2026-04-06"),  # Scotland: Easter Monday is a working day
        (EW, "2026-12-24T17:01", "2026-12-29"),
        (SCT, "2026-06-15T11:00", "2026-06-16"),
    ],
)
def test_same_working_day(cal: WorkingCalendar, moment: str, expected: str) -> None:
    assert cal.same_working_day(t(moment)) == cob(expected)


# -- hours: elapsed time ------------------------------------------------------------------------
def test_24_hours_across_the_october_clock_change_is_elapsed_time() -> None:
    start = t("2026-10-24T12:00")  # BST (+01:00)
    due = EW.due_hours(start, 24)
    assert due == dt.datetime(2026, 10, 25, 11, 0, tzinfo=LONDON)  # GMT: the wall clock shows 11:00
    assert due.utcoffset() == dt.timedelta(0)
    # (same-zone subtraction in Python is wall-clock arithmetic, so compare in UTC)
    assert due.astimezone(UTC) - start.astimezone(UTC) == dt.timedelta(hours=24)


def test_24_hours_across_the_march_clock_change_is_elapsed_time() -> None:
    start = t("2026-03-28T12:00")  # GMT
    due = EW.due_hours(start, 24)
    assert due == dt.datetime(2026, 3, 29, 13, 0, tzinfo=LONDON)  # BST: 13:00 on the wall clock
    assert due.astimezone(UTC) - start.astimezone(UTC) == dt.timedelta(hours=24)


def test_hours_ignore_weekends_and_bank_holidays() -> None:
    assert EW.due_hours(t("2026-04-02T15:30"), 24) == t("2026-04-03T15:30")  # Good Friday
    assert EW.due_hours(t("2026-03-06T16:00"), 24) == t("2026-03-07T16:00")  # a Saturday


@pytest.mark.parametrize(
    "anchor, n, expected",
    [
        ("2026-04-02", 24, "2026-04-03"),  # A3: date only -> end of the next calendar day
        ("2026-03-28", 24, "2026-03-29"),  # the day before the spring clock change
        ("2026-03-29", 24, "2026-03-30"),  # the 23-hour day itself
        ("2026-10-24", 24, "2026-10-25"),
        ("2026-10-25", 24, "2026-10-26"),  # the 25-hour day itself (was 25 Oct before the fix)
        ("2026-10-24", 48, "2026-10-26"),  # (was 25 Oct before the fix)
        ("2026-12-31", 24, "2027-01-01"),
        ("2026-04-02", 36, "2026-04-03"),
    ],
)
def test_hours_from_a_date_only_anchor_end_at_the_end_of_the_day(anchor: str, n: int, expected: str) -> None:
    assert EW.due_hours(d(anchor), n) == eod(expected)


# -- calendar days and months -------------------------------------------------------------------
def test_calendar_days_end_at_the_end_of_the_day_and_ignore_holidays() -> None:
    assert EW.due_calendar_days(d("2026-12-24"), 5) == eod("2026-12-29")
    assert EW.due_calendar_days(d("2026-03-27"), 5) == eod("2026-04-01")
    assert EW.due_calendar_days(t("2026-03-27T16:00"), 2) == eod("2026-03-29")  # the spring-forward day
    assert EW.due_calendar_days(d("2026-03-27"), 2).utcoffset() == dt.timedelta(hours=1)


@pytest.mark.parametrize(
    "anchor, n, expected",
    [
        ("2026-01-31", 1, "2026-02-28"),  # 31 Jan + 1 month is clamped to the month end
        ("2028-01-31", 1, "2028-02-29"),  # leap year
        ("2026-03-31", 1, "2026-04-30"),
        ("2026-01-15", 1, "2026-02-15"),
        ("2026-12-31", 2, "2027-02-28"),
        ("2026-08-31", 1, "2026-09-30"),
    ],
)
def test_months_clamp_to_month_end(anchor: str, n: int, expected: str) -> None:
    assert EW.due_months(d(anchor), n) == eod(expected)


# -- next working time --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "cal, moment, expected",
    [
        (EW, "2026-03-11T10:00", "2026-03-11T10:00"),  # inside working hours: unchanged
        (EW, "2026-03-11T07:00", "2026-03-11T09:00"),  # before opening
        (EW, "2026-03-11T17:00", "2026-03-12T09:00"),  # at close of business
        (EW, "2026-03-11T18:00", "2026-03-12T09:00"),
        (EW, "2026-03-14T11:00", "2026-03-16T09:00"),  # Saturday
        (EW, "2026-04-02T18:00", "2026-04-07T09:00"),  # over Easter
        (SCT, "2026-04-02T18:00", "2026-04-06T09:00"),
        (EW, "2026-12-24T17:30", "2026-12-29T09:00"),
        (EW, "2026-03-28T23:00", "2026-03-30T09:00"),  # GMT evening -> BST Monday morning
    ],
)
def test_next_working_time(cal: WorkingCalendar, moment: str, expected: str) -> None:
    assert cal.next_working_time(t(moment)) == t(expected)


def test_is_working_time() -> None:
    assert EW.is_working_time(t("2026-03-11T09:00"))
    assert not EW.is_working_time(t("2026-03-11T17:00"))
    assert not EW.is_working_time(t("2026-04-06T11:00"))
    assert SCT.is_working_time(t("2026-04-06T11:00"))


# -- guards -------------------------------------------------------------------------------------
def test_unknown_nation_and_bad_hours_are_rejected() -> None:
    with pytest.raises(CalendarError, match="unknown nation"):
        WorkingCalendar("wales")
    with pytest.raises(CalendarError):
        WorkingCalendar(day_start=dt.time(17), day_end=dt.time(9))


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(CalendarError, match="naive"):
        EW.same_working_day(dt.datetime(2026, 3, 11, 10, 0))


def test_custom_working_hours_move_close_of_business() -> None:
    cal = WorkingCalendar(day_start=dt.time(8, 30), day_end=dt.time(16, 30))
    assert cal.due_working_days(d("2026-03-02"), 1) == t("2026-03-03T16:30")
    assert cal.same_working_day(t("2026-03-02T16:45")) == t("2026-03-03T16:30")
    assert cal.next_working_time(t("2026-03-02T08:00")) == t("2026-03-02T08:30")


# -- the bank holidays come from the library's UK module, loaded on its own (issue #17: memory) --------------------
def test_the_uk_module_on_its_own_gives_what_the_library_gives_for_gb() -> None:
    import holidays

    from protocol import calendar

    for subdiv in calendar.NATIONS.values():
        for year in range(2000, 2041):
            expected = holidays.country_holidays("GB", subdiv=subdiv, years=year)
            assert calendar._bank_holidays(subdiv, year) == frozenset(expected.keys()), (subdiv, year)
            assert calendar.bank_holiday_names(subdiv, year) == tuple(sorted(expected.items())), (subdiv, year)


def test_the_calendar_does_not_import_the_other_countries() -> None:
    import subprocess
    import sys

    script = ("import sys\n"
              "from protocol.calendar import WorkingCalendar\n"
              "assert WorkingCalendar('scotland').is_working_day(__import__('datetime').date(2026, 1, 2)) is False\n"
              "print(sorted(m for m in sys.modules if m.startswith('holidays.countries')))\n"
              "import holidays.countries\n"  # the whole package can still be imported afterwards
              "print(holidays.countries.GB is sys.modules['holidays.countries.united_kingdom'].GB)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["['holidays.countries.united_kingdom']", "True"]
