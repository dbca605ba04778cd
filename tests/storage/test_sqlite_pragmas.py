"""How Parley opens SQLite (issue #17; docs/configuration.md): a file database in WAL mode with synchronous=NORMAL
and a busy timeout of SQLITE_BUSY_SECONDS on every connection; an in-memory one keeps SQLite's own journal; and
PostgreSQL sessions are left as the server configures them."""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from bot.runtime import Runtime
from storage.db import SQLITE_BUSY_SECONDS, make_engine, writing

DOCS = Path(__file__).resolve().parents[2] / "docs"


def pragmas(conn) -> dict[str, object]:
    return {name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")}


def test_a_file_database_opened_by_parley_is_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "parley.db"
    rt = Runtime(f"sqlite:///{path}")
    try:
        rt.upgrade()
        with rt.engine.connect() as one, rt.engine.connect() as two:  # every connection of the pool, not the first
            for conn in (one, two):
                assert pragmas(conn) == {"journal_mode": "wal", "synchronous": 1,  # 1 = NORMAL
                                         "busy_timeout": SQLITE_BUSY_SECONDS * 1000, "foreign_keys": 1}
    finally:
        rt.engine.dispose()
    # WAL is a property of the file: another program opening it finds it so too
    other = sqlite3.connect(path)
    try:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        other.close()


def test_a_writer_waits_for_another_instead_of_failing(tmp_path: Path) -> None:
    path = tmp_path / "parley.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
    locked, release = threading.Event(), 0.6

    def other_writer() -> None:
        con = sqlite3.connect(path, timeout=0, isolation_level=None)
        con.execute("BEGIN IMMEDIATE")
        con.execute("INSERT INTO t VALUES (1)")
        locked.set()
        time.sleep(release)
        con.execute("COMMIT")
        con.close()

    rt = Runtime(f"sqlite:///{path}")
    thread = threading.Thread(target=other_writer)
    thread.start()
    try:
        assert locked.wait(10)
        start = time.monotonic()
        with rt.factory() as s:
            writing(s)  # BEGIN IMMEDIATE: waits (busy timeout) until the other writer commits
            waited = time.monotonic() - start
            assert s.connection().exec_driver_sql("SELECT count(*) FROM t").scalar() == 1  # after its commit
    finally:
        thread.join()
        engine.dispose()
        rt.engine.dispose()
    assert waited >= release / 2
    # without a busy timeout the same wait fails at once: the timeout is what makes the difference
    thread = threading.Thread(target=other_writer)
    locked.clear()
    thread.start()
    try:
        assert locked.wait(10)
        bare = sqlite3.connect(path, timeout=0, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            bare.execute("BEGIN IMMEDIATE")
        bare.close()
    finally:
        thread.join()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_database_keeps_sqlite_s_own_journal(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            found = pragmas(conn)
        assert found["journal_mode"] == "memory"
        assert found["busy_timeout"] == SQLITE_BUSY_SECONDS * 1000 and found["foreign_keys"] == 1
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgresql_sessions_are_left_as_the_server_configures_them(pg_url: str) -> None:
    settings = ("synchronous_commit", "lock_timeout", "statement_timeout", "idle_in_transaction_session_timeout",
                "default_transaction_isolation")
    parley, plain = make_engine(pg_url), create_engine(pg_url)
    try:
        with parley.connect() as a, plain.connect() as b:
            assert [a.exec_driver_sql(f"SHOW {name}").scalar() for name in settings] == \
                [b.exec_driver_sql(f"SHOW {name}").scalar() for name in settings]
    finally:
        parley.dispose()
        plain.dispose()


def test_the_configuration_page_says_what_the_code_does() -> None:
    text = " ".join((DOCS / "configuration.md").read_text(encoding="utf-8").split())
    assert "WAL mode with `synchronous=NORMAL`" in text
    assert [int(n) for n in re.findall(r"waits up to (\d+) s for another writer \(its busy timeout\)", text)] == \
        [SQLITE_BUSY_SECONDS]
    assert "an in-memory database keeps SQLite's own journal" in text
