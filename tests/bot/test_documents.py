"""The protocols' forms filled from the case: Cardiff & Vale Appendix 1 (Parts A, B, C, each by the right
person, CV-N10..N13, CV-11) and Appendix 3 (CV-8, CV-N9), Swindon Appendix 1 with the stage contact table
(SWN-N17, SWN-20), and the Mid & West Wales Stage 2 record for the LOG Chair (MWW-N9..N11). Every field is
checked, the PDF is rendered and its text layer read back, and subject details appear only for entitled readers."""

from __future__ import annotations

import datetime as dt
import io
from html import escape

import pytest
from pypdf import PdfReader

from bot.cases import services
from bot.records import documents
from bot.core.i18n import translator
from bot.core.messages import Severity
from bot.cases.services import Ctx
from bot.cases.opening import NewCase
from storage import repo, subjects
from tests.conftest import LONDON, Chat, texts
from bot.cases import protocols
from bot.cases import opening
from bot.records import render

T = translator()


def person(s, board: str, key: str):
    p = repo.person_by_key(board, key, session=s)
    assert p is not None
    return p


def _at(m: int, d: int, h: int = 11) -> dt.datetime:
    return dt.datetime(2026, m, d, h, 0, tzinfo=LONDON)


def _open(runtime, board: str, when: dt.datetime, *, unresolved_at: dt.datetime | None = None, **over) -> str:
    """A case raised by Alice (police) with Bob (social care) on ``board`` (recorded as not resolved at Stage 1
    at ``unresolved_at``, if given); its reference."""
    with runtime.factory() as s:
        alice, bob = person(s, board, "alice"), person(s, board, "bob")
        fields = dict(board_id=board, subject_kind="child", category="thresholds", what_happened="x",
                      done_so_far="y", outcome_sought="z", arose_on=dt.date(2026, 4, 1),
                      responding_agency_id=bob.agency_id, responding_person_id=bob.id)
        case = opening.open_case(Ctx(alice, "console", when), NewCase(**{**fields, **over}), session=s)
        if unresolved_at is not None:
            services.record_outcome(Ctx(alice, "console", unresolved_at), case, resolved=False, text="No agreement",
                                    session=s)
        s.commit()
        return case.ref


def _cv_case_at_stage_2(runtime) -> str:
    """A Cardiff & Vale case raised by Alice (police) with Bob (social care), unresolved at Stage 1."""
    return _open(runtime, "cardiff-and-vale", _at(4, 1), unresolved_at=_at(4, 8),
                 what_happened="The referral was closed after one visit.", done_so_far="Phoned the duty team.",
                 outcome_sought="An assessment.", subject_name="Jamie Doe", subject_dob=dt.date(2015, 2, 1))


def _field(filled: documents.FilledForm, part: str, label: str) -> documents.FilledField:
    p = next(x for x in filled.parts if x.spec.id == part)
    return next(f for f in p.fields if f.label == label)


def _filled(runtime, ref: str, form: str, now: dt.datetime, *, entitled: bool = True) -> documents.FilledForm:
    with runtime.factory() as s:
        case = repo.case_by_ref(ref, session=s)
        spec = next(f for f in protocols.protocol_for(case, session=s).forms if f.id == form)
        return documents.fill(T, case, spec, session=s, now=now, with_subject_details=entitled)


def _pdf_text(data: bytes) -> str:
    assert data[:5] == b"%PDF-"
    reader = PdfReader(io.BytesIO(data))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())  # wrapped lines rejoined


def test_cv_appendix_1_parts_a_b_c_completed_in_chat_by_the_right_people(runtime, clock) -> None:
    ref = _cv_case_at_stage_2(runtime)
    chat = Chat(runtime, clock, board="cardiff-and-vale")
    clock.set(_at(4, 9, 10))
    listing = chat.say("alice", f"form {ref}")
    assert "Appendix 1: Concerns about inter-agency safeguarding practice" in texts(listing)
    # Part B before Part A, or by the wrong side, is refused with a reason
    refused = chat.say("bob", f"form {ref} appendix-1 part-a")
    assert refused.to_speaker[0].severity is Severity.ERROR
    assert "completed by the agency raising the concern" in refused.to_speaker[0].text
    # Part A, by the raiser: only what the case does not hold is asked
    reply = chat.say("alice", f"form {ref} appendix-1 part-a")
    assert "Address" in texts(reply)
    reply = chat.script("alice", "1 High Street, Cardiff", "skip", "Mother: Sam Doe, 3/3/1990", "01234 567890")
    assert "Please check before I record this part" in texts(reply)
    reply = chat.say("alice", "submit")
    assert "Recorded: Part A: to be completed by the agency raising the concern." in reply.to_speaker[0].text
    # the business unit gets it by DM, with the PDF and HTML attached and a button for Part C later
    bu = [o for o in reply.queued if o.to.person_id == chat.pid("una")]
    assert bu and bu[0].message.private
    assert [a.media_type for a in bu[0].message.attachments] == ["application/pdf", "text/html"]
    # the step "Refer the issue to the Business Unit on the Appendix 1 form (Part A)" is done
    with runtime.factory() as s:
        case = repo.case_by_ref(ref, session=s)
        st = services.state_of(case, clock.now(), session=s)
        assert "refer-to-business-unit" in {i.step.id for i in st.done}
        assert subjects.get_subject(case.id, session=s).address == "1 High Street, Cardiff"
        events = repo.events_for(case.id, session=s)
        stored = next(e for e in events if e.kind == "form_part_completed").data
    # personal data never goes into the event history
    assert "Jamie Doe" not in str(stored) and "Sam Doe" not in str(stored) and "High Street" not in str(stored)
    # Part B: due 10 working days after the form is sent to the responding agency (CV-11)
    chat.say("una", f"done {ref}")
    chat.script("una", "Business Manager records the concern and sends the form to the responding agency", "today")
    filled = _filled(runtime, ref, "appendix-1", clock.now())
    part_b = filled.parts[1]
    assert not part_b.done and part_b.due and "Thu 23 Apr 2026" in part_b.due
    reply = chat.say("bob", f"form {ref} appendix-1 part-b")
    reply = chat.script("bob", "07700 900123", "We will complete an assessment by 30 April.")
    reply = chat.say("bob", "submit")
    assert "Part B" in reply.to_speaker[0].text
    # Part C by the business unit only
    assert chat.say("alice", f"form {ref} appendix-1 part-c").to_speaker[0].severity is Severity.ERROR
    clock.set(_at(4, 14, 10))
    chat.say("una", f"form {ref} appendix-1 part-c")
    reply = chat.script("una", "yes", "Assessment agreed", "skip", "14/4/2026")
    reply = chat.say("una", "submit")
    # complete: the parties get the finished form
    assert {o.to.person_id for o in reply.queued} == {chat.pid("alice"), chat.pid("bob")}
    filled = _filled(runtime, ref, "appendix-1", clock.now())
    assert not filled.open_parts
    expected = {
        ("part-a", "Name of Child/Adult at Risk"): "Jamie Doe",
        ("part-a", "Date of Birth"): "Sun 1 Feb 2015",
        ("part-a", "Address"): "1 High Street, Cardiff",
        ("part-a", "Occurrence number (if appropriate)"): "",
        ("part-a", "Name(s) and Dates of Birth of Parent(s)/Carer(s)"): "Mother: Sam Doe, 3/3/1990",
        ("part-a", "Name of person raising concern"): "Alice Hughes",
        ("part-a", "Organisation"): "South Wales Police",
        ("part-a", "Contact number"): "01234 567890",
        ("part-a", "Date"): "Thu 9 Apr 2026",
        ("part-a", "What is the issue?"): "The referral was closed after one visit.",
        ("part-a", "What has been done already to resolve this?"): "Phoned the duty team.",
        ("part-a", "What is the outcome that you are looking for?"): "An assessment.",
        ("part-a", "Agency/agencies required to respond"): "Cardiff Council Children's Services",
        ("part-b", "Name of person responding"): "Bob Evans",
        ("part-b", "Organisation"): "Cardiff Council Children's Services",
        ("part-b", "Contact number"): "07700 900123",
        ("part-b", "Date"): "Thu 9 Apr 2026",
        ("part-b", "Response"): "We will complete an assessment by 30 April.",
        ("part-c", "SBBU ref no"): ref,
        ("part-c", "Resolved (Y/N)"): "Yes",
        ("part-c", "Date reported"): "Thu 9 Apr 2026",
        ("part-c", "Outcome"): "Assessment agreed",
        ("part-c", "Follow on actions (where appropriate)"): "",
        ("part-c", "Date signed off"): "Tue 14 Apr 2026",
        ("part-c", "Date feedback sent to agencies concerned"): "Tue 14 Apr 2026",
    }
    got = {(p.spec.id, f.label): f.value for p in filled.parts for f in p.fields}
    assert got == expected
    assert [(p.completed_by, p.via) for p in filled.parts] == [("Alice Hughes", "console"), ("Bob Evans", "console"),
                                                               ("Una Wright", "console")]
    # the PDF renders, and its text layer carries the fields
    pdf = _pdf_text(render.render_pdf(T, filled))
    for value in ("Jamie Doe", "1 High Street, Cardiff", "We will complete an assessment by 30 April.", ref,
                  "Part C: to be completed by the Safeguarding Business Unit"):
        assert value in pdf
    # a reader not entitled to subject details gets the form without them
    outsider = _filled(runtime, ref, "appendix-1", clock.now(), entitled=False)
    html = render.render_html(T, outsider)
    assert "Jamie Doe" not in html and "Sam Doe" not in html and "High Street" not in html and "2015" not in html
    assert "Withheld" in html


def test_open_parts_are_shown_as_open_with_their_deadline(runtime, clock) -> None:
    ref = _cv_case_at_stage_2(runtime)
    filled = _filled(runtime, ref, "appendix-1", _at(4, 9, 10))
    assert [p.done for p in filled.parts] == [False, False, False]
    html = render.render_html(T, filled)
    assert "Still open: Part A" in html
    assert "Not yet completed: to be completed by the agency raising the concern." in html
    # the open Part A already shows what Parley fills from the case
    assert _field(filled, "part-a", "What is the issue?").value == "The referral was closed after one visit."
    assert _field(filled, "part-a", "Contact number").value == ""


def test_form_not_reached_yet_and_unknown_form_are_explained(runtime, clock) -> None:
    chat = Chat(runtime, clock, board="cardiff-and-vale")
    ref = _open(runtime, "cardiff-and-vale", clock.now())
    reply = chat.say("alice", f"form {ref} appendix-1")
    assert "applies once" in reply.to_speaker[0].text and reply.to_speaker[0].severity is Severity.ERROR
    reply = chat.say("alice", f"form {ref} nonsense")
    assert "has no form 'nonsense'" in reply.to_speaker[0].text
    assert "appendix-3" in texts(chat.say("alice", f"form {ref}"))


def test_cv_appendix_3_from_the_signed_stage_1_record(runtime, clock) -> None:
    """CV-8/CV-N9: the manager completes Appendix 3 to record a Stage 1 resolution and submits it to the
    Business Unit; areas of disagreement and agreed actions come from the signed meeting record."""
    chat = Chat(runtime, clock, board="cardiff-and-vale")
    ref = _open(runtime, "cardiff-and-vale", clock.now(), what_happened="Closed early", subject_name="Jamie Doe")
    reply = chat.say("alice", f"record {ref}")
    assert "Stage 1 record (Appendix 3)" in texts(reply)  # the protocol's own record, then the general one
    chat.script("alice", "1", "today", "Alice, Bob", "Threshold for assessment", "Joint visit", "none", "Bob to visit")
    chat.say("alice", "submit")
    chat.say("bob", f"sign {ref} 1")
    chat.press("bob", "case.record_outcome", ref)
    chat.script("bob", "Resolved", "Joint visit agreed")
    reply = chat.say("sam", f"form {ref} appendix-3 record")
    reply = chat.say("sam", "submit")  # everything comes from the case
    assert reply.to_speaker[0].text.startswith("Recorded: "), texts(reply)
    filled = _filled(runtime, ref, "appendix-3", clock.now(), entitled=False)
    got = {f.label: f.value for f in filled.parts[0].fields}
    assert got == {
        "Date raised": "Thu 2 Apr 2026", "Case reference": ref, "LA area (Cardiff/Vale)": "Cardiff",
        "Agency raising concern": "South Wales Police", "Summary of concern and themes identified": "Closed early",
        "Responding agency": "Cardiff Council Children's Services", "Areas of disagreement": "Threshold for assessment",
        "Agreed actions": "Bob to visit", "Resolved at Stage 1": "Yes", "Date resolved": "Thu 2 Apr 2026",
        "Outcome": "Joint visit agreed", "Completed by": "Sam Patel", "Date completed": "Thu 2 Apr 2026"}
    with runtime.factory() as s:
        st = services.state_of(repo.case_by_ref(ref, session=s), clock.now(), session=s)
        assert "stage-1-record-to-bu" in {i.step.id for i in st.done}  # CV-8: submitted to the Business Unit
    assert "Jamie Doe" not in render.render_html(T, filled)


def test_swindon_appendix_1_with_the_stage_contact_table(runtime, clock) -> None:
    """SWN-N17/SWN-20: the referral to the Partnership on the Appendix 1 form, with the stage contact table
    built from the case's events (never typed twice)."""
    from tests.bot.test_conversation import open_swindon_case

    chat = Chat(runtime, clock)
    ref = open_swindon_case(chat)
    chat.press("alice", "case.record_contact", ref)
    chat.script("alice", "today", "Bob Evans, Social Worker", "Phone call", "Still disagree", "None of these (just a note)")
    with runtime.factory() as s:
        case = repo.case_by_ref(ref, session=s)
        una = person(s, "swindon", "una")
        subjects.set_subject(case.id, session=s, name="Jamie Doe", date_of_birth=dt.date(2015, 2, 1),
                             address="2 Park Lane, Swindon")
        for n in range(4):  # unresolved at each stage up to the Partnership (stage 5)
            services.record_outcome(Ctx(una, "console", clock.now()), case, resolved=False, text=f"no {n + 1}",
                                    session=s)
        s.commit()
        assert case.stage_id == "partnership"
    reply = chat.say("alice", f"form {ref} appendix-1 form")
    reply = chat.say("alice", "submit")
    assert reply.to_speaker[0].text.startswith("Recorded: "), texts(reply)
    filled = _filled(runtime, ref, "appendix-1", clock.now())
    fields = {f.label: f for f in filled.parts[0].fields}
    assert fields["Name and D.O.B of the Child(ren)/Family that requires support"].value == "Jamie Doe, Sun 1 Feb 2015"
    assert fields["Address"].value == "2 Park Lane, Swindon"
    assert fields["Name of the agency seeking a solution"].value == "Wiltshire Police"
    assert fields["Name, role and contact details of agency representative seeking a solution"].value == \
        "Alice Hughes, Police Constable, alice@swindon.example"
    assert fields["What are you worried about?"].value == "Children's social care closed the referral after one visit."
    assert fields["What action do you believe is needed?"].value == "Re-open the referral and complete an assessment."
    table = fields["Stage contact table: Date Contact Made, Who did you contact (Name & Title), How did you contact "
                   "them, Outcome/Reason for moving to next stage"].table
    assert table[0] == ["Stage 1", "2026-04-02", "Bob Evans, Social Worker", "Phone call", "Still disagree"]
    assert [r[0] for r in table[1:]] == ["Stage 1", "Stage 2", "Stage 3", "Stage 4"]
    assert table[1][4] == "not resolved, moved on: no 1"
    html = render.render_html(T, filled)
    assert "<th scope='col'>Who was contacted</th>" in html
    pdf = _pdf_text(render.render_pdf(T, filled))
    assert "Bob Evans, Social Worker" in pdf and "Still disagree" in pdf
    with runtime.factory() as s:
        st = services.state_of(repo.case_by_ref(ref, session=s), clock.now(), session=s)
        assert "partnership-referral" in {i.step.id for i in st.done}


def test_mww_stage_2_record_goes_to_the_log_chair(runtime, clock) -> None:
    """MWW-N9: each manager records the reason for the disagreement and the agreed outcome, communicated to the
    LOG Chair; MWW-N10's three checks are on the form."""
    chat = Chat(runtime, clock, board="mid-and-west-wales")
    ref = _open(runtime, "mid-and-west-wales", clock.now(), subject_name="Jamie Doe", unresolved_at=clock.now())
    reply = chat.say("sam", f"form {ref} stage-2-record record")
    # no signed record yet: the record's fields are asked
    reply = chat.script("sam", "yesterday", "Sam Patel, Mia Roberts", "yes", "Police want an assessment; CSC do not",
                        "Thresholds", "Assessment to go ahead", "none")
    reply = chat.say("sam", "submit")
    assert reply.to_speaker[0].text.startswith("Recorded: "), texts(reply)
    chair = [o for o in reply.queued if o.to.person_id == chat.pid("carl")]
    assert chair and "has sent you" in chair[0].message.text and chair[0].message.attachments
    filled = _filled(runtime, ref, "stage-2-record", clock.now(), entitled=False)
    got = {f.label: f.value for f in filled.parts[0].fields}
    assert got["Date of the discussion or meeting"] == "Wed 1 Apr 2026"
    assert got["Recognition and acknowledgement that there is a disagreement about a significant safeguarding issue"] \
        == "Yes"
    assert got["Agreed outcome"] == "Assessment to go ahead"
    assert got["Completed by"] == "Sam Patel"
    with runtime.factory() as s:
        st = services.state_of(repo.case_by_ref(ref, session=s), clock.now(), session=s)
        assert "record-to-log-chair" in {i.step.id for i in st.done}


@pytest.mark.parametrize("fmt", ["html", "pdf"])
def test_cli_form_command(runtime, clock, tmp_path, fmt) -> None:
    from typer.testing import CliRunner

    from adapters.cli import app

    ref = _cv_case_at_stage_2(runtime)
    out = tmp_path / f"form.{fmt}"
    result = CliRunner().invoke(app, ["form", ref, "appendix-1", "--format", fmt, "--out", str(out),
                                      "--db", runtime.url])
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    text = data.decode("utf-8") if fmt == "html" else _pdf_text(data)
    assert "Jamie Doe" in text and "The referral was closed after one visit." in text
    bad = CliRunner().invoke(app, ["form", ref, "appendix-9", "--db", runtime.url])
    assert bad.exit_code != 0 and "has no form" in bad.output


def test_forms_read_in_welsh_for_a_welsh_speaker(runtime, clock) -> None:
    """Cardiff & Vale's Appendix 1 in Welsh: the title, the parts and the field labels, in the chat questions, the
    HTML and the PDF; the answers are kept under the protocol's English labels, so the form reads both ways."""
    ref = _cv_case_at_stage_2(runtime)
    chat = Chat(runtime, clock, board="cardiff-and-vale")
    clock.set(_at(4, 9, 10))
    chat.say("alice", "language cy")
    reply = chat.say("alice", f"form {ref} appendix-1 part-a")
    assert "Cyfeiriad" in texts(reply)  # "Address", asked in Welsh
    chat.script("alice", "1 High Street, Cardiff", "hepgor", "hepgor", "01234 567890")
    reply = chat.say("alice", "submit")
    welsh = reply.to_speaker[0]
    assert welsh.title.startswith("Atodiad 1: Pryderon am ymarfer diogelu rhwng asiantaethau")
    html = next(a for a in welsh.attachments if a.media_type == "text/html").data.decode("utf-8")
    assert "lang='cy'" in html and escape("Rhan A: i'w chwblhau gan yr asiantaeth sy'n codi'r pryder") in html
    assert "<dt>Rhif cyswllt</dt><dd>01234 567890</dd>" in html
    pdf = _pdf_text(next(a for a in welsh.attachments if a.media_type == "application/pdf").data)
    assert "Enw'r Plentyn/Oedolyn sy'n Wynebu Risg" in pdf or "Enw’r Plentyn/Oedolyn sy’n Wynebu Risg" in pdf
    english = _filled(runtime, ref, "appendix-1", clock.now())
    assert _field(english, "part-a", "Contact number").value == "01234 567890"
    assert "<dt>Contact number</dt>" in render.render_html(T, english)
