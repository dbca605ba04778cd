"""Training boards: a board on which staff rehearse a whole escalation in minutes.

``parley board training --board ID on|off`` marks a board as training (audited). On a training board the business
unit (or an administrator) moves the board's own clock from chat: ``clock +3wd`` (``/parley clock +3wd`` on Slack;
``cloc`` in Welsh), with the forms the console's ``/clock`` takes (bot.core.clock.move), or ``clock`` alone to see
the board's time. The board keeps how far its clock is ahead of the real time; everything about its cases runs on
that time (bot.core.clock.board_now), and right after a move its timers that have fallen due fire at once, through
the scheduler's own sweep (the console's ``/clock`` does the same), so nudges and escalation prompts appear in
minutes. Every message sent on a training board is marked "[Training]" (bot.delivery.outbox.training_mark).

A real board refuses the command, and so does everyone but the business unit and administrators; each refusal is
audited, and so is each move.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from bot.cases import permissions, protocols
from bot.cases.errors import PermissionDenied, ServiceError
from bot.cases.services import Ctx, refusal_audit
from bot.core.clock import Clock, ClockSyntaxError, board_offset, move
from bot.core.i18n import N_, Translator, translator
from bot.core.messages import Message, Reply, Severity
from bot.delivery.outbox import training_mark
from bot.escalation.scheduler import Sweeper
from protocol.calendar import WorkingCalendar
from storage import escalation_repo, repo
from storage.models import Case

log = logging.getLogger("parley.training")
MAX_AHEAD = dt.timedelta(days=10 * 366)  # a training board's clock stays within this of the real time
FELL_DUE = {  # what a fired timer was, by its kind, as the reply to a move lists it
    "nudge": N_("{ref}: a reminder before a deadline"),
    "overdue": N_("{ref}: a reminder that a deadline has passed"),
    "duty": N_("{ref}: a reminder of a duty owed"),
    "escalation": N_("{ref}: a deadline passed with no outcome, so the escalation prompt was posted"),
    "renotify": N_("{ref}: a reminder of an escalation prompt nobody has acknowledged"),
    "digest": N_("the weekly digest"),
    "quarterly": N_("the quarterly data set"),
}


# -- the command line: marking a board as training --------------------------------------------------------------
@dataclass(frozen=True)
class BoardClock:
    board_id: str
    name: str
    training: bool
    ahead: dt.timedelta  # how far the board's clock is ahead of the real time


def boards(factory: sessionmaker[Session]) -> list[BoardClock]:
    """Every board: training or real, and how far its clock is ahead (``parley doctor``)."""
    with factory() as s:
        return [BoardClock(b.id, b.name, b.training, board_offset(b.id, session=s)) for b in repo.all_boards(session=s)]


def set_training(factory: sessionmaker[Session], board_id: str, on: bool, now: dt.datetime) -> str:
    """Mark ``board_id`` as a training board (``on``) or a real one; audited. A board whose clock has moved and which
    has cases stays training: its cases were recorded on its own time, ahead of the real time. Raises LookupError
    for an unknown board and ValueError for that refusal."""
    with factory() as s:
        board = repo.get_board(board_id, session=s)
        if board is None:
            raise LookupError(f"Unknown board {board_id!r}. Known boards: "
                              f"{', '.join(b.id for b in repo.all_boards(session=s))}")
        ahead = board_offset(board_id, session=s)
        if not on and ahead and repo.cases_for_board(board_id, session=s):
            raise ValueError(f"{board.name} stays a training board: its clock has been moved {_span(ahead)} ahead and "
                             "its cases were recorded on that time. Use a new board for real cases.")
        was = board.training
        board.training, board.clock_offset_seconds = on, board.clock_offset_seconds if on else 0
        repo.audit("board_training_set", session=s, at=now, actor=None, actor_label="parley board training",
                   via="cli", board_id=board_id, data={"training": on, "was": was})
        s.commit()
        if on:
            return (f"{board.name} ({board_id}) is a training board: its messages are marked [Training], and its "
                    "business unit moves its clock from chat (clock +3wd). The clock is "
                    f"{_span(ahead) + ' ahead of the real time' if ahead else 'at the real time'}.")
        return f"{board.name} ({board_id}) is a real board, on the real time."


def _span(ahead: dt.timedelta) -> str:
    """'3 days 2 h' (the command line's and doctor's English)."""
    days, rest = ahead.days, ahead.seconds
    parts = [f"{days} day{'s' if days != 1 else ''}"] if days else []
    if rest // 3600 or not parts:
        parts.append(f"{rest // 3600} h")
    if rest % 3600 // 60:
        parts.append(f"{rest % 3600 // 60} min")
    return " ".join(parts)


def describe(b: BoardClock) -> str:
    return f"{b.name} ({b.board_id}): clock {_span(b.ahead) + ' ahead of the real time' if b.ahead else 'not moved'}"


# -- the chat command ------------------------------------------------------------------------------------------
@dataclass
class ClockMoved(Reply):
    """The reply to a move of a training board's clock, before its sweep (run once the move is committed)."""

    board_id: str = ""
    language: str = "en"


def clock_command(ctx: Ctx, spec: str, *, session: Session) -> Reply:
    """``clock [SPEC]`` from the business unit or an administrator of a training board: show the board's time, or
    move it forward (then :func:`after` runs the sweep). Anyone else, and a real board, get a refusal (audited)."""
    T = ctx.T
    actor = ctx.actor
    if not permissions.allowed(actor, permissions.Act.TRAINING_CLOCK, session=session):
        raise PermissionDenied(T("Only the business unit or an administrator can move a training board's clock."),
                               record=refusal_audit(ctx, {"action": "training_clock", "spec": spec[:40]}))
    board = repo.get_board(actor.board_id, session=session)
    if board is None or not board.training:
        raise ServiceError(T("{board} is a real board: its clock is the real time and cannot be moved. Only a "
                             "training board's clock moves.", board=board.name if board else actor.board_id),
                           record=refusal_audit(ctx, {"action": "training_clock", "reason": "real board",
                                                      "spec": spec[:40]}))
    cal = protocols.board_protocol(board.id, session=session).calendar()
    if not spec.strip():
        return Reply().say(_time_message(T, ctx.now, ctx.now - board_offset(board.id, session=session), cal))
    try:
        target = move(ctx.now, spec, cal)
    except ClockSyntaxError as exc:
        raise ServiceError(T(str(exc))) from None
    real = ctx.now - board_offset(board.id, session=session)
    if target - real > MAX_AHEAD:
        raise ServiceError(T("A training board's clock stays within ten years of the real time."))
    board.clock_offset_seconds = int((target - real).total_seconds())
    repo.audit("training_clock_moved", session=session, at=ctx.now, actor=actor, via=ctx.via, board_id=board.id,
               data={"from": ctx.now.isoformat(), "to": target.isoformat(), "ahead_seconds":
                     board.clock_offset_seconds})
    return ClockMoved(to_speaker=[_time_message(T, target, real, cal)], board_id=board.id, language=T.language)


def _time_message(T: Translator, board_time: dt.datetime, real: dt.datetime, cal: WorkingCalendar) -> Message:
    working = T("working time") if cal.is_working_time(board_time) else T("outside working hours")
    return Message(T("Board time: {now} ({working}). Real time: {real}.", now=T.datetime(cal.local(board_time)),
                     working=working, real=T.datetime(cal.local(real))), title=T("Board clock"))


def after(factory: sessionmaker[Session], clock: Clock, reply: Reply) -> Reply:
    """Once a move of a training board's clock is committed: fire the board's timers now due (the scheduler's sweep,
    on the board's new time), and say what fell due. Any other reply is returned as it is."""
    if not isinstance(reply, ClockMoved):
        return reply
    T = translator(reply.language)
    sweeper = Sweeper(factory, clock)
    done = Reply(to_speaker=list(reply.to_speaker), queued=list(reply.queued))
    try:
        sweeper.sweep(reply.board_id)
    except DBAPIError as exc:  # the move is recorded: the scheduler fires what fell due on its next sweep
        log.warning("the sweep after a training clock move failed", extra={"error": type(exc).__name__})
        return done.say(training_mark(Message(T("The clock has moved; what fell due will be sent by the scheduler "
                                                "shortly."), severity=Severity.WARNING), [reply.language]))
    lines = []
    with factory() as s:
        for timer_id in sweeper.fired:
            t = escalation_repo.get_timer(timer_id, session=s)
            case = s.get(Case, t.case_id) if t is not None and t.case_id else None
            if t is not None:
                lines.append("  \u2022 " + T(FELL_DUE.get(t.kind, "{ref}"), ref=case.ref if case else ""))
    text = "\n".join([T("What fell due:"), *lines]) if lines else T("Nothing fell due.")
    return done.say(training_mark(Message(text, severity=Severity.WARNING if lines else Severity.INFO),
                                  [reply.language]))


def marked(reply: Reply, ctx: Ctx) -> Reply:
    """What a person of a training board is shown, marked as training (in their language)."""
    if not ctx.training:
        return reply
    reply.to_speaker = [training_mark(m, [ctx.T.language]) for m in reply.to_speaker]
    return reply

