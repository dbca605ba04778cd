"""Data protection in storage: subject details encrypted at rest (raw columns, round trip, key rotation, wrong and
malformed keys, the development key), the migration that encrypts existing rows and chains existing events, the
hash chain over each case's events, and PostgreSQL's append-only trigger."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import stat

import pytest
import sqlalchemy as sa
from collections.abc import Iterator

from cryptography.fernet import Fernet
from sqlalchemy import text

from bot.admin import datakeys
from storage import chain, crypto, migrate, protection, repo, subjects
from storage.db import make_engine
from storage.models import Case
from tests.conftest import LONDON

NAME, DOB, ADDRESS, NUMBER = "Kezia Marchbanks", dt.date(2014, 6, 3), "14 Quarry Lane, Swindon", "CSC-884211"
EXTRA = {"appendix-1/part-a/Parents' names": "Rhiannon Marchbanks"}
PLAIN = (NAME, "2014-06-03", ADDRESS, NUMBER, "Rhiannon", "Quarry")
AT = dt.datetime(2026, 4, 2, 9, tzinfo=LONDON)


def _case(s, board: str = "swindon") -> Case:
    b = repo.get_board(board, session=s)
    alice = repo.person_by_key(board, "alice", session=s)
    return repo.add_case(Case(ref=repo.next_case_ref(b, 2026, session=s), board_id=board,
                              snapshot_id=b.current_snapshot_id, subject_kind="child", category="other",
                              raising_agency_id=alice.agency_id, raising_person_id=alice.id, status="open",
                              opened_at=AT), session=s)


def _with_subject(rt) -> int:
    with rt.factory() as s:
        case = _case(s)
        subjects.set_subject(case.id, session=s, name=NAME, date_of_birth=DOB, address=ADDRESS, case_number=NUMBER)
        subjects.set_extra(case.id, next(iter(EXTRA)), EXTRA[next(iter(EXTRA))], session=s)
        s.commit()
        return case.id


def _verify(rt) -> tuple[chain.ChainReport, list[str]]:
    with rt.factory() as s:
        report = chain.verify(s)
    return report, [f"{ref}: {p.message}" for ref, p in report.problems]


def _raw(rt, case_id: int) -> dict:
    with rt.engine.connect() as conn:
        row = conn.execute(text("SELECT name, date_of_birth, address, case_number, extra FROM subject_details "
                                "WHERE case_id = :c"), {"c": case_id}).mappings().one()
    return dict(row)


def test_raw_columns_never_hold_the_plaintext_and_round_trip(runtime) -> None:
    case_id = _with_subject(runtime)
    raw = _raw(runtime, case_id)
    dump = json.dumps({k: str(v) for k, v in raw.items()})
    for plain in PLAIN:
        assert plain not in dump
    assert all(str(v).startswith("gAAAAA") for v in raw.values())  # Fernet tokens, every column
    with runtime.factory() as s:
        sub = subjects.get_subject(case_id, session=s)
        assert (sub.name, sub.date_of_birth, sub.address, sub.case_number, sub.extra) == (NAME, DOB, ADDRESS,
                                                                                          NUMBER, EXTRA)


def test_rotation_with_two_keys(runtime, monkeypatch) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    monkeypatch.setenv("PARLEY_DATA_KEYS", old)
    case_id = _with_subject(runtime)
    before = _raw(runtime, case_id)
    monkeypatch.setenv("PARLEY_DATA_KEYS", f"{new},{old}")
    with runtime.factory() as s:  # the old key still reads, through the list
        assert subjects.get_subject(case_id, session=s).name == NAME
    result = datakeys.rotate(runtime.factory)
    assert result.rows == 1
    after = _raw(runtime, case_id)
    assert all(after[k] != before[k] for k in before)
    assert all(Fernet(new.encode()).decrypt(after[k].encode()) for k in after)
    monkeypatch.setenv("PARLEY_DATA_KEYS", new)  # the old key can now be dropped
    with runtime.factory() as s:
        sub = subjects.get_subject(case_id, session=s)
        assert (sub.name, sub.date_of_birth, sub.extra) == (NAME, DOB, EXTRA)
    monkeypatch.setenv("PARLEY_DATA_KEYS", old)  # and the old key alone no longer reads anything
    with runtime.factory() as s, pytest.raises(crypto.DataKeyError):
        subjects.get_subject(case_id, session=s)


def test_a_wrong_key_gives_a_clear_error_and_rotation_changes_nothing(runtime, monkeypatch) -> None:
    case_id = _with_subject(runtime)
    before = _raw(runtime, case_id)
    wrong = Fernet.generate_key().decode()
    monkeypatch.setenv("PARLEY_DATA_KEYS", wrong)
    with runtime.factory() as s, pytest.raises(crypto.DataKeyError) as err:
        subjects.get_subject(case_id, session=s)
    message = str(err.value)
    assert "cannot be decrypted" in message and "PARLEY_DATA_KEYS" in message and "old key" in message
    assert wrong not in message and NAME not in message
    with pytest.raises(crypto.DataKeyError, match="SWN-2026-0001.*cannot be decrypted.*Nothing was changed"):
        datakeys.rotate(runtime.factory)
    assert _raw(runtime, case_id) == before


def test_a_malformed_key_is_named_by_its_position_never_shown(monkeypatch) -> None:
    good = Fernet.generate_key().decode()
    monkeypatch.setenv("PARLEY_DATA_KEYS", f"{good}, not-a-key-at-all")
    with pytest.raises(crypto.DataKeyError) as err:
        crypto.key_source()
    assert "key 2 of 2 is not a Fernet key" in str(err.value) and "not-a-key-at-all" not in str(err.value)
    monkeypatch.setenv("PARLEY_DATA_KEYS", " , ")
    with pytest.raises(crypto.DataKeyError, match="holds no key"):
        crypto.key_source()


def test_without_a_key_a_development_key_is_generated_once_with_a_warning(tmp_path, monkeypatch, capsys) -> None:
    path = tmp_path / "keys" / ".parley-dev-key"
    monkeypatch.delenv("PARLEY_DATA_KEYS", raising=False)
    monkeypatch.delenv("PARLEY_PRODUCTION", raising=False)
    monkeypatch.setenv("PARLEY_DEV_KEY_FILE", str(path))
    first = crypto.key_source()
    assert first.development and path.exists() and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert "WARNING: PARLEY_DATA_KEYS is not set" in capsys.readouterr().err
    again = crypto.key_source()
    assert again.keys == first.keys  # the same key next time: data written with it stays readable
    assert crypto.decrypt(crypto.encrypt("x")) == "x"
    with pytest.raises(crypto.DataKeyError, match="PARLEY_DATA_KEYS is not set"):
        crypto.require_real_keys()  # what parley serve asks for
    monkeypatch.setenv("PARLEY_PRODUCTION", "true")
    with pytest.raises(crypto.DataKeyError, match="will not use a development key in production"):
        crypto.key_source()


def test_key_upkeep_never_hands_back_personal_data(runtime) -> None:
    case_id = _with_subject(runtime)
    with runtime.factory() as s:
        sample = protection.check_sample(s, crypto.key_source())
        assert (sample.rows, sample.checked_ref, sample.newest_key) == (1, "SWN-2026-0001", True)
        assert not any(p in repr(sample) for p in PLAIN)
        assert protection.has_subject(s, case_id)
        assert protection.erase_subject(s, case_id) and not protection.has_subject(s, case_id)
        s.commit()
        assert subjects.get_subject(case_id, session=s) is None


# -- the migration: existing plaintext rows encrypted, existing events chained ---------------------------------
@contextlib.contextmanager
def _later_columns(engine: sa.Engine, tables: tuple[str, ...]) -> Iterator[None]:
    """Today's models write these tables with columns later migrations add: add them for the while (as plain
    nullable columns) and drop them again, so the database is as the old revision left it, with rows in it."""
    from storage.models import Base

    added = []
    with engine.begin() as conn:
        have = sa.inspect(conn)
        for name in tables:
            present = {c["name"] for c in have.get_columns(name)}
            for col in Base.metadata.tables[name].columns:
                if col.name not in present:
                    kind = col.type.compile(dialect=conn.dialect)
                    conn.execute(text(f"ALTER TABLE {name} ADD COLUMN {col.name} {kind}"))
                    added.append((name, col.name))
    try:
        yield
    finally:
        with engine.begin() as conn:
            for name, column in added:
                conn.execute(text(f"ALTER TABLE {name} DROP COLUMN {column}"))


def _at_0007_with_rows(db_url: str) -> list[int]:
    """A database migrated to 0007 holding two cases with events, one with plaintext subject details."""
    from bot.runtime import Runtime

    migrate.upgrade(db_url, "0007")
    rt = Runtime(db_url)
    with _later_columns(rt.engine, ("boards", "agencies", "people")):
        rt.load_demo()  # boards, agencies and people, written by today's models
        cases = sa.table("cases", *(sa.column(c) for c in (
            "id", "ref", "board_id", "snapshot_id", "subject_kind", "category", "raising_agency_id", "raising_person_id",
            "what_happened", "done_so_far", "outcome_sought", "immediate_risk", "status", "opened_at", "version",
            "stage_token", "bypass_used", "policy_gap", "projection_version")))
        with rt.factory() as s:
            b = repo.get_board("swindon", session=s)
            alice = repo.person_by_key("swindon", "alice", session=s)
            row = dict(board_id="swindon", snapshot_id=b.current_snapshot_id, subject_kind="child",
                       category="other", raising_agency_id=alice.agency_id, raising_person_id=alice.id,
                       what_happened="x", done_so_far="", outcome_sought="", immediate_risk=False, status="open",
                       opened_at=dt.datetime(2026, 4, 2, 8), version=1, stage_token=0, bypass_used=False,
                       policy_gap=False, projection_version=0)
            s.execute(cases.insert(), [dict(row, ref="SWN-2026-0001"), dict(row, ref="SWN-2026-0002")])
            ids = list(s.scalars(text("SELECT id FROM cases ORDER BY id")))
            s.execute(text("INSERT INTO subject_details (case_id, name, date_of_birth, address, case_number, extra) "
                           "VALUES (:c, :n, :d, :a, :k, :e)"),
                      {"c": ids[0], "n": NAME, "d": DOB, "a": ADDRESS, "k": NUMBER, "e": json.dumps(EXTRA)})
            events = sa.table("case_events", *(sa.column(c) for c in ("case_id", "seq", "kind", "at", "actor_id",
                                                                      "actor_label", "via")),
                              sa.column("data", sa.JSON))
            s.execute(events.insert(), [
                dict(case_id=cid, seq=n, kind=k, at=dt.datetime(2026, 4, 2, 8, n), actor_id=alice.id,
                     actor_label="Alice Hughes", via="console", data=d)
                for cid in ids for n, (k, d) in enumerate([("opened", {"arose_on": "2026-04-02"}),
                                                           ("contact", {"who": "Bob", "outcome": "Talked £ ü"}),
                                                           ("closed", {"reason": "done"})], start=1)])
            s.commit()
    rt.engine.dispose()
    return ids


def test_migration_0008_encrypts_existing_rows_and_chains_existing_events(db_url) -> None:
    from bot.runtime import Runtime

    ids = _at_0007_with_rows(db_url)
    migrate.upgrade(db_url)
    rt = Runtime(db_url)
    raw = _raw(rt, ids[0])
    assert not any(p in json.dumps({k: str(v) for k, v in raw.items()}) for p in PLAIN)
    with rt.factory() as s:
        sub = subjects.get_subject(ids[0], session=s)
        assert (sub.name, sub.date_of_birth, sub.address, sub.case_number, sub.extra) == (NAME, DOB, ADDRESS,
                                                                                          NUMBER, EXTRA)
        evs = repo.events_for(ids[1], session=s)
        assert [e.prev_hash for e in evs] == [chain.GENESIS, evs[0].hash, evs[1].hash]
        assert repo.get_case(ids[1], session=s).event_chain_head == evs[-1].hash
        # a new event carries on the backfilled chain
        repo.append_event(repo.get_case(ids[1], session=s), "contact", session=s, at=AT, actor=None, via="system")
        s.commit()
    report, problems = _verify(rt)
    assert not problems and (report.cases, report.events) == (2, 7)
    rt.engine.dispose()

    # and back: the downgrade decrypts into the old columns
    from alembic import command

    command.downgrade(migrate.alembic_config(db_url), "0007")
    engine = make_engine(db_url)
    with engine.connect() as conn:
        back = conn.execute(text("SELECT name, address, case_number FROM subject_details WHERE case_id = :c"),
                            {"c": ids[0]}).one()
        assert tuple(back) == (NAME, ADDRESS, NUMBER)
        assert "hash" not in {c["name"] for c in sa.inspect(conn).get_columns("case_events")}
    engine.dispose()


def test_migration_0008_without_a_usable_key_stops_before_changing_anything(sqlite_url, monkeypatch) -> None:
    ids = _at_0007_with_rows(sqlite_url)
    monkeypatch.delenv("PARLEY_DATA_KEYS")
    monkeypatch.setenv("PARLEY_PRODUCTION", "true")
    with pytest.raises(crypto.DataKeyError, match="PARLEY_DATA_KEYS is not set"):
        migrate.upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    assert migrate.current_revision(engine) == "0007"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM subject_details WHERE case_id = :c"), {"c": ids[0]}).scalar() == NAME
    engine.dispose()


# -- the hash chain ------------------------------------------------------------------------------------------
def _history(rt, n: int = 4) -> int:
    with rt.factory() as s:
        case = _case(s)
        for i in range(n):
            repo.append_event(case, "contact", session=s, at=AT + dt.timedelta(minutes=i), actor=None,
                              via="system", data={"who": f"person {i}", "outcome": "talked"})
        s.commit()
        return case.id


def test_each_event_is_chained_to_the_one_before(runtime) -> None:
    case_id = _history(runtime)
    with runtime.factory() as s:
        evs = repo.events_for(case_id, session=s)
        assert evs[0].prev_hash == chain.GENESIS
        assert all(b.prev_hash == a.hash for a, b in zip(evs, evs[1:]))
        assert all(chain.hash_of(e) == e.hash and chain.data_digest(e.data) == e.data_digest for e in evs)
        assert repo.get_case(case_id, session=s).event_chain_head == evs[-1].hash
    assert _verify(runtime)[1] == []


@pytest.mark.parametrize("tamper, expected", [
    ("UPDATE case_events SET data = '{\"who\": \"someone else\", \"outcome\": \"talked\"}' WHERE seq = 2",
     "event 2 (contact, recorded 2026-04-02 08:01 UTC) had its details changed after it was recorded"),
    ("UPDATE case_events SET actor_label = 'Mallory' WHERE seq = 3",
     "event 3 (contact, recorded 2026-04-02 08:02 UTC) was changed after it was recorded"),
    ("DELETE FROM case_events WHERE seq = 2", "event 2 is missing: deleted from the history"),
    ("DELETE FROM case_events WHERE seq IN (2, 3)", "events 2 to 3 are missing: deleted from the history"),
    ("DELETE FROM case_events WHERE seq = 4", "the history ends at event 3, but the case records a different "
                                              "latest event"),
    ("UPDATE case_events SET seq = seq + 10 WHERE seq = 1", "event 1 is missing"),
])
def test_tampering_on_sqlite_is_reported_in_plain_words(sqlite_runtime, tamper, expected) -> None:
    rt = sqlite_runtime
    case_id = _history(rt)
    with rt.engine.begin() as conn:  # SQLite has no trigger: anyone with the file can do this
        conn.execute(text(tamper + " AND case_id = :c"), {"c": case_id})
    problems = _verify(rt)[1]
    assert any(line.startswith("SWN-2026-0001: ") and expected in line for line in problems), problems


def test_swapping_two_events_breaks_the_links(sqlite_runtime) -> None:
    rt = sqlite_runtime
    case_id = _history(rt)
    with rt.engine.begin() as conn:
        conn.execute(text("UPDATE case_events SET seq = -1 WHERE case_id = :c AND seq = 2"), {"c": case_id})
        conn.execute(text("UPDATE case_events SET seq = 2 WHERE case_id = :c AND seq = 3"), {"c": case_id})
        conn.execute(text("UPDATE case_events SET seq = 3 WHERE case_id = :c AND seq = -1"), {"c": case_id})
    problems = _verify(rt)[1]
    assert any("does not follow on from the event before it" in p for p in problems), problems


# -- PostgreSQL: the trigger ---------------------------------------------------------------------------------
@pytest.mark.postgres
def test_postgres_refuses_update_and_delete_of_events(pg_url) -> None:
    from tests.conftest import make_runtime

    rt = make_runtime(pg_url)
    case_id = _history(rt)
    for sql in ("UPDATE case_events SET kind = 'outcome' WHERE case_id = :c AND seq = 1",
                "UPDATE case_events SET data = '{}' WHERE case_id = :c AND seq = 1",
                "DELETE FROM case_events WHERE case_id = :c AND seq = 4",
                "TRUNCATE case_events"):
        with rt.engine.begin() as conn, pytest.raises(sa.exc.DBAPIError, match="case_events is append-only"):
            conn.execute(text(sql), {"c": case_id})
    # a session that only knows the setting's name gets nowhere (R5): 'on' is no longer the key
    with rt.engine.begin() as conn:
        conn.execute(text("SELECT set_config('parley.retention_redaction', 'on', true)"))
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            conn.execute(text("UPDATE case_events SET data = '{\"who\": \"x\"}' WHERE case_id = :c AND seq = 1"),
                         {"c": case_id})
    # the retention redaction's token (derived from the audit key, outside the database) lets the data change,
    # and only the data
    with rt.factory() as s:
        s.execute(text("SELECT set_config('parley.retention_redaction', :t, true)"),
                  {"t": chain._redaction_token(s)})
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), s.begin_nested():
            s.execute(text("UPDATE case_events SET hash = repeat('0', 64) WHERE case_id = :c"), {"c": case_id})
        s.execute(text("UPDATE case_events SET data = '{\"who\": \"x\"}' WHERE case_id = :c AND seq = 1"),
                  {"c": case_id})
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), s.begin_nested():
            s.execute(text("DELETE FROM case_events WHERE case_id = :c"), {"c": case_id})
        s.commit()
    with rt.factory() as s:
        assert len(repo.events_for(case_id, session=s)) == 4
        assert repo.events_for(case_id, session=s)[0].data == {"who": "x"}
    # (that unauthorised change is then reported: nothing recorded it as a retention redaction)
    assert any("event 1 (contact" in p and "details changed" in p for p in _verify(rt)[1])
    rt.engine.dispose()


def test_two_writers_on_one_case_both_land_in_order(runtime, clock) -> None:
    """Another process appends to the case between this one reading the last event and inserting its own (two
    refusals at once, a click during a sweep): the loser of the (case, seq) race goes after the winner, and the
    chain still verifies."""
    from sqlalchemy import event as sa_event

    from bot.admin import audit as audit_mod
    from tests.bot.test_scheduler import open_case

    cid = open_case(runtime, "swindon", clock.now())
    with runtime.factory() as a:
        case = a.get(Case, cid)
        interloped = []

        def interlope(session, _ctx, _instances) -> None:
            if interloped:
                return
            interloped.append(True)
            with runtime.factory() as b:  # a second connection commits an event first
                repo.append_event(b.get(Case, cid), "refused", session=b, at=clock.now(), actor=None, via="slack",
                                  data={"action": "close"})
                b.commit()

        sa_event.listen(a, "before_flush", interlope)
        repo.append_event(case, "refused", session=a, at=clock.now(), actor=None, via="teams",
                          data={"action": "extend"})
        a.commit()
    with runtime.factory() as s:
        events = repo.events_for(cid, session=s)
        assert [(e.via, e.data.get("action")) for e in events[-2:]] == [("slack", "close"), ("teams", "extend")]
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
    result = audit_mod.verify(runtime.factory)
    assert result.ok, result.problems


# -- the files behind Teams links and the start-up check (R6, R7) ----------------------------------------------
def test_rotation_re_encrypts_the_files_behind_teams_links(runtime, monkeypatch) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    monkeypatch.setenv("PARLEY_DATA_KEYS", old)
    case_id = _with_subject(runtime)
    with runtime.factory() as s:
        repo.append_event(s.get(Case, case_id), "opened", session=s, at=AT, actor=None, via="system")
        s.commit()
    expires = AT + dt.timedelta(days=7)
    runtime.put_file("tok", filename="SWN-2026-0001-appendix-1.pdf", media_type="application/pdf",
                     title=f"Form for {NAME}", data=b"%PDF form", expires_at=expires)
    monkeypatch.setenv("PARLEY_DATA_KEYS", f"{new},{old}")
    result = datakeys.rotate(runtime.factory)
    assert (result.rows, result.files) == (1, 1)
    monkeypatch.setenv("PARLEY_DATA_KEYS", new)  # the old key dropped: the file still opens
    assert runtime.get_file("tok", AT) == ("SWN-2026-0001-appendix-1.pdf", "application/pdf", f"Form for {NAME}",
                                           expires, b"%PDF form")
    # and the history still verifies with only the new key (rotation wrote a full checkpoint signed with it)
    from bot.admin import audit

    result = audit.verify(runtime.factory)
    assert result.ok and "signed with a retired key" in result.notes[0], result.problems


def test_start_up_refuses_keys_that_cannot_read_the_stored_data(runtime, monkeypatch) -> None:
    key = os.environ["PARLEY_DATA_KEYS"]
    datakeys.check_startup(runtime.factory)  # an empty database: the canary is stored
    wrong = Fernet.generate_key().decode()
    monkeypatch.setenv("PARLEY_DATA_KEYS", wrong)
    with pytest.raises(crypto.DataKeyError, match="Parley will not start.*key canary does not decrypt") as err:
        datakeys.check_startup(runtime.factory)
    assert wrong not in str(err.value) and key not in str(err.value)
    monkeypatch.setenv("PARLEY_DATA_KEYS", key)
    _with_subject(runtime)
    runtime.put_file("tok", filename="f.pdf", media_type="application/pdf", title="t", data=b"x",
                     expires_at=AT + dt.timedelta(days=7))
    datakeys.check_startup(runtime.factory)
    monkeypatch.setenv("PARLEY_DATA_KEYS", wrong)
    with pytest.raises(crypto.DataKeyError) as err:
        datakeys.check_startup(runtime.factory)
    message = str(err.value)
    for part in ("SWN-2026-0001 cannot be decrypted", "files behind Teams links cannot be decrypted",
                 "latest audit checkpoint is signed with a key other than the audit key"):
        assert part in message, message
    assert NAME not in message
    monkeypatch.setenv("PARLEY_DATA_KEYS", f"{wrong},{key}")  # the old key after a new one: starts
    datakeys.check_startup(runtime.factory)


def test_two_replicas_storing_the_key_canary_at_once_do_not_fail(db_url) -> None:
    """Both replicas find no canary at their first start and both store one: the second insert gives way (the
    two-replica process test in tests/e2e/test_scheduler_processes.py crashed on this)."""
    from bot.runtime import Runtime

    rt = Runtime(db_url)
    rt.upgrade()
    source = crypto.key_source()
    with rt.factory() as first:
        protection.ensure_canary(first, source)
        first.commit()
        stored = first.scalar(text("SELECT value FROM settings WHERE key = :k"), {"k": protection.CANARY})
    with rt.factory() as second:  # it looked before the first committed: it saw none
        second.scalar = lambda *_a, **_k: None  # type: ignore[method-assign]
        protection.ensure_canary(second, source)
        second.commit()
    with rt.factory() as s:
        assert s.scalar(text("SELECT value FROM settings WHERE key = :k"), {"k": protection.CANARY}) == stored
    rt.engine.dispose()
