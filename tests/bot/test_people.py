"""Leavers (bot/admin/people.py) beyond the journeys (tests/journeys/test_people_journey.py): the engine replays a
history with hand-overs as it would without them; a leaver can act through no door and is offered in no list; what
was still waiting for them is stopped; the command line and `parley doctor` say who has left and what they left
undone."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from adapters.cli import app
from bot.admin import channels, doctor, people
from bot.admin.directory_io import export_directory
from bot.cases import services
from bot.cases.errors import ServiceError
from bot.cases.services import Ctx
from bot.core.messages import Message
from bot.delivery import addressing
from bot.forms.forms import INTAKE_FORM, Forms
from protocol.engine import evaluate
from protocol.loader import load_board
from protocol.state import Event
from storage import repo
from storage.models import OutboxMessage
from tests.bot.test_conversation import open_swindon_case
from tests.conftest import LONDON, Chat, texts

INACTIVE = ("Your Parley account is no longer active, so Parley can't do this for you. If you still work with the "
            "partnership, ask your board's business unit to make your account active again.")


def leave(chat: Chat, key: str) -> None:
    with chat.rt.factory() as s:
        people.deactivate(repo.person_by_key("swindon", key, session=s), by=people.CLI, now=chat.clock.now(),
                          session=s)
        s.commit()


def test_the_engine_replays_a_history_with_hand_overs_as_without_them() -> None:
    swindon = load_board("swindon")
    t = dt.datetime(2026, 4, 2, 10, tzinfo=LONDON)
    opened = Event("opened", t, {"arose_on": "2026-04-02"})
    moved = Event("outcome", t + dt.timedelta(days=5), {"resolved": False, "text": "not agreed"})
    handed = [Event("handed_over", t + dt.timedelta(days=1), {"side": "responding", "from_id": 6, "to_id": 7,
                                                              "why": "line_manager"}),
              Event("holder_missing", t + dt.timedelta(days=2), {"side": "raising", "from_id": 1})]
    now = t + dt.timedelta(days=9)
    assert evaluate(swindon, [opened, *handed, moved], now) == evaluate(swindon, [opened, moved], now)


def test_a_leaver_acts_through_no_door_and_is_offered_in_no_list(chat: Chat) -> None:
    ref = open_swindon_case(chat)
    leave(chat, "bob")
    bob = chat.pid("bob")
    with chat.rt.factory() as s:
        before = len(repo.events_for(repo.case_by_ref(ref, session=s).id, session=s))
    # typed, pressed, a form, a channel registration: each answered that the account is no longer active
    assert texts(chat.say("bob", f"outcome {ref}")).strip() == INACTIVE
    assert texts(chat.press("bob", "esc.ack", "1")).strip() == INACTIVE
    forms = Forms(chat.rt.factory, chat.clock, "slack")
    assert forms.submit_risk(bob, {"risk": "no"}).errors == {"risk": INACTIVE}
    assert forms.submit(bob, INTAKE_FORM, {}, "risk=no").errors == {"": INACTIVE}
    with pytest.raises(ServiceError, match="no longer active"):
        channels.register(chat.rt.factory, bob, "slack", "C0CSC", channels.parse("register managers social-care"),
                          chat.clock.now())
    with chat.rt.factory() as s:
        assert [a.data for a in repo.audit_entries(session=s, kind="refused")] == [{"reason": "inactive"}] * 5
        assert len(repo.events_for(repo.case_by_ref(ref, session=s).id, session=s)) == before
    # nobody is offered him: the counterpart picker, a Teams card's people, the console's /who
    alice = chat.pid("alice")
    assert bob not in {p.id for p in chat.rt.colleagues(alice)}
    assert bob not in {p.id for p in chat.rt.people("swindon")}
    assert chat.rt.home_messages(bob, chat.clock.now()) == [] and chat.rt.case_list(bob, chat.clock.now()) is None
    chat.say("alice", "new")
    reply = chat.script("alice", "no", "no", "Thresholds / decision about a referral", "Closed after one visit.",
                        "Phoned the duty worker.", "Re-open it.", "today", "Swindon Children's Social Care")
    assert "Bob Evans" not in texts(reply) and "Mia Roberts" in texts(reply)
    # and naming him is refused, in a form or by the service
    with chat.rt.factory() as s:
        csc = repo.agency_by_key("swindon", "social-care", session=s).id
    res = forms.submit(alice, INTAKE_FORM, {"pre0": "no", "category": "thresholds", "agency": str(csc),
                                            "person": str(bob), "what": "Referral closed", "done": "Phoned",
                                            "sought": "Re-open", "arose": "2026-04-02"}, "risk=no")
    assert "person" in res.errors
    with chat.rt.factory() as s:
        case = repo.case_by_ref(ref, session=s)
        with pytest.raises(ServiceError, match="Bob Evans is no longer active in Parley: name someone else."):
            services.name_counterpart(Ctx(repo.get_person(alice, session=s), "console", chat.clock.now()), case, csc,
                                      bob, None, session=s)


def test_what_was_still_waiting_for_a_leaver_is_stopped(chat: Chat) -> None:
    now = chat.clock.now()
    with chat.rt.factory() as s:
        for key in ("bob", "sam"):
            addressing.queue_to_person(repo.person_by_key("swindon", key, session=s), Message("news"), session=s,
                                       key="waiting", now=now)
        s.commit()
    leave(chat, "bob")
    with chat.rt.factory() as s:
        rows = {r.person_id: (r.state, r.failure, r.last_error) for r in s.scalars(select(OutboxMessage))}
        assert rows == {chat.pid("bob"): ("failed", "permanent", "person deactivated"),
                        chat.pid("sam"): ("pending", None, None)}
        assert [a.data for a in repo.audit_entries(session=s, kind="person_deactivated")] == [
            {"person": chat.pid("bob"), "messages_stopped": 1}]


def test_the_command_line_and_doctor_say_who_has_left_and_what_they_left_undone(chat: Chat, tmp_path) -> None:
    db = chat.rt.url
    runner = CliRunner()
    sheet = tmp_path / "sheet"
    export_directory(chat.rt.factory, "swindon", "csv", sheet)
    lines = (sheet / "people.csv").read_text(encoding="utf-8").splitlines()
    kept = [x.replace(",sam@swindon.example,", ",,") for x in lines if not x.startswith("sam@")]  # Alice's manager
    (sheet / "people.csv").write_text("\n".join(kept) + "\n", encoding="utf-8")

    dry = runner.invoke(app, ["directory", "import", str(sheet), "--board", "swindon", "--deactivate-missing",
                              "--dry-run", "--db", db])
    assert dry.exit_code == 0, dry.output
    assert dry.output.splitlines() == [
        "deactivated person sam@swindon.example",
        "Dry run: 1 change(s) above would be made; nothing was written.",
        "to do: alice@swindon.example has no line manager: sam@swindon.example has left"]
    assert doctor.leaver_checks(chat.rt.factory) == []  # nobody has left yet

    done = runner.invoke(app, ["directory", "import", str(sheet), "--board", "swindon", "--deactivate-missing",
                               "--db", db])
    assert done.exit_code == 0 and "1 change(s) made." in done.output
    checked = runner.invoke(app, ["directory", "check", "--board", "swindon", "--db", db])
    assert checked.exit_code == 1
    assert "deactivated: sam@swindon.example (kept with their history; told nothing; not exported)" in \
        checked.output.splitlines()
    assert "missing: alice@swindon.example has no line manager: sam@swindon.example has left" in \
        checked.output.splitlines()
    assert [c.line() for c in doctor.leaver_checks(chat.rt.factory)] == [
        "PROBLEM  leavers (swindon): alice@swindon.example has no line manager: sam@swindon.example has left"]

    # a sheet that lists nobody is refused with --deactivate-missing (it would deactivate everyone)
    (sheet / "people.csv").write_text(lines[0] + "\n", encoding="utf-8")
    (sheet / "agencies.csv").write_text("key,name,sector,la_area,safeguarding_lead_email\n", encoding="utf-8")
    (sheet / "channels.csv").write_text("agency,level,platform,address\n", encoding="utf-8")
    empty = runner.invoke(app, ["directory", "import", str(sheet), "--board", "swindon", "--deactivate-missing",
                                "--db", db])
    assert empty.exit_code == 1
    assert "people.csv, row 0, column -: it lists nobody: --deactivate-missing would deactivate everyone" in \
        empty.output
    with chat.rt.factory() as s:
        assert len(repo.people("swindon", session=s)) == 19


def test_a_closed_case_stays_as_it_was_and_a_lead_who_leaves_leaves_the_agency_without_one(chat: Chat) -> None:
    from bot.admin.directory_io import check_directory

    ref = open_swindon_case(chat)
    reply = chat.script("alice", f"close {ref}", "Agreed informally with the school.")
    while reply.to_speaker[-1].prompt is not None:  # any confirmation the flow asks
        reply = chat.say("alice", "yes")
    with chat.rt.factory() as s:
        assert repo.case_by_ref(ref, session=s).status == "closed"
    leave(chat, "bob")
    leave(chat, "priya")
    with chat.rt.factory() as s:
        assert people.hand_over("swindon", by=people.CLI, now=chat.clock.now(), session=s) == ([], [])
        case = repo.case_by_ref(ref, session=s)
        assert case.responding_person_id == chat.pid("bob")
        assert [e.kind for e in repo.events_for(case.id, session=s)][-1] == "closed"
    assert "agency police has no safeguarding lead" in check_directory(chat.rt.factory, "swindon")


def test_messages_kept_for_an_unlinked_leaver_do_not_go_to_an_account_linked_later(chat: Chat) -> None:
    from sqlalchemy import delete

    from bot.delivery import inbound, outbox
    from storage.models import PersonIdentity

    bob = chat.pid("bob")
    with chat.rt.factory() as s:
        s.execute(delete(PersonIdentity).where(PersonIdentity.person_id == bob))
        s.commit()
    open_swindon_case(chat)  # Bob cannot be reached: what he is told is kept for him
    leave(chat, "bob")
    with chat.rt.factory() as s:
        inbound.link(repo.person_by_key("swindon", "una", session=s), "console", "swindon:bob", "bob", session=s)
        s.commit()
        assert [(r.platform, r.state) for r in s.scalars(select(OutboxMessage).where(
            OutboxMessage.person_id == bob))] == [(outbox.UNREACHABLE, "failed")]
