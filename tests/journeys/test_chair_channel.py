"""The independent chair's board channel (`register chair`): the escalation prompt for a stage the chair runs is
posted there as in the business unit's channel, with the case reference, agencies and stage only; a prompt for the
business unit's own stage is not; the chair acknowledges from it. Exact recipients at every step (see harness.py).

Cardiff & Vale (bot/demo/directory.yaml, protocol/boards/cardiff-and-vale.yaml): Alice (police) raises it against
Bob (children's services); Sam and Mia are their line managers (Mia also the CSC safeguarding lead), Una the business
unit, Carl the independent chair. Stage 1: the two line managers; 2: escalated to the board, run by the business
unit (Part B of Appendix 1 due 10 working days after the business unit sends it: the stage deadline); 3: the chair.
Channel posts are in Welsh and English. Good Friday 3 Apr and Easter Monday 6 Apr 2026 are bank holidays.
"""

from __future__ import annotations

from bot.admin import channels
from storage import repo
from tests.journeys.harness import Journey, at
from tests.journeys.test_cardiff_and_vale_journey import RAISE_WITH_MANAGER

INTAKE = ["new", "no", "yes", "A child", "Differing views on thresholds",
          "The referral was not accepted by the duty team.", "Spoke to the duty team twice.",
          "Accept the referral and assess.", "today", "Cardiff Council Children's Services",
          "Bob Evans, Social Worker", "Jamie Doe", "1/2/2015", "Submit"]


def journey(runtime) -> tuple[Journey, str]:
    """The chair's channel registered by the business unit, then Alice's case raised."""
    j = Journey(runtime, "cardiff-and-vale", at(2026, 4, 2, 10))
    with runtime.factory() as s:
        una = repo.person_by_key("cardiff-and-vale", "una", session=s)
        assert una is not None
    assert channels.register(runtime.factory, una.id, "console", "#chair", channels.Registration("", "chair"),
                             j.clock.now()).startswith("This channel is now the independent chair's")
    got = j.say("alice", *INTAKE)
    j.expect(got, {"bob": "case_opened", "sam": "case_opened", "mia": "case_opened"})
    return j, j.ref()


def test_the_prompt_for_the_chairs_stage_goes_to_the_chairs_channel_too(runtime) -> None:
    j, ref = journey(runtime)
    j.expect(j.say("alice", f"done {ref}", RAISE_WITH_MANAGER, "today"), {"bob": "step_done"})
    # Sam records Stage 1 as not resolved: Stage 2, the business unit's
    got = j.say("sam", f"outcome {ref}", "Not resolved", "The managers could not agree.")
    j.expect(got, {"alice": "not_resolved", "bob": "not_resolved", "mia": "not_resolved", "una": "not_resolved"})
    # Alice refers it (Part A) and the business unit sends the form on at once: Part B is due 10 working days later,
    # Mon 20 Apr 17:00 (Easter skipped)
    j.expect(j.say("alice", f"done {ref}", "1", "today"), {"bob": "step_done"})
    got = j.say("una", f"done {ref}", "Business Manager records the concern and sends the form to the responding agency",
                "today")
    j.expect(got, {"bob": "form_part_due", "alice": "step_done"})
    # the digests go to the business unit's channel only; the reminders to those who owe Part B
    j.expect(j.to(at(2026, 4, 7, 9, 5)), {"#business-unit": "digest"})
    j.expect(j.to(at(2026, 4, 13, 9, 5)), {"#business-unit": "digest"})
    j.expect(j.to(at(2026, 4, 17, 9, 5)), {"bob": "nudge", "mia": "nudge"})
    j.expect(j.to(at(2026, 4, 20, 9, 5)), {"bob": "nudge", "mia": "nudge", "#business-unit": "digest"})

    # Stage 2 lapses: Stage 3 is the chair's, so the prompt is posted in the business unit's channel and in the
    # chair's; the two practitioners are told the board was asked
    got = j.to(at(2026, 4, 21, 9, 5))
    j.expect(got, {"#business-unit": "lapse_prompt", "#chair": "lapse_prompt", "alice": "lapse_notice",
                   "bob": "lapse_notice"})
    post = j.last_to("#chair").message
    assert post.case_ref == ref and post.title and ref in post.title and "Cam 2" in post.title
    assert "y cadeirydd annibynnol" in post.text and "the independent chair" in post.text  # Welsh, then English
    assert not post.private and "Jamie" not in str(post) and "2015" not in str(post)  # no subject details
    # reminder 1, four working hours later: in both channels again
    j.expect(j.to(at(2026, 4, 21, 13, 10)), {"#business-unit": "renotify_channel", "#chair": "renotify_channel"})

    # Carl, the chair, acknowledges from his channel: the case moves to Stage 3; the people on the case are told
    # (Alice, Bob, and Una for the board), and every copy of the prompt in both channels is updated in place
    got = j.press("carl", "esc.ack", j.prompt_id("#chair"))
    assert "You have taken ownership" in j.shown()
    j.expect(got, {"alice": "acknowledged", "bob": "acknowledged", "una": "acknowledged",
                   "#business-unit": ["update:prompt_updated"] * 2, "#chair": ["update:prompt_updated"] * 2})
    assert "Carl Stone" in j.last_to("#chair").message.text


def test_a_prompt_for_the_business_units_own_stage_is_not_posted_in_the_chairs_channel(runtime) -> None:
    j, ref = journey(runtime)
    j.expect(j.say("alice", f"done {ref}", RAISE_WITH_MANAGER, "today"), {"bob": "step_done"})
    # the managers' attempt is due Wed 8 Apr: reminders on Tue 7 (with the digest) and Wed 8
    j.expect(j.to(at(2026, 4, 7, 9, 5)), {"sam": "nudge", "mia": "nudge", "#business-unit": "digest"})
    j.expect(j.to(at(2026, 4, 8, 9, 5)), {"sam": "nudge", "mia": "nudge"})
    # it lapses: Stage 2 is the business unit's, so the prompt goes to its channel alone
    got = j.to(at(2026, 4, 9, 9, 5))
    j.expect(got, {"#business-unit": "lapse_prompt", "alice": "lapse_notice", "bob": "lapse_notice"})
