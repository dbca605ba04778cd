"""A training board (bot/admin/training.py): its business unit moves its own clock from chat, its timers fire on its
time (the chat command's sweep and the scheduler's alike) while a real board in the same database stays on the real
time, every message it sends is marked [Training], and everyone else (and a real board) is refused, audited.
SQLite and PostgreSQL where the sweep and its queries matter."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from sqlalchemy import select
from typer.testing import CliRunner

from adapters.cli import app
from bot.admin import training
from bot.core.clock import FixedClock
from bot.core.i18n import translator
from bot.core.messages import Message
from bot.delivery.outbox import training_mark
from bot.escalation.scheduler import Sweeper
from bot.forms.forms import INTAKE_FORM, Forms
from storage import repo
from storage.models import AuditEntry, Board, EscalationPrompt, OutboxMessage, Person, Timer
from tests.bot.test_scheduler import open_case
from tests.conftest import LONDON, Chat, texts

START = dt.datetime(2026, 4, 2, 10, 0, tzinfo=LONDON)  # Thu 2 Apr 2026: Good Friday and Easter Monday follow


def at(d: int, h: int = 9, mi: int = 0) -> dt.datetime:
    return dt.datetime(2026, 4, d, h, mi, tzinfo=LONDON)


def timers(rt, board: str) -> Counter[tuple[str, str]]:
    with rt.factory() as s:
        return Counter((t.kind, t.state) for t in s.scalars(select(Timer).where(Timer.board_id == board,
                                                                               Timer.case_id.is_not(None))))


def rows_of(rt, board: str) -> list[OutboxMessage]:
    with rt.factory() as s:
        return list(s.scalars(select(OutboxMessage).where(OutboxMessage.board_id == board)
                              .order_by(OutboxMessage.id)))


def who(rt, row: OutboxMessage) -> str:
    """A row's recipient as a test names it: a person's key or the channel's address."""
    if row.target_kind == "channel":
        return row.address
    with rt.factory() as s:
        person = s.get(Person, row.person_id)
        assert person is not None
        return person.key


def said(reply) -> str:
    """The one message a refusal or a bad input is answered with."""
    [message] = reply.to_speaker
    return message.text


def audits(rt, kind: str) -> list[AuditEntry]:
    with rt.factory() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.kind == kind).order_by(AuditEntry.id)))


def test_a_training_boards_timers_fire_on_its_own_time_and_a_real_boards_on_the_real_time(runtime) -> None:
    rt = runtime
    clock = FixedClock(START)
    training.set_training(rt.factory, "swindon", True, clock.now())
    swn = open_case(rt, "swindon", clock.now())
    open_case(rt, "wolverhampton", clock.now())
    planned = {("nudge", "pending"): 2, ("escalation", "pending"): 1}  # SWN-10: due Wed 8 Apr, prompts Thu 9 09:00
    assert timers(rt, "swindon") == planned
    assert timers(rt, "wolverhampton") == {("nudge", "pending"): 2, ("overdue", "pending"): 1}

    # the business unit moves the board's clock three working days (Fri 3 and Mon 6 are bank holidays): Thu 9 10:00
    reply = Chat(rt, clock).say("una", "clock +3wd")
    shown = texts(reply)
    assert "Board time: Thu 9 Apr 2026 10:00 (working time). Real time: Thu 2 Apr 2026 10:00." in shown
    assert "What fell due:\n  \u2022 SWN-2026-0001: a deadline passed with no outcome, so the escalation prompt was " \
           "posted" in shown
    assert all((m.title or m.text).startswith("[Training] ") for m in reply.to_speaker)
    # the stage deadline lapsed on the board's time: the prompt fired (the two reminders' moments went by, dropped)
    assert timers(rt, "swindon") == {("nudge", "cancelled"): 2, ("escalation", "done"): 1,
                                     ("renotify", "pending"): 2}
    with rt.factory() as s:
        fired = s.scalar(select(Timer).where(Timer.case_id == swn, Timer.kind == "escalation"))
        assert fired is not None and fired.fired_at == at(9, 10) and not fired.late
        assert {p.agency_key for p in s.scalars(select(EscalationPrompt))} == {"police", "social-care"}
    # who was told: each agency's line-manager channel (Stage 2's... a prompt asks managers at least), and the two
    # practitioners; nobody else. The rows are due now on the real time (the outbox runs on it), marked [Training].
    rows = rows_of(rt, "swindon")
    assert Counter((who(rt, r), r.payload["kind"]) for r in rows) == Counter({
        ("#police-sgt-managers", "lapse_prompt"): 1, ("#csc-team-managers", "lapse_prompt"): 1,
        ("alice", "lapse_notice"): 1, ("bob", "lapse_notice"): 1})
    assert {(r.created_at, r.next_attempt_at) for r in rows} == {(START, START)}
    assert all(r.payload["title"].startswith("[Training] SWN-2026-0001 \u00b7 ") for r in rows)
    # the real board in the same database: nothing fired, nothing sent
    assert timers(rt, "wolverhampton") == {("nudge", "pending"): 2, ("overdue", "pending"): 1}
    assert rows_of(rt, "wolverhampton") == []
    # what people are shown is on their board's time: overdue on the training board (App Home, list, the console's
    # overview), not on the real one
    with rt.factory() as s:
        alice = {b: repo.person_by_key(b, "alice", session=s).id for b in ("swindon", "wolverhampton")}
    [home] = rt.home_messages(alice["swindon"], clock.now())
    assert home.text.startswith("Next: OVERDUE \u2014 Stage 1")
    assert rt.case_list(alice["swindon"], clock.now()).text.startswith("\u26a0 SWN-2026-0001")
    assert [k for k, _ in rt.overdue_items("swindon", clock.now(), translator())] == [
        "SWN-2026-0001|internal-discussion|2026-04-08T17:00:00+01:00"]
    [real] = rt.home_messages(alice["wolverhampton"], clock.now())
    assert "OVERDUE" not in real.text and rt.overdue_items("wolverhampton", clock.now(), translator()) == []

    # the scheduler, on the real time, sees the training board's time too: its next timer (the prompts' first
    # reminder, 4 working hours after Thu 9 10:00 on the board) is due at 14:00 today in real time
    sweeper = Sweeper(rt.factory, clock)
    assert sweeper.next_due() == at(2, 14)
    assert sweeper.sweep() == 0
    # five real days later (Tue 7 09:05, the real board's first reminder and the digests), the training board is at
    # Tue 14 09:05: the prompts' first reminders and its own Monday digest fire there; the real board's nudge here
    clock.set(at(7, 9, 5))
    sweeper.sweep()
    with rt.factory() as s:
        done = Counter((t.board_id, t.kind) for t in s.scalars(select(Timer).where(Timer.id.in_(sweeper.fired))))
    assert {k: n for k, n in done.items() if k[0] in ("swindon", "wolverhampton")} == {
        ("swindon", "renotify"): 2, ("swindon", "digest"): 1, ("wolverhampton", "nudge"): 1,
        ("wolverhampton", "digest"): 1}
    with rt.factory() as s:
        renotified = s.scalars(select(Timer).where(Timer.board_id == "swindon", Timer.kind == "renotify",
                                                   Timer.state == "done")).all()
        assert {t.fired_at for t in renotified} == {at(14, 9, 5)}
        assert {t.fired_at for t in s.scalars(select(Timer).where(Timer.board_id == "wolverhampton",
                                                                  Timer.state == "done"))} == {at(7, 9, 5)}


def test_refused_on_a_real_board_and_to_anyone_but_the_business_unit_each_audited(sqlite_runtime) -> None:
    rt = sqlite_runtime
    clock = FixedClock(START)
    chat = Chat(rt, clock)
    open_case(rt, "swindon", clock.now())
    # Swindon is a real board: its business unit is refused, and nothing changes
    assert said(chat.say("una", "clock +3wd")) == ("Swindon Safeguarding Partnership is a real board: its clock is the real time and cannot be "
                     "moved. Only a training board's clock moves.")
    # marked as training: a practitioner (and a manager) are refused; the business unit sees the board's time
    training.set_training(rt.factory, "swindon", True, clock.now())
    for person in ("alice", "sam"):
        assert said(chat.say(person, "clock +3wd")) == \
            "Only the business unit or an administrator can move a training board's clock."
    assert "Board time: Thu 2 Apr 2026 10:00" in texts(chat.say("una", "clock"))
    # bad input: a clear message, nothing moved
    assert said(chat.say("una", "clock +99999999d")) == "The clock moves at most three years at a time."
    assert said(chat.say("una", "clock +9999wd")) == "The clock moves at most three years at a time."
    assert said(chat.say("una", "clock yesterday")).startswith("I can move the clock by +3wd (working days)")
    assert said(chat.say("una", "clock 2026-01-01")) == "The simulated clock only moves forward."
    with rt.factory() as s:
        assert s.get(Board, "swindon").clock_offset_seconds == 0
    refused = audits(rt, "refused")
    assert [(r.actor_label, r.data.get("action"), r.data.get("reason")) for r in refused] == [
        ("Una Wright", "training_clock", "real board"), ("Alice Hughes", "training_clock", None),
        ("Sam Patel", "training_clock", None)]
    # in Welsh: the Welsh word, a Welsh answer; the move is audited
    chat.say("una", "iaith cy")
    reply = chat.say("una", "cloc +2h")
    assert reply.to_speaker[0].title == "[Hyfforddiant] Cloc y bwrdd"
    assert "Amser y bwrdd: Iau 2 Ebr 2026 12:00" in texts(reply)
    moved = audits(rt, "training_clock_moved")
    assert [(m.actor_label, m.data["ahead_seconds"], m.via) for m in moved] == [("Una Wright", 7200, "console")]
    # an administrator may too
    assert "Board time: Thu 2 Apr 2026 13:00" in texts(chat.say("zed", "clock +1h"))


def test_every_message_on_a_training_board_is_marked_in_its_readers_languages(sqlite_runtime) -> None:
    """A Welsh board's channel posts are in Welsh and English: so is the mark; a direct message in the reader's."""
    rt = sqlite_runtime
    clock = FixedClock(at(30, 10))
    training.set_training(rt.factory, "cardiff-and-vale", True, clock.now())
    open_case(rt, "cardiff-and-vale", clock.now())
    open_case(rt, "wolverhampton", clock.now())
    Sweeper(rt.factory, clock).ensure_board_timers()  # as the running scheduler keeps them: the next digests
    # a week on the board: Alice's overdue reminder (a direct message) and the weekly digest (a channel post)
    assert "Nothing fell due." not in texts(Chat(rt, clock, "cardiff-and-vale").say("una", "clock +1w"))
    rows = rows_of(rt, "cardiff-and-vale")
    assert {r.target_kind for r in rows} == {"channel", "person"}
    for r in rows:
        mark = "[Hyfforddiant | Training] " if r.target_kind == "channel" else "[Training] "
        assert (r.payload["title"] or r.payload["text"]).startswith(mark), r.payload
    # the real board's messages (its reminders, a week later on the real time) are not marked
    clock.set(dt.datetime(2026, 5, 7, 10, tzinfo=LONDON))
    Sweeper(rt.factory, clock).sweep()
    real = rows_of(rt, "wolverhampton")
    assert real and not any("Training" in (r.payload["title"] or r.payload["text"]) for r in real)
    # marking is done once, before the title (or the text when there is none)
    once = training_mark(Message("Hello", title="Title"), ["en"])
    assert training_mark(once, ["en"]) == once and once.title == "[Training] Title"
    assert training_mark(Message("Hello"), ["cy", "en"]).text == "[Hyfforddiant | Training] Hello"


def test_parley_board_training_on_and_off_and_doctor(sqlite_runtime) -> None:
    rt = sqlite_runtime
    runner = CliRunner()

    def parley(*args: str):
        return runner.invoke(app, [*args, "--db", rt.url])

    on = parley("board", "training", "--board", "swindon", "on")
    assert on.exit_code == 0, on.output
    assert on.output.startswith("Swindon Safeguarding Partnership (swindon) is a training board")
    doctor = parley("doctor")
    assert ("OK       training board (swindon): Swindon Safeguarding Partnership (swindon): clock not moved; its "
            "messages are marked [Training]") in doctor.output
    # its clock moves and a case is on it: it cannot become a real board again (its cases are on the board's time)
    clock = FixedClock(START)
    open_case(rt, "swindon", clock.now())
    Chat(rt, clock).say("una", "clock +1d")
    assert "clock 1 day ahead of the real time" in parley("doctor").output
    off = parley("board", "training", "--board", "swindon", "off")
    assert off.exit_code == 1 and "stays a training board: its clock has been moved 1 day ahead" in off.output
    with rt.factory() as s:
        assert s.get(Board, "swindon").training
    # a board whose clock never moved goes back to being real
    assert parley("board", "training", "--board", "wolverhampton", "on").exit_code == 0
    back = parley("board", "training", "--board", "wolverhampton", "off")
    assert back.exit_code == 0 and "is a real board, on the real time" in back.output
    assert "training board (wolverhampton)" not in parley("doctor").output
    assert parley("board", "training", "--board", "nowhere", "on").exit_code == 1
    assert parley("board", "training", "--board", "swindon", "maybe").exit_code == 1
    assert [(a.board_id, a.data) for a in audits(rt, "board_training_set")] == [
        ("swindon", {"training": True, "was": False}), ("wolverhampton", {"training": True, "was": False}),
        ("wolverhampton", {"training": False, "was": True})]


def test_a_form_on_a_training_board_is_taken_on_its_time_and_its_answer_marked(sqlite_runtime) -> None:
    """A Slack modal or Teams card (bot.forms) on a training board: the case opens at the board's time, and what the
    person is shown and what the counterpart is sent are marked [Training]."""
    rt = sqlite_runtime
    clock = FixedClock(START)
    training.set_training(rt.factory, "swindon", True, clock.now())
    chat = Chat(rt, clock)
    chat.say("una", "clock +1w")  # board time: Thu 9 Apr 2026 10:00
    forms = Forms(rt.factory, clock, "slack")
    with rt.factory() as s:
        csc = repo.agency_by_key("swindon", "social-care", session=s)
        assert csc is not None
    done = forms.submit(chat.pid("alice"), INTAKE_FORM, {
        "pre0": "no", "category": "thresholds", "agency": str(csc.id), "person": str(chat.pid("bob")),
        "what": "Referral closed", "done": "Phoned", "sought": "Re-open", "arose": "2026-04-08"}, "risk=no")
    assert not done.errors and done.reply is not None
    assert all((m.title or m.text).startswith("[Training] ") for m in done.reply.to_speaker)
    with rt.factory() as s:
        case = repo.case_by_ref("SWN-2026-0001", session=s)
        assert case is not None and case.opened_at == at(9, 10)
    assert {(who(rt, r), r.payload["title"].split(" \u00b7 ")[0]) for r in rows_of(rt, "swindon")} == {
        ("bob", "[Training] SWN-2026-0001"), ("sam", "[Training] SWN-2026-0001")}


def test_the_console_on_a_training_board_shows_and_moves_the_boards_time(sqlite_runtime) -> None:
    """`clock +1d` (the chat command) moves the board's clock; the console's own `/clock` shows the board's time and
    moves it by the board's calendar (both clocks then run on)."""
    import io

    from adapters.console.app import ConsoleApp

    rt = sqlite_runtime
    training.set_training(rt.factory, "swindon", True, START)
    out = io.StringIO()
    ConsoleApp(rt, "swindon", out=out, start=START).run(io.StringIO("/as una\nclock +1d\n/clock\n/clock +1wd\n"))
    shown = out.getvalue()
    assert "Simulated time: Thu 2 Apr 2026 10:00 (england-and-wales" in shown  # the banner: not moved yet
    assert "Board time: Fri 3 Apr 2026 10:00 (outside working hours). Real time: Thu 2 Apr 2026 10:00." in shown
    assert "Simulated time: Fri 3 Apr 2026 10:00 (outside working hours)" in shown  # Good Friday, on the board
    assert "Simulated time: Tue 7 Apr 2026 10:00 (working time)" in shown  # the next working day after Easter
    with rt.factory() as s:
        assert s.get(Board, "swindon").clock_offset_seconds == 24 * 3600


def test_a_move_is_kept_when_the_sweep_after_it_fails(sqlite_runtime, monkeypatch) -> None:
    """The database drops the sweep that follows a move: the move stays recorded, the business unit is told the
    scheduler will send what fell due, and the scheduler's next sweep does."""
    from sqlalchemy.exc import OperationalError

    rt = sqlite_runtime
    clock = FixedClock(START)
    training.set_training(rt.factory, "swindon", True, clock.now())
    open_case(rt, "swindon", clock.now())
    real_sweep = Sweeper.sweep

    def lost(self, board_id=None):
        raise OperationalError("UPDATE timers ...", {}, Exception("connection lost"))

    monkeypatch.setattr(Sweeper, "sweep", lost)
    reply = Chat(rt, clock).say("una", "clock +3wd")
    assert "Board time: Thu 9 Apr 2026 10:00" in texts(reply)
    assert reply.to_speaker[-1].text == ("[Training] The clock has moved; what fell due will be sent by the scheduler "
                                         "shortly.")
    with rt.factory() as s:
        assert s.get(Board, "swindon").clock_offset_seconds == 7 * 24 * 3600
    monkeypatch.setattr(Sweeper, "sweep", real_sweep)
    Sweeper(rt.factory, clock).sweep()
    assert timers(rt, "swindon")[("escalation", "done")] == 1
