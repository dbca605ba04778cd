"""Clocks. Services never call ``datetime.now()``: they ask a Clock.

``SimulatedClock`` keeps its time in the database (settings table), so the console's simulated time
survives a restart and a user can move it (``/clock +3wd``) to watch deadlines pass.

A board has a time of its own: the process's clock on a real board; on a training board, that plus how far its
business unit has moved the board's clock (``clock +3wd`` in chat, bot/admin/training.py). Everything about a case
runs on its board's time (:func:`board_now`: the conversation's ``Ctx``, the views, the scheduler's sweep), while
the outbox, which hands messages to Slack and Teams, runs on the process's clock (:func:`sent_time`).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Protocol as TypingProtocol

from sqlalchemy.orm import Session, sessionmaker

from bot.core.i18n import N_
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


# -- a board's own time --------------------------------------------------------------------------------------------
def board_offset(board_id: str | None, *, session: Session) -> dt.timedelta:
    """How far ahead of the process's clock the board's time is: zero on a real board."""
    board = repo.get_board(board_id, session=session) if board_id else None
    if board is None or not board.training:
        return dt.timedelta(0)
    return dt.timedelta(seconds=board.clock_offset_seconds or 0)


def board_now(board_id: str | None, now: dt.datetime, *, session: Session) -> dt.datetime:
    """The board's time when the process's clock says ``now``."""
    return now + board_offset(board_id, session=session)


def sent_time(board_id: str | None, at: dt.datetime, *, session: Session) -> dt.datetime:
    """The process's time when the board's time is ``at``: when a message written then is due to be sent (the
    outbox and its retries run on the process's clock, whatever the board's)."""
    return at - board_offset(board_id, session=session)


def board_offsets(*, session: Session) -> dict[str, dt.timedelta]:
    """Each training board whose clock has moved, and how far ahead it is (the scheduler's sweep)."""
    return {board: dt.timedelta(seconds=s) for board, s in repo.training_offsets(session=session).items()}


class ClockSyntaxError(ValueError):
    """Why a clock cannot move so (an N_ message: translated where it is shown)."""


_REL = re.compile(r"^\+\s*(\d+)\s*(wd|d|h|m|w)$")
MAX_MOVE = dt.timedelta(days=3 * 366)  # the furthest one move goes (a typo such as +99999999d is refused)
SYNTAX = N_("I can move the clock by +3wd (working days), +2d, +1w, +2h or +30m, or to a date and time such as "
            "2026-04-09 10:00.")
TOO_FAR = N_("The clock moves at most three years at a time.")


def move(now: dt.datetime, spec: str, calendar: WorkingCalendar) -> dt.datetime:
    """Where ``/clock SPEC`` moves the clock: ``+3wd`` working days (same time of day), ``+2d``
    days, ``+1w`` weeks, ``+2h`` hours, ``+30m`` minutes, or an absolute ``YYYY-MM-DD [HH:MM]``
    in the board's timezone. The clock never moves backwards, nor more than :data:`MAX_MOVE` at once."""
    text = spec.strip().lower()
    m = _REL.match(text)
    if m:
        n, unit = int(m[1]), m[2]
        if unit == "wd":
            if n > MAX_MOVE.days:  # counted day by day: refused before counting
                raise ClockSyntaxError(TOO_FAR)
            local = calendar.local(now)
            day = calendar.add_working_days(local.date(), n) if n else local.date()
            target = calendar.at(day, local.timetz().replace(tzinfo=None))
        else:
            step = {"d": dt.timedelta(days=1), "w": dt.timedelta(weeks=1), "h": dt.timedelta(hours=1),
                    "m": dt.timedelta(minutes=1)}[unit]
            if n > MAX_MOVE / step:
                raise ClockSyntaxError(TOO_FAR)
            target = now + n * step
    else:
        try:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                target = calendar.at(dt.date.fromisoformat(text), calendar.day_start)
            else:
                parsed = dt.datetime.fromisoformat(text.replace(" ", "T"))
                target = parsed if parsed.tzinfo else parsed.replace(tzinfo=calendar.tz)
        except ValueError as exc:
            raise ClockSyntaxError(SYNTAX) from exc
    if target < now:
        raise ClockSyntaxError(N_("The simulated clock only moves forward."))
    if target - now > MAX_MOVE:
        raise ClockSyntaxError(TOO_FAR)
    return target
