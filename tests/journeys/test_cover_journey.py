"""Cover on a simulated clock: while a manager is away, the reminders and escalation prompts Parley would send them go
to their cover (or, with none named, their line manager), opening "Covering for NAME:", in the reader's language, and
not to them; after 'back' (or once their last day is over) they reach the manager again.

The case is tests/journeys/test_swindon_journey.py's (its docstring says who is who and when each reminder falls
due); each expectation below is that journey's recipient set with the person away replaced by whoever covers,
written out by hand from docs/notifications.md and docs/directory.md#cover, never read back from the code.
Nell Hart, added here, is a senior social worker in Bob's agency (a practitioner: no manager's rights of her own).
"""

from __future__ import annotations

import datetime as dt

from bot.core.i18n import translator
from storage import repo
from storage.models import AuditEntry, Person, PersonIdentity
from tests.journeys.harness import Journey, at
from tests.journeys.test_swindon_journey import INTAKE


def _add_nell(runtime) -> None:
    with runtime.factory() as s:
        csc = repo.person_by_key("swindon", "bob", session=s).agency_id
        sean = repo.person_by_key("swindon", "sean", session=s)
        nell = Person(board_id="swindon", key="nell", name="Nell Hart", title="Senior Social Worker",
                      role="practitioner", agency_id=csc, line_manager_id=sean.id, email="nell@swindon.example")
        s.add(nell)
        s.flush()
        s.add(PersonIdentity(person_id=nell.id, platform="console", external_id="swindon:nell"))
        s.commit()


def _to_stage_2_lapse(j: Journey) -> str:
    """Alice raises it, records Stage 1 unresolved, and Stage 2 lapses on Wed 15 Apr 09:00 (the Swindon journey)."""
    j.expect(j.say("alice", *INTAKE), {"bob": "case_opened", "sam": "case_opened"})
    ref = j.ref()
    j.expect(j.to(at(2026, 4, 7, 9, 5)), {"alice": "nudge", "sam": "nudge", "#business-unit": "digest"})
    got = j.say("alice", f"outcome {ref}", "Not resolved", "Sam and I agree the referral must be re-opened.")
    j.expect(got, {"bob": "not_resolved", "sam": "not_resolved"})
    j.expect(j.to(at(2026, 4, 13, 9, 5)), {"alice": "nudge", "bob": "nudge", "#business-unit": "digest"})
    j.expect(j.to(at(2026, 4, 15, 9, 5)), {"#police-sgt-managers": "lapse_prompt", "#csc-team-managers": "lapse_prompt",
                                            "alice": "lapse_notice", "bob": "lapse_notice"})
    return ref


def test_a_manager_away_with_cover_then_back(runtime) -> None:
    _add_nell(runtime)
    j = Journey(runtime, "swindon", at(2026, 4, 2, 10))
    ref = _to_stage_2_lapse(j)

    # Wed 15 Apr: Mia (Bob's line manager and social care's safeguarding lead) is away until Fri 24 Apr; Nell covers.
    # Nell is told; nobody else is.
    j.clock.set(at(2026, 4, 15, 10))
    got = j.say("mia", "away until 24/4/2026 cover Nell")
    assert "You are away until Fri 24 Apr 2026. Nell Hart covers" in j.shown()
    j.expect(got, {"nell": "cover"})
    assert "Mia Roberts is away until Fri 24 Apr 2026 and has named you to cover" in got[0].message.text
    j.expect(j.to(at(2026, 4, 15, 13, 10)), {"#police-sgt-managers": "renotify_channel",
                                              "#csc-team-managers": "renotify_channel"})

    # Thu 16 09:05, reminder 2: the escalation prompt by direct message to each agency's safeguarding lead: Priya, and
    # for Mia her cover Nell, saying so; not Mia.
    got = j.to(at(2026, 4, 16, 9, 10))
    j.expect(got, {"priya": "renotify_lead", "nell": "renotify_lead"})
    to_nell = j.last_to("nell", "renotify_lead").message
    assert to_nell.text.startswith("Covering for Mia Roberts: Reminder 2: this escalation has not been acknowledged")
    assert "Covering for" not in j.last_to("priya", "renotify_lead").message.text

    # Nell acknowledges it from that message, as Mia could (Nell, a practitioner, could not for herself): the case
    # moves to Stage 3. Alice, Bob and Sam are told; Mia's copy would go to Nell, who did it (her reply says so).
    # Every copy of the prompts is updated, Nell's still saying whom she covers for. Reminder 3 has not fallen due.
    prompt = next(b.value for b in to_nell.buttons if b.action == "esc.ack")
    got = j.press("nell", "esc.ack", prompt)
    assert "You have taken ownership" in j.shown()
    j.expect(got, {"alice": "acknowledged", "bob": "acknowledged", "sam": "acknowledged",
                   "nell": "update:prompt_updated", "priya": "update:prompt_updated",
                   "#police-sgt-managers": ["update:prompt_updated"] * 2,
                   "#csc-team-managers": ["update:prompt_updated"] * 2})
    assert j.last_to("nell").message.text.startswith("Covering for Mia Roberts: Acknowledged by Nell Hart")

    # Stage 3's duty, due at once, is overdue an hour of working time later: Sam, and Nell for Mia.
    got = j.to(at(2026, 4, 16, 11, 30))
    j.expect(got, {"sam": "overdue", "nell": "overdue"})
    assert j.last_to("nell").message.text.startswith("Covering for Mia Roberts: Overdue on " + ref)

    # The case view and 'who' say who covers.
    j.say("alice", f"case {ref}")
    assert "Mia Roberts is away until Fri 24 Apr 2026; Nell Hart covers." in j.shown()

    # Fri 17: Mia is back early. Nell is told she no longer covers; from now on Mia's reminders and prompts reach Mia.
    j.clock.set(at(2026, 4, 17, 9, 30))
    got = j.say("mia", "back")
    assert "Welcome back" in j.shown()
    j.expect(got, {"nell": "cover"})
    assert "Mia Roberts is back: you no longer cover for them." in got[0].message.text
    j.expect(j.to(at(2026, 4, 20, 10)), {"#business-unit": "digest"})
    # Stage 3 is due Thu 23 Apr: the reminders on Wed 22 and Thu 23 go to the two line managers, Mia herself again
    j.expect(j.to(at(2026, 4, 22, 9, 5)), {"sam": "nudge", "mia": "nudge"})
    assert "Covering" not in j.last_to("mia").message.text
    j.expect(j.to(at(2026, 4, 23, 9, 5)), {"sam": "nudge", "mia": "nudge"})
    # Stage 3 lapses on Fri 24: prompts in the directors' channels, re-posted at 13:05; on Mon 27 the escalation
    # prompt by direct message to the safeguarding leads: Mia herself
    j.expect(j.to(at(2026, 4, 24, 9, 5)), {"#police-command": "lapse_prompt", "#csc-heads-of-service": "lapse_prompt",
                                            "alice": "lapse_notice", "bob": "lapse_notice"})
    j.expect(j.to(at(2026, 4, 24, 13, 10)), {"#police-command": "renotify_channel",
                                              "#csc-heads-of-service": "renotify_channel"})
    j.expect(j.to(at(2026, 4, 27, 9, 10)), {"priya": "renotify_lead", "mia": "renotify_lead",
                                             "#business-unit": "digest"})
    assert not j.last_to("mia").message.text.startswith("Covering")

    # each change was audited
    with runtime.factory() as s:
        mia = repo.person_by_key("swindon", "mia", session=s)
        kinds = [(e.kind, e.data["person"]) for e in s.query(AuditEntry).filter(AuditEntry.kind.like("away_%"))]
        assert kinds == [("away_set", mia.id), ("away_ended", mia.id)]


def test_away_without_cover_goes_to_the_line_manager_in_their_language_until_the_day_is_over(runtime) -> None:
    """Sam is away until Tue 7 Apr with no cover named: his line manager Ian (who reads Welsh) is sent what Sam would
    have been, in Welsh, until the end of Tue 7; on Wed 8 Sam's reminder reaches Sam."""
    with runtime.factory() as s:
        repo.person_by_key("swindon", "ian", session=s).language = "cy"
        s.commit()
    j = Journey(runtime, "swindon", at(2026, 4, 2, 10))
    got = j.say("sam", "away until 7 Apr")
    assert "Ian Morgan reads the messages meanwhile" in j.shown()
    j.expect(got, {"ian": "cover"})  # Ian is told, in Welsh
    cy = translator("cy")
    assert got[0].message.text == cy("{name} is away until {date}: their reminders, escalation prompts and case "
                                     "messages come to you meanwhile, and you may act on their cases as their "
                                     "manager could.", name="Sam Patel", date=cy.date(dt.date(2026, 4, 7)))
    covering = cy("Covering for {name}:", name="Sam Patel")
    assert covering != "Covering for Sam Patel:"

    j.expect(j.say("alice", *INTAKE), {"bob": "case_opened", "ian": "case_opened"})
    ref = j.ref()
    to_ian = j.last_to("ian").message.text
    assert to_ian.startswith(covering) and cy("Next: {line}", line="").strip() in to_ian

    # Stage 1 is due Wed 8 Apr; the reminder on Tue 7 (Sam's last day away) goes to Alice and Ian, in Welsh
    j.expect(j.to(at(2026, 4, 7, 9, 5)), {"alice": "nudge", "ian": "nudge", "#business-unit": "digest"})
    assert j.last_to("ian").message.text.startswith(covering + " " + cy("Reminder for {ref}:", ref=ref))
    # Wed 8: Sam is no longer away; the morning-of reminder reaches him
    j.expect(j.to(at(2026, 4, 8, 9, 5)), {"alice": "nudge", "sam": "nudge"})
    assert j.last_to("sam").message.text.startswith("Reminder for " + ref)


def test_a_reader_is_told_once_and_never_what_they_did_themself(runtime) -> None:
    """Mia (Bob's line manager) is away. An urgent notice at Stage 2 tells the parties, both line managers and the
    business unit: with Sam covering for Mia, Sam (told anyway as Alice's line manager) gets it once, as himself;
    with Alice covering, Mia's copy would go to Alice, who sent it, and so to nobody."""
    j = Journey(runtime, "swindon", at(2026, 4, 2, 10))
    j.expect(j.say("alice", *INTAKE), {"bob": "case_opened", "sam": "case_opened"})
    ref = j.ref()
    got = j.say("alice", f"outcome {ref}", "Not resolved", "Sam and I agree the referral must be re-opened.")
    j.expect(got, {"bob": "not_resolved", "sam": "not_resolved"})
    j.expect(j.say("mia", "away until 30/4/2026 cover Sam"), {"sam": "cover"})
    got = j.say("alice", f"urgent {ref}", "The child was seen today with new injuries.")
    j.expect(got, {"bob": "urgent_notice", "sam": "urgent_notice", "una": "urgent_notice",
                   "#business-unit": "urgent_post"})
    assert not j.last_to("sam").message.text.startswith("Covering")
    # Mia names Alice instead: Alice is told, and Sam that he no longer covers
    got = j.say("mia", "away until 30/4/2026 cover Alice Hughes")
    j.expect(got, {"alice": "cover", "sam": "cover"})
    assert "You no longer cover for Mia Roberts" in j.last_to("sam").message.text
    got = j.say("alice", f"urgent {ref}", "A second visit found the same.")
    j.expect(got, {"bob": "urgent_notice", "sam": "urgent_notice", "una": "urgent_notice",
                   "#business-unit": "urgent_post"})
