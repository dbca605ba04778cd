"""A journey through a whole case, as the people of one board would make it: the channel-neutral conversation,
the scheduler on a simulated clock and the outbox, delivered to a recording transport.

After every action and every clock move a test states, by hand, who should have received what (person keys
and channel names, each with the kind of message: bot.notify.notify's event names) and :meth:`Journey.expect` checks
that exactly those arrived: nobody missing, nobody extra, nobody twice. The expectation is written in the test
from the protocol and docs/notifications.md, never read back from the code under test.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from bot.core.clock import FixedClock
from bot.delivery.delivery import Deliverer, Outgoing
from bot.core.messages import Message, Reply
from bot.runtime import Runtime
from bot.escalation.scheduler import Sweeper
from sqlalchemy import select

from storage import repo
from storage.models import AgencyChannel, BoardChannel, PersonIdentity
from tests.conftest import Chat, texts

L = ZoneInfo("Europe/London")


def at(y: int, mo: int, d: int, h: int = 9, mi: int = 0) -> dt.datetime:
    return dt.datetime(y, mo, d, h, mi, tzinfo=L)


@dataclass
class Got:
    """One delivery: to whom (a person's key or a channel), new or an update in place, and the message."""

    to: str
    update: bool
    message: Message
    external_id: str


@dataclass
class Recorder:
    """A transport that keeps everything it is given, in order; for Slack and Teams it renders each message with
    the adapter's renderer and checks it against the platform's rules (``render``) before keeping it."""

    platform: str = "console"
    got: list[Got] = field(default_factory=list)
    keys: dict[int, str] = field(default_factory=dict)
    n: int = 0
    render: Callable[[Message], None] | None = None
    addresses: dict[str, str] = field(default_factory=dict)  # a platform address -> the person key or channel

    def _to(self, msg: Outgoing) -> str:
        if msg.target_kind == "channel":
            return self.addresses.get(msg.address, msg.address)
        return self.keys[msg.person_id or 0]

    def send(self, msg: Outgoing) -> str:
        if self.render is not None:
            self.render(msg.message)
        self.n += 1
        ext = f"rec:{self.n}"
        self.got.append(Got(self._to(msg), False, msg.message, ext))
        return ext

    def update(self, msg: Outgoing) -> str:
        assert msg.update_of_external_id
        if self.render is not None:
            self.render(msg.message)
        self.got.append(Got(self._to(msg), True, msg.message, msg.update_of_external_id))
        return msg.update_of_external_id

    def find_sent(self, msg: Outgoing) -> str | None:
        return None


class Journey:
    """``platform``: where everyone and every channel is reached. "console" is the demo directory as it is; "slack"
    or "teams" gives each person an identity there and moves every channel there, so the same journey is delivered
    through that platform's renderer (``render``: the adapter's rendering of a message, checked)."""

    def __init__(self, runtime: Runtime, board: str, start: dt.datetime, platform: str = "console",
                 render: Callable[[Message], None] | None = None):
        self.rt = runtime
        self.board = board
        self.clock = FixedClock(start)
        self.chat = Chat(runtime, self.clock, board)
        self.sweeper = Sweeper(runtime.factory, self.clock)
        self.recorder = Recorder(platform=platform, render=render)
        with runtime.factory() as s:
            people = list(repo.people(board, session=s, include_inactive=True))
            self.recorder.keys = {p.id: p.key for p in people}
            if platform != "console":
                for p in people:
                    s.add(PersonIdentity(person_id=p.id, platform=platform, external_id=f"{platform}-{p.key}"))
                for model in (AgencyChannel, BoardChannel):
                    for row in s.scalars(select(model).where(model.platform == "console")):
                        row.platform = platform
                        self.recorder.addresses[row.address] = row.address
                s.commit()
        self.deliverer = Deliverer(runtime.factory, {platform: self.recorder}, self.clock, "journey",
                                   board_id=lambda: board)  # the other demo boards use the same channel names
        self.seen = 0
        self.last_reply: Reply | None = None
        self.intake_got: list[Got] = []
        self.sweeper.ensure_board_timers()

    # -- acting ---------------------------------------------------------------------------------------------
    def _delivered(self) -> list[Got]:
        self.deliverer.deliver()
        new = self.recorder.got[self.seen:]
        self.seen = len(self.recorder.got)
        return new

    def say(self, who: str, *answers: str) -> list[Got]:
        """``who`` types each answer in turn; returns what was delivered to others meanwhile."""
        for a in answers:
            self.last_reply = self.chat.say(who, a)
        return self._delivered()

    def press(self, who: str, action: str, value: str) -> list[Got]:
        self.last_reply = self.chat.press(who, action, value)
        return self._delivered()

    def to(self, moment: dt.datetime) -> list[Got]:
        """Move the clock on and let the scheduler do what fell due."""
        assert moment >= self.clock.now()
        self.clock.set(moment)
        self.sweeper.sweep()
        return self._delivered()

    def shown(self) -> str:
        assert self.last_reply is not None
        return texts(self.last_reply)

    # -- checking -------------------------------------------------------------------------------------------
    @staticmethod
    def summary(got: list[Got]) -> Counter[tuple[str, str]]:
        return Counter((g.to, ("update:" if g.update else "") + (g.message.kind or "?")) for g in got)

    def expect(self, got: list[Got], expected: dict[str, str | list[str]]) -> None:
        """Exactly these recipients got exactly these kinds of message (a list: several, in any order)."""
        want: Counter[tuple[str, str]] = Counter()
        for to, kinds in expected.items():
            for k in [kinds] if isinstance(kinds, str) else kinds:
                want[(to, k)] += 1
        have = self.summary(got)
        assert have == want, f"\nmissing: {dict(want - have)}\nextra:   {dict(have - want)}"

    def last_to(self, to: str, kind: str | None = None) -> Got:
        return next(g for g in reversed(self.recorder.got) if g.to == to and (kind is None or g.message.kind == kind))

    def prompt_id(self, channel: str) -> str:
        """The Acknowledge button's value on the newest prompt posted in ``channel``."""
        g = self.last_to(channel)
        return next(b.value for b in g.message.buttons if b.action == "esc.ack")

    def ref(self) -> str:
        assert self.last_reply is not None
        ref = self.last_reply.to_speaker[0].case_ref
        assert ref, self.shown()
        return ref

    def fill(self, who: str, answers: dict[str, str] | None = None) -> list[Got]:
        """Answer every question the flow asks (a form part, a record) until its check, then submit: dates
        'today', yes/no 'no' unless ``answers`` (by words in the question) says otherwise, text a sentence."""
        got: list[Got] = []
        for _ in range(40):
            assert self.last_reply is not None
            asked = self.last_reply.to_speaker[-1]
            if asked.prompt is None:
                return got
            if asked.prompt.field == "confirm":
                return got + self.say(who, "submit")
            text = asked.text
            given = next((v for k, v in (answers or {}).items() if k in text), None)
            kind = asked.prompt.kind.value
            if given is None:
                given = {"date": "today", "choice": asked.prompt.choices[-1].value if asked.prompt.choices else
                         "no"}.get(kind, "Written for this journey test.")
                if asked.prompt.choices and [c.value for c in asked.prompt.choices] == ["yes", "no"]:
                    given = "no"
            got += self.say(who, given)
        raise AssertionError("the flow never reached its check")

    def prompt_id_any(self, channel: str) -> str:
        """The Acknowledge button's value on the newest message in ``channel`` that had one (before an update)."""
        for g in reversed(self.recorder.got):
            if g.to == channel:
                found = [b.value for b in g.message.buttons if b.action == "esc.ack"]
                if found:
                    return found[0]
        raise AssertionError(f"no prompt in {channel}")
