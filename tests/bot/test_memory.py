"""Freed memory handed back after a burst of scheduler work (bot/core/memory.py; issue #17)."""

from __future__ import annotations

import datetime as dt
import sys
from types import SimpleNamespace

import pytest

from bot.core import memory
from bot.escalation import scheduler as scheduler_module
from bot.escalation.scheduler import SchedulerService


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_release_trims_the_c_heap_on_linux() -> None:
    assert memory.release() is True
    assert memory.release() is True  # as often as asked


def test_release_is_harmless_where_the_c_library_has_no_malloc_trim(monkeypatch) -> None:
    monkeypatch.setattr(memory, "_malloc_trim", lambda: None)
    assert memory.release() is False


@pytest.mark.parametrize("fired, sent, released", [(0, 0, False), (40, 59, False), (60, 40, True), (500, 0, True)])
def test_a_sweep_hands_memory_back_only_after_a_burst(monkeypatch, caplog, fired: int, sent: int, released: bool) -> None:
    calls: list[bool] = []
    monkeypatch.setattr(scheduler_module.memory, "release", lambda: calls.append(True) or True)
    service = SchedulerService.__new__(SchedulerService)
    now = dt.datetime(2026, 4, 2, 10, 0, tzinfo=dt.timezone.utc)
    service.sweeper = SimpleNamespace(sweep=lambda: fired, next_due=lambda: None,  # type: ignore[assignment]
                                      clock=SimpleNamespace(now=lambda: now))
    service.deliverer = SimpleNamespace(deliver=lambda: sent)  # type: ignore[assignment]
    service.interval, service.until_idle = 30.0, False
    service._beaten_at = now  # beaten just now: no heartbeat written
    with caplog.at_level("ERROR"):
        service.tick()
    assert not caplog.records
    assert calls == ([True] if released else [])
