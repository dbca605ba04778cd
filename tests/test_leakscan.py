"""The channel-leak scan itself: it catches a subject detail, a date of birth in another format, a form or a
private message in a channel post, and lets a channel-safe post through."""

from __future__ import annotations

import datetime as dt

from bot.core.messages import Attachment, Field, Message
from storage.models import SubjectDetails
from tests.leakscan import Scan


def _scan() -> Scan:
    scan = Scan()
    scan.note_subject(SubjectDetails(case_id=1, name="Jamie Doe", date_of_birth=dt.date(2015, 2, 1),
                                     address="7 Quarry Lane", case_number="", extra={"f/p/Parents": "Sam Doe"}))
    return scan


def test_it_catches_each_kind_of_leak() -> None:
    scan = _scan()
    scan.posts = [
        ("a", Message("SWN-2026-0001 about Jamie Doe")),
        ("b", Message("x", fields=(Field("Born", "1/2/2015"),))),
        ("c", Message("x", title="7 Quarry Lane")),
        ("d", Message("ok", attachments=(Attachment("f.pdf", "application/pdf", b"%PDF", "Form"),))),
        ("e", Message("ok", private=True)),
        ("f", Message("Mother Sam Doe")),
    ]
    found = scan.problems()
    assert {p.split(":")[0] for p in found} == {"a", "b", "c", "d", "e", "f"}


def test_a_channel_safe_post_passes() -> None:
    scan = _scan()
    scan.posts = [("a", Message("SWN-2026-0001 · Wiltshire Police → Swindon CSC · Stage 2",
                                attachments=(Attachment("c.png", "image/png", b"\x89PNG", "Chart"),)))]
    assert scan.problems() == []
