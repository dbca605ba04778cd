"""Swindon, a whole case from Thu 2 Apr 2026, with the exact set of people and channels told at every step.

Who is who (bot/demo/directory.yaml): Alice (police constable) raises it against Bob (CSC social worker).
Alice's line: Sam (sergeant, line manager) -> Ian (inspector, senior manager) -> Cara (director); Priya is the
police safeguarding lead. Bob's line: Mia (team manager, also CSC's safeguarding lead) -> Sean -> Dora
(head of service, director). Una is the business unit, Carl the independent chair.

The stages (protocol/boards/swindon.yaml) and who each involves besides the two practitioners:
1 internal discussion, line manager level, the raising side only: Sam; 2 inter-agency discussion, practitioners:
nobody else; 3 managers, line manager level, both sides: Sam and Mia; 4 heads of service, director level, both
sides: Cara and Dora; 5 the Partnership, run by the business unit: Una; 6 the Resolution Panel, the chair's:
Carl (and Una).

Working days: Good Friday 3 Apr and Easter Monday 6 Apr 2026 are bank holidays. Reminders go at 09:00 the
working day before a deadline and on its morning; an unacknowledged prompt is re-sent every 4 working hours
(09:00-17:00), three times: again in the channels, then to each agency's safeguarding lead, then once to the
business unit. The weekly digest goes to #business-unit on Mondays at 09:00 (Tuesday after a bank holiday).
"""

from __future__ import annotations

from tests.journeys.harness import Journey, at

INTAKE = ["new", "no", "no", "Thresholds / decision about a referral",
          "Children's social care closed the referral after one visit.",
          "Phoned the duty social worker on Monday.",
          "Re-open the referral and complete an assessment.",
          "today", "Swindon Children's Social Care", "Bob Evans, Social Worker", "Jamie Doe", "1/2/2015", "submit"]


def test_swindon_whole_case(runtime) -> None:
    swindon_whole_case(Journey(runtime, "swindon", at(2026, 4, 2, 10)))


def swindon_whole_case(j: Journey) -> None:
    """The journey itself (also run with everyone on Slack and on Teams: tests/journeys/test_platforms.py)."""

    # Alice raises it: Stage 1 (her internal discussion with Sam). Bob and Sam are told; nobody else.
    got = j.say("alice", *INTAKE)
    ref = j.ref()
    j.expect(got, {"bob": "case_opened", "sam": "case_opened"})
    bob_dm = j.last_to("bob")
    assert "Alice Hughes has raised a professional disagreement with you." in bob_dm.message.text
    assert "Jamie" not in bob_dm.message.text  # the child's name is never in a notification

    # Stage 1 is due Wed 8 Apr (2 working days: Fri 3 and Mon 6 are bank holidays). Reminders on Tue 7 and Wed 8 at
    # 09:00 to those who owe it: Alice and her line manager. The digest waits from Easter Monday to Tue 7 09:00.
    j.expect(j.to(at(2026, 4, 7, 9, 5)), {"alice": "nudge", "sam": "nudge", "#business-unit": "digest"})

    # Alice records Stage 1 as not resolved: the case moves to Stage 2. Stage 1's people (Bob, Sam) and Stage 2's
    # (Bob) are told; Alice has her reply.
    got = j.say("alice", f"outcome {ref}", "Not resolved", "Sam and I agree the referral must be re-opened.")
    assert "moved to Stage 2" in j.shown()
    j.expect(got, {"bob": "not_resolved", "sam": "not_resolved"})

    # Stage 2 is due Tue 14 Apr (5 working days from Tue 7). On Mon 13 the digest and the day-before reminder to
    # the two practitioners, who owe the inter-agency discussion (never a colleague of theirs).
    j.expect(j.to(at(2026, 4, 13, 9, 5)), {"alice": "nudge", "bob": "nudge", "#business-unit": "digest"})

    # Bob records a contact: Alice (the other party) is told.
    got = j.say("bob", f"contact {ref}", "today", "Alice Hughes, PC", "Phone", "We could not agree.", "none")
    assert "Contact recorded." in j.shown()
    j.expect(got, {"alice": "contact_recorded"})

    # Nobody records an outcome: at 09:00 on Wed 15 the stage has lapsed. The morning-of reminder (Tue 14 09:00) is
    # dropped because its deadline has passed; each agency's line-manager channel (Stage 3's level) gets a prompt,
    # and the two practitioners are told who was asked.
    got = j.to(at(2026, 4, 15, 9, 5))
    j.expect(got, {"#police-sgt-managers": "lapse_prompt", "#csc-team-managers": "lapse_prompt",
                   "alice": "lapse_notice", "bob": "lapse_notice"})
    assert "the managers have been asked" in j.last_to("alice").message.text

    # Reminder 1 at 13:05 (4 working hours later): the prompt again in the same two channels.
    j.expect(j.to(at(2026, 4, 15, 13, 10)), {"#police-sgt-managers": "renotify_channel",
                                              "#csc-team-managers": "renotify_channel"})
    # Reminder 2 at 09:05 on Thu 16: each agency's safeguarding lead, by direct message.
    j.expect(j.to(at(2026, 4, 16, 9, 10)), {"priya": "renotify_lead", "mia": "renotify_lead"})
    # Reminder 3 at 13:05: the business unit, once for the lapse (not once per agency).
    j.expect(j.to(at(2026, 4, 16, 13, 10)), {"#business-unit": "renotify_business_unit"})

    # Sam acknowledges the police prompt: the case moves to Stage 3. Everyone on Stage 2 and Stage 3 but Sam is told
    # (Alice, Bob, and Mia, Bob's line manager at Stage 3); every copy of both agencies' prompts is updated in place:
    # the two first posts, the two re-posts, the two safeguarding leads' direct messages and the business unit's.
    got = j.press("sam", "esc.ack", j.prompt_id("#police-sgt-managers"))
    assert "You have taken ownership" in j.shown()
    j.expect(got, {"alice": "acknowledged", "bob": "acknowledged",
                   "mia": ["acknowledged", "update:prompt_updated"],
                   "priya": "update:prompt_updated",
                   "#police-sgt-managers": ["update:prompt_updated"] * 2,
                   "#csc-team-managers": ["update:prompt_updated"] * 2,
                   "#business-unit": "update:prompt_updated"})
    # no fourth reminder, and nothing more for the lapse
    assert "Acknowledged by Sam Patel" in j.last_to("#csc-team-managers").message.text

    # Stage 3's duty "give the other agency your line management's contact details" is due at once: an hour of
    # working time later the two line managers who owe it are reminded.
    j.expect(j.to(at(2026, 4, 16, 15, 10)), {"sam": "overdue", "mia": "overdue"})

    # Alice sends an urgent notice: its text to everyone on the case at Stage 3 and both line managers (Sam, Mia),
    # and the business unit; the business-unit channel gets the reference, agencies and stage only
    got = j.say("alice", f"urgent {ref}", "The child was seen today with new injuries.")
    j.expect(got, {"bob": "urgent_notice", "sam": "urgent_notice", "mia": "urgent_notice", "una": "urgent_notice",
                   "#business-unit": "urgent_post"})
    assert "new injuries" in j.last_to("bob").message.text
    assert "new injuries" not in j.last_to("#business-unit").message.text

    # Mon 20 Apr: the digest. Mia records Stage 3 as not resolved: Stage 4 (directors). Stage 3's people (Alice, Bob,
    # Sam) and Stage 4's (Alice, Bob, Cara, Dora) are told; not Ian or Sean, who are not at either stage's level.
    j.expect(j.to(at(2026, 4, 20, 10)), {"#business-unit": "digest"})
    got = j.say("mia", f"outcome {ref}", "Not resolved", "The managers could not agree on the threshold.")
    j.expect(got, {"alice": "not_resolved", "bob": "not_resolved", "sam": "not_resolved", "cara": "not_resolved",
                   "dora": "not_resolved"})

    # Cara records Stage 4 as not resolved: Stage 5, run by the business unit. Una is told, and finds it in her list.
    got = j.say("cara", f"outcome {ref}", "Not resolved", "Referred to the Partnership with the form.")
    j.expect(got, {"alice": "not_resolved", "bob": "not_resolved", "dora": "not_resolved", "una": "not_resolved"})

    # A meeting record: Alice drafts it, Bob (the other signatory) is sent it; Bob signs, Alice (drafter and
    # signatory) is told once.
    got = j.say("alice", f"record {ref}", "today", "Alice Hughes (police), Bob Evans (CSC), Una Wright (BU)",
                "Whether the referral meets threshold.", "The referral will be re-opened.", "none", "none", "submit")
    j.expect(got, {"bob": "record_drafted"})
    got = j.say("bob", f"sign {ref} 1")
    j.expect(got, {"alice": "record_signed"})

    # Una records the outcome: resolved. Everyone at Stage 5 but Una: the two practitioners.
    got = j.say("una", f"outcome {ref}", "Resolved", "The referral is re-opened and an assessment started.")
    while "Does this apply" in j.shown():
        got += j.say("una", "no")
    j.expect(got, {"alice": "resolved", "bob": "resolved"})

    # A resolved case is finished: closing it is refused, and nobody is told anything.
    got = j.say("alice", f"close {ref}")
    assert "isn't possible" in j.shown()
    j.expect(got, {})
