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
from bot import digests
from bot.clock import FixedClock
from bot.i18n import translator
from bot.messages import Severity
from bot.scheduler import Sweeper
from storage import repo
from storage.models import Case, EscalationPrompt
from tests.bot.test_conversation import open_swindon_case
from tests.conftest import LONDON, Chat, texts


def at(y: int, mo: int, d: int, h: int = 9, mi: int = 0) -> dt.datetime:
    return dt.datetime(y, mo, d, h, mi, tzinfo=LONDON)


def not_resolved(chat: Chat, who: str, ref: str, when: dt.datetime, why: str):  # noqa: ANN201
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


def open_cv_case_and_bypass(runtime, clock) -> tuple[Chat, str]:  # noqa: ANN001
    chat = Chat(runtime, clock, board="cardiff-and-vale")
    chat.say("alice", "new")
    chat.script("alice", *CV_INTAKE)
    ref = chat.say("alice", "submit").to_speaker[0].case_ref
    assert ref == "CV-2026-0001"
    assert not _listed(chat, "carl", ref) and not _listed(chat, "una", ref)  # Stage 1: the agencies' managers
    chat.say("alice", f"bypass {ref}")
    chat.script("alice", SENIOR, "skip")
    return chat, ref


def test_CUX18_cardiff_and_vale_chair_stage_is_listed_for_the_chair_and_the_business_unit(runtime, clock) -> None:  # noqa: ANN001
    chat, ref = open_cv_case_and_bypass(runtime, clock)
    assert _listed(chat, "carl", ref) and _listed(chat, "una", ref)
    assert not _listed(chat, "hana", ref)
    with runtime.factory() as s:
        carl = repo.person_by_key("cardiff-and-vale", "carl", session=s).id
    assert [m.case_ref for m in runtime.home_messages(carl, clock.now())] == [ref]


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


