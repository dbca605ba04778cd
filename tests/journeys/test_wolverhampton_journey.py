"""Wolverhampton: a case with a protective date, from Thu 31 Dec 2026, with the exact set of people and channels
told at every step.

Who is who (bot/demo/directory.yaml): Alice (police) raises against Bob (social care). Sam is Alice's line
manager, Mia Bob's; Una is the business unit.

The stages (protocol/boards/wolverhampton.yaml): 1 the practitioners (Alice raises it within 2 working days, Bob
reviews within 3 more); 2 line managers, both sides (Sam and Mia). The overall target for Stages 1-3 is 10 working
days from the disagreement, "or a timescale that protects the child, whichever is less" (WOL-10): a protective
date brings it forward, and then it is a deadline like any other: reminded, and escalated when it passes (C7).

Working days: Fri 1 Jan 2027 is a bank holiday. From Thu 31 Dec 2026: Alice's "raise" is due Tue 5 Jan (Mon 4,
Tue 5); the overall target would be Fri 15 Jan, but the protective date brings it to Wed 6 Jan 17:00.
"""

from __future__ import annotations

from tests.journeys.harness import Journey, at

RAISE = "Raise the matter with the relevant practitioner, verbally and in writing"


def test_wolverhampton_protective_date_lapse_and_written_outcome(runtime) -> None:
    j = Journey(runtime, "wolverhampton", at(2026, 12, 31, 10))
    got = j.say("alice", "new", "no", "A child", "1", "Closed involvement too early for this family.",
                "Emailed the team twice.", "Keep the case open", "today", "City of Wolverhampton Council Social Care",
                "Bob Evans, Social Worker", "2027-01-06", "skip", "Submit")
    ref = j.ref()
    j.expect(got, {"bob": "case_opened"})  # Stage 1 is the practitioners': only Bob to tell

    # Mon 4 Jan 09:00: the digest, and the reminder of Alice's step (due Tue 5)
    j.expect(j.to(at(2027, 1, 4, 9, 5)), {"#business-unit": "digest", "alice": "nudge"})
    got = j.say("alice", f"done {ref}", RAISE, "today")
    j.expect(got, {"bob": "step_done"})

    # Tue 5 Jan 09:00: the day before the protective date, both practitioners (who owe the stage) are reminded
    j.expect(j.to(at(2027, 1, 5, 9, 5)), {"alice": "nudge", "bob": "nudge"})
    # Wed 6 Jan 09:00: the morning of it, both again; and Bob's review (due Thu 7: 3 working days after Mon 4) has its
    # day-before reminder
    j.expect(j.to(at(2027, 1, 6, 9, 5)), {"alice": "nudge", "bob": ["nudge", "nudge"]})
    assert any("Wed 6 Jan 2027" in g.message.text for g in j.recorder.got if g.to == "alice")

    # Thu 7 Jan 09:00: the protective date has passed with the case unresolved: each agency's line-manager channel
    # (the next stage's level) is asked to take ownership, and the two practitioners are told; Bob's review has its
    # morning-of reminder
    got = j.to(at(2027, 1, 7, 9, 5))
    j.expect(got, {"#police-sgt-managers": "protective_lapse_prompt", "#csc-team-managers": "protective_lapse_prompt",
                   "alice": "protective_lapse_notice", "bob": ["protective_lapse_notice", "nudge"]})
    assert "protective date passed" in j.last_to("#csc-team-managers").message.text

    # Mia takes ownership: Stage 2 (the line managers). Alice, Bob and Sam are told; both prompts are updated.
    got = j.press("mia", "esc.ack", j.prompt_id("#csc-team-managers"))
    j.expect(got, {"alice": "acknowledged", "bob": "acknowledged", "sam": "acknowledged",
                   "#police-sgt-managers": "update:prompt_updated", "#csc-team-managers": "update:prompt_updated"})
    # the lapsed protective date is not escalated again at Stage 2
    j.expect(j.to(at(2027, 1, 7, 11)), {})

    # Fri 8 Jan: Mia records it resolved at Stage 2: Alice, Bob and Sam are told
    j.to(at(2027, 1, 8, 10))
    got = j.say("mia", f"outcome {ref}", "Resolved", "The case stays open for an assessment.")
    while "Does this apply" in j.shown():
        got += j.say("mia", "no")
    j.expect(got, {"alice": "resolved", "bob": "resolved", "sam": "resolved"})

    # the written outcome (WOL-16) goes to Alice, who raised it, and nobody else
    got = j.say("mia", f"written {ref}", "none")
    assert "Written outcome sent." in j.shown()
    j.expect(got, {"alice": "written_outcome"})
