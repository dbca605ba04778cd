"""Nothing lost, nothing twice, through a platform outage: the Swindon journey (tests/journeys/test_swindon_journey.py)
run with the platform down for a while, then back.

The expected deliveries are the journey's own hand-written expectations, added up over the whole journey (during
an outage what a step sends arrives later, so the step-by-step check becomes one check at the end): every message
they name must arrive exactly once, nothing else may arrive, except the business unit's one alert about the outage
(bot.delivery.outages), which must arrive exactly once when the outage lasted longer than the alert threshold and never
otherwise. The Deliverer is run every simulated minute, as the scheduler's interval sweep would.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from sqlalchemy import select

from bot.delivery.delivery import Deliverer, DeliveryError, Outgoing
from bot.core.messages import message_from_data
from bot.delivery.outages import Policy
from storage.models import OutboxMessage
from tests.journeys.harness import Got, Journey, Recorder, at
from tests.journeys.test_swindon_journey import swindon_whole_case

TICK = dt.timedelta(minutes=1)


class DownRecorder:
    """The journey's recorder behind a platform that answers 503 from ``start`` for ``length`` (simulated clock)."""

    def __init__(self, recorder: Recorder, clock, start: dt.datetime, length: dt.timedelta):
        self.recorder, self.clock, self.start, self.end = recorder, clock, start, start + length
        self.platform = recorder.platform
        self.refused = 0

    def down(self) -> bool:
        return self.start <= self.clock.now() < self.end

    def _check(self) -> None:
        if self.down():
            self.refused += 1
            raise DeliveryError("HTTP 503", reason="HTTP 503")

    def send(self, msg: Outgoing) -> str:
        self._check()
        return self.recorder.send(msg)

    def update(self, msg: Outgoing) -> str:
        self._check()
        return self.recorder.update(msg)

    def find_sent(self, msg: Outgoing) -> str | None:
        self._check()
        return self.recorder.find_sent(msg)


class OutageJourney(Journey):
    def __init__(self, runtime, start: dt.datetime, down_from: dt.datetime, length: dt.timedelta,
                 alert_after: dt.timedelta):
        super().__init__(runtime, "swindon", start)
        self.down = DownRecorder(self.recorder, self.clock, down_from, length)
        self.deliverer = Deliverer(runtime.factory, {"console": self.down}, self.clock, "journey",
                                   board_id=lambda: "swindon", policy=Policy(alert_after=alert_after))
        self.want: Counter[tuple[str, str]] = Counter()

    # what the journey's steps expect is added up, and checked at the end
    def expect(self, got: list[Got], expected: dict[str, str | list[str]]) -> None:
        for to, kinds in expected.items():
            for k in [kinds] if isinstance(kinds, str) else kinds:
                self.want[(to, k)] += 1

    def to(self, moment: dt.datetime) -> list[Got]:
        """Deliver every simulated minute until ``moment`` (while the platform is down and a while after), then
        move on as the journey does."""
        stop = min(moment, self.down.end + dt.timedelta(minutes=20))
        while self.clock.now() + TICK < stop:
            self.clock.set(self.clock.now() + TICK)
            self.deliverer.deliver()
        return super().to(moment)

    # what the journey reads of a message already sent: from the outbox (during the outage it is not there yet)
    def _queued(self) -> list[Got]:
        with self.rt.factory() as s:
            rows = s.scalars(select(OutboxMessage).where(OutboxMessage.board_id == "swindon")
                             .order_by(OutboxMessage.id)).all()
            return [Got(r.address if r.target_kind == "channel" else self.recorder.keys[r.person_id or 0],
                        r.update_of_id is not None, message_from_data(r.payload), str(r.id)) for r in rows]

    def last_to(self, to: str, kind: str | None = None) -> Got:
        return next(g for g in reversed(self._queued()) if g.to == to and (kind is None or g.message.kind == kind))

    def finish(self) -> None:
        after = self.down.end + dt.timedelta(minutes=20)
        if self.clock.now() < after:
            self.to(after)
        self.deliverer.deliver()


@pytest.mark.parametrize(("length", "alert_after", "alerts"), [
    (dt.timedelta(minutes=6), dt.timedelta(minutes=30), 0),  # shorter than the threshold: nobody is bothered
    (dt.timedelta(minutes=6), dt.timedelta(minutes=5), 1),
    (dt.timedelta(hours=5), dt.timedelta(minutes=30), 1),
], ids=["6-minutes", "6-minutes-alert-after-5", "5-hours"])
def test_an_outage_loses_nothing_duplicates_nothing_and_tells_the_business_unit_once(
        runtime, length: dt.timedelta, alert_after: dt.timedelta, alerts: int) -> None:
    # down from the moment the nudges and the digest fall due (Tue 7 Apr 09:05), through Alice's outcome
    j = OutageJourney(runtime, at(2026, 4, 2, 10), at(2026, 4, 7, 9, 5), length, alert_after)
    swindon_whole_case(j)
    j.finish()
    assert j.down.refused > 0, "the outage should have refused some deliveries"
    want = j.want + Counter({("#business-unit", "delivery_alert"): alerts} if alerts else {})
    have = j.summary(j.recorder.got)
    assert have == want, f"\nmissing: {dict(want - have)}\nextra:   {dict(have - want)}"
    with runtime.factory() as s:
        states = Counter(s.scalars(select(OutboxMessage.state).where(OutboxMessage.board_id == "swindon")))
    assert set(states) == {"sent"}, states
    if alerts:
        alert = next(g for g in j.recorder.got if g.message.kind == "delivery_alert")
        # names the case and the recipients held up, never what the messages said
        assert "SWN-2026-" in alert.message.text and "Alice Hughes" in alert.message.text
        assert "Sam and I agree" not in alert.message.text and "Jamie" not in alert.message.text
