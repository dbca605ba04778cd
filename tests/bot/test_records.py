"""Meeting/discussion records signed by both parties (MWW-N5, WOL-9): drafted in chat by one party, confirmed
or sent back by the other, locked once both have signed; a correction is a new version that keeps the old."""

from __future__ import annotations

import datetime as dt

from bot.records import records
from bot.core.messages import Severity
from storage import repo
from tests.bot.test_conversation import open_swindon_case
from tests.conftest import LONDON, Chat, texts

MEETING = ["yesterday", "Alice Hughes (PC, Police); Bob Evans (Social Worker, Children's Social Care)",
           "Whether the strategy discussion threshold was met", "A joint visit on Monday",
           "Police remain worried about the night-time supervision", "Bob books the visit by Friday"]


def _events(runtime, ref: str) -> list:
    with runtime.factory() as s:
        case = repo.case_by_ref(ref, session=s)
        return [(e.kind, e.actor_label, e.via, dict(e.data)) for e in repo.events_for(case.id, session=s)]


def _draft(chat: Chat, who: str, ref: str, *answers: str):
    chat.say(who, f"record {ref}")
    chat.script(who, *answers[:-1])
    return chat.say(who, answers[-1])


def test_draft_sign_and_lock(chat: Chat, runtime, clock) -> None:
    """MWW-N5: one party drafts, the other signs, and with both signatures the record is locked; each signature
    keeps who, when and via which channel."""
    ref = open_swindon_case(chat)
    reply = chat.say("alice", f"record {ref}")
    assert "When was the meeting" in texts(reply)
    reply = chat.script("alice", *MEETING)
    shown = texts(reply)
    assert "Please check the record before it is signed" in shown
    assert "A joint visit on Monday" in shown
    reply = chat.say("alice", "submit")
    mine = reply.to_speaker[0]
    assert "Record 1 saved as version 1." in mine.text
    assert "Waiting for the signature of Bob Evans." in mine.text
    assert mine.private  # free text may name the child: never a channel post
    # the counterpart gets it by direct message with Sign / Ask for changes
    [dm] = reply.queued
    assert dm.to.person_id == chat.pid("bob") and dm.message.private
    assert [b.action for b in dm.message.buttons][:2] == ["case.sign_record", "case.record_changes"]
    assert "Agreed outcome: A joint visit on Monday" in texts_of(dm.message)
    clock.set(dt.datetime(2026, 4, 2, 15, 30, tzinfo=LONDON))
    reply = chat.conv.handle(chat.pid("bob"), action="case.sign_record", value=dm.message.buttons[0].value)
    assert "Everyone has now signed it: it is locked." in reply.to_speaker[0].text
    assert reply.queued[0].to.person_id == chat.pid("alice")
    kinds = [(k, who, via, d.get("locks")) for k, who, via, d in _events(runtime, ref) if k.startswith("record")]
    assert kinds == [("record_drafted", "Alice Hughes", "console", None),
                     ("record_signed", "Alice Hughes", "console", False),
                     ("record_signed", "Bob Evans", "console", True)]
    with runtime.factory() as s:
        case = repo.case_by_ref(ref, session=s)
        [rec] = records.records_of(case, session=s)
    assert rec.latest.locked_at == dt.datetime(2026, 4, 2, 14, 30, tzinfo=dt.timezone.utc)
    assert [(sig.name, sig.via) for sig in rec.latest.signatures] == [("Alice Hughes", "console"),
                                                                      ("Bob Evans", "console")]
    assert rec.latest.fields["date"] == "2026-04-01"
    # signing again, or signing a locked record, is refused and changes nothing
    again = chat.conv.handle(chat.pid("bob"), action="case.sign_record", value=dm.message.buttons[0].value)
    assert again.to_speaker[0].severity is Severity.ERROR and "locked" in again.to_speaker[0].text
    assert len([k for k in _events(runtime, ref) if k[0] == "record_signed"]) == 2
    # the timeline shows it
    assert "record 1 version 1 signed (now signed by everyone: locked)" in texts(chat.say("bob", f"case {ref} timeline"))


def texts_of(message) -> str:
    return "\n".join([message.title or "", message.text, *(f"{f.label}: {f.value}" for f in message.fields)])


def test_changes_requested_then_revised_then_signed(chat: Chat, runtime) -> None:
    ref = open_swindon_case(chat)
    _draft(chat, "alice", ref, *MEETING, "submit")
    reply = chat.say("bob", f"changes {ref} 1")
    assert "What needs changing" in texts(reply)
    reply = chat.say("bob", "The visit is on Tuesday, not Monday")
    assert "has been sent" in reply.to_speaker[0].text
    [dm] = reply.queued
    assert dm.to.person_id == chat.pid("alice")
    assert "Bob Evans asked for changes" in dm.message.text
    # Alice revises: 'same' keeps an answer; version 2 replaces version 1, which Bob can no longer sign
    chat.press("alice", "case.revise_record", f"{ref} 1")
    reply = chat.script("alice", "same", "same", "same", "A joint visit on Tuesday", "same", "same")
    assert "A joint visit on Tuesday" in texts(reply)
    reply = chat.say("alice", "submit")
    assert "Record 1 saved as version 2." in reply.to_speaker[0].text
    stale = chat.say("bob", f"sign {ref} 1 1")
    assert stale.to_speaker[0].severity is Severity.ERROR
    assert "replaced by version 2" in stale.to_speaker[0].text
    reply = chat.say("bob", f"sign {ref} 1")
    assert "it is locked" in reply.to_speaker[0].text
    with runtime.factory() as s:
        [rec] = records.records_of(repo.case_by_ref(ref, session=s), session=s)
    assert [v.version for v in rec.versions] == [1, 2]
    assert rec.versions[0].fields["outcome"] == "A joint visit on Monday"  # kept, never overwritten
    assert rec.versions[0].locked_at is None and rec.versions[1].locked_at is not None
    assert rec.versions[0].changes_requested[0][2] == "The visit is on Tuesday, not Monday"


def test_correction_after_locking_is_a_new_version_and_the_old_one_stands(chat: Chat, runtime) -> None:
    ref = open_swindon_case(chat)
    _draft(chat, "alice", ref, *MEETING, "submit")
    chat.say("bob", f"sign {ref} 1")
    reply = chat.say("bob", f"correct {ref} 1")
    assert "Why does it need correcting?" in texts(reply)
    chat.script("bob", "The date was wrong", "2/4/2026", "same", "same", "same", "same", "same")
    reply = chat.say("bob", "submit")
    assert "version 2" in reply.to_speaker[0].text
    assert "Until then version 1 stands." in reply.to_speaker[0].text
    listing = texts(chat.say("alice", f"records {ref}"))
    assert "correction waiting for signatures (version 1 stands)" in listing
    reply = chat.say("alice", f"sign {ref} 1")
    assert "it is locked" in reply.to_speaker[0].text
    with runtime.factory() as s:
        [rec] = records.records_of(repo.case_by_ref(ref, session=s), session=s)
    assert rec.standing is rec.versions[1]
    assert rec.versions[1].correction_reason == "The date was wrong"
    assert rec.versions[0].fields["date"] == "2026-04-01" and rec.versions[1].fields["date"] == "2026-04-02"
    old = chat.say("alice", f"record {ref} 1 1").to_speaker[0]
    assert "version 1" in old.title and "Signed by everyone and locked" in old.text
    assert "It has been replaced by version 2." in old.text
    assert "Date of the meeting or discussion: Wed 1 Apr 2026" in texts_of(old)


def test_only_signatories_sign_and_outsiders_are_refused(chat: Chat, runtime) -> None:
    ref = open_swindon_case(chat)
    _draft(chat, "alice", ref, *MEETING, "submit")
    # a manager may read it but is not a signatory
    reply = chat.say("ian", f"sign {ref} 1")
    assert reply.to_speaker[0].severity is Severity.ERROR
    assert "can't sign a meeting record" in reply.to_speaker[0].text
    # someone with no part in the case is refused, and the refusal is audited
    reply = chat.say("fay", f"record {ref} 1")
    assert "can't do that" in reply.to_speaker[0].text
    assert _events(runtime, ref)[-1][0] == "refused"
    assert len([e for e in _events(runtime, ref) if e[0] == "record_signed"]) == 1


def test_bad_input_is_explained_and_nothing_is_lost(chat: Chat, runtime) -> None:
    ref = open_swindon_case(chat)
    chat.say("alice", f"record {ref}")
    reply = chat.say("alice", "next week")
    assert reply.to_speaker[0].severity is Severity.ERROR
    reply = chat.say("alice", "30/4/2026")
    assert "can't be dated in the future" in reply.to_speaker[0].text
    reply = chat.script("alice", "today", "   ")
    assert reply.to_speaker[0].severity is Severity.ERROR  # attendees are required
    chat.script("alice", "Alice, Bob", "reason", "outcome", "none", "none")
    reply = chat.say("alice", "submit")
    assert "Record 1 saved" in reply.to_speaker[0].text
    assert chat.say("alice", f"record {ref} x").to_speaker[0].severity is Severity.ERROR
    assert "has no record 7" in texts(chat.say("alice", f"record {ref} 7"))


def test_counterpart_not_in_directory_cannot_lock_it(chat: Chat, runtime) -> None:
    from tests.bot.test_conversation import INTAKE_SWINDON

    chat.say("alice", "new")
    chat.script("alice", *INTAKE_SWINDON[:8], "Someone not listed", "Duty SW (name unknown)", "skip")
    ref = chat.say("alice", "submit").to_speaker[0].case_ref
    reply = _draft(chat, "alice", ref, *MEETING, "submit")
    assert "not in the directory" in reply.to_speaker[0].text
    assert not reply.queued


def test_a_manager_not_entitled_to_the_subject_details_never_sees_the_childs_name_in_a_record(
        chat: Chat, runtime) -> None:
    """R8: another manager in one of the agencies may view the case but not the subject details: a record that
    names the child shows them "[subject details withheld]" instead, while the parties see it as written."""
    from storage.models import Person

    ref = open_swindon_case(chat)  # the child: Jamie Doe, born 1 February 2015
    with runtime.factory() as s:
        police = repo.person_by_key("swindon", "sam", session=s).agency_id
        s.add(Person(board_id="swindon", key="tom", name="Tom Reed", title="Inspector", role="line_manager",
                     agency_id=police, email="tom@swindon.example"))
        s.commit()
    named = ["yesterday", MEETING[1], "Whether Jamie Doe (born 01/02/2015) needs a strategy discussion",
             "A joint visit to JAMIE on Monday", "Jamie's school says 1 February 2015 is right", MEETING[5]]
    _draft(chat, "alice", ref, *named)
    chat.say("alice", "submit")
    for party in ("alice", "bob"):
        seen = texts(chat.say(party, f"record {ref} 1"))
        assert "Whether Jamie Doe (born 01/02/2015) needs a strategy discussion" in seen, seen
    seen = texts(chat.say("tom", f"record {ref} 1"))
    assert "record 1, version 1" in seen, seen  # tom may read the record ...
    for secret in ("Jamie", "JAMIE", "Doe", "01/02/2015", "1 February 2015"):
        assert secret not in seen, (secret, seen)  # ... but not the child's name or date of birth
    assert "Whether [subject details withheld] (born [subject details withheld]) needs a strategy discussion" in seen
