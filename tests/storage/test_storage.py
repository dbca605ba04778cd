"""Models, migrations and repositories on SQLite and PostgreSQL (the same tests on both)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import inspect

from bot.admin import directory
from protocol import loader
from storage import migrate, repo, subjects
from storage.models import Case, CaseEvent
from tests.conftest import LONDON


def test_migrations_apply_and_are_current(runtime) -> None:
    assert runtime.is_current()
    tables = set(inspect(runtime.engine).get_table_names())
    assert {"boards", "protocol_snapshots", "agencies", "agency_channels", "people", "person_identities",
            "cases", "subject_details", "case_events", "conversations", "settings", "audit_entries"} <= tables
    # upgrading again is harmless
    runtime.upgrade()
    assert migrate.current_revision(runtime.engine) == migrate.head_revision()


def test_demo_directory_is_loaded_once(runtime) -> None:
    again = runtime.load_demo()
    assert again == {"agencies": 0, "people": 0}
    with runtime.factory() as s:
        for board in loader.board_ids():
            ags = repo.agencies(board, session=s)
            assert len(ags) == 4
            police = repo.agency_by_key(board, "police", session=s)
            assert {c.level for c in repo.agency_channels(police.id, session=s)} == {
                "line_manager", "senior_manager", "director"}
            alice = repo.person_by_key(board, "alice", session=s)
            assert [m.key for m in repo.managers_of(alice, session=s)] == ["sam", "ian", "cara"]
            assert repo.person_by_identity("console", f"{board}:alice", session=s).id == alice.id


def test_protocol_snapshots_are_reused_or_added(runtime) -> None:
    with runtime.factory() as s:
        proto = loader.load_board("swindon")
        b1 = directory.sync_protocol(proto, session=s)
        first = b1.current_snapshot_id
        directory.sync_protocol(proto, session=s)
        assert repo.get_board("swindon", session=s).current_snapshot_id == first
        data = dict(proto.raw)
        data["version"] = "2026-edited"
        edited = loader.load_data(data, source="edited")
        directory.sync_protocol(edited, session=s)
        assert repo.get_board("swindon", session=s).current_snapshot_id != first
        s.commit()


def _case(s, board: str = "swindon") -> Case:
    b = repo.get_board(board, session=s)
    alice = repo.person_by_key(board, "alice", session=s)
    ref = repo.next_case_ref(b, 2026, session=s)
    return repo.add_case(Case(ref=ref, board_id=board, snapshot_id=b.current_snapshot_id, subject_kind="child",
                              category="other", raising_agency_id=alice.agency_id, raising_person_id=alice.id,
                              status="open", opened_at=dt.datetime(2026, 4, 2, 9, tzinfo=LONDON)), session=s)


def test_case_references_count_per_board_and_year(runtime) -> None:
    with runtime.factory() as s:
        refs = [_case(s).ref for _ in range(3)] + [_case(s, "wolverhampton").ref]
        b = repo.get_board("swindon", session=s)
        refs.append(repo.next_case_ref(b, 2027, session=s))
        s.commit()
    assert refs == ["SWN-2026-0001", "SWN-2026-0002", "SWN-2026-0003", "WOL-2026-0001", "SWN-2027-0001"]
    with runtime.factory() as s:
        assert repo.case_by_ref("swn-2026-0002", session=s).ref == "SWN-2026-0002"


def test_events_are_numbered_in_order_and_times_stay_aware(runtime) -> None:
    at = dt.datetime(2026, 10, 25, 1, 30, tzinfo=LONDON)  # the ambiguous hour of the clock change
    with runtime.factory() as s:
        case = _case(s)
        for kind in ("opened", "contact", "outcome"):
            repo.append_event(case, kind, session=s, at=at, actor=None, via="system", data={"k": kind})
        s.commit()
        case_id = case.id
    with runtime.factory() as s:
        evs = repo.events_for(case_id, session=s)
        assert [(e.seq, e.kind) for e in evs] == [(1, "opened"), (2, "contact"), (3, "outcome")]
        # (compare instants: PEP 495 makes == across zones False for an ambiguous wall time)
        assert all(e.at.tzinfo is not None and e.at.timestamp() == at.timestamp() for e in evs)
        assert evs[0].data == {"k": "opened"}


def test_repository_offers_no_way_to_change_history() -> None:
    names = {n for n in dir(repo) if not n.startswith("_")}
    assert not any(("event" in n and any(w in n for w in ("update", "delete", "edit", "remove"))) for n in names)


def test_naive_datetimes_are_refused(runtime) -> None:
    with runtime.factory() as s:
        case = _case(s)
        with pytest.raises(Exception, match="naive"):
            repo.append_event(case, "x", session=s, at=dt.datetime(2026, 4, 2, 9), actor=None, via="system")
        s.rollback()


def test_subject_details_live_in_their_own_table(runtime) -> None:
    with runtime.factory() as s:
        case = _case(s)
        subjects.set_subject(case.id, session=s, name="Jamie Doe", date_of_birth=dt.date(2015, 2, 1),
                             address="1 High St")
        s.commit()
        cols = {c.key for c in Case.__table__.columns} | {c.key for c in CaseEvent.__table__.columns}
        assert not ({"name", "date_of_birth", "address"} & cols)
        assert subjects.get_subject(case.id, session=s).address == "1 High St"


def test_conversation_state_survives_sessions(runtime) -> None:
    with runtime.factory() as s:
        conv = repo.get_conversation("console", "7", session=s)
        repo.save_conversation(conv, "intake", {"step": 3, "data": {"what": "x"}}, session=s)
        s.commit()
    with runtime.factory() as s:
        conv = repo.get_conversation("console", "7", session=s)
        assert conv.flow == "intake" and conv.state["data"] == {"what": "x"}


def test_models_and_migrations_agree(runtime) -> None:
    """The migrated schema is the models' schema: autogenerate finds nothing to add, drop or change."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from storage.models import Base
    from storage.slack_workspaces import owned_by_parley  # slack_sdk's tables: tests/storage/test_slack_store_tables.py

    with runtime.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True,
                                                                       "include_name": owned_by_parley}),
                                Base.metadata)
    # Known gap, left to its own migration: the three cyclic foreign keys (use_alter: boards.current_snapshot_id,
    # agencies.safeguarding_lead_id, outbox.prompt_id) were never created, as create_table leaves use_alter
    # constraints to a later ALTER that 0001 and 0003 do not issue. Anything else is a real disagreement.
    diff = [d for d in diff if not (d[0] == "add_fk" and d[1].use_alter)]
    assert diff == []


def test_directory_rows_are_read_once_per_unit_of_work(runtime) -> None:
    """A board, agency or person looked up again by its key in the same unit of work is not another query, even
    after nothing refers to it any more (SQLAlchemy's identity map alone holds rows weakly); a new unit of work
    reads them afresh."""
    import gc

    from sqlalchemy import event

    selects: list[str] = []

    def count(conn, cursor, statement, *_: object) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    board = loader.board_ids()[0]
    with runtime.factory() as s:
        alice = repo.person_by_key(board, "alice", session=s)
        ids = (alice.id, alice.agency_id)
    event.listen(runtime.engine, "before_cursor_execute", count)
    try:
        for _ in range(2):
            with runtime.factory() as s:
                for _ in range(3):
                    assert repo.get_person(ids[0], session=s).key == "alice"
                    assert repo.get_agency(ids[1], session=s) is not None
                    assert repo.get_board(board, session=s) is not None
                    gc.collect()
    finally:
        event.remove(runtime.engine, "before_cursor_execute", count)
    assert len(selects) == 6  # person, agency and board once in each of the two units of work


def test_a_delivery_key_is_claimed_in_one_statement(runtime) -> None:
    """A new key is one INSERT (no savepoint around it); a repeat is refused, unless ``window`` has passed."""
    from sqlalchemy import event

    from bot.delivery import inbound

    statements: list[str] = []
    now = dt.datetime(2026, 4, 2, 9, 0, tzinfo=dt.timezone.utc)
    later = now + dt.timedelta(minutes=2)

    def count(conn, cursor, statement, *_: object) -> None:
        statements.append(statement)

    event.listen(runtime.engine, "before_cursor_execute", count)
    try:
        with runtime.factory() as s:
            assert inbound.first_time("teams", "activity:1", now, session=s)
            s.commit()
    finally:
        event.remove(runtime.engine, "before_cursor_execute", count)
    assert len(statements) == 1 and statements[0].lstrip().upper().startswith("INSERT")
    with runtime.factory() as s:
        assert not inbound.first_time("teams", "activity:1", now, session=s)
        assert inbound.first_time("slack", "activity:1", now, session=s)  # another platform's key
        assert not inbound.first_time("teams", "activity:1", later, session=s, window=dt.timedelta(minutes=5))
        assert inbound.first_time("teams", "activity:1", later, session=s, window=dt.timedelta(minutes=1))
        assert not inbound.first_time("teams", "activity:1", later, session=s, window=dt.timedelta(minutes=1))
        s.commit()


def test_a_line_management_chain_is_read_in_one_query(runtime) -> None:
    """managers_of: the chain up from someone, in order, in one SELECT; a loop in the chain ends it."""
    from sqlalchemy import event

    board = loader.board_ids()[0]
    selects: list[str] = []

    def count(conn, cursor, statement, *_: object) -> None:
        selects.append(statement)

    with runtime.factory() as s:
        alice = repo.person_by_key(board, "alice", session=s)
        event.listen(runtime.engine, "before_cursor_execute", count)
        try:
            chain = repo.managers_of(alice, session=s)
        finally:
            event.remove(runtime.engine, "before_cursor_execute", count)
        assert [m.key for m in chain] == ["sam", "ian", "cara"] and len(selects) == 1
        cara = chain[-1]
        cara.line_manager_id = chain[0].id  # sam -> ian -> cara -> sam ...
        s.flush()
        assert [m.key for m in repo.managers_of(alice, session=s)] == ["sam", "ian", "cara"]
        cara.line_manager_id = alice.id  # ... -> cara -> alice
        s.flush()
        assert [m.key for m in repo.managers_of(alice, session=s)] == ["sam", "ian", "cara"]
        assert [m.key for m in repo.managers_of(cara, session=s)] == ["alice", "sam", "ian"]
        s.rollback()
