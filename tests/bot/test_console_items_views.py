"""What a case looks like, items of /work/shared/findings/console-journeys.md: closed and resolved cases are never
overdue (C10); "Next" is the current stage's deadline (C11), the protective date first (C-UX10), the stage outcome
once its deadline step is done (C-UX11); the business unit and the chair list the cases at their stage (C-UX18);
the timeline in words (C14, C-UX20); wording (C-UX6); the console's overdue report and board switch (C-UX16/17).

Every expected date below is worked out by hand from the protocol (England and Wales bank holidays: Good Friday
3 Apr and Easter Monday 6 Apr 2026, Early May 4 May 2026; New Year's Day Fri 1 Jan 2027).
"""

from __future__ import annotations

import datetime as dt
import io

from sqlalchemy import select

from adapters.console.app import ConsoleApp
from bot.reporting import digests
from bot.core.i18n import translator
from bot.core.messages import Severity
from bot.escalation.scheduler import Sweeper
from storage import repo
from storage.models import Case, EscalationPrompt
from tests.bot.test_conversation import open_swindon_case
from tests.conftest import LONDON, Chat, texts


def at(y: int, mo: int, d: int, h: int = 9, mi: int = 0) -> dt.datetime:
    return dt.datetime(y, mo, d, h, mi, tzinfo=LONDON)


def not_resolved(chat: Chat, who: str, ref: str, when: dt.datetime, why: str):
    chat.clock.set(when)
    chat.press(who, "case.record_outcome", ref)
    chat.say(who, "Not resolved")
    return chat.say(who, why)


def view_text(chat: Chat, who: str, ref: str) -> str:
    return chat.say(who, f"case {ref}").to_speaker[0].text


def swindon_at_stage_4(chat: Chat) -> str:
    """Opened Thu 2 Apr 2026 10:00; not resolved at Stage 1 (Wed 8 Apr 15:00), Stage 2 (Tue 14 Apr 15:00: Stage 3
    starts, and its 'contact details' duty is due at once) and Stage 3 (Mon 20 Apr 11:00), the duty never done."""
    ref = open_swindon_case(chat)
    not_resolved(chat, "alice", ref, at(2026, 4, 8, 15), "Sergeant agrees it stays open")
    not_resolved(chat, "alice", ref, at(2026, 4, 14, 15), "No agreement with the social worker")
    not_resolved(chat, "alice", ref, at(2026, 4, 20, 11), "Managers could not agree")
    return ref


STAGE_3_DUTY = ("Stage 3 \u2014 Give the other agency the contact details for your line management: due by Tue 14 Apr "
                "2026 15:00 (immediately when Stage 3 started on Tue 14 Apr 15:00)")
# SWN-15: 5 working days from Mon 20 Apr: Tue 21, Wed 22, Thu 23, Fri 24, Mon 27 Apr
STAGE_4_NEXT = ("Stage 4 \u2014 Heads/Directors of Service contact their opposite number in the partner agency: due by "
                "Mon 27 Apr 2026 (5 working days after Stage 3 completed on Mon 20 Apr)")


# -- C11: Next is the current stage's deadline ----------------------------------------------------------------------
def test_C11_an_old_overdue_step_is_not_next_once_the_case_has_moved_on(chat: Chat) -> None:
    ref = swindon_at_stage_4(chat)
    text = view_text(chat, "alice", ref)
    assert f"Next: {STAGE_4_NEXT}" in text
    assert "Next: OVERDUE" not in text
    # the Stage 3 duty is still owed, and said so on a line of its own, after what is due now
    lines = text.splitlines()
    earlier = lines.index("Still outstanding from earlier stages:")
    assert lines[earlier + 1] == f"  \u2022 OVERDUE \u2014 {STAGE_3_DUTY}"
    assert earlier > next(i for i, ln in enumerate(lines) if ln.startswith("Next: "))
    # the one-line lists lead with the current stage too (the case is still flagged: a duty is overdue)
    listed = chat.say("alice", "list").to_speaker[0].text
    assert ("\u2014 next: Heads/Directors of Service contact their opposite number in the partner agency, due by "
            "Mon 27 Apr 2026") in listed and listed.startswith("\u26a0 ")
    [line] = chat.rt.board_overview("swindon", chat.clock.now(), translator())
    assert line.startswith("\u26a0 OVERDUE ") and line.endswith(
        "[open] \u2014 next: Heads/Directors of Service contact their opposite number in the partner agency, due by "
        "Mon 27 Apr 2026")


# -- C10: a closed or resolved case is never shown as overdue ------------------------------------------------------
def test_C10_a_closed_case_is_never_shown_overdue(chat: Chat) -> None:
    ref = swindon_at_stage_4(chat)
    chat.clock.set(at(2026, 4, 21, 10))
    chat.say("alice", f"close {ref}")
    closed = chat.say("alice", "Agreed between the agencies to stop here").to_speaker[0]
    assert "Case closed." in closed.text and "This case is closed." in closed.text
    assert "OVERDUE" not in closed.text and "Next:" not in closed.text and "Also due" not in closed.text
    assert closed.severity is Severity.INFO
    assert "OVERDUE" not in view_text(chat, "alice", ref)
    [line] = chat.rt.board_overview("swindon", chat.clock.now(), translator())
    assert "OVERDUE" not in line and "\u26a0" not in line and "next:" not in line
    assert line.endswith("Stage 4: Heads / Leads / Directors of Service [closed]")
    assert chat.rt.overdue_lines("swindon", chat.clock.now(), translator()) == []


def test_C10_a_resolved_case_is_never_shown_overdue(chat: Chat) -> None:
    ref = swindon_at_stage_4(chat)
    # resolved at Stage 4 on Tue 21 Apr 10:00; the feedback duty is due at once (SWN-16); a day later it is past
    chat.clock.set(at(2026, 4, 21, 10))
    chat.press("bob", "case.record_outcome", ref)
    chat.script("bob", "Resolved", "Heads of service agreed to re-open the referral")
    chat.clock.set(at(2026, 4, 22, 10))
    view = chat.say("alice", f"case {ref}").to_speaker[0]
    assert "Resolved at Stage 4: Heads / Leads / Directors of Service." in view.text
    assert "OVERDUE" not in view.text and view.severity is Severity.INFO
    # what is still to do after the resolution is shown, with its date, and not as overdue
    assert ("Next: Stage 4 \u2014 Feed back the agreed action to the relevant professionals and record it on the "
            "child's file: due by Tue 21 Apr 2026 10:00 (immediately when the resolution was reached on Tue 21 Apr "
            "10:00)") in view.text
    [line] = chat.rt.board_overview("swindon", chat.clock.now(), translator())
    assert "OVERDUE" not in line and "[resolved]" in line
    with chat.rt.factory() as s:
        figures = digests.weekly_figures(translator(), "swindon", chat.clock.now(), session=s)
    assert figures.overdue == ()


# -- C-UX10: the protective date first -----------------------------------------------------------------------------
def test_CUX10_next_is_the_protective_date_before_a_later_step(runtime, clock) -> None:
    """Wolverhampton, the disagreement arose Thu 31 Dec 2026, protective date Wed 6 Jan 2027. WOL-10: the overall
    target is 10 working days (Fri 1 Jan is New Year's Day): Mon 4 .. Fri 15 Jan, brought forward to Wed 6 Jan.
    WOL-12: the review is 3 working days after the raise step, done Tue 5 Jan: Wed 6, Thu 7, Fri 8 Jan."""
    clock.set(at(2026, 12, 31, 10))
    chat = Chat(runtime, clock, board="wolverhampton")
    chat.say("alice", "new")
    chat.script("alice", "no", "A child", "1", "Closed involvement too early", "Emailed", "Keep the case open",
                "today", "City of Wolverhampton Council Social Care", "Bob Evans, Social Worker", "6/1/2027", "skip")
    ref = chat.say("alice", "submit").to_speaker[0].case_ref
    clock.set(at(2027, 1, 5, 11))
    chat.say("alice", f"done {ref}")
    chat.script("alice", "Raise the matter with the relevant practitioner, verbally and in writing", "today")
    text = view_text(chat, "alice", ref)
    protective = ("Resolve through discussion (overall target for Stages 1-3): due by Wed 6 Jan 2027 17:00 (10 working "
                  "days after the disagreement arose on Thu 31 Dec; brought forward from Fri 15 Jan to the protective "
                  "date set for this case)")
    review = ("Stage 1 \u2014 Receiving agency reviews the case file, speaks to the disputing practitioner and seeks a "
              "way forward: due by Fri 8 Jan 2027 (3 working days after \u201cRaise the matter with the relevant "
              "practitioner, verbally and in writing\u201d was done on Tue 5 Jan)")
    assert f"Next: {protective}" in text
    assert f"  \u2022 {review}" in text
    assert text.index("Next: ") < text.index("Also due:") < text.index(review)


# -- C-UX11: the stage outcome is Next once the stage's deadline step is done ---------------------------------------
def test_CUX11_the_stage_outcome_is_next_after_its_deadline_step_is_done(chat: Chat) -> None:
    """SWN-10: Stage 1's internal discussion is due Wed 8 Apr 2026 (Good Friday and Easter Monday skipped); it is
    done on Tue 7 Apr through a recorded contact; the outcome of Stage 1 is still due by Wed 8 Apr."""
    ref = open_swindon_case(chat)
    chat.clock.set(at(2026, 4, 7, 11))
    chat.press("alice", "case.record_contact", ref)
    chat.script("alice", "today", "Sam Patel, Sergeant", "Meeting", "Agreed to escalate")
    reply = chat.say("alice", "Internal discussion with your line manager")
    assert "Contact recorded." in texts(reply)
    text = view_text(chat, "alice", ref)
    assert "Next: Stage 1 \u2014 Record the outcome of this stage (resolved or not): due by Wed 8 Apr 2026" in text
    assert "Who acts: line managers or named safeguarding leads in Wiltshire Police" in text
    listed = chat.say("alice", "list").to_speaker[0].text
    assert "\u2014 next: record the outcome of Stage 1, due by Wed 8 Apr 2026" in listed


# -- C-UX18: the business unit and the chair list the cases at their stage ------------------------------------------
def _listed(chat: Chat, who: str, ref: str) -> bool:
    return ref in chat.say(who, "list").to_speaker[0].text


def test_CUX18_swindon_business_unit_and_chair_list_the_cases_at_their_stage(chat: Chat) -> None:
    """Swindon Stage 5 is run by the business unit (level business_unit); Stage 6, the Resolution Panel, by the
    chair (independent_chair), which the business unit supports."""
    ref = swindon_at_stage_4(chat)
    assert not _listed(chat, "una", ref) and not _listed(chat, "carl", ref)  # Stage 4: heads of service
    not_resolved(chat, "alice", ref, at(2026, 4, 24, 12), "Heads of service could not agree")
    assert _listed(chat, "una", ref)
    assert "You have no open cases" in chat.say("carl", "list").to_speaker[0].text
    with chat.rt.factory() as s:
        una = repo.person_by_key("swindon", "una", session=s).id
    assert [m.case_ref for m in chat.rt.home_messages(una, chat.clock.now())] == [ref]
    not_resolved(chat, "alice", ref, at(2026, 5, 5, 12), "No multi-agency resolution")
    chat.say("alice", f"escalate {ref}")
    chat.say("alice", "Directors remain at odds; a panel is needed")
    assert _listed(chat, "carl", ref) and _listed(chat, "una", ref)
    # the business unit of another board never sees it
    other = Chat(chat.rt, chat.clock, board="wolverhampton")
    assert "You have no open cases" in other.say("una", "list").to_speaker[0].text


CV_INTAKE = ["no", "yes", "A child", "Differing views on thresholds", "Referral not accepted",
             "Spoke to the duty team", "Accept the referral", "today", "Cardiff Council Children's Services",
             "Bob Evans, Social Worker", "skip"]
SENIOR = ("An effective response needs senior manager level multi-agency co-ordination to manage threat, risk and "
          "harm")


def open_cv_case_and_bypass(runtime, clock) -> tuple[Chat, str]:
    chat = Chat(runtime, clock, board="cardiff-and-vale")
    chat.say("alice", "new")
    chat.script("alice", *CV_INTAKE)
    ref = chat.say("alice", "submit").to_speaker[0].case_ref
    assert ref == "CV-2026-0001"
    assert not _listed(chat, "carl", ref) and not _listed(chat, "una", ref)  # Stage 1: the agencies' managers
    chat.say("alice", f"bypass {ref}")
    chat.script("alice", SENIOR, "skip")
    return chat, ref


def test_CUX18_cardiff_and_vale_chair_stage_is_listed_for_the_chair_and_the_business_unit(runtime, clock) -> None:
    chat, ref = open_cv_case_and_bypass(runtime, clock)
    assert _listed(chat, "carl", ref) and _listed(chat, "una", ref)
    assert not _listed(chat, "hana", ref)
    with runtime.factory() as s:
        carl = repo.person_by_key("cardiff-and-vale", "carl", session=s).id
    assert [m.case_ref for m in runtime.home_messages(carl, clock.now())] == [ref]


# -- C14: the timeline in words -----------------------------------------------------------------------------------
def test_C14_timeline_has_no_raw_ids_and_gives_the_right_refusal_reason(chat: Chat) -> None:
    """SWN-10 lapses on Wed 8 Apr 2026 17:00: the escalation prompt is posted on Thu 9 Apr 09:00. Alice (who raised
    the case) presses Acknowledge: refused because acknowledging is for managers, not because she is not a party;
    Hana (no part in the case) tries to view it; Sam acknowledges for Wiltshire Police."""
    ref = open_swindon_case(chat)
    chat.clock.set(at(2026, 4, 9, 9))
    Sweeper(chat.rt.factory, chat.clock).fire_due()
    with chat.rt.factory() as s:
        case_id = s.scalar(select(Case.id).where(Case.ref == ref))
        prompt = s.scalar(select(EscalationPrompt.id).where(EscalationPrompt.case_id == case_id,
                                                            EscalationPrompt.agency_key == "police"))
    chat.clock.set(at(2026, 4, 9, 9, 30))
    assert chat.press("alice", "esc.ack", str(prompt)).to_speaker[0].severity is Severity.ERROR
    chat.clock.set(at(2026, 4, 9, 9, 40))
    chat.say("hana", f"case {ref}")
    chat.clock.set(at(2026, 4, 9, 10, 42))
    chat.press("sam", "esc.ack", str(prompt))
    text = chat.say("alice", f"case {ref} timeline").to_speaker[0].text
    assert ("Thu 9 Apr 2026 09:00  Parley (system): no outcome was recorded by the deadline of Stage 1: Internal "
            "discussion, so managers were asked to take ownership") in text
    assert ("Thu 9 Apr 2026 09:30  Alice Hughes (console): was refused \u201cacknowledge an escalation\u201d: that is "
            "for their line and senior managers, the agencies' safeguarding leads, other managers in the two "
            "agencies, whoever covers for one of them while they are away, the board's business unit, the board's "
            "chair") in text
    assert ("Thu 9 Apr 2026 09:40  Hana Jones (console): was refused \u201cview case\u201d: not one of the people in "
            "this disagreement, their managers or the board's business unit") in text
    assert ("Thu 9 Apr 2026 10:42  Sam Patel (console): took ownership of the escalation after Stage 1: Internal "
            "discussion for Wiltshire Police") in text
    for raw in ("escalation_prompted", "escalation_acknowledged", "not a party", "refused: ", "internal-discussion"):
        assert raw not in text, raw


def test_C14_a_bypass_reason_is_shown_as_the_protocol_words_it_in_english_and_welsh(runtime, clock) -> None:
    chat, ref = open_cv_case_and_bypass(runtime, clock)
    text = chat.say("alice", f"case {ref} timeline").to_speaker[0].text
    assert f"went straight to Stage 3: Escalation to the CVSB Chair / Vice-Chair: {SENIOR}" in text
    chat.say("alice", "iaith cy")
    cy = chat.say("alice", f"achos {ref} hanes").to_speaker[0].text
    assert ("Cam 3: Uwchgyfeirio at Gadeirydd / Is-gadeirydd Bwrdd Diogelu Caerdydd a'r Fro: Mae ymateb effeithiol yn "
            "gofyn am gydlynu amlasiantaethol ar lefel uwch-reolwyr i reoli bygythiad, risg a niwed") in cy
    for raw in ("senior-coordination", "bypassed", "went straight", SENIOR):
        assert raw not in cy, raw


# -- C-UX20: dates in words in the timeline and the contact log ------------------------------------------------------
def test_CUX20_timeline_and_contact_log_show_dates_in_words(chat: Chat) -> None:
    ref = open_swindon_case(chat)
    chat.clock.set(at(2026, 4, 7, 11))
    chat.press("alice", "case.record_contact", ref)
    chat.script("alice", "today", "Sam Patel, Sergeant", "Meeting", "Agreed to escalate",
                "Internal discussion with your line manager")
    timeline = chat.say("alice", f"case {ref} timeline").to_speaker[0].text
    assert ("contact on Tue 7 Apr 2026 with Sam Patel, Sergeant by meeting: Agreed to escalate (done: Internal "
            "discussion with your line manager)") in timeline
    log = chat.say("alice", f"case {ref} log").to_speaker[0].text
    assert "Stage 1 | Tue 7 Apr 2026 | Sam Patel, Sergeant | Meeting | Agreed to escalate" in log
    assert "2026-04-07" not in timeline + log


# -- C-UX6: wording ---------------------------------------------------------------------------------------------
def test_CUX6_immediately_after_a_resolution_reads_as_a_sentence(chat: Chat) -> None:
    """SWN-13: resolved at Stage 3 on Mon 20 Apr 2026 11:00; the feedback is due immediately."""
    ref = open_swindon_case(chat)
    not_resolved(chat, "alice", ref, at(2026, 4, 8, 15), "Sergeant agrees it stays open")
    not_resolved(chat, "alice", ref, at(2026, 4, 14, 15), "No agreement with the social worker")
    chat.clock.set(at(2026, 4, 20, 11))
    chat.press("alice", "case.record_outcome", ref)
    text = chat.script("alice", "Resolved", "Managers agreed an assessment").to_speaker[0].text
    assert ("Feed back the agreed action to the relevant professionals and record it on the child's file: due by "
            "Mon 20 Apr 2026 11:00 (immediately when the resolution was reached on Mon 20 Apr 11:00)") in text
    assert "when the resolution on" not in text


def test_CUX6_a_form_part_says_due_once(chat: Chat) -> None:
    """SWN-17: Stage 5 starts Fri 24 Apr 2026 12:00; the referral with the Appendix 1 form is due 5 working days
    later: Mon 27, Tue 28, Wed 29, Thu 30 Apr, Fri 1 May."""
    ref = swindon_at_stage_4(chat)
    not_resolved(chat, "alice", ref, at(2026, 4, 24, 12), "Heads of service could not agree")
    text = texts(chat.say("alice", f"form {ref} appendix-1"))
    assert "Due: Fri 1 May 2026." in text
    assert "Due: due by" not in text


# -- the console: C-UX17 (overdue once) and C-UX16 (a board switch) ------------------------------------------------
def run_console(runtime, board: str, lines: list[str], start: dt.datetime | None = None) -> str:
    out = io.StringIO()
    app = ConsoleApp(runtime, board, out=out, start=start)
    app.run(io.StringIO("\n".join(lines) + "\n"))
    return out.getvalue()


def test_CUX17_now_overdue_is_shown_once_per_deadline(sqlite_runtime) -> None:
    """SWN-10 due Wed 8 Apr 2026: overdue from Thu 9 Apr. Shown after the first /clock that passes it, then only
    counted; a new overdue deadline (Stage 2's: 5 working days after Thu 9 Apr 2026 is Thu 16 Apr) is shown."""
    ref = "SWN-2026-0001"
    out = run_console(sqlite_runtime, "swindon", [
        "new", "no", "no", "1", "The referral was closed after one visit.", "Phoned the duty team.", "Re-open the referral.", "today", "Swindon Children's Social Care",
        "Bob Evans, Social Worker", "skip", "Submit",
        "/clock 2026-04-09 10:00", "/clock +1h", "/clock +1h",
        f"outcome {ref}", "Not resolved", "Still disagree",
        "/clock 2026-04-17 10:00", "/quit",
    ], start=at(2026, 4, 2, 10))
    stage_1 = f"\u26a0 {ref}: OVERDUE \u2014 Stage 1 \u2014 Internal discussion with your line manager"
    assert out.count(stage_1) == 1
    assert out.count("1 deadline is still overdue, as shown before") == 2  # after each of the two +1h
    stage_2 = f"\u26a0 {ref}: OVERDUE \u2014 Stage 2 \u2014 Inter-agency discussion with the other professional"
    assert out.count(stage_2) == 1 and out.index(stage_2) > out.index(stage_1)
    # a new session shows what is overdue once more
    again = run_console(sqlite_runtime, "swindon", ["/clock +1h", "/quit"])
    assert again.count(stage_2) == 1
    assert again.index(stage_2) < again.index("/clock +1h") < again.index("1 deadline is still overdue")


def test_CUX16_switching_board_shows_the_latest_post_per_channel(sqlite_runtime) -> None:
    """While Wolverhampton is shown, three of Swindon's weekly digests build up (the clock passes the Tuesday after
    Easter Monday, Mon 13 Apr and Mon 20 Apr 2026); switching to Swindon shows the latest one only and says that
    two earlier ones are not shown."""
    out = run_console(sqlite_runtime, "wolverhampton", [
        "/clock 2026-04-08 10:00", "/clock 2026-04-14 10:00", "/clock 2026-04-21 10:00", "/board swindon", "/quit",
    ], start=at(2026, 4, 2, 10))
    switched = out[out.index("/board swindon"):]
    assert switched.count("Weekly digest \u2014 Swindon Safeguarding Partnership") == 1
    assert "[#business-unit]: 2 earlier posts not shown (the latest follows)." in switched
    # the one shown is the week to Mon 20 Apr (today labelled by when it fired, Tue 21 Apr: C-UX21)
    assert ("week to Mon 20 Apr 2026" in switched) or ("week to Tue 21 Apr 2026" in switched)
    # the same board's posts are still shown as they come
    assert out[:out.index("/board swindon")].count("Weekly digest \u2014 Wolverhampton Safeguarding Together") == 3
