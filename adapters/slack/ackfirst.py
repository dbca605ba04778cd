"""Slack's acknowledgements before Parley's work: Slack gives an app 3 seconds to answer a request, and a modal can
only be opened within 3 seconds of the click (its trigger_id), so nothing that reads or writes the database for long
runs before the answer.

- :class:`AckGate` counts the requests being answered; :class:`AfterAcks` is the pool that runs the work after them
  (Parley's own listener hands it over, adapters/slack/app.py ``_later``), and each piece of work waits, before it
  starts, until no request is being answered (at most ``PARLEY_SLACK_ACK_PRIORITY`` seconds, 1 by default, so work
  is never starved). Work already running is not stopped: it shares the interpreter with the acks, but a burst of
  clicks is answered before their work begins.
- :class:`Openings` keeps the modal opened in the ack (a fixed "Opening the form…" view, in the person's language
  as this process last read it) for the work that fills it in with ``views.update``; and the clicks this process
  answered in the last minutes, so that a double click opens one modal without a database write in the ack
  (another replica's double is caught by the work's own check, bot/delivery/inbound.first_time).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import ContextBlock, SectionBlock
from slack_sdk.models.views import View

from adapters.slack.block_text import SECTION_TEXT_MAX, VIEW_TITLE_MAX, escape_truncate, mrkdwn, plain
from adapters.slack.requests import slack_error
from bot.core.i18n import Translator

if TYPE_CHECKING:
    from bot.runtime import PersonInfo

log = logging.getLogger("parley.slack")
ACK_PRIORITY = float(os.environ.get("PARLEY_SLACK_ACK_PRIORITY", "1"))  # most seconds work waits for acks
REMEMBERED = 300.0  # seconds a click is remembered in memory (Slack's signature window)
MISSING = object()  # no modal was opened in the ack for this trigger
P = TypeVar("P", bound="PersonInfo | None")


class AckGate:
    """How many of Slack's requests are being answered right now."""

    def __init__(self) -> None:
        self._busy = 0
        self._idle = threading.Condition()

    def __enter__(self) -> AckGate:
        with self._idle:
            self._busy += 1
        return self

    def __exit__(self, *_: object) -> None:
        with self._idle:
            self._busy -= 1
            if self._busy == 0:
                self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Until no request is being answered, or ``timeout`` seconds; True if idle."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)


class AfterAcks(ThreadPoolExecutor):
    """A thread pool whose work gives way to the acks: each job waits for the gate to be idle before it starts."""

    def __init__(self, gate: AckGate, max_workers: int, priority: float = ACK_PRIORITY, **kwargs: Any):
        super().__init__(max_workers=max_workers, **kwargs)
        self.gate, self.priority = gate, priority

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        return super().submit(self._after_acks, fn, *args, **kwargs)

    def _after_acks(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self.priority > 0:
            self.gate.wait_idle(self.priority)
        return fn(*args, **kwargs)


class Openings:
    """Modals opened in the ack, by trigger_id, until their work takes them; and the clicks lately answered."""

    def __init__(self) -> None:
        self._views: dict[str, str | None] = {}
        # delivery key -> (when answered, its window), oldest first: what is past REMEMBERED is dropped as it ages
        self._seen: OrderedDict[str, tuple[float, float | None]] = OrderedDict()
        self._lock = threading.Lock()
        self._languages: dict[str, str] = {}  # Slack user -> their language, as last read

    def seen(self, user: str, person: P) -> P:
        """``person`` (a PersonInfo, or None), just read for Slack user ``user``: their language kept for the ack."""
        if person is not None:
            self._languages[user] = person.language
        return person

    def language(self, user: str, read: Callable[[], Any]) -> str | None:
        """The Slack user's language as last read (``read()``, a PersonInfo or None, when never: a read, no write)."""
        if user not in self._languages:
            self.seen(user, read())
        return self._languages.get(user)

    def opened(self, trigger: str, view_id: str | None) -> None:
        """The ack opened ``view_id`` for ``trigger`` (None: Slack would not open it)."""
        self._views[trigger] = view_id

    def take(self, trigger: str | None) -> Any:
        """The view opened for ``trigger``: its id, None when Slack refused it, MISSING when none was tried."""
        return self._views.pop(trigger, MISSING) if trigger else MISSING

    def again(self, keys: list[tuple[str, float | None]]) -> bool:
        """True if any of these delivery keys (adapters/slack/requests.delivery_keys: a key and how long it
        identifies a delivery, None for good) was answered by this process within its time (at most the last five
        minutes): a double click, a replay. The keys are remembered from now."""
        now = time.monotonic()
        with self._lock:
            while self._seen:  # at most the last five minutes' clicks are kept (they were: 10,000 or more)
                oldest, (answered, _w) = next(iter(self._seen.items()))
                if now - answered <= REMEMBERED:
                    break
                del self._seen[oldest]
            seen = False
            for key, window in keys:
                at, _ = self._seen.pop(key, (None, None))  # put back last: the dict stays in the order answered
                seen = seen or (at is not None and now - at <= min(window or REMEMBERED, REMEMBERED))
                self._seen[key] = (now, window)
            return seen

    def forget(self, keys: list[tuple[str, float | None]]) -> None:
        """The work for these keys failed: a second try opens its modal again."""
        with self._lock:
            for key, _window in keys:
                self._seen.pop(key, None)


def opening_view(T: Translator) -> dict:
    """The modal opened inside the ack, before Parley reads anything: replaced by the form a moment later."""
    return View(type="modal", title=plain("Parley", VIEW_TITLE_MAX), close=plain(T("Close"), VIEW_TITLE_MAX),
                blocks=[SectionBlock(text=mrkdwn(escape_truncate(T("Opening the form…"), SECTION_TEXT_MAX))),
                        ContextBlock(elements=[mrkdwn(escape_truncate(T(
                            "If it does not appear, Parley carries on with the same questions in your direct "
                            "messages."), SECTION_TEXT_MAX))])]).to_dict()


def notice_view(text: str, T: Translator) -> dict:
    """A modal that only tells the person something (they are not linked, cannot do this, it is already open)."""
    return View(type="modal", title=plain("Parley", VIEW_TITLE_MAX), close=plain(T("Close"), VIEW_TITLE_MAX),
                blocks=[SectionBlock(text=mrkdwn(escape_truncate(text, SECTION_TEXT_MAX)))]).to_dict()


def show(client: WebClient, view_id: str, view: dict) -> bool:
    """The modal opened in the ack replaced by ``view``; False when Slack would not (the caller carries on
    otherwise). A modal the person has closed already (``not_found``) counts as shown: they chose to leave it."""
    try:
        client.views_update(view_id=view_id, view=view)
        return True
    except SlackApiError as exc:
        code = slack_error(exc)
        log.warning("views.update failed (%s)", code)
        return code == "not_found"
