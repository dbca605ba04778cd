"""A case's protocol is parsed once per process and snapshot (issue #17): later evaluations look up the snapshot's
digest (one small query) and neither read its JSON column nor decode it again; a new snapshot (a changed protocol)
is read and used, and the same snapshot id in another database is not taken for this one's. SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, event

from bot.admin import directory
from bot.cases import opening, protocols, services
from bot.runtime import Runtime
from protocol import loader
from storage import repo
from tests.bot.test_services import NOW, ctx, new_case


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """Every SQL statement sent to ``engine`` inside the block."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append(" ".join(statement.split()).lower())

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def data_reads(seen: list[str]) -> int:
    """Statements that read a snapshot's protocol (its JSON column)."""
    return sum(1 for q in seen if q.startswith("select") and "protocol_snapshots.data" in q)


def snapshot_queries(seen: list[str]) -> int:
    return sum(1 for q in seen if "protocol_snapshots" in q)


@pytest.fixture
def parses(monkeypatch) -> list[dict]:
    """Every snapshot the loader decodes into a Protocol, in order; the cache starts empty."""
    protocols._parsed.cache_clear()
    seen: list[dict] = []
    real = loader.from_snapshot

    def counting(data: dict):
        seen.append(data)
        return real(data)

    monkeypatch.setattr(loader, "from_snapshot", counting)
    yield seen
    protocols._parsed.cache_clear()


def edited_swindon(version: str, due: str) -> dict:
    data = loader.load_board("swindon").raw
    first = data["stages"][0]
    return {**data, "version": version,
            "stages": [{**first, "steps": [{**first["steps"][0], "due": due}, *first["steps"][1:]]},
                       *data["stages"][1:]]}


def test_a_known_snapshot_is_read_and_decoded_once(runtime: Runtime, parses: list[dict]) -> None:
    with runtime.factory() as s:
        ref = opening.open_case(ctx(s, "alice"), new_case(s), session=s).ref
        s.commit()
    protocols._parsed.cache_clear()
    parses.clear()
    dues = []
    with statements(runtime.engine) as seen:
        for turn in range(4):  # four units of work, as four interactions would be
            with runtime.factory() as s:
                case = repo.case_by_ref(ref, session=s)
                before = len(seen)
                dues.append(services.state_of(case, NOW, session=s).next_deadline.due_at)
                assert protocols.board_protocol("swindon", session=s).version == loader.load_board("swindon").version
                mine = seen[before:]
                # the first evaluation reads the snapshot once; after it, only its digest, once a unit of work
                assert data_reads(mine) == (1 if turn == 0 else 0), mine
                assert snapshot_queries(mine) == (2 if turn == 0 else 1), mine
    assert len(parses) == 1
    assert set(dues) == {dt.datetime(2026, 4, 8, 17, tzinfo=NOW.tzinfo)}  # 2 working days (Good Friday, Easter Monday)


def test_a_changed_protocol_is_a_new_snapshot_and_is_picked_up(runtime: Runtime, parses: list[dict]) -> None:
    with runtime.factory() as s:
        old = opening.open_case(ctx(s, "alice"), new_case(s), session=s)
        s.commit()
        assert services.state_of(old, NOW, session=s).next_deadline.due_at == dt.datetime(2026, 4, 8, 17,
                                                                                         tzinfo=NOW.tzinfo)
        before = len(parses)
        directory.sync_protocol(loader.load_data(edited_swindon("edited", "5 working days"), source="t"), session=s)
        s.commit()
        new = opening.open_case(ctx(s, "alice"), new_case(s), session=s)
        s.commit()
        assert new.snapshot_id != old.snapshot_id
        with statements(runtime.engine) as seen:
            new_due = services.state_of(new, NOW, session=s).next_deadline.due_at
            old_due = services.state_of(old, NOW, session=s).next_deadline.due_at
            current = protocols.board_protocol("swindon", session=s)
    assert new_due == dt.datetime(2026, 4, 13, 17, tzinfo=NOW.tzinfo)  # 5 WD (7-10, 13 Apr) under the edited one
    assert old_due == dt.datetime(2026, 4, 8, 17, tzinfo=NOW.tzinfo)  # the old case keeps its own
    assert current.version == "edited"
    assert data_reads(seen) == 0  # the new snapshot was read when the case was opened under it, and only then
    assert [p["protocol"]["version"] for p in parses[before:]] == ["edited"]


def test_the_same_snapshot_id_in_another_database_is_not_mistaken(db_url: str, tmp_path, parses: list[dict]) -> None:
    other_url = f"sqlite:///{tmp_path / 'other.db'}"
    seeds = {"first": edited_swindon("first", "2 working days"), "second": edited_swindon("second", "5 working days")}
    runtimes = {}
    for name, url in (("first", db_url), ("second", other_url)):
        rt = Runtime(url)
        rt.upgrade()
        with rt.factory() as s:  # each database's first snapshot: the same id, another protocol
            directory.sync_protocol(loader.load_data(seeds[name], source=name), session=s)
            s.commit()
        runtimes[name] = rt
    try:
        ids = set()
        for _ in range(2):
            for name, rt in runtimes.items():
                with rt.factory() as s:
                    board = repo.get_board("swindon", session=s)
                    ids.add(board.current_snapshot_id)
                    proto = protocols.board_protocol("swindon", session=s)
                    assert proto.version == name
                    assert proto.stages[0].steps[0].due.text == seeds[name]["stages"][0]["steps"][0]["due"]
        assert len(ids) == 1  # one id, two protocols
        assert sorted(p["protocol"]["version"] for p in parses) == ["first", "second"]  # each read once
    finally:
        for rt in runtimes.values():
            rt.engine.dispose()
