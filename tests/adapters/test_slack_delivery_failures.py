"""Slack's real failures, through the real Slack transport and client (adapters/slack) against the local Web API
stand-in (tests/adapters/slack_mock.py), with the journeys' hand-written expectations as the expected set.

* Every message kind that used to be sent directly by the adapter (the counterpart's "raised with you" DM, urgent
  notices, closure and outcome notices, written outcomes, forms for the next completer, record signature
  requests) survives three consecutive HTTP 500s: the first message of each kind meets them (slack_sdk's two
  in-process retries, then the outbox's), and the journey still sees exactly its expected deliveries.
* A 403 on one person's address fails that row for good, tells the business unit once (case reference and the
  person's name, never the content), leaves every other message alone, and `parley doctor` lists it.
* A timeout: a slow answer (longer than the client's timeout) is retried, not lost.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from sqlalchemy import select

from adapters.slack.server import web_client
from adapters.slack.transport import SlackTransport
from bot.admin import doctor
from bot.delivery.delivery import Deliverer, DeliveryError, Outgoing
from bot.delivery.outages import Policy
from storage.models import OutboxMessage
from tests.adapters.slack_mock import MockSlack
from tests.journeys import test_console_items_notify, test_wolverhampton_journey
from tests.journeys.harness import Got, Journey, at
from tests.journeys.test_platforms import slack as render_slack
from tests.journeys.test_swindon_journey import swindon_whole_case

pytestmark = pytest.mark.e2e


class Tee:
    """The real Slack transport; what Slack accepted is also handed to the journey's recorder (who got what).
    ``first_of_kind_fails``: the first message of each kind meets three consecutive HTTP 500s."""

    platform = "slack"

    def __init__(self, j: Journey, mock: MockSlack, first_of_kind_fails: bool):
        self.j, self.mock = j, mock
        self.real = SlackTransport(web_client("xoxb-test", mock.url, timeout=2), pace_seconds=0)
        self.first = first_of_kind_fails
        self.failed_kinds: Counter[str] = Counter()
        self.seen_kinds: set[str] = set()

    def _go(self, msg: Outgoing, call) -> str:
        kind = msg.message.kind or "?"
        if self.first and kind not in self.seen_kinds:
            self.seen_kinds.add(kind)
            self.mock.fail("chat.update" if msg.update_of_external_id else "chat.postMessage", 500, times=3)
            try:
                call(msg)
            except DeliveryError:
                self.failed_kinds[kind] += 1
                raise
            raise AssertionError(f"{kind}: three 500s should have failed this attempt")
        ext = call(msg)
        (self.j.recorder.update if msg.update_of_external_id else self.j.recorder.send)(msg)
        return ext

    def send(self, msg: Outgoing) -> str:
        return self._go(msg, self.real.send)

    def update(self, msg: Outgoing) -> str:
        return self._go(msg, self.real.update)

    def find_sent(self, msg: Outgoing) -> str | None:
        return self.real.find_sent(msg)


def slack_journey(mock: MockSlack, first_of_kind_fails: bool = True, policy: Policy | None = None):
    class SlackJourney(Journey):
        def __init__(self, runtime, board: str, start: dt.datetime):
            super().__init__(runtime, board, start, platform="slack", render=render_slack)
            self.tee = Tee(self, mock, first_of_kind_fails)
            self.deliverer = Deliverer(runtime.factory, {"slack": self.tee}, self.clock, "journey",
                                       board_id=lambda: board, policy=policy)

        def _delivered(self) -> list[Got]:
            self.deliverer.deliver()
            # the failed attempts wait a few seconds (backoff); the scheduler's next tick sends them
            self.clock.set(self.clock.now() + dt.timedelta(seconds=20))
            return super()._delivered()

    return SlackJourney


def _swindon(rt) -> None:
    swindon_whole_case(test_console_items_notify.Journey(rt, "swindon", at(2026, 4, 2, 10)))


def _close(rt) -> None:
    j, ref = test_console_items_notify.swindon(rt)
    got = j.say("alice", f"close {ref}", "The family has moved out of the area.")
    j.expect(got, {"bob": "closed", "sam": "closed"})


JOURNEYS = {  # each journey and the formerly direct kinds it must carry through the 500s
    "swindon": (_swindon, {"case_opened", "not_resolved", "record_drafted"}),
    "urgent": (test_console_items_notify.test_CUX13_an_urgent_notice_text_reaches_the_people_not_the_channel,
               {"case_opened", "urgent_notice", "urgent_post"}),
    "close": (_close, {"closed"}),
    "forms": (test_console_items_notify.test_C6_completing_a_form_part_gives_one_message, {"form_part_completed"}),
    "written outcome": (test_wolverhampton_journey.test_wolverhampton_protective_date_lapse_and_written_outcome,
                        {"written_outcome", "resolved"}),
}


@pytest.mark.parametrize("name", list(JOURNEYS))
def test_each_formerly_direct_message_survives_three_500s(sqlite_runtime, monkeypatch, name: str) -> None:
    run, kinds = JOURNEYS[name]
    with MockSlack() as mock:
        journey = slack_journey(mock)
        made: list[Journey] = []

        def make(*args, **kwargs):
            made.append(journey(*args, **kwargs))
            return made[-1]

        for module in (test_console_items_notify, test_wolverhampton_journey):
            monkeypatch.setattr(module, "Journey", make)
        run(sqlite_runtime)  # the journey's own expectations hold, step by step
        tee = made[0].tee
        assert kinds <= set(tee.failed_kinds), f"not failed first: {kinds - set(tee.failed_kinds)}"
        assert sum(1 for c in mock.calls if c.method == "chat.postMessage") > 0
        # every outbox key was posted to Slack exactly once, and every row is sent
        failed_calls = sum(1 for c in mock.calls if c.method == "chat.postMessage") - sum(
            len(h) for h in mock.history.values())
        assert failed_calls >= 3 * len(kinds)
        keys = Counter(((m.get("metadata") or {}).get("event_payload") or {}).get("key")
                       for h in mock.history.values() for m in h)  # what Slack accepted
        with sqlite_runtime.factory() as s:
            rows = s.scalars(select(OutboxMessage).where(OutboxMessage.platform == "slack",
                                                         OutboxMessage.board_id == made[0].board,
                                                         OutboxMessage.update_of_id.is_(None))).all()
            assert {r.state for r in rows} == {"sent"}
        posted = {k: n for k, n in keys.items() if k}
        assert max(posted.values()) == 1 and set(posted) == {r.idempotency_key for r in rows}


def test_a_403_on_one_address_fails_it_tells_the_business_unit_once_and_nothing_else(runtime) -> None:
    with MockSlack() as mock:
        j = slack_journey(mock, first_of_kind_fails=False)(runtime, "swindon", at(2026, 4, 2, 10))
        mock.refuse("slack-bob", error="user_not_found", status=403)  # bob's DM cannot be opened
        got = j.say("alice", *test_console_items_notify.SWN_INTAKE, "Swindon Children's Social Care",
                    "Bob Evans, Social Worker", "skip", "submit")
        ref = j.ref()
        got += j.say("alice", f"urgent {ref}", "The child was seen today with new injuries.")
        # Bob gets nothing; everyone else gets what the notification table says; the business unit is told once
        j.expect(got, {"sam": ["case_opened", "urgent_notice"], "mia": "urgent_notice", "una": "urgent_notice",
                       "#business-unit": ["urgent_post", "delivery_alert"]})
        alert = j.last_to("#business-unit", "delivery_alert").message.text
        assert ref in alert and "Bob Evans" in alert and "user_not_found" in alert
        assert "injuries" not in alert and "referral" not in alert  # never the content
        with runtime.factory() as s:
            bob_rows = s.scalars(select(OutboxMessage).where(OutboxMessage.address == "slack-bob")).all()
        assert len(bob_rows) == 2 and {(r.state, r.failure) for r in bob_rows} == {("failed", "permanent")}
        # a later message to Bob in the same outage: failed too, no second alert
        j.expect(j.say("alice", f"urgent {ref}", "A second notice."),
                 {"sam": "urgent_notice", "mia": "urgent_notice", "una": "urgent_notice",
                  "#business-unit": "urgent_post"})
        lines = [c.line() for c in doctor.run(runtime.url, env={})]
        problem = [line for line in lines if "Bob Evans" in line]
        assert problem and problem[0].startswith("PROBLEM") and ref in problem[0] and "told" in problem[0], lines


def test_a_slow_answer_beyond_the_timeout_is_retried(sqlite_runtime) -> None:
    with MockSlack() as mock:
        j = slack_journey(mock, first_of_kind_fails=False)(sqlite_runtime, "swindon", at(2026, 4, 2, 10))
        j.tee.real = SlackTransport(web_client("xoxb-test", mock.url, timeout=1), pace_seconds=0)
        j.tee.real.client.retry_handlers.clear()  # one try per attempt: the outbox retries
        mock.slow("chat.postMessage", 3, times=1)  # Slack answers only after 3 s (as 12 s or 25 s would, later)
        got = j.say("alice", *test_console_items_notify.SWN_INTAKE, "Swindon Children's Social Care",
                    "Bob Evans, Social Worker", "skip", "submit")
        j.expect(got, {"bob": "case_opened", "sam": "case_opened"})
        with sqlite_runtime.factory() as s:
            errors = [r.last_error for r in s.scalars(select(OutboxMessage))]
        assert all(e is None for e in errors)
