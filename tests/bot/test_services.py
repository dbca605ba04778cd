"""Application services: validation, permissions, events in one transaction, snapshots."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.admin import directory
from bot.cases import services
from bot.cases.services import Ctx
from bot.cases.opening import NewCase
from bot.cases.errors import PermissionDenied, ServiceError
from protocol import loader
from storage import repo
from tests.conftest import LONDON
from bot.cases import opening

NOW = dt.datetime(2026, 4, 2, 10, 0, tzinfo=LONDON)


def ctx(s, key: str, board: str = "swindon", now: dt.datetime = NOW) -> Ctx:
    return Ctx(repo.person_by_key(board, key, session=s), "console", now)


def new_case(s, board: str = "swindon", **over) -> NewCase:
    csc = repo.agency_by_key(board, "social-care", session=s)
    bob = repo.person_by_key(board, "bob", session=s)
    base = dict(board_id=board, subject_kind="child", category="thresholds" if board != "wolverhampton"
                else "threshold", what_happened="Closed too early", done_so_far="Phoned",
                outcome_sought="Reopen", arose_on=dt.date(2026, 4, 2), responding_agency_id=csc.id,
                responding_person_id=bob.id)
    base.update(over)
    return NewCase(**base)


@pytest.mark.parametrize("over, message", [
    ({"category": "nonsense"}, "not one of this protocol's categories"),
    ({"subject_kind": "adult"}, "covers children only"),  # Swindon: children only (SWN-N1)
    ({"what_happened": "   "}, "what the disagreement is about"),
    ({"arose_on": dt.date(2026, 4, 3)}, "can't be in the future"),
    ({"what_happened": "x" * 5000}, "keep it under 4000"),
    ({"protective_date": dt.date(2026, 3, 1)}, "protective date can't be in the past"),
    ({"bypass_reason": "media-political"}, "no such reason"),
])
def test_open_case_refuses_bad_input_with_a_clear_message(runtime, over, message) -> None:
    with runtime.factory() as s:
        with pytest.raises(ServiceError, match=message):
            opening.open_case(ctx(s, "alice"), new_case(s, **over), session=s)
        s.rollback()
        assert repo.cases_for_board("swindon", session=s) == []


def test_same_agency_disagreement_is_refused(runtime) -> None:
    with runtime.factory() as s:
        police = repo.agency_by_key("swindon", "police", session=s)
        with pytest.raises(ServiceError, match="between agencies"):
            opening.open_case(ctx(s, "alice"), new_case(s, responding_agency_id=police.id,
                                                         responding_person_id=None), session=s)


def test_text_is_cleaned_of_control_and_bidi_characters(runtime) -> None:
    with runtime.factory() as s:
        case = opening.open_case(ctx(s, "alice"), new_case(
            s, what_happened="Closed\u202e early\x07 <!channel>", responding_person_id=None,
            responding_person_name="  Dr\u200b Who  "), session=s)
        assert case.what_happened == "Closed early <!channel>"
        assert case.responding_person_name == "Dr Who"


def test_open_case_appends_events_and_projection(runtime) -> None:
    with runtime.factory() as s:
        case = opening.open_case(ctx(s, "alice"), new_case(s, subject_name="Jamie Doe"), session=s)
        s.commit()
        kinds = [e.kind for e in repo.events_for(case.id, session=s)]
        assert kinds == ["immediate_risk_answered", "opened", "counterpart_named", "subject_details_recorded"]
        assert case.status == "open" and case.stage_number == 1 and case.ref == "SWN-2026-0001"
        assert case.next_due_at == dt.datetime(2026, 4, 8, 17, 0, tzinfo=LONDON)  # SWN-10
        assert all(e.via == "console" and e.actor_label == "Alice Hughes" for e in repo.events_for(case.id, session=s))


def test_unresolved_outcome_moves_stage_and_bumps_version(runtime) -> None:
    with runtime.factory() as s:
        case = opening.open_case(ctx(s, "alice"), new_case(s), session=s)
        v = case.version
        later = dt.datetime(2026, 4, 8, 16, tzinfo=LONDON)
        st = services.record_outcome(ctx(s, "alice", now=later), case, resolved=False, text="No agreement", session=s)
        assert st.stage.number == 2 and case.stage_id == "inter-agency-discussion"
        assert case.version > v
        assert case.next_due_at == dt.datetime(2026, 4, 15, 17, 0, tzinfo=LONDON)  # SWN-11


def test_permission_refused_for_someone_else_and_other_boards(runtime) -> None:
    with runtime.factory() as s:
        case = opening.open_case(ctx(s, "alice"), new_case(s), session=s)
        s.commit()
        with pytest.raises(PermissionDenied):
            services.record_outcome(ctx(s, "ed"), case, resolved=True, text="x", session=s)
        with pytest.raises(PermissionDenied):  # the same handle on another board is another person
            services.record_outcome(ctx(s, "alice", board="wolverhampton"), case, resolved=True, text="x",
                                    session=s)
        assert case.status == "open"


def test_future_contact_date_refused(runtime) -> None:
    with runtime.factory() as s:
        case = opening.open_case(ctx(s, "alice"), new_case(s), session=s)
        with pytest.raises(ServiceError, match="future"):
            services.record_contact(ctx(s, "alice"), case, on=dt.date(2026, 4, 9), who="Bob", how="phone",
                                    outcome="", session=s)


def test_illegal_transition_is_a_clear_message(runtime) -> None:
    with runtime.factory() as s:
        case = opening.open_case(ctx(s, "alice"), new_case(s), session=s)
        services.close_case(ctx(s, "alice"), case, reason="Withdrawn", session=s)
        with pytest.raises(ServiceError, match="isn't possible"):
            services.record_outcome(ctx(s, "alice"), case, resolved=True, text="x", session=s)


def test_case_keeps_its_protocol_snapshot_when_the_yaml_changes(runtime) -> None:
    """Editing a board's protocol never moves the deadlines of cases already open."""
    with runtime.factory() as s:
        old = opening.open_case(ctx(s, "alice"), new_case(s), session=s)
        s.commit()
        data = loader.load_board("swindon").raw
        data = {**data, "version": "edited",
                "stages": [{**data["stages"][0], "steps": [{**data["stages"][0]["steps"][0], "due": "5 working days"}]},
                           *data["stages"][1:]]}
        directory.sync_protocol(loader.load_data(data, source="edited"), session=s)
        s.commit()
        new = opening.open_case(ctx(s, "alice"), new_case(s), session=s)
        s.commit()
        old_due = services.state_of(old, NOW, session=s).next_deadline.due_at
        new_due = services.state_of(new, NOW, session=s).next_deadline.due_at
    assert old_due == dt.datetime(2026, 4, 8, 17, tzinfo=LONDON)  # 2 WD, as when it opened
    assert new_due == dt.datetime(2026, 4, 13, 17, tzinfo=LONDON)  # 5 WD (7-10, 13 Apr) under the edited protocol


def test_bypass_records_reason_and_goes_to_stage_3(runtime) -> None:
    """CV-15: direct escalation to Stage 3, with the reason recorded."""
    with runtime.factory() as s:
        case = opening.open_case(ctx(s, "alice", "cardiff-and-vale"), new_case(s, "cardiff-and-vale"), session=s)
        with pytest.raises(ServiceError, match="protocol's reasons"):
            services.bypass_to_stage(ctx(s, "alice", "cardiff-and-vale"), case, reason_id="bored", session=s)
        st = services.bypass_to_stage(ctx(s, "alice", "cardiff-and-vale"), case, reason_id="death-serious-harm",
                                      details="Serious injury", session=s)
        assert st.stage.number == 3 and st.visits[-1].how == "bypass"
        # CV-16: discuss immediately with the agency's safeguarding lead
        assert any(i.step.id == "discuss-with-safeguarding-lead" for i in st.items)
