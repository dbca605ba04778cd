"""The findings about who is told what (../shared/findings/console-journeys.md), one test each, named after the
item. Each failed before the notification model (bot/notify/notify.py) and passes now. Expected recipients are worked
out by hand from the protocol and docs/notifications.md.
"""

from __future__ import annotations

from sqlalchemy import select

from storage.models import Timer
from tests.journeys.harness import Journey, at
from tests.journeys.test_cardiff_and_vale_journey import intake as cv_intake

SWN_INTAKE = ["new", "no", "no", "Thresholds / decision about a referral",
              "Children's social care closed the referral after one visit.",
              "Phoned the duty social worker on Monday.", "Re-open the referral and complete an assessment.", "today"]


def swindon(runtime, raiser: str = "alice", agency: str = "Swindon Children's Social Care",
            person: str = "Bob Evans, Social Worker", start=at(2026, 4, 2, 10)) -> tuple[Journey, str]:
    j = Journey(runtime, "swindon", start)
    j.say(raiser, *SWN_INTAKE, agency, person, "skip", "submit")
    return j, j.ref()


def test_C2_a_stage_2_nudge_goes_to_the_counterpart_not_a_colleague(runtime) -> None:
    """Hana raises it against Fay (a designated safeguarding lead, line-manager role): Swindon's Stage 2 is the
    practitioners' inter-agency discussion, so its reminders go to Hana and Fay, never to Ed (Fay's report)."""
    j, ref = swindon(runtime, "hana", "Swindon Schools", "Fay Bennett, Designated Safeguarding Lead",
                     start=at(2026, 12, 10, 10))
    j.to(at(2026, 12, 14, 10))
    j.say("hana", f"outcome {ref}", "Not resolved", "Hugh and I agree it needs the school to act.")
    # Stage 2: 5 working days from Mon 14 Dec -> Mon 21 Dec; the day-before reminder is Fri 18 Dec 09:00
    got = j.to(at(2026, 12, 18, 9, 5))
    j.expect(got, {"hana": "nudge", "fay": "nudge"})


def test_C3_the_counterpart_is_told_when_a_manager_records_the_outcome(runtime) -> None:
    j, ref = swindon(runtime)
    got = j.say("sam", f"outcome {ref}", "Resolved", "Sam spoke to Mia; the referral is re-opened.")
    while "Does this apply" in j.shown():
        got += j.say("sam", "no")
    # Stage 1's people: Alice, Bob (the counterpart), and Sam, who recorded it and has his reply
    j.expect(got, {"alice": "resolved", "bob": "resolved"})


def cardiff(runtime) -> tuple[Journey, str]:
    """A Cardiff & Vale case raised by Alice against Bob on Thu 2 Apr 2026 10:00."""
    j = Journey(runtime, "cardiff-and-vale", at(2026, 4, 2, 10))
    return j, cv_intake(j)


def lapse_stage_1(runtime) -> tuple[Journey, str]:
    """A Swindon case whose Stage 1 (due Wed 8 Apr 2026) lapsed: prompts in both line-manager channels."""
    j, ref = swindon(runtime)
    j.to(at(2026, 4, 9, 9, 5))
    return j, ref


def test_C4_already_resolved_closes_every_copy_of_the_prompt(runtime) -> None:
    j, ref = lapse_stage_1(runtime)
    j.to(at(2026, 4, 9, 13, 10))  # reminder 1: re-posted in both channels
    j.to(at(2026, 4, 10, 9, 10))  # reminder 2: to Priya and Mia, the safeguarding leads
    j.press("mia", "case.record_outcome", ref)
    got = j.say("mia", "Resolved", "The referral was re-opened yesterday.")
    while "Does this apply" in j.shown():
        got += j.say("mia", "no")
    # every copy updated: 2 posts in each channel, the two leads' direct messages
    j.expect(got, {"alice": "resolved", "bob": "resolved", "sam": "resolved",
                   "#police-sgt-managers": ["update:prompt_updated"] * 2,
                   "#csc-team-managers": ["update:prompt_updated"] * 2,
                   "priya": "update:prompt_updated", "mia": "update:prompt_updated"})
    # and Sam can no longer take ownership of the resolved case
    got = j.press("sam", "esc.ack", j.prompt_id_any("#police-sgt-managers"))
    assert "No action needed" in j.shown() and "taken ownership" not in j.shown()
    j.expect(got, {})


def test_C5_reminder_3_is_posted_once_to_the_business_unit(runtime) -> None:
    j, _ = lapse_stage_1(runtime)
    j.to(at(2026, 4, 9, 13, 10))
    j.to(at(2026, 4, 10, 9, 10))
    got = j.to(at(2026, 4, 10, 13, 10))
    j.expect(got, {"#business-unit": "renotify_business_unit"})


def test_C7_a_protective_date_that_passes_reminds_and_escalates(runtime) -> None:
    j = Journey(runtime, "wolverhampton", at(2026, 12, 31, 10))
    j.say("alice", "new", "no", "A child", "1", "Closed involvement too early for this family.", "Emailed twice.",
          "Keep the case open", "today", "City of Wolverhampton Council Social Care", "Bob Evans, Social Worker",
          "2027-01-06", "skip", "Submit")
    with runtime.factory() as s:
        kinds = {(t.kind, t.data.get("step")) for t in s.scalars(select(Timer).where(Timer.case_id.is_not(None)))}
    assert ("nudge", "overall-target") in kinds and ("escalation", "overall-target") in kinds
    got = j.to(at(2027, 1, 7, 9, 5))
    assert {g.to for g in got if g.message.kind == "protective_lapse_prompt"} == {"#police-sgt-managers",
                                                                                  "#csc-team-managers"}


def test_C8_C22_a_bypass_to_the_chair_reaches_the_board_and_the_chair_gets_only_board_steps(runtime) -> None:
    j, ref = cardiff(runtime)
    got = j.say("alice", f"bypass {ref}", "1", "The child is at risk and the agencies cannot agree.")
    assert {"carl", "una"} <= {g.to for g in got}
    later = j.to(at(2026, 4, 7, 12))  # the practitioner's duty after a bypass is never the chair's
    assert "carl" not in {g.to for g in later}


def test_C22_the_lapse_notice_names_who_was_asked(runtime) -> None:
    """A lapse whose next stage is the business unit's tells the practitioners the business unit was asked."""
    j, ref = cardiff(runtime)
    j.say("alice", f"done {ref}", "1", "today")
    got = j.to(at(2026, 4, 9, 9, 5))  # the managers' attempt was due Wed 8 Apr
    notice = next(g for g in got if g.to == "alice")
    assert "business unit has been asked" in notice.message.text and "managers have" not in notice.message.text


def test_C6_completing_a_form_part_gives_one_message(runtime) -> None:
    j, ref = cardiff(runtime)
    j.say("alice", f"done {ref}", "1", "today")
    j.say("sam", f"outcome {ref}", "Not resolved", "The managers could not agree.")
    j.say("alice", f"form {ref} appendix-1 part-a")
    j.fill("alice")
    j.say("una", f"done {ref}", "Business Manager records the concern and sends the form to the responding agency",
          "today")
    j.say("bob", f"form {ref} appendix-1 part-b")
    got = j.fill("bob")
    j.expect(got, {"una": "form_part_completed"})  # one message, saying the next part is hers


def test_C12_a_welsh_speakers_action_reaches_an_english_speaker_in_english(runtime) -> None:
    j = Journey(runtime, "cardiff-and-vale", at(2026, 4, 2, 10))
    j.say("alice", "language cy")
    j.say("alice", "newydd", "na", "ie", "1", "1", "Ni dderbyniwyd yr atgyfeiriad gan y tîm.",
          "Siaradais â'r tîm ddwywaith.", "Derbyn yr atgyfeiriad.", "heddiw", "Cardiff Council Children's Services",
          "Bob Evans, Social Worker", "hepgor", "1")
    to_bob = j.last_to("bob").message
    assert to_bob.kind == "case_opened"
    assert "Alice Hughes has raised a professional disagreement with you." in to_bob.text
    assert "Mae " not in to_bob.text and "wedi codi" not in to_bob.text


def test_C20_an_extension_is_told_to_everyone_on_the_case(runtime) -> None:
    j, ref = cardiff(runtime)
    j.say("alice", f"done {ref}", "1", "today")
    got = j.say("sam", f"extend {ref}", "1", "2026-04-09", "Bob's manager is on leave until Thursday.")
    j.expect(got, {"alice": "extended", "bob": "extended", "mia": "extended"})


def test_CUX13_an_urgent_notice_text_reaches_the_people_not_the_channel(runtime) -> None:
    j, ref = swindon(runtime)
    got = j.say("alice", f"urgent {ref}", "The child was seen today with new injuries.")
    # Stage 1: Bob, and Sam (Stage 1's manager and Alice's line manager); Mia (Bob's line manager); Una
    j.expect(got, {"bob": "urgent_notice", "sam": "urgent_notice", "mia": "urgent_notice", "una": "urgent_notice",
                   "#business-unit": "urgent_post"})
    assert "new injuries" in j.last_to("mia").message.text


def test_CUX14_a_reminder_a_few_minutes_after_9_is_not_called_late(runtime) -> None:
    j, _ = swindon(runtime)
    got = j.to(at(2026, 4, 7, 9, 20))
    nudge = next(g for g in got if g.to == "alice")
    assert "late" not in nudge.message.text


def test_C24_a_typed_acknowledge_reaches_an_old_prompt(runtime) -> None:
    """The console shows only a channel's latest post; 'acknowledge REF' takes ownership without the button."""
    j, ref = lapse_stage_1(runtime)
    j.to(at(2026, 4, 13, 9, 30))  # the Monday digest is now the latest post in #business-unit
    got = j.say("sam", f"acknowledge {ref}")
    assert "You have taken ownership" in j.shown()
    # the case moves from Stage 1 (Alice, Bob, Sam) to Stage 2 (the practitioners): Alice and Bob hear of it
    assert {g.to for g in got if g.message.kind == "acknowledged"} == {"alice", "bob"}
    j.say("sam", f"acknowledge {ref}")
    assert "Nothing on" in j.shown()


def test_CUX8_an_action_that_is_not_possible_says_why(runtime) -> None:
    j, ref = swindon(runtime)
    j.say("alice", f"escalate {ref}")
    assert "at Stage 1" in j.shown() and "What can be done now:" in j.shown()


def test_CUX12_already_resolved_does_not_ask_resolved_or_not(runtime) -> None:
    j, ref = lapse_stage_1(runtime)
    j.press("mia", "case.record_outcome", j.last_to("#csc-team-managers").message.buttons[1].value)
    assert "What is the outcome at this stage?" not in j.shown()
    assert "Describe the agreed outcome" in j.shown()


def test_CUX6_CUX7_reminder_wording(runtime) -> None:
    j, ref = swindon(runtime)
    got = j.to(at(2026, 4, 7, 9, 5))
    to_sam = next(g for g in got if g.to == "sam").message.text
    to_alice = next(g for g in got if g.to == "alice").message.text
    assert "You are reminded as a manager on this case" in to_sam
    assert "reminded as a manager" not in to_alice
    j.to(at(2026, 4, 9, 9, 5))
    j.say("sam", f"acknowledge {ref}")
    overdue = j.to(at(2026, 4, 16, 9, 5))  # Stage 2 lapsed: nothing says "OVERDUE" twice
    for g in overdue:
        assert "OVERDUE" not in g.message.text or g.message.text.count("verdue") == 1


def test_CUX21_a_late_digest_reports_its_own_week(runtime) -> None:
    """The digest due Tue 7 Apr 2026 (Easter Monday moved it) and sent on Thu 9 Apr after a jump of the clock is
    still the week to Tue 7 Apr."""
    j, _ = swindon(runtime)
    got = j.to(at(2026, 4, 9, 11))
    digest = next(g for g in got if g.message.kind == "digest")
    assert "week to Tue 7 Apr 2026" in (digest.message.title or "")


def test_CUX22_the_digest_counts_cases_closed_this_week(runtime) -> None:
    j, ref = swindon(runtime)
    j.say("alice", f"close {ref}", "The family has moved out of the area.")
    got = j.to(at(2026, 4, 7, 9, 5))
    digest = next(g for g in got if g.message.kind == "digest")
    assert "Resolved this week: 0. Closed this week: 1." in digest.message.text


def test_CUX9_the_urgent_route_shows_no_internal_notes(runtime) -> None:
    for board in ("swindon", "wolverhampton", "cardiff-and-vale", "mid-and-west-wales"):
        j = Journey(runtime, board, at(2026, 4, 2, 10))
        j.say("alice", "new", "yes")
        shown = j.shown()
        for internal in ("gives no phone number", "Printed in the protocol", "000 ", "001 ", "003 ", "004 "):
            assert internal not in shown, (board, internal)
        if board == "wolverhampton":
            assert "01902 551199" in shown
        j.say("alice", "cancel")
