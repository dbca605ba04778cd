"""Small helpers shared by the protocol tests: London times, events and item look-ups."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from protocol.engine import evaluate
from protocol.state import CaseState, Event, Item
from protocol.loader import load_board
from protocol.spec import Protocol

LONDON = ZoneInfo("Europe/London")


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def t(text: str) -> dt.datetime:
    """'2026-04-02T10:00' in Europe/London (or an explicit offset if the text has one)."""
    moment = dt.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=LONDON)


def cob(day: str) -> dt.datetime:
    """Close of business (17:00 Europe/London) on ``day``: the due time for working-day units."""
    return dt.datetime.combine(d(day), dt.time(17, 0), tzinfo=LONDON)


def eod(day: str) -> dt.datetime:
    """End of the day (23:59:59 Europe/London): the due time for calendar days and months."""
    return dt.datetime.combine(d(day), dt.time(23, 59, 59), tzinfo=LONDON)


def ev(kind: str, at: str, **data: Any) -> Event:
    """An event recorded at ``at`` (London). ``on`` in data, if given, is when it happened."""
    return Event(kind, t(at), data)


def run(protocol: Protocol | str, events: list[Event], now: str | dt.datetime) -> CaseState:
    p = load_board(protocol) if isinstance(protocol, str) else protocol
    return evaluate(p, events, t(now) if isinstance(now, str) else now)


def item(state: CaseState, step_id: str) -> Item:
    """The item for ``step_id`` among the open or done items; fails if it does not apply."""
    for i in (*state.items, *state.done):
        if i.step.id == step_id:
            return i
    raise AssertionError(f"{step_id!r} is not an item; items: {[i.step.id for i in state.items]}")


def has(state: CaseState, step_id: str) -> bool:
    return any(i.step.id == step_id for i in (*state.items, *state.done))


def due(state: CaseState, step_id: str) -> dt.datetime | None:
    return item(state, step_id).due_at

