"""The console adapter: a terminal chat with Parley in which one person can play every role.

Conventions (like Errbot's text backend / opsdroid's shell):
  /as NAME       speak as someone from the board's directory
  /who           list the directory
  /cases         every case on the board (reference, agencies, stage, next deadline)
  /case REF      show a case (as the current speaker)
  /board ID      switch board (protocol)
  /clock         show the simulated time; /clock +3wd, +2h, +1d, 2026-04-09 10:00 move it
  /help          this list;  /quit  leave (a conversation in progress is kept)
Anything else is said to Parley as the current speaker. Numbered options can be picked by number.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from adapters.console.render import Option, files_dir, render
from adapters.console.transport import ConsoleTransport
from bot.core.clock import CLOCK_KEY, ClockSyntaxError, SimulatedClock, move
from bot.conversation.router import Conversation, help_message
from bot.delivery.delivery import Deliverer
from bot.escalation.scheduler import Sweeper
from bot.core.i18n import N_, translator
from bot.core.messages import Reply
from bot.runtime import PersonInfo, Runtime

PLATFORM = "console"
CONSOLE_HELP = N_("""Console commands:
  /as NAME       speak as someone from the board's directory
  /who           list the directory
  /cases         every case on the board (reference, agencies, stage, next deadline)
  /case REF      show a case (as the current speaker)
  /board ID      switch board (protocol)
  /clock         show the simulated time; /clock +3wd, +2h, +1d or 2026-04-09 10:00 moves it
                 (moving it runs the scheduler: nudges, escalations and digests appear)
  /channel NAME  show the latest post in a channel again, with its buttons
  /help          this list;  /quit  leave (a conversation in progress is kept)
Anything else is said to Parley as the current speaker; pick numbered options by number.""")
TTY_LINE_MAX = 4095  # bytes a terminal passes in one line (Linux's line buffer): a longer paste is cut there
SPEAKER_KEY = "console.as"
BOARD_KEY = "console.board"
OVERDUE_SHOWN_KEY = "console.overdue_shown"  # per board: the overdue deadlines already reported after a /clock


class ConsoleApp:
    def __init__(self, runtime: Runtime, board: str | None = None, *,
                 out: TextIO | None = None, clock: SimulatedClock | None = None, start: dt.datetime | None = None,
                 files: Path | None = None):
        self.rt = runtime
        self.out = out or sys.stdout
        self.files = files if files is not None else files_dir()  # where attachments are saved
        fresh = clock is None and runtime.setting(CLOCK_KEY) is None  # no simulated time kept yet
        self.clock = clock or SimulatedClock(runtime.factory, start)
        self.start_ignored: dt.datetime | None = None  # a start time this database's clock is already past
        if start is not None and not fresh:
            if start > self.clock.now():
                self.clock.set(start)  # forward, as /clock would
            elif start != self.clock.now():
                self.start_ignored = start
        self.conversation = Conversation(runtime.factory, self.clock, PLATFORM)
        self.options: list[Option] = []
        self._round: list[Option] | None = None  # options shown while handling the current input
        # the console is its own scheduler: moving the clock runs the sweep, and posts print here
        self.sweeper = Sweeper(runtime.factory, self.clock)
        self.transport = ConsoleTransport(runtime, self._emit, self.files)
        self.deliverer = Deliverer(runtime.factory, {PLATFORM: self.transport}, self.clock, "console",
                                   board_id=lambda: self.board)
        self.T = translator()
        known = runtime.board_ids()
        saved = runtime.setting(BOARD_KEY)
        if board and board not in known:
            raise SystemExit(self.T("Unknown board {board}. Known boards: {known}", board=board,
                                    known=", ".join(known) or "-"))
        self.board = board or saved or (known[0] if known else None)
        if self.board is None:
            raise SystemExit(self.T("No boards in this database. Run `parley demo load` first."))
        self._save(BOARD_KEY, self.board)
        self.speaker = self._restore_speaker()

    # -- state kept in the database so a restart resumes where the user was ---------------------
    def _save(self, key: str, value: str) -> None:
        self.rt.set_setting(key, value)

    def _restore_speaker(self) -> PersonInfo | None:
        key = self.rt.setting(f"{SPEAKER_KEY}.{self.board}") or "alice"
        person = self.rt.person_by_key(self.board, key)
        if person is None:
            everyone = self.rt.people(self.board)
            person = everyone[0] if everyone else None
        return person

    def print(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    # -- output --------------------------------------------------------------------------------
    def _emit(self, text: str, options: list[Option]) -> None:
        """Print something with numbered options, numbering on from what this input already showed."""
        offset = len(self._round) if self._round is not None else 0
        if offset:
            for i in range(len(options), 0, -1):
                text = text.replace(f"[{i}]", f"[{i + offset}]")
        self.print(text)
        if self._round is not None:
            self._round.extend(options)
        elif options:
            self.options = options

    def show(self, reply: Reply) -> None:
        for msg in reply.to_speaker:
            text, opts = render(msg, files=self.files)
            self._emit(text, opts)
        # what it queued for other people and channels is printed as the outbox delivers it (handle_line)

    def prompt(self) -> str:
        who = self.speaker.key if self.speaker else "?"
        return f"{who}@{self.board}> "

    # -- input ---------------------------------------------------------------------------------
    def banner(self) -> None:
        cal = self.rt.calendar(self.board)
        now = cal.local(self.rt.board_now(self.board, self.clock.now()))  # a training board's clock may be ahead
        T = self.T
        self.print(T("Parley console \u2014 {board}", board=self.rt.board_name(self.board)))
        self.print(T("Simulated time: {now} ({nation}; /clock +3wd moves it)", now=T.datetime(now),
                     nation=cal.nation))
        if self.start_ignored is not None:
            self.print(T("--clock {start} is ignored: this database's simulated clock is already at {now} and only "
                         "moves forward. To start at {start}, use a fresh database, e.g. make run "
                         "CLOCK=\"{start}\" DB=sqlite:///april.db (or make demo-april).",
                         start=cal.local(self.start_ignored).strftime("%Y-%m-%d %H:%M"), now=T.datetime(now)))
        if self.speaker:
            self.print(T("You are {name}, {title} (/as NAME to switch; /who lists people)",
                         name=self.speaker.name, title=self.speaker.title))
        self.print(T("Type 'new' to raise a concern, 'list' for your cases, /help for console commands."))
        if self.speaker:
            pending = self.conversation.pending_prompt(self.speaker.id)
            if pending:
                self.print(T("You were in the middle of a conversation; carrying on:"))
                text, self.options = render(pending, files=self.files)
                self.print(text)

    def handle_line(self, line: str) -> bool:
        """Handle one line of input, then deliver whatever it queued. Returns False when the user quits."""
        self._round = []
        try:
            going = self._handle_line(line)
            self.deliverer.deliver()
            self.transport.release_channels()  # posts held back by a switch of board
        finally:
            shown, self._round = self._round, None
        if shown:
            self.options = shown
        return going

    def _handle_line(self, line: str) -> bool:
        text = line.strip()
        if not text:
            return True
        if text.startswith("/") and not text.lower().startswith(("/new", "/list")):
            return self._console_command(text)
        if self.speaker is None:
            self.print(self.T("Choose who you are first: /as NAME"))
            return True
        if text.isdigit() and self.options and 1 <= int(text) <= len(self.options):
            opt = self.options[int(text) - 1]
            if opt.kind == "button":
                self.show(self.conversation.handle(self.speaker.id, action=opt.action, value=opt.value))
            else:  # the choice's own value, never its number: a value may itself be a number (a database id)
                self.show(self.conversation.handle(self.speaker.id, action=opt.action, value=opt.value))
            return True
        self.show(self.conversation.handle(self.speaker.id, text.lstrip("/")))
        return True

    def _console_command(self, text: str) -> bool:
        cmd, _, arg = text[1:].partition(" ")
        cmd, arg = cmd.lower(), arg.strip()
        handlers: dict[str, Callable[[str], None]] = {
            "as": self._as, "who": self._who, "cases": self._cases, "case": self._case, "board": self._board,
            "clock": self._clock, "help": self._help, "channel": self._channel,
        }
        if cmd in ("quit", "exit"):
            self.print(self.T("Bye. Anything you were in the middle of is kept for next time."))
            return False
        handler = handlers.get(cmd)
        if handler is None:
            self.print(self.T("Unknown console command /{cmd}. Type /help.", cmd=cmd))
            return True
        handler(arg)
        return True

    def _as(self, name: str) -> None:
        matches = self.rt.find_people(self.board, name) if name else []
        if len(matches) != 1:
            hint = ", ".join(p.key for p in matches) if matches else self.T("try /who")
            self.print(self.T("No single person matches {name} ({hint}).", name=repr(name), hint=hint))
            return
        self.speaker = matches[0]
        self._save(f"{SPEAKER_KEY}.{self.board}", self.speaker.key)
        self.print(self.T("You are now {name}, {title}.", name=self.speaker.name, title=self.speaker.title))
        pending = self.conversation.pending_prompt(self.speaker.id)
        if pending:
            self.print(self.T("Carrying on where you left off:"))
            text, self.options = render(pending, files=self.files)
            self.print(text)

    def _who(self, _: str) -> None:
        for p in self.rt.people(self.board):
            self.print(f"  @{p.key:<6} {p.name}, {p.title}" + (f" \u2014 {p.agency}" if p.agency else ""))

    def _cases(self, _: str) -> None:
        lines = self.rt.board_overview(self.board, self.clock.now(), self.T)
        if not lines:
            self.print(self.T("No cases on this board yet."))
        for line in lines:
            self.print(f"  {line}")

    def _case(self, ref: str) -> None:
        if not ref:
            self.print(self.T("Usage: /case REF"))
            return
        self.handle_line(f"case {ref}")

    def _board(self, board: str) -> None:
        known = self.rt.board_ids()
        if board not in known:
            self.print(self.T("Boards: {known}", known=", ".join(known)))
            return
        self.board = board
        self._save(BOARD_KEY, board)
        self.speaker = self._restore_speaker()
        self.options = []
        self.banner()
        # the posts that built up for this board while another was shown: the latest per channel only
        self.transport.hold_channels()

    def _clock(self, spec: str) -> None:
        """Show the simulated time, or move it (all boards alike) by SPEC as the board's calendar counts it."""
        cal = self.rt.calendar(self.board)
        if spec:
            try:
                before = self.rt.board_now(self.board, self.clock.now())  # a training board's own time
                self.clock.set(self.clock.now() + (move(before, spec, cal) - before))
            except ClockSyntaxError as exc:
                self.print(self.T(str(exc)))
                return
        now = cal.local(self.rt.board_now(self.board, self.clock.now()))
        working = self.T("working time") if cal.is_working_time(now) else self.T("outside working hours")
        self.print(self.T("Simulated time: {now} ({working})", now=self.T.datetime(now), working=working))
        if spec:
            self.sweeper.sweep()  # nudges, escalations and digests due by now; delivered after this input
            self._overdue_report()

    def _overdue_report(self, everything: bool = False) -> None:
        """What has become overdue since the last report on this board (each overdue deadline is shown once; the
        ones shown before are counted; /cases lists them all). ``everything``: all of them (a new session)."""
        items = self.rt.overdue_items(self.board, self.clock.now(), self.T)
        key = f"{OVERDUE_SHOWN_KEY}.{self.board}"
        try:
            shown = set() if everything else set(json.loads(self.rt.setting(key) or "[]"))
        except ValueError:
            shown = set()
        new = [line for k, line in items if k not in shown]
        if new:
            self.print(self.T("Now overdue:"))
            for ln in new:
                self.print(f"  \u26a0 {ln}")
        before = len(items) - len(new)
        if before == 1:
            self.print(self.T("1 deadline is still overdue, as shown before (/cases lists the cases)."))
        elif before:
            self.print(self.T("{n} deadlines are still overdue, as shown before (/cases lists the cases).",
                              n=before))
        self._save(key, json.dumps(sorted(k for k, _ in items)))  # only what is overdue now is remembered

    def _channel(self, name: str) -> None:
        name = name if name.startswith("#") else f"#{name}"
        msg = self.rt.last_channel_post(self.board, name)
        if msg is None:
            self.print(self.T("Nothing has been posted in {channel} yet.", channel=name))
            return
        text, opts = render(msg, indent="    ", files=self.files)
        self._emit(f"  [{name}]:\n{text}", opts)

    def _help(self, _: str) -> None:
        """The console's own commands, then what the current speaker can say to Parley (in their language)."""
        self.print(self.T(CONSOLE_HELP))
        speaker = self.rt.person(self.speaker.id) if self.speaker is not None else None  # their language now
        if speaker is not None:
            self.print()
            text, _ = render(help_message(translator(speaker.language)), files=self.files)
            self.print(text)

    def note_cut(self, line: str) -> None:
        """Say so when a typed line is as long as a terminal passes: the rest of a longer paste was dropped by the
        terminal before Parley saw it, so Parley's count is of what arrived, not of what was pasted."""
        got = line.rstrip("\n")
        if len(got.encode()) >= TTY_LINE_MAX - 1:
            self.print(self.T("Your terminal passes at most {max} characters in one line, so a longer paste is cut "
                              "there: Parley received the first {n}.", max=TTY_LINE_MAX, n=len(got)))

    def run(self, stdin: TextIO | None = None) -> None:
        stdin = stdin or sys.stdin
        self.banner()
        # timers are rebuilt from the cases; anything that fell due while the console was closed fires now
        self._round = []
        self.sweeper.rebuild()
        self.sweeper.sweep()
        self._overdue_report(everything=True)  # once a session: what is overdue now, shown before or not
        self.deliverer.deliver()
        shown, self._round = self._round, None
        if shown:
            self.options = shown
        interactive = stdin.isatty()
        while True:
            if interactive:
                try:
                    line = input(self.prompt())
                except EOFError:
                    self.print()
                    break
                self.note_cut(line)
            else:
                self.out.write(self.prompt())
                line = stdin.readline()
                if not line:
                    self.print()
                    break
                self.print(line.rstrip("\n"))
            if not self.handle_line(line):
                break

