"""The channel-leak scan (issue #8): during the end-to-end runs, every message bound for a channel (as opposed to
a direct message to a person) is recorded, and the test fails if any subject detail written during that test
(the child's or adult's name, date of birth in any common format, address, agency case number, or any other
personal data a form asked for) appears in it, or if a form (PDF/HTML) is attached to it.

Channel-bound messages are caught where every one passes through: the outbox's ``queue`` for a channel target
(everything bot.notify.notify sends: the conversation's notices, the scheduler's prompts, digests and reports), and the
Teams adapter's answers inside a channel conversation. Subject details are caught as they are written, by
SQLAlchemy mapper events on ``SubjectDetails`` (plain values, before any encryption at rest).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from sqlalchemy import event

from bot.delivery import outbox
from bot.core.messages import Message
from storage.models import SubjectDetails

FORM_TYPES = ("application/pdf", "text/html")


def date_variants(day: dt.date) -> set[str]:
    return {day.isoformat(), day.strftime("%d/%m/%Y"), f"{day.day}/{day.month}/{day.year}",
            day.strftime("%d.%m.%Y"), day.strftime("%d.%m.%y"), f"{day.day} {day.strftime('%b')} {day.year}",
            f"{day.day} {day.strftime('%B')} {day.year}", day.strftime("%d-%m-%Y")}


@dataclass
class Scan:
    secrets: set[str] = field(default_factory=set)
    posts: list[tuple[str, Message]] = field(default_factory=list)
    files_allowed: bool = False  # a test of the file plumbing itself posts synthetic PDFs to channels

    def note_subject(self, row: SubjectDetails) -> None:
        for value in (row.name, row.address, row.case_number, *((row.extra or {}).values())):
            if isinstance(value, str) and len(value.strip()) >= 4:
                self.secrets.add(value.strip())
        if isinstance(row.date_of_birth, dt.date):
            self.secrets |= date_variants(row.date_of_birth)

    def problems(self) -> list[str]:
        out = []
        for where, m in self.posts:
            text = "\n".join([m.title or "", m.text, *(f"{f.label} {f.value}" for f in m.fields),
                              *(b.label for b in m.buttons), *(a.title + " " + a.filename for a in m.attachments)])
            for secret in self.secrets:
                if secret in text:
                    out.append(f"{where}: {secret!r} in a channel post: {text[:200]!r}")
            for a in m.attachments:
                if a.media_type in FORM_TYPES and not self.files_allowed:
                    out.append(f"{where}: a form ({a.filename}) attached to a channel post")
            if m.private:
                out.append(f"{where}: a private message went to a channel: {text[:120]!r}")
        return out


@pytest.fixture(autouse=True)
def channel_leak_scan(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[Scan]:
    scan = Scan(files_allowed=request.node.get_closest_marker("synthetic_channel_files") is not None)

    def on_write(_mapper, _conn, target: SubjectDetails) -> None:
        scan.note_subject(target)

    event.listen(SubjectDetails, "before_insert", on_write)
    event.listen(SubjectDetails, "before_update", on_write)

    # every message to anyone other than the speaker goes through the outbox (bot.notify.notify): channel posts are
    # scanned as they are queued
    queue = outbox.queue

    def queue_row(**kw):
        if kw.get("target_kind") == "channel":
            scan.posts.append((f"outbox to {kw.get('platform')}:{kw.get('address')}", kw["message"]))
        return queue(**kw)

    monkeypatch.setattr(outbox, "queue", queue_row)
    try:
        from adapters.teams import app as teams_app

        send_reply = teams_app.ParleyTeamsBot._send_reply

        async def teams_reply(self, turn, reply):
            conv = turn.activity.conversation
            if conv is not None and (conv.conversation_type or "") == "channel":
                scan.posts.extend((f"teams answer in {conv.id}", m) for m in reply.to_speaker)
            return await send_reply(self, turn, reply)

        monkeypatch.setattr(teams_app.ParleyTeamsBot, "_send_reply", teams_reply)
    except ImportError:  # pragma: no cover - the Teams SDK is a declared dependency
        pass
    try:
        yield scan
    finally:
        event.remove(SubjectDetails, "before_insert", on_write)
        event.remove(SubjectDetails, "before_update", on_write)
    problems = scan.problems()
    assert not problems, "subject details or private messages in channel posts:\n" + "\n".join(problems)


__all__ = ["Scan", "channel_leak_scan", "date_variants"]
