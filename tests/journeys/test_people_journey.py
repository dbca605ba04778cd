"""Joiners, leavers and movers (bot/admin/people.py, docs/directory.md) on Swindon's demo directory, from Thu 2 Apr
2026, with the exact set of people and channels told at every step (tests/journeys/harness.py).

Who is who: Alice (police constable) raises a case against Bob (CSC social worker). Alice's line: Sam (sergeant) ->
Ian (inspector) -> Cara; Priya is the police safeguarding lead. Bob's line: Mia (team manager, also CSC's
safeguarding lead) -> Sean -> Dora. Una is the business unit, Zed an administrator, Hana a health visitor.
Who is told what on the case itself is tests/journeys/test_swindon_journey.py's; here, what a leaver changes: the
new holder, the other party and the business unit are told of a hand-over, each once, in their own language;
nobody else; and the leaver nothing, ever after.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from sqlalchemy import select

from bot.admin.directory_io import check_directory, export_directory, import_directory
from storage import repo
from storage.models import AuditEntry, OutboxMessage, PersonIdentity
from tests.journeys.harness import Journey, at
from tests.journeys.test_swindon_journey import INTAKE

INACTIVE = ("Your Parley account is no longer active, so Parley can't do this for you. If you still work with the "
            "partnership, ask your board's business unit to make your account active again.")


def edit_sheet(src: Path, dst: Path, *, drop: tuple[str, ...] = (), people: dict[str, dict[str, str]] | None = None,
               agencies: dict[str, dict[str, str]] | None = None, add: list[dict[str, str]] | None = None) -> Path:
    """A copy of the exported sheet ``src``: the people rows of ``drop`` left out, cells changed (by e-mail address
    or agency key), rows added."""
    shutil.copytree(src, dst)
    for name, key, changes in (("people", "email", people or {}), ("agencies", "key", agencies or {})):
        with (dst / f"{name}.csv").open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            header, rows = list(reader.fieldnames or []), list(reader)
        rows = [{**r, **changes.get(r[key], {})} for r in rows if r[key] not in drop]
        if name == "people":
            rows += [{h: extra.get(h, "") for h in header} for extra in (add or [])]
        with (dst / f"{name}.csv").open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, header)
            writer.writeheader()
            writer.writerows(rows)
    return dst


def person(runtime, key: str):
    with runtime.factory() as s:
        p = repo.person_by_key("swindon", key, session=s)
        s.expunge(p)
        return p


def first_line(j: Journey, to: str) -> str:
    return j.last_to(to).message.text.splitlines()[0]


def audit(runtime, kind: str) -> list[AuditEntry]:
    with runtime.factory() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.kind == kind).order_by(AuditEntry.id)))


def test_a_leaver_by_import_hands_their_case_over_and_hears_nothing_more(runtime, tmp_path) -> None:
    j = Journey(runtime, "swindon", at(2026, 4, 2, 10))
    with runtime.factory() as s:  # Mia, who takes Bob's part over, reads Parley in Welsh
        repo.person_by_key("swindon", "mia", session=s).language = "cy"
        s.commit()
    got = j.say("alice", *INTAKE)
    ref = j.ref()
    j.expect(got, {"bob": "case_opened", "sam": "case_opened"})
    bob, mia = person(runtime, "bob"), person(runtime, "mia")

    # The business unit's spreadsheet no longer lists Bob
    full = tmp_path / "full"
    export_directory(runtime.factory, "swindon", "csv", full)
    sheet = edit_sheet(full, tmp_path / "without-bob", drop=("bob@swindon.example",))
    changes = ["deactivated person bob@swindon.example",
               f"{ref}: Bob Evans's part (counterpart) passes to Mia Roberts (line manager)"]

    # A dry run says so and changes nothing: Bob still active and the counterpart, nothing recorded, nobody told
    dry = import_directory(runtime.factory, "swindon", sheet, dry_run=True, deactivate_missing=True,
                           now=j.clock.now())
    assert (dry.changes, dry.problems, dry.written) == (changes, [], False)
    with runtime.factory() as s:
        case = repo.case_by_ref(ref, session=s)
        assert repo.get_person(bob.id, session=s).active and case.responding_person_id == bob.id
        assert not any(e.kind == "handed_over" for e in repo.events_for(case.id, session=s))
    assert audit(runtime, "person_deactivated") == [] and audit(runtime, "case_handed_over") == []
    j.expect(j.to(j.clock.now()), {})

    # The import: Bob is deactivated, Mia (his line manager) holds his part; she, Alice and the business unit are
    # told, each once, in their own language; nobody else
    done = import_directory(runtime.factory, "swindon", sheet, deactivate_missing=True, now=j.clock.now())
    assert (done.changes, done.problems, done.written, done.to_do) == (changes, [], True, [])
    got = j.to(j.clock.now())
    j.expect(got, {"mia": "handed_over", "alice": "handed_over", "una": "handed_over"})
    said = (f"Bob Evans is no longer active in Parley, so their part in {ref} (the counterpart) passes to Mia Roberts,"
            f" their line manager.")
    assert first_line(j, "alice") == said and first_line(j, "una") == said
    assert first_line(j, "mia") == (f"Nid yw Bob Evans yn weithredol yn Parley mwyach, felly mae eu rhan yn {ref} "
                                    f"(y gweithiwr proffesiynol arall) yn trosglwyddo i chi, fel eu rheolwr llinell.")
    assert not any("Jamie" in g.message.text for g in got)  # the child's name is never in a notification
    with runtime.factory() as s:
        case = repo.case_by_ref(ref, session=s)
        assert case.responding_person_id == mia.id and not repo.get_person(bob.id, session=s).active
        ev = repo.events_for(case.id, session=s)[-1]
        assert (ev.kind, ev.actor_label, ev.via, ev.data) == ("handed_over", "parley directory import", "cli", {
            "side": "responding", "from_id": bob.id, "from": "Bob Evans", "to_id": mia.id, "to": "Mia Roberts",
            "why": "line_manager"})
    assert [a.data for a in audit(runtime, "person_deactivated")] == [{"person": bob.id, "messages_stopped": 0}]
    assert [a.data for a in audit(runtime, "case_handed_over")] == [
        {"case": ref, "side": "responding", "from_id": bob.id, "to_id": mia.id, "why": "line_manager"}]
    j.say("alice", f"case {ref} timeline")
    assert "Bob Evans left; their part (the counterpart) passed to Mia Roberts, their line manager" in j.shown()

    # Bob can no longer act: whatever he sends, he is told so (and the refusal is recorded); nobody hears of it
    got = j.say("bob", f"case {ref}")
    assert j.shown().strip() == INACTIVE
    j.expect(got, {})
    assert [(a.actor_id, a.data) for a in audit(runtime, "refused")] == [(bob.id, {"reason": "inactive"})]

    # The case goes on with Mia as the counterpart; Bob hears nothing of it: Stage 1's reminders (Alice and Sam),
    # the move to Stage 2, Stage 2's reminders to the two practitioners and its lapse
    j.expect(j.to(at(2026, 4, 7, 9, 5)), {"alice": "nudge", "sam": "nudge", "#business-unit": "digest"})
    got = j.say("alice", f"outcome {ref}", "Not resolved", "Sam and I agree the referral must be re-opened.")
    j.expect(got, {"mia": "not_resolved", "sam": "not_resolved"})
    j.expect(j.to(at(2026, 4, 13, 9, 5)), {"alice": "nudge", "mia": "nudge", "#business-unit": "digest"})
    j.expect(j.to(at(2026, 4, 15, 9, 5)), {"#police-sgt-managers": "lapse_prompt",
                                           "#csc-team-managers": "lapse_prompt",
                                           "alice": "lapse_notice", "mia": "lapse_notice"})
    with runtime.factory() as s:
        assert [r.payload["kind"] for r in s.scalars(select(OutboxMessage).where(
            OutboxMessage.person_id == bob.id))] == ["case_opened"]

    # The export leaves Bob out, and importing it changes nothing
    after = tmp_path / "after"
    export_directory(runtime.factory, "swindon", "csv", after)
    assert "bob@swindon.example" not in (after / "people.csv").read_text(encoding="utf-8")
    assert import_directory(runtime.factory, "swindon", after, deactivate_missing=True,
                            now=j.clock.now()).changes == []

    # Bob comes back: an import that lists him makes him active again; the case stays with Mia
    back = import_directory(runtime.factory, "swindon", full, now=j.clock.now())
    assert back.changes == ["reactivated person bob@swindon.example"]
    assert [a.data for a in audit(runtime, "person_reactivated")] == [{"person": bob.id}]
    got = j.say("bob", "list")
    assert "You have no open cases" in j.shown()
    j.expect(got, {})
    with runtime.factory() as s:
        assert repo.case_by_ref(ref, session=s).responding_person_id == mia.id


def test_the_chat_command_is_the_business_units_and_a_raiser_who_leaves_passes_to_their_manager(runtime) -> None:
    j = Journey(runtime, "swindon", at(2026, 4, 2, 10))
    j.say("alice", *INTAKE)
    ref = j.ref()
    alice, sam, hana = person(runtime, "alice"), person(runtime, "sam"), person(runtime, "hana")

    # A practitioner may not: refused, recorded, nothing changed, nobody told
    got = j.say("hana", "leaver alice@swindon.example")
    assert j.shown().strip() == "Only an administrator or the business unit can deactivate or reactivate people."
    j.expect(got, {})
    assert [(a.actor_id, a.data) for a in audit(runtime, "refused")] == [(hana.id, {"action": "deactivate_person"})]
    assert person(runtime, "alice").active and audit(runtime, "person_deactivated") == []

    # An administrator may: Alice's part passes to Sam; Sam, Bob and the business unit are told
    got = j.say("zed", "leaver alice@swindon.example")
    handed = (f"Alice Hughes is no longer active in Parley, so their part in {ref} (the practitioner who raised it) "
              f"passes to {{who}}.")
    assert j.shown().strip() == ("Alice Hughes is deactivated: Parley tells them nothing more and they can no longer act; "
                         "their history stays.\n" + handed.format(who="Sam Patel, their line manager"))
    j.expect(got, {"sam": "handed_over", "bob": "handed_over", "una": "handed_over"})
    assert first_line(j, "sam") == handed.format(who="you, as their line manager")
    assert first_line(j, "bob") == first_line(j, "una") == handed.format(who="Sam Patel, their line manager")
    with runtime.factory() as s:
        case = repo.case_by_ref(ref, session=s)
        assert case.raising_person_id == sam.id
        ev = repo.events_for(case.id, session=s)[-1]
        assert (ev.kind, ev.actor_label, ev.via) == ("handed_over", "Zed Marsh", "console")
    assert [(a.actor_id, a.data) for a in audit(runtime, "person_deactivated")] == [
        (person(runtime, "zed").id, {"person": alice.id, "messages_stopped": 0})]

    # Asking again says so; an address nobody has is a clear message; nothing more is sent
    got = j.say("una", "leaver alice@swindon.example") + j.say("una", "ymadawr nobody@swindon.example")
    j.expect(got, {})
    assert "There is nobody with the address nobody@swindon.example in the directory." in j.shown()
    j.say("una", "deactivate ALICE@swindon.example")
    assert j.shown().strip() == "Alice Hughes is already deactivated."

    # The business unit makes her active again (in Welsh: 'ailactifadu'); the case stays with Sam
    got = j.say("una", "ailactifadu alice@swindon.example")
    assert j.shown().strip() == ("Alice Hughes is active again. Cases handed over while they were deactivated stay with their "
                         "new holders.")
    j.expect(got, {})
    assert person(runtime, "alice").active
    assert [(a.actor_id, a.data) for a in audit(runtime, "person_reactivated")] == [
        (person(runtime, "una").id, {"person": alice.id})]
    with runtime.factory() as s:
        assert repo.case_by_ref(ref, session=s).raising_person_id == sam.id


def test_a_mover_s_new_manager_is_reminded_and_when_that_manager_leaves_the_next_one_up(runtime, tmp_path) -> None:
    j = Journey(runtime, "swindon", at(2026, 4, 2, 10))
    j.say("alice", *INTAKE)
    ref = j.ref()

    # Alice moves to Dan's team: the import names Dan (new) her line manager. Sam stays, as a sergeant.
    full = tmp_path / "full"
    export_directory(runtime.factory, "swindon", "csv", full)
    moved = edit_sheet(full, tmp_path / "moved", people={"alice@swindon.example": {
        "line_manager_email": "dan@swindon.example"}}, add=[{
            "email": "dan@swindon.example", "name": "Dan Shaw", "title": "Duty Sergeant", "role": "line_manager",
            "agency": "police", "line_manager_email": "ian@swindon.example", "language": "en"}])
    result = import_directory(runtime.factory, "swindon", moved, now=j.clock.now())
    assert result.changes == ["added person dan@swindon.example", "changed person alice@swindon.example: line manager",
                              "changed person dan@swindon.example: line manager"]
    dan = person(runtime, "dan")  # a new person's handle comes from their address
    with runtime.factory() as s:  # and Dan uses the console, as the demo's people do
        s.add(PersonIdentity(person_id=dan.id, platform="console", external_id="swindon:dan"))
        s.commit()
    j.recorder.keys[dan.id] = "dan"

    # Stage 1 (Alice's internal discussion with her line manager) is due Wed 8 Apr: the day-before reminder goes to
    # Alice and Dan, not to Sam, her manager when the case was opened
    j.expect(j.to(at(2026, 4, 7, 9, 5)), {"alice": "nudge", "dan": "nudge", "#business-unit": "digest"})
    assert first_line(j, "dan").startswith(f"Reminder for {ref}:")

    # Dan leaves (the business unit, in chat). Alice is reported as having no line manager ...
    got = j.say("una", "leaver dan@swindon.example")
    assert j.shown().strip() == ("Dan Shaw is deactivated: Parley tells them nothing more and they can no longer act; their "
                         "history stays.\nAlice Hughes now has no line manager: give them one in the directory.")
    j.expect(got, {})
    gap = "alice@swindon.example has no line manager: dan@swindon.example has left"
    assert gap in check_directory(runtime.factory, "swindon")
    # ... and the morning-of reminder goes to the next manager up, Ian, rather than to nobody
    j.expect(j.to(at(2026, 4, 8, 9, 5)), {"alice": "nudge", "ian": "nudge"})
    assert first_line(j, "ian").startswith(f"Reminder for {ref}:")

    # The export shows her line manager blank; importing it changes nothing and says what is still to do
    after = tmp_path / "after"
    export_directory(runtime.factory, "swindon", "csv", after)
    with (after / "people.csv").open(newline="", encoding="utf-8") as fh:
        assert {r["email"]: r["line_manager_email"] for r in csv.DictReader(fh)}["alice@swindon.example"] == ""
    again = import_directory(runtime.factory, "swindon", after, deactivate_missing=True, now=j.clock.now())
    assert (again.changes, again.to_do) == ([], [gap])


def test_a_side_nobody_can_take_is_the_business_units_until_the_directory_gives_it_someone(runtime, tmp_path) -> None:
    j = Journey(runtime, "swindon", at(2026, 4, 2, 10))
    j.say("alice", *INTAKE)
    ref = j.ref()
    alice, priya = person(runtime, "alice"), person(runtime, "priya")

    # The directory gives Alice no line manager and Wiltshire Police no safeguarding lead
    full = tmp_path / "full"
    export_directory(runtime.factory, "swindon", "csv", full)
    bare = edit_sheet(full, tmp_path / "bare", people={"alice@swindon.example": {"line_manager_email": ""}},
                      agencies={"police": {"safeguarding_lead_email": ""}})
    assert import_directory(runtime.factory, "swindon", bare, now=j.clock.now()).changes == [
        "changed person alice@swindon.example: line manager", "changed agency police: safeguarding lead"]

    # Alice leaves: nobody can take her part, so the business unit is told (once), the case keeps her, marked
    got = j.say("zed", "leaver alice@swindon.example")
    j.expect(got, {"una": "no_holder"})
    assert first_line(j, "una") == (
        f"Alice Hughes is no longer active in Parley and nobody can take over their part in {ref} (the practitioner "
        f"who raised it): they have no active line manager and Wiltshire Police has no active safeguarding lead. Give "
        f"them a line manager or Wiltshire Police a safeguarding lead in the directory: the case then passes to them.")
    with runtime.factory() as s:
        case = repo.case_by_ref(ref, session=s)
        assert case.raising_person_id == alice.id
        assert repo.events_for(case.id, session=s)[-1].kind == "holder_missing"
    missing = (f"{ref}: nobody holds the raiser's part since alice@swindon.example left: give them a line manager or "
               f"agency police a safeguarding lead")
    assert missing in check_directory(runtime.factory, "swindon")
    got = j.say("bob", f"case {ref}")
    assert "Alice Hughes (Wiltshire Police) \u2014 no longer active" in j.shown()

    # The raising side's reminders go to the police managers who are left, never to Alice
    j.expect(j.to(at(2026, 4, 7, 9, 5)), {"sam": "nudge", "priya": "nudge", "#business-unit": "digest"})

    # An import that changes nothing for her tells nobody again
    without_alice = edit_sheet(bare, tmp_path / "without-alice", drop=("alice@swindon.example",))
    assert import_directory(runtime.factory, "swindon", without_alice, now=j.clock.now()).changes == []
    j.expect(j.to(j.clock.now()), {})

    # The police have a safeguarding lead again: the case passes to Priya; she, Bob and the business unit are told
    with_lead = edit_sheet(without_alice, tmp_path / "with-lead",
                           agencies={"police": {"safeguarding_lead_email": "priya@swindon.example"}})
    result = import_directory(runtime.factory, "swindon", with_lead, now=j.clock.now())
    assert result.changes == ["changed agency police: safeguarding lead",
                              f"{ref}: Alice Hughes's part (raiser) passes to Priya Shah (safeguarding lead of "
                              f"Wiltshire Police)"]
    j.expect(j.to(j.clock.now()), {"priya": "handed_over", "bob": "handed_over", "una": "handed_over"})
    handed = (f"Alice Hughes is no longer active in Parley, so their part in {ref} (the practitioner who raised it) "
              f"passes to {{who}} the safeguarding lead of Wiltshire Police.")
    assert first_line(j, "priya") == handed.format(who="you, as")
    assert first_line(j, "bob") == first_line(j, "una") == handed.format(who="Priya Shah,")
    with runtime.factory() as s:
        assert repo.case_by_ref(ref, session=s).raising_person_id == priya.id
    assert missing not in check_directory(runtime.factory, "swindon")


def test_a_lead_who_leaves_after_being_reminded_is_not_sent_the_prompt_s_update(runtime) -> None:
    """Stage 2 lapses as in tests/journeys/test_swindon_journey.py; the reminder reaches the two safeguarding leads
    by direct message; Priya then leaves; when Sam acknowledges, every copy of the prompt is updated in place but
    hers."""
    j = Journey(runtime, "swindon", at(2026, 4, 2, 10))
    j.say("alice", *INTAKE)
    ref = j.ref()
    j.to(at(2026, 4, 7, 9, 5))
    j.say("alice", f"outcome {ref}", "Not resolved", "Sam and I agree the referral must be re-opened.")
    for moment in (at(2026, 4, 13, 9, 5), at(2026, 4, 15, 9, 5), at(2026, 4, 15, 13, 10)):
        j.to(moment)  # Stage 2's reminders, its lapse: the prompts, and the prompts again
    j.expect(j.to(at(2026, 4, 16, 9, 10)), {"priya": "renotify_lead", "mia": "renotify_lead"})
    j.expect(j.say("una", "leaver priya@swindon.example"), {})
    got = j.press("sam", "esc.ack", j.prompt_id("#police-sgt-managers"))
    assert "You have taken ownership" in j.shown()
    j.expect(got, {"alice": "acknowledged", "bob": "acknowledged", "mia": ["acknowledged", "update:prompt_updated"],
                   "#police-sgt-managers": ["update:prompt_updated"] * 2,
                   "#csc-team-managers": ["update:prompt_updated"] * 2})
