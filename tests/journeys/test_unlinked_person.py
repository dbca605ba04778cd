"""Someone the directory names but Parley cannot reach (no Slack, Teams, webhook or console account linked) is never
skipped in silence: what they should have been sent is kept, the business unit is told once which reference and
who, `parley doctor` lists them, and once they are linked what was waiting reaches them, once.

Alice raises a Swindon concern naming Bob (tests/journeys/test_swindon_journey.py says who is told): here Bob has
no account linked, as after a directory import before anyone has used Parley.
"""

from __future__ import annotations

from sqlalchemy import delete, select

from bot.admin import doctor
from bot.delivery import inbound, outbox
from storage import repo
from storage.models import OutboxMessage, PersonIdentity
from tests.journeys.harness import Journey, at
from tests.journeys.test_swindon_journey import INTAKE


def test_an_unlinked_counterpart_is_reported_then_reached_once_linked(runtime) -> None:
    j = Journey(runtime, "swindon", at(2026, 4, 2, 10))
    with runtime.factory() as s:
        bob = repo.person_by_key("swindon", "bob", session=s)
        s.execute(delete(PersonIdentity).where(PersonIdentity.person_id == bob.id))
        s.commit()

    got = j.say("alice", *INTAKE)
    ref = j.ref()
    # Sam is told as usual; Bob cannot be: the business unit's channel hears it, naming the case and Bob
    j.expect(got, {"sam": "case_opened", "#business-unit": "delivery_alert"})
    alert = j.last_to("#business-unit", "delivery_alert").message.text
    assert ref in alert and "Bob Evans" in alert and "no way to reach" in alert
    assert "Jamie" not in alert and "referral" not in alert  # nothing of the case's content
    with runtime.factory() as s:
        kept = s.scalars(select(OutboxMessage).where(OutboxMessage.person_id == bob.id)).all()
        assert [(r.platform, r.state, r.payload["kind"]) for r in kept] == [(outbox.UNREACHABLE, "failed",
                                                                             "case_opened")]
        listed = doctor_lines(s)
        assert any("Bob Evans" in line and ref in line for line in listed), listed
    checks = doctor.delivery_checks(runtime.factory)
    assert [(c.ok, c.name) for c in checks] == [(False, "delivery (no account linked, Bob Evans)")]
    assert ref in checks[0].message and "the business unit was told" in checks[0].message

    # more news for Bob while he is unreachable: kept too, and no second alert (one per outage)
    got = j.say("alice", f"outcome {ref}", "Not resolved", "Sam and I agree the referral must be re-opened.")
    j.expect(got, {"sam": "not_resolved"})

    # the business unit links him (or he writes to Parley from an address in the directory): both messages arrive,
    # in order, once; and the outage is over
    with runtime.factory() as s:
        una = repo.person_by_key("swindon", "una", session=s)
        inbound.link(una, "console", "swindon:bob", "bob", session=s)
        s.commit()
    got = j.to(j.clock.now())
    j.expect(got, {"bob": ["case_opened", "not_resolved"]})
    assert "Alice Hughes has raised a professional disagreement with you." in \
        [g for g in got if g.to == "bob"][0].message.text
    assert j.to(j.clock.now()) == []
    with runtime.factory() as s:
        assert doctor_lines(s) == []
    assert [c.ok for c in doctor.delivery_checks(runtime.factory)] == [True]


def doctor_lines(s) -> list[str]:
    from bot.delivery import outages

    return [f"{u.platform} {u.recipient} {' '.join(u.cases)} {u.reason}" for u in outages.unreachable(s)]


def test_a_directory_import_that_links_someone_sends_them_what_was_waiting(runtime, tmp_path) -> None:
    import csv

    from bot.admin.directory_io import export_directory, import_directory

    j = Journey(runtime, "swindon", at(2026, 4, 2, 10))
    with runtime.factory() as s:
        bob = repo.person_by_key("swindon", "bob", session=s)
        s.execute(delete(PersonIdentity).where(PersonIdentity.person_id == bob.id))
        s.commit()
    j.expect(j.say("alice", *INTAKE), {"sam": "case_opened", "#business-unit": "delivery_alert"})
    # the business unit adds bob's Slack id to the spreadsheet and imports it
    export_directory(runtime.factory, "swindon", "csv", tmp_path)
    with (tmp_path / "people.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    for row in rows[1:]:
        if row[0] == "bob@swindon.example":
            row[7] = "U0BOB"
    with (tmp_path / "people.csv").open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    result = import_directory(runtime.factory, "swindon", tmp_path, now=j.clock.now())
    assert "linked person bob@swindon.example to slack" in result.changes
    assert "1 message(s) kept for people with no account linked now go to their accounts" in result.changes
    with runtime.factory() as s:
        kept = s.scalars(select(OutboxMessage).where(OutboxMessage.person_id == bob.id)).all()
        assert [(r.platform, r.address, r.state, r.payload["kind"]) for r in kept] == [
            ("slack", "U0BOB", "pending", "case_opened")]
    assert doctor.delivery_checks(runtime.factory)[0].ok
