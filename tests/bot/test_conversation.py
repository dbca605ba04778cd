"""The channel-neutral conversation: intake, immediate risk first, back/cancel, resume, bad input."""

from __future__ import annotations

import datetime as dt

from bot.conversation.router import Conversation
from bot.core.messages import Severity
from storage import repo, subjects
from tests.conftest import LONDON, Chat, texts

INTAKE_SWINDON = [
    "no",  # immediate risk
    "no",  # CP conference decision?
    "Thresholds / decision about a referral",
    "Children's social care closed the referral after one visit.",
    "Phoned the duty social worker on Monday.",
    "Re-open the referral and complete an assessment.",
    "today",
    "Swindon Children's Social Care",
    "Bob Evans, Social Worker",
    "Jamie Doe",
    "1/2/2015",
]


def open_swindon_case(chat: Chat, who: str = "alice") -> str:
    chat.say(who, "new")
    chat.script(who, *INTAKE_SWINDON)
    reply = chat.say(who, "submit")
    ref = reply.to_speaker[0].case_ref
    assert ref and ref.startswith("SWN-2026-"), texts(reply)
    return ref


def test_intake_asks_immediate_risk_first(chat: Chat) -> None:
    reply = chat.say("alice", "new")
    assert "immediate risk of significant harm" in reply.to_speaker[0].text
    assert [c.value for c in reply.to_speaker[0].prompt.choices] == ["yes", "no"]


def test_immediate_risk_yes_shows_route_before_anything_else_and_is_recorded(chat: Chat) -> None:
    chat.say("alice", "new")
    reply = chat.say("alice", "yes")
    first = reply.to_speaker[0]
    assert first.severity is Severity.URGENT
    assert "MASH" in first.text and "999" in first.text  # Swindon: MASH/EDT or dial 999 (SWN-6)
    assert "same working day" in first.text
    # only then the next question
    assert reply.to_speaker[-1].prompt is not None
    chat.script("alice", *INTAKE_SWINDON[1:])
    done = chat.say("alice", "submit")
    ref = done.to_speaker[0].case_ref
    with chat.rt.factory() as s:
        case = repo.case_by_ref(ref, session=s)
        kinds = [e.kind for e in repo.events_for(case.id, session=s)]
        risk = next(e for e in repo.events_for(case.id, session=s) if e.kind == "immediate_risk_answered")
    assert kinds[0] == "immediate_risk_answered"
    assert risk.data["risk"] is True
    assert risk.data["route_shown_at"].startswith("2026-04-02T")
    assert case.immediate_risk is True


def test_wolverhampton_route_gives_mash_numbers_and_dsl(runtime, clock) -> None:
    chat = Chat(runtime, clock, board="wolverhampton")
    chat.say("alice", "new")
    text = chat.say("alice", "yes").to_speaker[0].text
    assert "01902 555392" in text and "551199" in text  # WOL-N7
    assert "designated safeguarding lead" in text


def test_full_intake_records_case_and_dms_counterpart(chat: Chat) -> None:
    chat.say("alice", "new")
    chat.script("alice", *INTAKE_SWINDON)
    reply = chat.say("alice", "submit")
    view = reply.to_speaker[0]
    assert view.case_ref == "SWN-2026-0001"
    # SWN-10: internal discussion within 2 working days of 2 Apr 2026: Good Friday and Easter Monday skipped
    assert "due by Wed 8 Apr 2026 (2 working days after the disagreement arose on Thu 2 Apr)" in view.text
    # the counterpart gets a direct message, and so does Sam, Alice's line manager (Swindon's Stage 1 is her
    # internal discussion with him: SWN-10); never a channel post with the child's name
    assert {(o.to.kind, o.to.person_id) for o in reply.queued} == {("person", chat.pid("bob")),
                                                                  ("person", chat.pid("sam"))}
    dm = next(o for o in reply.queued if o.to.person_id == chat.pid("bob"))
    assert "Alice Hughes has raised a professional disagreement with you." in dm.message.text
    assert "Jamie Doe" not in dm.message.text + (dm.message.title or "")
    with chat.rt.factory() as s:
        case = repo.case_by_ref("SWN-2026-0001", session=s)
        sub = subjects.get_subject(case.id, session=s)
        assert sub.name == "Jamie Doe" and sub.date_of_birth == dt.date(2015, 2, 1)
        # the audit trail says details were recorded but never holds them
        for e in repo.events_for(case.id, session=s):
            assert "Jamie" not in str(e.data)


def test_back_and_cancel(chat: Chat) -> None:
    chat.say("alice", "new")
    chat.script("alice", "no", "no")
    reply = chat.say("alice", "back")
    assert "child protection conference" in reply.to_speaker[-1].text
    reply = chat.say("alice", "yes")  # now it IS about a CP conference decision
    assert "dissent process" in reply.to_speaker[-1].text
    reply = chat.say("alice", "cancel")
    assert "Cancelled" in reply.to_speaker[0].text
    with chat.rt.factory() as s:
        assert repo.cases_for_board("swindon", session=s) == []


def test_swindon_cp_conference_dispute_blocked_until_dissent_exhausted(chat: Chat) -> None:
    """SWN-3 / A10: the dissent process must be exhausted first."""
    chat.say("alice", "new")
    reply = chat.script("alice", "no", "yes", "no")
    assert "dissent process" in reply.to_speaker[0].text
    assert reply.to_speaker[0].prompt is None
    # and when it was exhausted, that date is the day the disagreement arose
    chat.say("alice", "new")
    reply = chat.script("alice", "no", "yes", "yes")
    assert "On what date was the dissent process exhausted" in reply.to_speaker[-1].text
    chat.script("alice", "31/3/2026", "Thresholds / decision about a referral", "The conference decided no plan",
                "Asked the chair", "A child protection plan",
                "Swindon Children's Social Care", "Bob Evans, Social Worker", "skip")
    reply = chat.say("alice", "submit")
    # the arising question was skipped; the clock runs from 31 Mar: 2 WD -> Wed 1 Apr... plus Thu 2 Apr
    assert "due by Thu 2 Apr 2026 (2 working days after the disagreement arose on Tue 31 Mar)" in \
        reply.to_speaker[0].text


def test_bad_answers_are_explained_and_nothing_is_lost(chat: Chat) -> None:
    chat.say("alice", "new")
    chat.script("alice", "no", "no")
    reply = chat.say("alice", "99")
    assert reply.to_speaker[0].severity is Severity.ERROR
    assert "choose one of the options" in reply.to_speaker[0].text
    chat.script("alice", "1", "what happened", "what was done", "what is sought")
    reply = chat.say("alice", "next tuesday-ish")
    assert "couldn't read" in reply.to_speaker[0].text
    reply = chat.say("alice", "2026-05-01")
    assert "future" in reply.to_speaker[0].text
    reply = chat.say("alice", "yesterday")
    assert "Which agency" in reply.to_speaker[-1].text
    # own agency is not offered (single-agency disputes are excluded)
    assert "Wiltshire Police" not in texts(reply)


def test_leave_mid_intake_and_resume_in_a_new_process(chat: Chat, runtime, clock) -> None:
    chat.say("alice", "new")
    chat.script("alice", "no", "no", "1", "what happened")
    # a new Conversation object (as after a restart) picks up at the same question
    again = Conversation(runtime.factory, clock, "console")
    pending = again.pending_prompt(chat.pid("alice"))
    assert pending is not None and "already done" in pending.text
    reply = again.handle(chat.pid("alice"), "rang them")
    assert "outcome are you looking for" in reply.to_speaker[-1].text


def test_people_have_separate_conversations(chat: Chat) -> None:
    chat.say("alice", "new")
    reply = chat.say("bob", "list")
    assert "no open cases" in reply.to_speaker[0].text
    reply = chat.say("alice", "no")
    assert "child protection conference" in reply.to_speaker[-1].text


def test_record_outcome_not_resolved_moves_to_next_stage_and_shows_reason(chat: Chat, clock) -> None:
    ref = open_swindon_case(chat)
    clock.set(dt.datetime(2026, 4, 8, 15, 0, tzinfo=LONDON))
    reply = chat.press("alice", "case.record_outcome", ref)
    assert "What is the outcome" in reply.to_speaker[0].text
    chat.say("alice", "Not resolved")
    reply = chat.say("alice", "My sergeant agrees the referral should stay open.")
    text = reply.to_speaker[0].text
    assert "moved to Stage 2: Inter-agency discussion" in text
    assert ("Stage 2 \u2014 Inter-agency discussion with the other professional: due by Wed 15 Apr 2026 "
            "(5 working days after Stage 1 completed on Wed 8 Apr)") in text
    # the counterpart hears about it
    assert reply.queued and reply.queued[0].to.person_id == chat.pid("bob")


def test_non_party_is_refused_and_it_is_audited(chat: Chat) -> None:
    ref = open_swindon_case(chat)
    reply = chat.press("hana", "case.record_outcome", ref)
    assert reply.to_speaker[0].severity is Severity.ERROR
    assert "only the people in this disagreement" in reply.to_speaker[0].text
    reply = chat.say("hana", f"case {ref}")
    assert "only the people in this disagreement" in reply.to_speaker[0].text
    with chat.rt.factory() as s:
        case = repo.case_by_ref(ref, session=s)
        kinds = [e.kind for e in repo.events_for(case.id, session=s)]
    assert kinds.count("refused") == 2
    assert "outcome" not in kinds


def test_managers_and_business_unit_may_act(chat: Chat) -> None:
    ref = open_swindon_case(chat)
    for who in ("sam", "ian", "mia", "una", "priya"):  # both line chains, a safeguarding lead, the BU
        reply = chat.say(who, f"case {ref}")
        assert reply.to_speaker[0].case_ref == ref, who


def test_contact_completes_a_step(chat: Chat, clock) -> None:
    ref = open_swindon_case(chat)
    clock.set(dt.datetime(2026, 4, 7, 11, 0, tzinfo=LONDON))
    chat.press("alice", "case.record_contact", ref)
    reply = chat.script("alice", "today", "Sam Patel, Sergeant", "Meeting", "Agreed to escalate")
    assert "complete one of the steps" in reply.to_speaker[-1].text
    reply = chat.say("alice", "Internal discussion with your line manager")
    assert "Contact recorded." in reply.to_speaker[0].text
    with chat.rt.factory() as s:
        case = repo.case_by_ref(ref, session=s)
        contact = [e for e in repo.events_for(case.id, session=s) if e.kind == "contact"][0]
    assert contact.data["step"] == "internal-discussion" and contact.data["how"] == "meeting"
    assert contact.data["on"] == "2026-04-07"


def test_timeline_lists_every_event(chat: Chat) -> None:
    ref = open_swindon_case(chat)
    reply = chat.say("alice", f"case {ref} timeline")
    text = reply.to_speaker[0].text
    assert "concern raised" in text and "counterpart named: Bob Evans" in text
    assert "subject details recorded (kept private)" in text
    assert "Jamie" not in text


def test_immediate_risk_is_audited_even_if_the_intake_is_abandoned(chat: Chat) -> None:
    chat.say("alice", "new")
    chat.say("alice", "yes")
    chat.say("alice", "cancel")
    with chat.rt.factory() as s:
        entries = repo.audit_entries(session=s, kind="immediate_risk_reported")
    assert len(entries) == 1
    assert entries[0].actor_label == "Alice Hughes" and entries[0].via == "console"
    assert entries[0].data == {"rule": "same_working_day", "route_shown": True}


def test_counterpart_not_listed_can_be_named_later(chat: Chat) -> None:
    chat.say("alice", "new")
    chat.script("alice", *INTAKE_SWINDON[:8], "Someone not listed", "Duty SW (name unknown)", "skip")
    reply = chat.say("alice", "submit")
    ref = reply.to_speaker[0].case_ref
    # no counterpart in the directory to tell yet; Sam, Alice's line manager, hears of it (Swindon Stage 1)
    assert [o.to.person_id for o in reply.queued] == [chat.pid("sam")]
    assert "Duty SW (name unknown) (Swindon Children's Social Care)" in texts(reply)
    assert reply.to_speaker[0].buttons[0].action == "case.name_counterpart"
    # the counterpart's team manager may act although the counterpart is not in the directory
    reply = chat.press("mia", "case.view", ref)
    assert reply.to_speaker[0].case_ref == ref
    chat.press("alice", "case.name_counterpart", ref)
    reply = chat.script("alice", "Wiltshire Police")
    assert "choose one of the options" in reply.to_speaker[0].text  # own agency is not offered
    reply = chat.script("alice", "Swindon Children's Social Care", "Bob Evans, Social Worker")
    assert "Counterpart updated." in reply.to_speaker[0].text
    assert {o.to.person_id for o in reply.queued} == {chat.pid("bob"), chat.pid("sam")}
    with chat.rt.factory() as s:
        case = repo.case_by_ref(ref, session=s)
        assert case.responding_person_id == chat.pid("bob") and case.responding_person_name is None
        assert [e.kind for e in repo.events_for(case.id, session=s)].count("counterpart_named") == 2


def test_stage_contact_log_is_built_from_the_events(chat: Chat, clock) -> None:
    """003 Appendix 1's table (SWN-N13, SWN-N17): stage, date, who, how, outcome, never typed twice."""
    ref = open_swindon_case(chat)
    clock.set(dt.datetime(2026, 4, 7, 11, 0, tzinfo=LONDON))
    chat.press("alice", "case.record_contact", ref)
    chat.script("alice", "today", "Sam Patel, Sergeant", "Meeting", "Still disagree", "None of these (just a note)")
    chat.press("alice", "case.record_outcome", ref)
    chat.script("alice", "Not resolved", "Moving to inter-agency discussion")
    clock.set(dt.datetime(2026, 4, 9, 11, 0, tzinfo=LONDON))
    chat.press("bob", "case.record_contact", ref)
    chat.script("bob", "today", "Alice Hughes, PC", "Phone call", "No agreement", "None of these (just a note)")
    text = chat.say("alice", f"case {ref} log").to_speaker[0].text
    lines = text.splitlines()
    assert lines[0].startswith("Stage | Date contact made | Who was contacted | How")
    assert lines[1:] == [
        "Stage 1 | Tue 7 Apr 2026 | Sam Patel, Sergeant | Meeting | Still disagree",
        "Stage 1 | Tue 7 Apr 2026 | \u2014 | \u2014 | not resolved, moved on: Moving to inter-agency discussion",
        "Stage 2 | Thu 9 Apr 2026 | Alice Hughes, PC | Phone call | No agreement",
    ]


def test_written_outcome_is_built_from_the_outcome_sent_and_timed(runtime, clock) -> None:
    """WOL-13: where a resolution is reached the receiving agency advises the disputing agency of the outcome in
    writing within a further 2 working days: sent from the recorded outcome, and recorded against that deadline."""
    chat = Chat(runtime, clock, board="wolverhampton")
    chat.say("alice", "new")
    reply = chat.script("alice", "no", "A child", "1", "Closed too early", "Emailed", "Keep it open", "today",
                        "City of Wolverhampton Council Social Care", "Bob Evans, Social Worker", "no", "skip")
    ref = chat.say("alice", "submit").to_speaker[0].case_ref
    clock.set(dt.datetime(2026, 4, 10, 15, 0, tzinfo=LONDON))
    chat.press("bob", "case.record_outcome", ref)
    view = chat.script("bob", "Resolved", "We will keep the case open for 3 months", "no").to_speaker[0]
    assert ("Advise the disputing agency of the outcome in writing (email): due by Tue 14 Apr 2026 (a further 2 "
            "working days after the resolution on Fri 10 Apr)") in view.text
    assert view.buttons[0].action == "case.send_written_outcome"
    chat.press("bob", "case.send_written_outcome", ref)
    reply = chat.say("bob", "Review at the next core group")
    assert "Written outcome sent." in reply.to_speaker[0].text
    letter = reply.queued[0]
    assert letter.to.person_id == chat.pid("alice")
    assert "Agreed outcome: We will keep the case open for 3 months" in letter.message.text
    assert "How any outstanding issues will be pursued: Review at the next core group" in letter.message.text
    assert "Advise the disputing agency" not in reply.to_speaker[0].text  # the step is done
    with runtime.factory() as s:
        case = repo.case_by_ref(ref, session=s)
        kinds = [e.kind for e in repo.events_for(case.id, session=s)]
    assert kinds[-2:] == ["written_outcome_sent", "step_done"]
    again = chat.press("bob", "case.send_written_outcome", ref)
    assert again.to_speaker[0].severity is Severity.ERROR or "no written outcome" in texts(again)
