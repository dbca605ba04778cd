"""Forms (Slack modals, Teams cards) validate exactly like the conversation and record the same case."""

from __future__ import annotations

from bot.forms.forms import INTAKE_FORM, OUTCOME_FORM, Forms
from bot.core.messages import FieldKind, Severity
from storage import repo
from tests.conftest import Chat


def _values(chat: Chat, **over: str) -> dict[str, str]:
    with chat.rt.factory() as s:
        csc = repo.agency_by_key("swindon", "social-care", session=s)
    base = {"pre0": "no", "category": "thresholds", "agency": str(csc.id), "person": str(chat.pid("bob")),
            "what": "Referral closed", "done": "Phoned", "sought": "Re-open", "arose": "2026-04-02"}
    base.update(over)
    return base


def test_intake_form_fields_follow_the_protocol(chat: Chat) -> None:
    forms = Forms(chat.rt.factory, chat.clock, "slack")
    form = forms.intake(chat.pid("alice"))
    ids = [f.id for f in form.fields]
    assert ids[:2] == ["pre0", "pre1"]  # Swindon's CP-conference questions (SWN-3)
    assert "kind" not in ids  # Swindon covers children only
    assert "protective" not in ids  # no protective caps in Swindon's protocol
    assert next(f for f in form.fields if f.id == "person").kind is FieldKind.PERSON
    police = next(f for f in form.fields if f.id == "agency")
    assert "Wiltshire Police" not in [c.label for c in police.choices]  # not the raiser's own agency


def test_risk_yes_records_and_shows_the_route_above_the_intake_form(chat: Chat) -> None:
    forms = Forms(chat.rt.factory, chat.clock, "slack")
    res = forms.submit_risk(chat.pid("alice"), {"risk": "yes"})
    assert res.next_form is not None and res.next_form.id == INTAKE_FORM
    assert "MASH" in res.next_form.intro and res.next_form.intro_severity is Severity.URGENT
    with chat.rt.factory() as s:
        assert len(repo.audit_entries(session=s, kind="immediate_risk_reported")) == 1
    done = forms.submit(chat.pid("alice"), INTAKE_FORM, _values(chat), res.next_form.context)
    assert not done.errors
    ref = done.reply.to_speaker[0].case_ref
    with chat.rt.factory() as s:
        case = repo.case_by_ref(ref, session=s)
        assert case.immediate_risk is True
        assert done.reply.queued[0].to.person_id == chat.pid("bob")


def test_intake_errors_are_per_field_and_nothing_is_recorded(chat: Chat) -> None:
    forms = Forms(chat.rt.factory, chat.clock, "slack")
    res = forms.submit(chat.pid("alice"), INTAKE_FORM, _values(chat, what="", arose="2026-05-01", person="",
                                                                person_name=""), "risk=no")
    assert set(res.errors) == {"what", "arose", "person_name"}
    assert "future" in res.errors["arose"]
    with chat.rt.factory() as s:
        hugh = repo.person_by_key("swindon", "hugh", session=s).id
    res = forms.submit(chat.pid("alice"), INTAKE_FORM, _values(chat, person=str(hugh)), "risk=no")
    assert "not listed in Swindon Children's Social Care" in res.errors["person"]
    res = forms.submit(chat.pid("alice"), INTAKE_FORM, _values(chat, pre0="yes", pre1="no"), "risk=no")
    assert "dissent process" in res.errors["pre0"]  # SWN-3 blocks the intake
    with chat.rt.factory() as s:
        assert repo.cases_for_board("swindon", session=s) == []


def test_someone_not_in_the_directory_by_name(chat: Chat) -> None:
    forms = Forms(chat.rt.factory, chat.clock, "slack")
    res = forms.submit(chat.pid("alice"), INTAKE_FORM, _values(chat, person="", person_name="Duty SW"), "risk=no")
    assert not res.errors
    assert "Duty SW (Swindon Children's Social Care)" in str(res.reply.to_speaker[0].fields)


def test_outcome_form_moves_the_case_and_asks_flags_only_when_resolved(runtime, clock) -> None:
    chat = Chat(runtime, clock, board="mid-and-west-wales")
    forms = Forms(runtime.factory, clock, "slack")
    with runtime.factory() as s:
        csc = repo.agency_by_key("mid-and-west-wales", "social-care", session=s)
    res = forms.submit(chat.pid("alice"), INTAKE_FORM, {
        "kind": "child", "category": "thresholds", "agency": str(csc.id), "person": str(chat.pid("bob")),
        "what": "Closed after a visit", "done": "Phoned", "sought": "Re-open", "arose": "2026-04-02"}, "risk=no")
    ref = res.reply.to_speaker[0].case_ref
    form = forms.outcome(chat.pid("bob"), ref)
    assert form.id == OUTCOME_FORM and "flag:policy_gap" in [f.id for f in form.fields]  # MWW-4
    res = forms.submit(chat.pid("bob"), OUTCOME_FORM, {"resolved": "resolved", "text": "Agreed"}, ref)
    assert res.errors == {"flag:policy_gap": "Please answer yes or no."}
    res = forms.submit(chat.pid("bob"), OUTCOME_FORM, {"resolved": "resolved", "text": "Agreed",
                                                        "flag:policy_gap": "yes"}, ref)
    assert "Outcome recorded: resolved." in res.reply.to_speaker[0].text
    assert "Refer the procedural issue" in res.reply.to_speaker[0].text


def test_a_submitted_agency_id_is_never_read_as_a_position_in_the_list(chat: Chat) -> None:
    """A form sends the agency's id; "1" must mean agency id 1, not the first agency offered."""
    forms = Forms(chat.rt.factory, chat.clock, "teams")
    with chat.rt.factory() as s:
        police = repo.agency_by_key("swindon", "police", session=s)
        schools = repo.agency_by_key("swindon", "education", session=s)
        ed = repo.person_by_key("swindon", "ed", session=s)
    # bob (social care) raises against the police: the police id is not its position in bob's list
    res = forms.submit(chat.pid("bob"), INTAKE_FORM, _values(chat, agency=str(police.id), person=str(chat.pid("alice"))),
                       "risk=no")
    assert not res.errors, res.errors
    res = forms.submit(chat.pid("bob"), INTAKE_FORM, _values(chat, agency=str(schools.id), person=str(ed.id)), "risk=no")
    assert not res.errors, res.errors
    with chat.rt.factory() as s:
        cases = repo.cases_for_board("swindon", session=s)
        assert [c.responding_agency_id for c in cases] == [police.id, schools.id]
    res = forms.submit(chat.pid("bob"), INTAKE_FORM, _values(chat, agency="999"), "risk=no")
    assert "agency" in res.errors
