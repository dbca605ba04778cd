"""Structured logs never carry subject details or message bodies, whatever is logged and at any level."""

from __future__ import annotations

import io
import json
import logging

from bot.core import logs
from bot.core.messages import Message
from storage import repo
from bot.core.clock import FixedClock
from bot.delivery.delivery import Deliverer
from bot.escalation.scheduler import Sweeper
from tests.bot.test_scheduler import at, open_case
from bot.delivery import addressing

SECRETS = ("Jamie Zebedee", "2015-02-01", "01/02/2015", "1 Feb 2015", "7 Quarry Lane", "SECRET-BODY-TEXT")


class EchoingTransport:
    """A platform whose API refuses every message and quotes it back in the error, as real APIs do."""

    def send(self, out):
        class ApiError(Exception):
            response = {"ok": False, "error": "channel_not_found"}

        raise ApiError(f"refused: {out.message.text} {out.message.title}")


def test_a_whole_case_at_debug_level_logs_no_subject_detail_or_body(sqlite_runtime) -> None:
    stream = io.StringIO()
    handler = logs.configure("json", "DEBUG", stream)
    try:
        rt = sqlite_runtime
        cid = open_case(rt, "swindon", at(2026, 4, 2, 10), subject_name="Jamie Zebedee",
                        subject_dob=__import__("datetime").date(2015, 2, 1), subject_address="7 Quarry Lane",
                        what_happened="SECRET-BODY-TEXT")
        clock = FixedClock(at(2026, 4, 9, 9, 0))
        with rt.factory() as s:  # a direct message to a party carries the concern and the child's name
            bob = repo.person_by_key("swindon", "bob", session=s)
            addressing.queue_to_person(bob, Message("Concern: SECRET-BODY-TEXT about Jamie Zebedee, 7 Quarry Lane"),
                                   session=s, key="dm-1", now=clock.now())
            s.commit()
        assert Sweeper(rt.factory, clock).fire_due() > 0  # escalation prompts queued
        Deliverer(rt.factory, {"console": EchoingTransport()}, clock, "test").deliver()
        logging.getLogger("slack_bolt").debug("request body: %s", "SECRET-BODY-TEXT")  # the SDKs are held back
        logging.getLogger("parley.test").info("case opened", extra={"case_id": cid, "subject": "Jamie Zebedee"})
    finally:
        logging.getLogger().removeHandler(handler)
    out = stream.getvalue()
    lines = [json.loads(line) for line in out.splitlines()]
    assert any(r["logger"] == "parley.delivery" and r.get("exception", {}).get("error") == "channel_not_found"
               for r in lines), out  # the failure is logged, usefully
    assert any(r.get("case_id") == cid for r in lines) and not any("subject" in r for r in lines)
    for secret in SECRETS:
        assert secret not in out, secret


def test_text_format_for_a_terminal() -> None:
    stream = io.StringIO()
    handler = logs.configure("text", "INFO", stream)
    try:
        try:
            raise ValueError("I couldn't read 'Jamie Zebedee' as a date")
        except ValueError:
            logging.getLogger("parley.test").exception("answer failed")
    finally:
        logging.getLogger().removeHandler(handler)
    line = stream.getvalue()
    assert "parley.test ERROR answer failed [ValueError at" in line and "Jamie" not in line
