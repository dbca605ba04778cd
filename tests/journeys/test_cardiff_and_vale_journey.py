"""Cardiff & Vale: three cases from Thu 2 Apr 2026, with the exact set of people and channels told at every step.

Who is who (bot/demo/directory.yaml): Alice (police) raises against Bob (children's services). Sam is Alice's
line manager, Mia Bob's (and children's services' safeguarding lead); Priya is the police safeguarding lead; Una
the business unit; Carl the independent chair.

The stages (protocol/boards/cardiff-and-vale.yaml): 1 the agencies' response, line-manager level, both sides (Sam
and Mia); 2 escalated to the Safeguarding Board, run by the business unit (Una); 3 the chair (Carl, and Una).
A case may go straight to Stage 3 (bypass). Channel posts are in Welsh and English.

Working days: Good Friday 3 Apr and Easter Monday 6 Apr 2026 are bank holidays; the weekly digest goes on the
Tuesday after Easter Monday, then Mondays, at 09:00.
"""

from __future__ import annotations

from tests.journeys.harness import Journey, at

RAISE_WITH_MANAGER = "Raise your concerns with your immediate manager (or seek advice from your safeguarding lead)"


def intake(j: Journey) -> str:
    """Alice raises it against Bob; what was delivered meanwhile is kept as ``j.intake_got``."""
    j.intake_got = j.say("alice", "new", "no", "yes", "A child", "Differing views on thresholds",
          "The referral was not accepted by the duty team.", "Spoke to the duty team twice.",
          "Accept the referral and assess.", "today", "Cardiff Council Children's Services",
          "Bob Evans, Social Worker", "skip", "Submit")
    return j.ref()


def test_cardiff_and_vale_extension_lapse_and_already_resolved(runtime) -> None:
    j = Journey(runtime, "cardiff-and-vale", at(2026, 4, 2, 10))
    ref = intake(j)
    got = j.intake_got
    # Stage 1 involves both sides' line managers: Bob, Sam and Mia are told (Alice has her reply)
    j.expect(got, {"bob": "case_opened", "sam": "case_opened", "mia": "case_opened"})

    # "Raise it with your manager" is due at once (CV-6) and is the practitioner's (the step's level): an hour of
    # working time later, Alice is reminded
    j.expect(j.to(at(2026, 4, 2, 11, 5)), {"alice": "overdue"})
    got = j.say("alice", f"done {ref}", RAISE_WITH_MANAGER, "today")
    j.expect(got, {"bob": "step_done"})

    # The managers' attempt is due 2 working days later, Wed 8 Apr (Easter skipped): the day before, Tue 7 09:00,
    # the two managers who owe it are reminded; the digest goes that morning too (Easter Monday moved it).
    j.expect(j.to(at(2026, 4, 7, 12)), {"sam": "nudge", "mia": "nudge", "#business-unit": "digest"})

    # Sam extends it to Thu 9 Apr: everyone on the case is told, with the old and the new deadline (C20)
    got = j.say("sam", f"extend {ref}", "1", "2026-04-09", "Bob's manager is on leave until Thursday.")
    assert "Extension recorded." in j.shown()
    j.expect(got, {"alice": "extended", "bob": "extended", "mia": "extended"})
    text = j.last_to("alice").message.text
    assert "from Wed 8 Apr 2026 to Thu 9 Apr 2026" in text and "on leave" in text

    # It lapses (Thu 9 17:00). Fri 10 09:00: Stage 2 is the business unit's, so the prompt goes to #business-unit
    # (once); Alice and Bob are told the business unit was asked. The reminders before the new deadline went by
    # while the clock jumped and are dropped (their deadline had passed).
    got = j.to(at(2026, 4, 10, 9, 5))
    j.expect(got, {"#business-unit": "lapse_prompt", "alice": "lapse_notice", "bob": "lapse_notice"})
    assert "business unit has been asked" in j.last_to("bob").message.text
    prompt = j.prompt_id("#business-unit")
    assert "Cydnabod" in str(j.last_to("#business-unit").message.buttons)  # Welsh first on a Welsh board

    # Mia presses "Already resolved" and records it resolved: everyone on Stage 1 hears (Alice, Bob, Sam), and the
    # prompt in #business-unit is updated in place to say nothing is needed (C4)
    j.press("mia", "case.record_outcome", ref)
    got = j.say("mia", "Resolved", "Agreed at a managers' call: the referral is accepted.")
    while "Does this apply" in j.shown():
        got += j.say("mia", "no")
    j.expect(got, {"alice": "resolved", "bob": "resolved", "sam": "resolved",
                   "#business-unit": "update:prompt_updated"})
    assert "No action needed" in j.last_to("#business-unit").message.text
    assert not [b for b in j.last_to("#business-unit").message.buttons if b.action == "esc.ack"]

    # Una presses Acknowledge on the old prompt anyway: told nothing is needed; nobody else hears anything; no
    # reminder of the prompt follows
    got = j.press("una", "esc.ack", prompt)
    assert "No action needed" in j.shown()
    j.expect(got, {})
    j.expect(j.to(at(2026, 4, 10, 16)), {})


def test_cardiff_and_vale_bypass_to_the_chair(runtime) -> None:
    j = Journey(runtime, "cardiff-and-vale", at(2026, 4, 2, 10))
    ref = intake(j)
    # Alice takes it straight to the chair (Stage 3): Stage 1's people (Bob, Sam, Mia) and Stage 3's (Carl, Una)
    # are told (C8)
    got = j.say("alice", f"bypass {ref}", "1", "The child is at risk and the agencies cannot agree.")
    assert "Moved straight to" in j.shown()
    j.expect(got, {"bob": "bypassed", "sam": "bypassed", "mia": "bypassed", "carl": "bypassed", "una": "bypassed"})
    # the case is in the chair's and the business unit's lists
    assert ref in str(j.chat.say("carl", "list").to_speaker[0].text)
    assert ref in str(j.chat.say("una", "list").to_speaker[0].text)
    # "Discuss it with your agency's safeguarding lead" (immediately, after a bypass) is Alice's to do, not the
    # chair's: an hour of working time later only Alice is reminded (C8)
    j.expect(j.to(at(2026, 4, 2, 11, 5)), {"alice": "overdue"})


def test_cardiff_and_vale_stage_2_forms(runtime) -> None:
    j = Journey(runtime, "cardiff-and-vale", at(2026, 4, 2, 10))
    ref = intake(j)
    j.say("alice", f"done {ref}", RAISE_WITH_MANAGER, "today")
    # Sam records Stage 1 as not resolved: Stage 2, the business unit's. Stage 1's people and Una hear.
    got = j.say("sam", f"outcome {ref}", "Not resolved", "The managers could not agree.")
    j.expect(got, {"alice": "not_resolved", "bob": "not_resolved", "mia": "not_resolved", "una": "not_resolved"})

    # Alice completes Part A of Appendix 1: one message to the business unit, who co-ordinates the form; Part B waits
    # for the business unit to send it (C6: one message, not two)
    j.say("alice", f"form {ref} appendix-1 part-a")
    got = j.fill("alice")
    j.expect(got, {"una": "form_part_completed"})

    # Una sends the form to the responding agency: Bob gets the form (Part B is his), once; Alice hears the step
    got = j.say("una", f"done {ref}", "Business Manager records the concern and sends the form to the responding agency",
                "today")
    j.expect(got, {"bob": "form_part_due", "alice": "step_done"})

    # Bob completes Part B: the business unit, who completes Part C next, gets one message saying so
    j.say("bob", f"form {ref} appendix-1 part-b")
    got = j.fill("bob")
    j.expect(got, {"una": "form_part_completed"})
    assert "the next part is for you" in j.last_to("una").message.text
