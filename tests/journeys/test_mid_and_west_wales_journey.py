"""Mid & West Wales: a case raised against someone not yet in the directory, by a practitioner who then works in
Welsh, with a protective date; from Thu 2 Apr 2026, with the exact set of people and channels told at every step.

Who is who (bot/demo/directory.yaml): Alice (police) raises it; the counterpart is later named as Bob (children's
services, who reads English). Sam is Alice's line manager, Mia Bob's; Una the business unit. Channel posts are in
Welsh, then English.

The stages (protocol/boards/mid-and-west-wales.yaml): 1 the practitioners; 2 line managers, both sides (Sam, Mia).
At Stage 1 the practitioners meet within 5 working days "or a timescale that protects the child, whichever is less":
from Thu 2 Apr (Good Friday 3 and Easter Monday 6 Apr are bank holidays) that is Mon 13 Apr, brought forward by the
protective date to Tue 7 Apr 17:00. Alice also owes a duty with no timescale (inform her safeguarding lead),
reminded on the next working morning.
"""

from __future__ import annotations

from tests.journeys.harness import Journey, at

WELSH_ONLY = ("Mae ", " wedi ", "Cam ")


def test_mid_and_west_wales_counterpart_named_later_welsh_actor_protective_lapse_and_closure(runtime) -> None:
    j = Journey(runtime, "mid-and-west-wales", at(2026, 4, 2, 10))
    got = j.say("alice", "new", "no", "A child", "Thresholds", "Threshold not met for a strategy discussion.",
                "Emailed the team", "A strategy discussion", "today", "Carmarthenshire Children's Services",
                "Someone not listed", "Duty social worker", "2026-04-07", "skip", "Submit")
    ref = j.ref()
    j.expect(got, {})  # Stage 1 is the practitioners', and the counterpart is not in the directory yet

    # Alice switches to Welsh and names Bob as the counterpart: Bob is told, in English (C12)
    j.say("alice", "language cy")
    got = j.say("alice", f"counterpart {ref}", "Carmarthenshire Children's Services", "Bob Evans, Social Worker")
    j.expect(got, {"bob": "counterpart_named"})
    to_bob = j.last_to("bob").message
    assert "Alice Hughes has named you as the counterpart" in to_bob.text
    assert not any(w in to_bob.text + (to_bob.title or "") for w in WELSH_ONLY), to_bob.text

    # Tue 7 Apr 09:00: the digest (the Tuesday after Easter Monday); Alice's duty; the meeting is due today (the
    # protective date): its morning-of reminder to both practitioners
    j.expect(j.to(at(2026, 4, 7, 9, 5)), {"#business-unit": "digest", "alice": ["duty", "nudge"], "bob": "nudge"})
    assert any(w in j.last_to("alice", "nudge").message.text for w in WELSH_ONLY)  # Alice reads Welsh now

    # Wed 8 Apr 09:00: the protective date has passed with the case unresolved: the next stage's managers (each
    # agency's line-manager channel) are asked to take ownership, the practitioners are told
    got = j.to(at(2026, 4, 8, 9, 5))
    j.expect(got, {"#police-sgt-managers": "protective_lapse_prompt", "#csc-team-managers": "protective_lapse_prompt",
                   "alice": "protective_lapse_notice", "bob": "protective_lapse_notice"})

    # Bob records Stage 1 as not resolved: Stage 2. Alice, and the two line managers of Stage 2, are told; both
    # prompts are updated in place (the case has moved past the stage they were about)
    got = j.say("bob", f"outcome {ref}", "Not resolved", "We met and still disagree about the threshold.")
    j.expect(got, {"alice": "not_resolved", "sam": "not_resolved", "mia": "not_resolved",
                   "#police-sgt-managers": "update:prompt_updated", "#csc-team-managers": "update:prompt_updated"})
    assert "Stage 2" in j.last_to("#police-sgt-managers").message.text

    # Alice closes it (in Welsh): Bob, Sam and Mia are told; Bob in English
    got = j.say("alice", f"cau {ref}", "Mae'r plentyn wedi symud o'r ardal.")
    j.expect(got, {"bob": "closed", "sam": "closed", "mia": "closed"})
    assert "Alice Hughes closed" in j.last_to("bob").message.text
