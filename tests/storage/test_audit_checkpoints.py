"""The signed checkpoints (storage/checkpoints.py): each of the tampering attacks the reliability audit tried (R4:
T1-T13) and tampering with audit entries, references and the checkpoints themselves is reported by `parley audit
verify`, on SQLite and PostgreSQL (where the tamperer first disables the triggers, as the table owner can); normal
use keeps it intact and the fingerprint comparable; a database upgraded from before the checkpoints verifies."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy import text

from bot.admin import audit
from storage import chain, checkpoints, migrate, repo, signing
from storage.models import Case
from tests.conftest import LONDON

AT = dt.datetime(2026, 4, 2, 9, tzinfo=LONDON)


def _case(s) -> Case:
    b = repo.get_board("swindon", session=s)
    alice = repo.person_by_key("swindon", "alice", session=s)
    return repo.add_case(Case(ref=repo.next_case_ref(b, 2026, session=s), board_id="swindon",
                              snapshot_id=b.current_snapshot_id, subject_kind="child", category="other",
                              raising_agency_id=alice.agency_id, raising_person_id=alice.id, status="open",
                              opened_at=AT), session=s)


def _world(rt) -> tuple[int, int]:
    """Two cases of four events each, written in separate commits as Parley would, and three audit entries."""
    ids = []
    for _ in range(2):
        with rt.factory() as s:
            ids.append(_case(s).id)
            s.commit()
    for i in range(4):
        for cid in ids:
            with rt.factory() as s:
                repo.append_event(s.get(Case, cid), "contact", session=s, at=AT + dt.timedelta(minutes=i), actor=None,
                                  via="system", data={"who": f"person {i}", "outcome": "talked"})
                s.commit()
    with rt.factory() as s:
        for kind in ("refused", "language_set", "channel_registered"):
            repo.audit(kind, session=s, at=AT, actor=None, via="slack", board_id="swindon", data={"n": kind})
        s.commit()
    return ids[0], ids[1]


def _tamper(rt, *sqls: str, **params) -> None:
    """Run SQL as someone with the database: on PostgreSQL with the triggers off first (the owner can)."""
    pg = rt.engine.dialect.name == "postgresql"
    tables = ("case_events", "audit_entries", "audit_checkpoints")
    with rt.engine.begin() as conn:
        if pg:
            for t in tables:
                conn.execute(text(f"ALTER TABLE {t} DISABLE TRIGGER USER"))
        for sql in sqls:
            conn.execute(text(sql), params)
        if pg:
            for t in tables:
                conn.execute(text(f"ALTER TABLE {t} ENABLE TRIGGER USER"))


def _rebuild(rt, case_id: int) -> None:
    """Recompute a case's whole chain from its stored rows, as someone who knows the scheme would (T12, T13)."""
    with rt.factory() as s:
        rows = list(repo.events_for(case_id, session=s))
    prev, sqls, params = chain.GENESIS, [], {"c": case_id}
    for n, r in enumerate(rows, start=1):
        digest = chain.data_digest(r.data)
        h = chain.event_hash(prev_hash=prev, case_id=case_id, seq=n, kind=r.kind, at=r.at, actor_id=r.actor_id,
                             actor_label=r.actor_label, via=r.via, digest=digest)
        sqls.append(f"UPDATE case_events SET seq = {n}, data_digest = '{digest}', prev_hash = '{prev}', hash = '{h}' "
                    f"WHERE id = {r.id}")
        prev = h
    sqls.append(f"UPDATE cases SET event_chain_head = '{prev}' WHERE id = :c")
    _tamper(rt, *sqls, **params)


def _problems(rt, expect: str | None = None) -> list[str]:
    return audit.verify(rt.factory, expect=expect).problems


def _hash(rt, case_id: int, seq: int) -> str:
    with rt.engine.connect() as conn:
        return conn.execute(text("SELECT hash FROM case_events WHERE case_id = :c AND seq = :s"),
                            {"c": case_id, "s": seq}).scalar_one()


def test_normal_use_verifies_and_the_fingerprint_moves_on(runtime) -> None:
    rt = runtime
    a, _ = _world(rt)
    first = audit.verify(rt.factory)
    assert first.ok, first.problems
    assert first.checkpoints >= 11 and first.fingerprint.startswith(f"{first.checkpoints}:")
    with rt.factory() as s:  # one refused action by an outsider: a later checkpoint, and the kept one still there
        repo.append_event(s.get(Case, a), "refused", session=s, at=AT, actor=None, via="slack", data={})
        s.commit()
    later = audit.verify(rt.factory, expect=first.fingerprint)
    assert later.ok, later.problems
    assert int(later.fingerprint.split(":")[0]) == first.checkpoints + 1
    # a wrong fingerprint is reported
    seq, mac = first.fingerprint.split(":")
    other = "0" * len(mac) if mac[0] != "0" else "1" * len(mac)
    assert any("is not the one you kept" in p for p in _problems(rt, f"{seq}:{other}"))
    with pytest.raises(ValueError, match="not a fingerprint"):
        audit.verify(rt.factory, expect="yesterday's")


def _t(rt, a: int, b: int, which: str) -> None:
    ev = "FROM case_events WHERE case_id = :c AND seq"
    if which == "T1":
        _tamper(rt, "UPDATE case_events SET data = '{\"who\": \"someone else\"}' WHERE case_id = :c AND seq = 2", c=a)
    elif which == "T2":
        _tamper(rt, "UPDATE case_events SET actor_label = 'Mallory' WHERE case_id = :c AND seq = 3", c=a)
    elif which == "T3":
        _tamper(rt, f"DELETE {ev} = 2", c=a)
    elif which == "T4":
        _tamper(rt, f"DELETE {ev} = 4", c=a)
    elif which == "T5":
        _tamper(rt, f"DELETE {ev} = 4", f"UPDATE cases SET event_chain_head = '{_hash(rt, a, 3)}' WHERE id = :c", c=a)
    elif which == "T6":
        _tamper(rt, f"DELETE {ev} = 4", "UPDATE cases SET event_chain_head = NULL WHERE id = :c", c=a)
    elif which == "T7":
        _tamper(rt, "DELETE FROM case_events WHERE case_id = :c", "DELETE FROM cases WHERE id = :c", c=b)
    elif which == "T8":
        _tamper(rt, "DELETE FROM case_events WHERE case_id = :c", c=a)
    elif which == "T9":
        _tamper(rt, "UPDATE case_events SET seq = -1 WHERE case_id = :c AND seq = 2",
                "UPDATE case_events SET seq = 2 WHERE case_id = :c AND seq = 3",
                "UPDATE case_events SET seq = 3 WHERE case_id = :c AND seq = -1", c=a)
    elif which == "T10":
        digest = chain.data_digest({"who": "someone else"})
        _tamper(rt, "UPDATE case_events SET data = '{\"who\": \"someone else\"}', "
                    f"data_digest = '{digest}' WHERE case_id = :c AND seq = 2", c=a)
    elif which == "T11":
        _tamper(rt, "UPDATE case_events SET at = :t WHERE case_id = :c AND seq = 2",
                c=a, t=dt.datetime(2026, 3, 1, 9) if rt.engine.dialect.name == "sqlite" else AT - dt.timedelta(days=30))
    elif which == "T12":  # change what an event says, then rebuild the whole chain and the head
        _tamper(rt, "UPDATE case_events SET data = '{\"who\": \"someone else\"}' WHERE case_id = :c AND seq = 2", c=a)
        _rebuild(rt, a)
    elif which == "T13":  # delete an event, renumber, rebuild the chain and the head
        _tamper(rt, f"DELETE {ev} = 2", c=a)
        _rebuild(rt, a)


ATTACKS = {
    "T1": "had its details changed", "T2": "was changed after it was recorded", "T3": "event 2 is missing",
    "T4": "has 3 events but the signed checkpoints record 4", "T5": "has 3 events but the signed checkpoints record 4",
    "T6": "has 3 events but the signed checkpoints record 4", "T7": "SWN-2026-0002: the case was deleted",
    "T8": "has 0 events but the signed checkpoints record 4", "T9": "does not follow on from the event before it",
    "T10": "was changed after it was recorded", "T11": "was changed after it was recorded",
    "T12": "its latest event is not the one signed: the history was rebuilt",
    "T13": "has 3 events but the signed checkpoints record 4",
}


@pytest.mark.parametrize("which", list(ATTACKS))
def test_each_tampering_attack_is_reported(runtime, which) -> None:
    a, b = _world(runtime)
    assert _problems(runtime) == []
    _t(runtime, a, b, which)
    problems = _problems(runtime)
    assert any(ATTACKS[which] in p for p in problems), problems
    if which == "T7":  # and the reference it had is a gap in the references
        assert any("SWN-2026-0002 was issued but no case has it" in p for p in problems), problems


def test_a_case_deleted_with_its_counter_moved_back_is_reported(runtime) -> None:
    _, b = _world(runtime)
    _tamper(runtime, "DELETE FROM case_events WHERE case_id = :c", "DELETE FROM cases WHERE id = :c",
            "UPDATE case_counters SET last = last - 1", c=b)
    problems = _problems(runtime)
    assert any("the counter was moved back from 2 to 1" in p for p in problems), problems


@pytest.mark.parametrize("sql, expected", [
    ("DELETE FROM audit_entries WHERE kind = 'refused'", "audit entries: 1 was deleted"),
    ("UPDATE audit_entries SET actor_label = 'Someone' WHERE kind = 'language_set'",
     "audit entries: 1 was changed after they were written"),
    ("DELETE FROM audit_entries", "audit entries: 3 were deleted"),
    ("INSERT INTO audit_entries (at, board_id, actor_label, via, kind, data) SELECT at, board_id, actor_label, via, "
     "kind, data FROM audit_entries WHERE kind = 'refused'", "audit entries: 1 was added outside Parley"),
])
def test_audit_entries_tampering_is_reported(runtime, sql, expected) -> None:
    _world(runtime)
    _tamper(runtime, sql)
    problems = _problems(runtime)
    assert any(expected in p for p in problems), problems


def test_tampering_with_the_checkpoints_is_reported(runtime) -> None:
    rt = runtime
    a, _ = _world(rt)
    kept = audit.verify(rt.factory).fingerprint
    n = int(kept.split(":")[0])
    # a checkpoint's body edited to match a truncated case: its signature no longer matches
    # (checkpoint n - 2 recorded case a's fourth event: n - 1 case b's, n the audit entries)
    _tamper(rt, f"UPDATE audit_checkpoints SET body = replace(body, '\"swindon\",4,', '\"swindon\",3,') "
                f"WHERE seq = {n - 2}")
    with rt.engine.connect() as conn:
        assert '"swindon",3,' in conn.execute(text(f"SELECT body FROM audit_checkpoints WHERE seq = {n - 2}")).scalar()
    assert any(f"checkpoint {n - 2} does not match its signature" in p for p in _problems(rt))
    # one removed from the middle
    _tamper(rt, f"DELETE FROM audit_checkpoints WHERE seq = {n - 5}")
    assert any(f"checkpoint {n - 5} is missing" in p for p in _problems(rt))


def test_a_roll_back_of_the_newest_checkpoints_shows_against_the_kept_fingerprint(runtime) -> None:
    rt = runtime
    a, _ = _world(rt)
    before = audit.verify(rt.factory).fingerprint
    with rt.factory() as s:
        repo.append_event(s.get(Case, a), "contact", session=s, at=AT, actor=None, via="system", data={})
        s.commit()
    kept = audit.verify(rt.factory).fingerprint
    # the last event and the checkpoint that recorded it removed together: consistent with the earlier state ...
    n = int(kept.split(":")[0])
    _tamper(rt, "DELETE FROM case_events WHERE case_id = :c AND seq = 5", f"DELETE FROM audit_checkpoints WHERE seq = {n}",
            f"UPDATE cases SET event_chain_head = '{_hash(rt, a, 4)}' WHERE id = :c", c=a)
    assert _problems(rt) == [] and audit.verify(rt.factory).fingerprint == before
    # ... but not with the fingerprint kept elsewhere
    assert any(f"checkpoint {n}, which you kept, is no longer in the database" in p for p in _problems(rt, kept))
    # and deleting every checkpoint is reported outright
    _tamper(rt, "DELETE FROM audit_checkpoints")
    assert any("there are none, but the database holds cases" in p for p in _problems(rt))


def test_checkpoints_signed_with_another_key_are_reported(runtime, monkeypatch) -> None:
    _world(runtime)
    monkeypatch.setenv(signing.AUDIT_KEY_ENV, "x" * 40)  # a key that signed none of them
    problems = _problems(runtime)
    assert any("is signed with a key that is not configured" in p for p in problems), problems
    monkeypatch.setenv(signing.AUDIT_KEY_ENV, "short")
    assert any("shorter than 32 characters" in p for p in _problems(runtime))


def test_a_database_upgraded_from_before_the_checkpoints_verifies(db_url) -> None:
    from bot.runtime import Runtime
    from tests.storage.test_data_protection import _at_0007_with_rows

    _at_0007_with_rows(db_url)
    migrate.upgrade(db_url)
    rt = Runtime(db_url)
    result = audit.verify(rt.factory)
    assert result.ok and result.checkpoints == 1, result.problems
    with rt.factory() as s:  # and carries on
        repo.append_event(repo.case_by_ref("SWN-2026-0001", session=s), "contact", session=s, at=AT, actor=None,
                          via="system")
        s.commit()
    assert audit.verify(rt.factory, expect=result.fingerprint).ok
    _tamper(rt, "DELETE FROM case_events WHERE case_id = (SELECT id FROM cases WHERE ref = 'SWN-2026-0002')",
            "DELETE FROM cases WHERE ref = 'SWN-2026-0002'")
    assert any("SWN-2026-0002: the case was deleted" in p for p in audit.verify(rt.factory).problems)
    rt.engine.dispose()


@pytest.mark.postgres
def test_postgres_refuses_changes_to_audit_entries_and_checkpoints(pg_url) -> None:
    from tests.conftest import make_runtime

    rt = make_runtime(pg_url)
    _world(rt)
    for sql in ("UPDATE audit_entries SET kind = 'x'", "DELETE FROM audit_entries", "TRUNCATE audit_entries",
                "UPDATE audit_checkpoints SET body = '{}'", "DELETE FROM audit_checkpoints",
                "TRUNCATE audit_checkpoints CASCADE"):
        with rt.engine.begin() as conn, pytest.raises(sa.exc.DBAPIError, match="is append-only"):
            conn.execute(text(sql))
    rt.engine.dispose()


def test_a_savepoint_rolled_back_leaves_nothing_unsigned(runtime) -> None:
    a, _ = _world(runtime)
    with runtime.factory() as s:
        try:
            with s.begin_nested():
                repo.append_event(s.get(Case, a), "contact", session=s, at=AT, actor=None, via="system")
                raise RuntimeError("changed my mind")
        except RuntimeError:
            pass
        repo.audit("refused", session=s, at=AT, actor=None, via="slack", board_id="swindon")
        s.commit()
    assert _problems(runtime) == []
    with runtime.factory() as s:
        assert len(checkpoints.full_state(s)["audit"]) == 4
