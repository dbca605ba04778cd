"""Defects found trying the console as a new user (docs: /work/shared/findings/console-journeys.md), in forms,
records and reports: each test drives the case through the channel-neutral conversation or the services, and
checks values worked out by hand."""

from __future__ import annotations

import datetime as dt
from html import escape

import pytest

from bot.records import documents
from bot.cases import services
from bot.core.i18n import translator
from bot.core.messages import Severity
from bot.cases.services import Ctx
from bot.cases.errors import ServiceError
from protocol.state import Status
from storage import repo
from tests.bot.test_documents import _at, _cv_case_at_stage_2, _field, _filled, _open, person
from tests.conftest import Chat, texts
from bot.records import render

T = translator()


def _outcomes(runtime, ref: str) -> list[tuple[bool, str, str]]:
    """(resolved, text, who) of each outcome recorded on the case."""
    with runtime.factory() as s:
        case = repo.case_by_ref(ref, session=s)
        return [(e.data["resolved"], e.data["text"], e.actor_label) for e in repo.events_for(case.id, session=s)
                if e.kind == "outcome"]


def _buttons(message) -> list[str]:
    return [b.label for b in message.buttons]


def _to_part_c(runtime, clock, chat: Chat) -> tuple[str, list]:
    """A Cardiff & Vale case at Stage 2 with Parts A (Alice) and B (Bob) completed; the reference and the DMs
    sent when Part A was recorded."""
    ref = _cv_case_at_stage_2(runtime)
    clock.set(_at(4, 9, 10))
    chat.say("alice", f"form {ref} appendix-1 part-a")
    chat.script("alice", "1 High Street, Cardiff", "skip", "skip", "01234 567890")
    after_a = chat.say("alice", "submit").queued
    chat.say("una", f"done {ref}")
    chat.script("una", "Business Manager records the concern and sends the form to the responding agency", "today")
    chat.say("bob", f"form {ref} appendix-1 part-b")
    chat.script("bob", "07700 900123", "We will complete an assessment by 30 April.")
    after_b = chat.say("bob", "submit").queued
    return ref, [after_a, after_b]


# -- C16: Part C's "Resolved (Y/N)" decides the case; parts are offered in order -----------------------------
def test_C16_part_c_yes_resolves_the_case_as_the_outcome_flow_does(runtime, clock) -> None:
    chat = Chat(runtime, clock, board="cardiff-and-vale")
    ref, (after_a, after_b) = _to_part_c(runtime, clock, chat)
    una = chat.pid("una")
    # right after Part A, Part B does not exist yet: the business unit is not offered Part C
    to_una = [o.message for o in after_a if o.to.person_id == una]
    assert to_una and all("Complete Part C" not in _buttons(m) for m in to_una)
    # once Part B is done, Part C is offered
    to_una = [o.message for o in after_b if o.to.person_id == una]
    assert any("Complete Part C" in _buttons(m) for m in to_una)
    assert _outcomes(runtime, ref) == [(False, "No agreement", "Alice Hughes")]  # Stage 1's, from the helper
    clock.set(_at(4, 14, 10))
    chat.say("una", f"form {ref} appendix-1 part-c")
    chat.script("una", "yes", "Assessment agreed", "skip", "14/4/2026")
    reply = chat.say("una", "submit")
    assert reply.to_speaker[0].severity is not Severity.ERROR, texts(reply)
    # recorded on the case as the outcome flow records it (services.record_outcome): resolved, by Una
    assert _outcomes(runtime, ref)[1:] == [(True, "Assessment agreed", "Una Wright")]
    with runtime.factory() as s:
        case = repo.case_by_ref(ref, session=s)
        st = services.state_of(case, clock.now(), session=s)
        assert st.status is Status.RESOLVED and case.status == "resolved"
    # the form and the case agree
    filled = _filled(runtime, ref, "appendix-1", clock.now())
    assert _field(filled, "part-c", "Resolved (Y/N)").value == "Yes"
    # amending Part C with "yes" again records nothing twice; "no" on a resolved case is refused
    chat.say("una", f"form {ref} appendix-1 part-c")
    chat.script("una", "no", "Changed my mind", "skip", "14/4/2026")
    refused = chat.say("una", "submit")
    assert refused.to_speaker[0].severity is Severity.ERROR
    assert f"{ref} is recorded as resolved, so 'Resolved (Y/N)' can't be No." in refused.to_speaker[0].text
    chat.say("una", "cancel")
    assert len(_outcomes(runtime, ref)) == 2
    assert _field(_filled(runtime, ref, "appendix-1", clock.now()), "part-c", "Resolved (Y/N)").value == "Yes"


def test_C16_part_c_no_records_not_resolved_and_the_case_moves_on(runtime, clock) -> None:
    chat = Chat(runtime, clock, board="cardiff-and-vale")
    ref, _ = _to_part_c(runtime, clock, chat)
    clock.set(_at(4, 14, 10))
    chat.say("una", f"form {ref} appendix-1 part-c")
    chat.script("una", "no", "The agencies still disagree", "skip", "14/4/2026")
    reply = chat.say("una", "submit")
    assert reply.to_speaker[0].severity is not Severity.ERROR, texts(reply)
    assert _outcomes(runtime, ref)[1:] == [(False, "The agencies still disagree", "Una Wright")]
    with runtime.factory() as s:
        case = repo.case_by_ref(ref, session=s)
        # not resolved at Stage 2 (Escalated to CVSB): on to Stage 3, the CVSB Chair
        assert case.stage_id == "chair" and case.status == "open"


def test_C16_part_c_yes_on_a_closed_case_is_refused_before_anything_is_written(runtime, clock) -> None:
    chat = Chat(runtime, clock, board="cardiff-and-vale")
    ref, _ = _to_part_c(runtime, clock, chat)
    clock.set(_at(4, 14, 10))
    with runtime.factory() as s:
        case = repo.case_by_ref(ref, session=s)
        services.close_case(Ctx(person(s, "cardiff-and-vale", "una"), "console", clock.now()), case,
                            reason="Withdrawn", session=s)
        s.commit()
    with runtime.factory() as s:
        case = repo.case_by_ref(ref, session=s)
        with pytest.raises(ServiceError, match=f"{ref} can't be recorded as resolved at the moment "
                                               r"\(the case is closed\)"):
            documents.complete_part(Ctx(person(s, "cardiff-and-vale", "una"), "console", clock.now()), case,
                                    "appendix-1", "part-c", {"Resolved (Y/N)": "yes", "Outcome": "Agreed"},
                                    session=s)
        assert not [e for e in repo.events_for(case.id, session=s)
                    if e.kind == "form_part_completed" and e.data["part"] == "part-c"]


# -- C18: the command line and the chat share one rule for the forms a case has reached ----------------------
def _bypassed_cv_case(runtime, clock) -> str:
    ref = _open(runtime, "cardiff-and-vale", clock.now(), subject_name="Jamie Doe")
    with runtime.factory() as s:
        case = repo.case_by_ref(ref, session=s)
        services.bypass_to_stage(Ctx(person(s, "cardiff-and-vale", "alice"), "console", clock.now()), case,
                                 reason_id="senior-coordination", session=s)
        s.commit()
        assert case.stage_id == "chair"  # straight to Stage 3: Stage 2 (and its Appendix 1) never reached
    return ref


def test_C18_a_form_the_case_has_not_reached_is_refused_naming_the_ones_it_has(runtime, clock) -> None:
    ref = _bypassed_cv_case(runtime, clock)
    chat = Chat(runtime, clock, board="cardiff-and-vale")
    listing = texts(chat.say("alice", f"form {ref}"))
    assert "Appendix 3" in listing and "Appendix 1" not in listing
    expected = (f"Appendix 1: Concerns about inter-agency safeguarding practice applies once a case reaches "
                f"Stage 2: Escalated to CVSB, and {ref} has not. The forms {ref} has reached: appendix-3 "
                "(Appendix 3: Stage 1 record).")
    assert chat.say("alice", f"form {ref} appendix-1").to_speaker[0].text == expected
    with pytest.raises(ValueError) as err:
        runtime.render_form(ref, "appendix-1", "html", now=clock.now())
    assert str(err.value) == expected
    assert runtime.render_form(ref, "appendix-3", "html", now=clock.now()).startswith(b"<!doctype html>")


# -- C-UX19: Appendix 1's raising person and raising agency ------------------------------------------------
def test_CUX19_cv_part_a_names_the_raiser_even_when_their_manager_completes_it(runtime, clock) -> None:
    ref = _cv_case_at_stage_2(runtime)
    chat = Chat(runtime, clock, board="cardiff-and-vale")
    clock.set(_at(4, 9, 10))
    chat.say("sam", f"form {ref} appendix-1 part-a")  # Sam Patel, Alice's sergeant, completes Part A for her
    chat.script("sam", "1 High Street, Cardiff", "skip", "skip", "01234 567890")
    reply = chat.say("sam", "submit")
    assert reply.to_speaker[0].severity is not Severity.ERROR, texts(reply)
    filled = _filled(runtime, ref, "appendix-1", clock.now())
    assert filled.parts[0].completed_by == "Sam Patel"
    assert _field(filled, "part-a", "Name of person raising concern").value == "Alice Hughes"
    assert _field(filled, "part-a", "Organisation").value == "South Wales Police"
    html = render.render_html(T, filled)
    assert "<dt>Name of person raising concern</dt><dd>Alice Hughes</dd>" in html


def test_CUX19_swindon_open_form_names_the_agency_seeking_a_solution(runtime, clock) -> None:
    ref = _open(runtime, "swindon", clock.now())
    with runtime.factory() as s:
        case = repo.case_by_ref(ref, session=s)
        for n in range(4):  # not resolved at Stages 1 to 4: the Partnership (Stage 5) and its Appendix 1
            services.record_outcome(Ctx(person(s, "swindon", "una"), "console", clock.now()), case,
                                    resolved=False, text=f"no {n + 1}", session=s)
        s.commit()
        assert case.stage_id == "partnership"
    filled = _filled(runtime, ref, "appendix-1", clock.now())
    assert not filled.parts[0].done
    # Alice (Wiltshire Police) raised it: the raising agency is the agency seeking a solution
    assert _field(filled, "form", "Name of the agency seeking a solution").value == "Wiltshire Police"
    # who will complete it is not known until someone does
    assert _field(filled, "form", "Name, role and contact details of agency representative seeking a solution"
                  ).value == ""
    assert "<dt>Name of the agency seeking a solution</dt><dd>Wiltshire Police</dd>" in render.render_html(T, filled)


# -- C17 and C-README2: who a record is sent to, and who signs it ------------------------------------------
MEETING = ["yesterday", "Alice Hughes; Bob Evans; Mia Roberts", "Whether the threshold was met",
           "A joint visit on Monday", "none", "none", "submit"]


def _record(runtime, ref: str):
    from bot.records import records

    with runtime.factory() as s:
        case = repo.case_by_ref(ref, session=s)
        [rec] = records.records_of(case, session=s)
        return case, rec


def test_C17_a_record_drafted_by_a_manager_goes_to_both_parties_and_says_so(runtime, clock) -> None:
    from bot.records import records

    chat = Chat(runtime, clock)
    ref = _open(runtime, "swindon", clock.now())
    chat.say("mia", f"record {ref}")  # Mia Roberts, Bob's team manager: not a party to the case
    reply = chat.script("mia", *MEETING)
    # C-README2: the signatories are the two parties; a manager who drafts is not one and does not sign
    assert {o.to.person_id for o in reply.queued} == {chat.pid("alice"), chat.pid("bob")}
    case, rec = _record(runtime, ref)
    assert rec.signers == ("raiser", "counterpart") and rec.latest.signatures == []
    with runtime.factory() as s:
        case = repo.case_by_ref(ref, session=s)
        phrase = records.sent_to_phrase(T, case, rec, chat.pid("mia"), session=s)
        assert phrase == "It has been sent to Alice Hughes and Bob Evans to sign or ask for changes."
        assert [p.name for p in records.recipients(case, rec, chat.pid("mia"), session=s)] == ["Alice Hughes",
                                                                                              "Bob Evans"]
        shown = records.record_message(T, case, rec, session=s).text
    assert "Waiting for the signature of Alice Hughes and Bob Evans." in shown


def test_C17_a_record_drafted_by_a_party_goes_to_the_other_party(runtime, clock) -> None:
    from bot.records import records

    chat = Chat(runtime, clock)
    ref = _open(runtime, "swindon", clock.now())
    chat.say("alice", f"record {ref}")
    reply = chat.script("alice", *MEETING)
    assert [o.to.person_id for o in reply.queued] == [chat.pid("bob")]
    case, rec = _record(runtime, ref)
    assert [sig.name for sig in rec.latest.signatures] == ["Alice Hughes"]  # she signed as she saved it
    with runtime.factory() as s:
        case = repo.case_by_ref(ref, session=s)
        assert records.sent_to_phrase(T, case, rec, chat.pid("alice"), session=s) == \
            "It has been sent to Bob Evans to sign or ask for changes."
        # once Bob has signed there is nobody left to send it to for signing
        records.sign(Ctx(person(s, "swindon", "bob"), "console", clock.now()), case, 1, 1, session=s)
        s.commit()
    with runtime.factory() as s:
        case = repo.case_by_ref(ref, session=s)
        [rec] = records.records_of(case, session=s)
        assert rec.latest.locked_at is not None


def test_C17_counterpart_not_in_the_directory_nobody_is_sent_it(runtime, clock) -> None:
    from bot.records import records

    board = "mid-and-west-wales"
    with runtime.factory() as s:
        bob = person(s, board, "bob")
        agency = bob.agency_id
    ref = _open(runtime, board, clock.now(), responding_agency_id=agency, responding_person_id=None,
                responding_person_name="Duty social worker")
    chat = Chat(runtime, clock, board=board)
    chat.say("alice", f"record {ref}")
    chat.say("alice", "2")  # the general meeting record (the protocol's signed record applies once resolved)
    reply = chat.script("alice", *MEETING)
    assert not reply.queued  # sent to no one
    case, rec = _record(runtime, ref)
    with runtime.factory() as s:
        case = repo.case_by_ref(ref, session=s)
        assert records.recipients(case, rec, chat.pid("alice"), session=s) == []
        assert records.sent_to_phrase(T, case, rec, chat.pid("alice"), session=s) == (
            "Nobody could be sent it: the counterpart is not in the directory; name them on the case first "
            f"(counterpart {ref}).")
        # a manager drafting: the raiser gets it, the counterpart can't
        assert records.sent_to_phrase(T, case, rec, chat.pid("sam"), session=s) == (
            "It has been sent to Alice Hughes to sign or ask for changes. The counterpart is not in the directory, "
            f"so they could not be sent it: name them on the case first (counterpart {ref}).")
        shown = records.record_message(T, case, rec, session=s).text
    assert "Waiting for the signature of the counterpart" not in shown
    assert (f"The counterpart is not in the directory, so they can't sign it yet: name them on the case first "
            f"(counterpart {ref}).") in shown


# -- C25 and C-UX23: each board's log in its own columns; a CSV starts with its header row ------------------
def test_C25_swindon_log_is_a_stage_log_in_swindons_columns(runtime, tmp_path) -> None:
    import csv

    from bot.reporting import reports

    t0 = dt.datetime(2026, 4, 2, 10, 0, tzinfo=dt.timezone.utc)  # Thu 2 Apr 2026, 11:00 in London
    ref = _open(runtime, "swindon", t0, arose_on=dt.date(2026, 4, 2), what_happened="Referral closed")
    with runtime.factory() as s:
        case = repo.case_by_ref(ref, session=s)
        alice, bob = person(s, "swindon", "alice"), person(s, "swindon", "bob")
        services.record_contact(Ctx(alice, "console", t0), case, on=dt.date(2026, 4, 2),
                                who="Sam Patel, Police Sergeant", how="phone", outcome="Advised to escalate",
                                session=s)
        services.record_outcome(Ctx(alice, "console", t0.replace(day=8)), case, resolved=False,
                                text="Still disagree", session=s)
        services.record_outcome(Ctx(bob, "console", t0.replace(day=10)), case, resolved=True,
                                text="Joint visit agreed", session=s)
        s.commit()
        header = reports.log_header("swindon", session=s)
        rows = reports.log_rows("swindon", session=s, now=t0.replace(day=20))
    assert header == ["Case reference", "Stage", "Start date", "Who the concern was raised with",
                      "Outcome or resolution agreed"]
    assert rows == [
        [ref, "Stage 1: Internal discussion", "02/04/2026", "Sam Patel, Police Sergeant",
         "Not resolved, moved on: Still disagree"],
        [ref, "Stage 2: Inter-agency discussion", "08/04/2026", "", "Resolved: Joint visit agreed"],
    ]
    out = runtime.export_log("swindon", tmp_path / "swindon-log.csv", "csv", None, None)
    read = list(csv.reader(out.open(encoding="utf-8")))
    assert read[0] == header and "LA Area (Cardiff/Vale)" not in read[0]
    assert [r[0] for r in read[1:]] == [ref, ref]


def test_C25_a_board_without_log_columns_or_areas_has_no_empty_la_column(runtime) -> None:
    from bot.reporting import reports

    t0 = dt.datetime(2026, 4, 2, 10, 0, tzinfo=dt.timezone.utc)
    ref = _open(runtime, "wolverhampton", t0, what_happened="Referral closed", category="threshold")
    with runtime.factory() as s:
        header = reports.log_header("wolverhampton", session=s)
        rows = reports.log_rows("wolverhampton", session=s, now=t0)
        cv_header = reports.log_header("cardiff-and-vale", session=s)
    assert header == ["Date raised", "Case reference", "Raising agency", "Summary of concern", "Responding agency",
                      "Date resolved", "Outcome"]
    assert rows == [["02/04/2026", ref, "West Midlands Police", "Threshold for action inappropriate or placing the person at further risk: Referral closed",
                     "City of Wolverhampton Council Social Care", "", "Open at Stage 1: Practitioners"]]
    assert cv_header[2] == "LA Area (Cardiff/Vale)"  # Cardiff & Vale keeps its own columns


def test_CUX23_quarterly_csv_starts_with_its_header_row(runtime, tmp_path) -> None:
    import csv

    from bot.reporting import reports

    _open(runtime, "mid-and-west-wales", dt.datetime(2026, 7, 2, 10, 0, tzinfo=dt.timezone.utc))
    with runtime.factory() as s:
        label, tables = reports.quarterly("mid-and-west-wales", "2026Q3", session=s)
    rows = list(csv.reader(reports.write_quarterly(label, tables, "csv", tmp_path / "q.csv").open(encoding="utf-8")))
    assert rows[0] == ["Table", "Row", "Count"]
    assert ["Status", "open", "1"] in rows and [label] not in rows
    # HTML keeps its title
    html = reports.write_quarterly(label, tables, "html", tmp_path / "q.html").read_text(encoding="utf-8")
    assert f"<h1>{escape(label)}</h1>" in html
