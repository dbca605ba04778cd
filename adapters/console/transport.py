"""Console delivery: outbox messages printed in the terminal as channel posts and direct messages (their files
saved in the console's files folder, with the paths printed)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

from adapters.console.render import Option, render
from bot.delivery.delivery import Outgoing
from bot.core.i18n import translator
from bot.runtime import Runtime


class ConsoleTransport:
    platform = "console"

    def __init__(self, runtime: Runtime, emit: Callable[[str, list[Option]], None], files: Path | None = None):
        self.rt = runtime
        self.emit = emit  # prints text and registers the numbered buttons it shows
        self.files = files  # where attachments are saved (default: PARLEY_FILES_DIR or ./parley-files)
        self._ids = itertools.count(1)
        self.T = translator()
        # while held (a switch to a board whose posts built up), channel posts wait here, per channel, and only
        # the latest (and the latest with buttons, so a prompt is not lost under a digest) are shown
        self._held: dict[str, list[tuple[str, list[Option]]]] | None = None

    def hold_channels(self) -> None:
        self._held = {}

    def release_channels(self) -> None:
        """Show what was held: per channel, how many earlier posts are not shown, then the latest post (after the
        latest one with buttons, when that is an earlier one)."""
        held, self._held = self._held, None
        for address, posts in (held or {}).items():
            keep = [len(posts) - 1]
            with_buttons = [i for i, (_, options) in enumerate(posts) if options]
            if with_buttons and with_buttons[-1] != keep[0]:
                keep.insert(0, with_buttons[-1])
            skipped = len(posts) - len(keep)
            if skipped == 1:
                self.emit("  " + self.T("[{channel}]: 1 earlier post not shown (the latest follows).",
                                        channel=address), [])
            elif skipped:
                self.emit("  " + self.T("[{channel}]: {n} earlier posts not shown (the latest follows).",
                                        channel=address, n=skipped), [])
            for i in keep:
                self.emit(*posts[i])

    def _label(self, msg: Outgoing) -> str:
        if msg.target_kind == "channel":
            return f"[{msg.address}]"
        person = self.rt.person(msg.person_id) if msg.person_id else None
        who = self.T("DM to {name} (@{key})", name=person.name, key=person.key) if person else msg.address
        return f"\u2192 {who}"

    def send(self, msg: Outgoing) -> str:
        ext = f"console:{next(self._ids)}"
        text, options = render(msg.message, indent="    ", files=self.files)
        if self._held is not None and msg.target_kind == "channel":
            self._held.setdefault(msg.address, []).append((f"  {self._label(msg)}:\n{text}", options))
            return ext
        self.emit(f"  {self._label(msg)}:\n{text}", options)
        return ext

    def update(self, msg: Outgoing) -> str:
        text, options = render(msg.message, indent="    ", files=self.files)
        self.emit(f"  {self._label(msg)} " + self.T("(message updated in place)") + f":\n{text}", options)
        return msg.update_of_external_id or f"console:{next(self._ids)}"

    def find_sent(self, msg: Outgoing) -> str | None:
        return None  # the terminal keeps no record; the console runs in one process with its own sweep
