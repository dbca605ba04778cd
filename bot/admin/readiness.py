"""Is this process ready, and what is it doing: ``/readyz`` and ``/metrics`` (served by adapters/ops_http.py).

``/healthz`` stays liveness (the process answers). ``parley serve`` adds both to its Slack/Teams server; a process
with no chat server (``parley scheduler``, Slack in Socket Mode) serves them, with ``/healthz``, on
``PARLEY_OPS_PORT`` when it is set. Ready means all of:
- ``database``: the database answers;
- ``migrations``: it is at the newest migration (``parley db upgrade`` has been run);
- ``data key``: the configured keys read what is stored (a subject-details row, a file, the key canary);
- ``scheduler``: some scheduler finished a sweep within ``PARLEY_READY_SWEEP_SECONDS`` (300 by default); any
  replica's sweep counts, since they share the timers.

The metrics are read from the database at each scrape (storage/ops.py), so every replica reports the same
figures; the HTTP latencies are this process's own. Every name starts ``parley_``.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.core.clock import Clock
from storage import crypto, migrate, ops, protection
from storage.db import ping

SWEEP_ENV = "PARLEY_READY_SWEEP_SECONDS"
OPS_PORT_ENV = "PARLEY_OPS_PORT"  # where a process with no chat server (parley scheduler) serves these
DEFAULT_SWEEP = 300.0
LATE_AFTER = dt.timedelta(minutes=5)  # a timer due longer ago than this is overdue: the scheduler is behind


def sweep_within(env: dict[str, str] | None = None) -> dt.timedelta:
    raw = (os.environ if env is None else env).get(SWEEP_ENV, "").strip()
    try:
        seconds = float(raw) if raw else DEFAULT_SWEEP
    except ValueError:
        seconds = DEFAULT_SWEEP
    return dt.timedelta(seconds=seconds if seconds > 0 else DEFAULT_SWEEP)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@functools.cache
def _head() -> str | None:
    return migrate.head_revision()  # read from the migration scripts once


class Readiness:
    def __init__(self, factory: sessionmaker[Session], engine: Engine, clock: Clock,
                 within: dt.timedelta | None = None):
        self.factory, self.engine, self.clock = factory, engine, clock
        self.within = within or sweep_within()

    def checks(self) -> list[Check]:
        """Each check, in order; after the database fails, the others cannot be made and say so."""
        try:
            ping(self.engine)
        except Exception as exc:  # noqa: BLE001 - any failure to answer is "not ready"
            return [Check("database", False, f"the database does not answer ({type(exc).__name__})")] + [
                Check(name, False, "not checked: the database does not answer")
                for name in ("migrations", "data key", "scheduler")]
        out = [Check("database", True, "answers")]
        for name, check in (("migrations", self._migrations), ("data key", self._data_key),
                            ("scheduler", self._scheduler)):
            try:
                out.append(check())
            except Exception as exc:  # noqa: BLE001 - e.g. no such table on a database never migrated
                out.append(Check(name, False, f"could not be checked ({type(exc).__name__})"))
        return out

    def _migrations(self) -> Check:
        current = migrate.current_revision(self.engine)
        if current == _head():
            return Check("migrations", True, "current")
        return Check("migrations", False, f"the database is at {current or 'no revision'}, the code needs "
                                          f"{_head()}: run `parley db upgrade`")

    def _data_key(self) -> Check:
        with self.factory() as s:
            try:
                problems = protection.check_readable(s, crypto.key_source())
            except crypto.DataKeyError as exc:
                problems = [str(exc)]
        return Check("data key", not problems, " ".join(problems) if problems else "reads what is stored")

    def _scheduler(self) -> Check:
        with self.factory() as s:
            last = ops.last_sweep(s)
        if last is None:
            return Check("scheduler", False, "no scheduler has finished a sweep yet")
        age = self.clock.now() - last
        if age <= self.within:
            return Check("scheduler", True, f"last sweep {int(age.total_seconds())} s ago")
        return Check("scheduler", False, f"last sweep {int(age.total_seconds())} s ago, longer than "
                                         f"{int(self.within.total_seconds())} s: is `parley scheduler` (or `parley "
                                         "serve`) running?")


class DatabaseCollector(Collector):
    """The outbox, timers and escalation prompts as Prometheus metrics, read at each scrape."""

    def __init__(self, factory: sessionmaker[Session], clock: Clock):
        self.factory, self.clock = factory, clock

    def collect(self) -> Iterator[Metric]:
        now = self.clock.now()
        with self.factory() as s:
            f = ops.figures(s, now, LATE_AFTER)

        def age(at: dt.datetime | None) -> float:
            return max((now - at).total_seconds(), 0.0) if at is not None else 0.0

        outbox = GaugeMetricFamily("parley_outbox_messages", "Outbox messages not delivered, by platform and state "
                                   "(pending, sending, failed)", labels=["platform", "state"])
        for (platform, state), n in sorted(f.outbox.items()):
            outbox.add_metric([platform, state], n)
        yield outbox
        sent = CounterMetricFamily("parley_deliveries", "Messages delivered, by platform", labels=["platform"])
        for platform, n in sorted(f.sent.items()):
            sent.add_metric([platform], n)
        yield sent
        yield GaugeMetricFamily("parley_outbox_oldest_undelivered_seconds", "Age of the oldest message not yet "
                                "delivered (0 when there is none)", value=age(f.oldest_undelivered))
        yield GaugeMetricFamily("parley_timers_due", "Timers due now and not yet fired", value=f.timers_due)
        yield GaugeMetricFamily("parley_timers_overdue", "Timers due more than 5 minutes ago and not yet fired",
                                value=f.timers_overdue)
        yield GaugeMetricFamily("parley_timers_failed", "Timers whose handler failed for good", value=f.timers_failed)
        yield GaugeMetricFamily("parley_escalation_prompts_unacknowledged", "Escalation prompts nobody has "
                                "acknowledged", value=f.prompts_open)
        yield GaugeMetricFamily("parley_escalation_prompt_oldest_unacknowledged_seconds", "Age of the oldest "
                                "unacknowledged escalation prompt (0 when there is none)",
                                value=age(f.oldest_open_prompt))
        yield CounterMetricFamily("parley_deadlines_lapsed", "Stage deadlines that passed with no outcome recorded",
                                  value=f.deadlines_lapsed)
        yield GaugeMetricFamily("parley_scheduler_last_sweep_age_seconds", "Seconds since a scheduler last "
                                "finished a sweep (NaN: never)",
                                value=age(f.last_sweep) if f.last_sweep is not None else math.nan)


class Metrics:
    """This process's registry: the database figures and its own HTTP latencies."""

    def __init__(self, factory: sessionmaker[Session], clock: Clock):
        self.registry = CollectorRegistry()
        self.registry.register(DatabaseCollector(factory, clock))
        self.latency = Histogram("parley_http_request_duration_seconds", "HTTP request latency, by route",
                                 ["route", "method"], registry=self.registry)
