"""Database URLs, engines and sessions. SQLite file by default; PostgreSQL via DATABASE_URL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_URL = "sqlite:///parley.db"
SQLITE_BUSY_SECONDS = 30  # how long a SQLite transaction waits for another to finish before giving up
IMMEDIATE = "parley_sqlite_immediate"
_KEPT = "parley_kept_rows"
_KEPT_CLASSES: list[type] = []


def resolve_url(url: str | None = None) -> str:
    """The URL to use: the argument, else DATABASE_URL, else a SQLite file in the current folder.

    ``postgres://`` and ``postgresql://`` are mapped to the psycopg 3 driver.
    """
    url = url or os.environ.get("DATABASE_URL") or DEFAULT_URL
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def in_memory(url: str) -> bool:
    """A SQLite database that lives in memory (``sqlite://``, ``:memory:``, ``mode=memory``): it has no journal file,
    so WAL does not apply to it."""
    parsed = make_url(url)
    return parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory"


def make_engine(url: str | None = None, **kwargs: object) -> Engine:
    """An engine for ``url``. On SQLite every connection enforces foreign keys and waits up to SQLITE_BUSY_SECONDS
    for another writer (the driver's busy timeout); a file database runs in WAL mode with synchronous=NORMAL
    (docs/configuration.md). PostgreSQL is used as the server is configured."""
    url = resolve_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_SECONDS}, **kwargs)
        file_database = not in_memory(url)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            if file_database:
                # readers never wait for the writer, and the writer for no reader (a file database only)
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            # SQLite ignores SELECT ... FOR UPDATE: a unit of work that will write (see ``writing``) takes the write
            # lock when it begins, waiting up to SQLITE_BUSY_SECONDS for another writer to finish, so two never
            # interleave (two schedulers, two people pressing at once, fifty intakes at once). Others keep the
            # driver's own handling: reads as they come, a transaction begun just before the first write.
            if conn.get_execution_options().get(IMMEDIATE, False):
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def ping(engine: Engine) -> None:
    """Raises when the database does not answer ``SELECT 1`` on a connection of its own."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def writing(session: Session) -> Session:
    """Mark ``session``'s unit of work as one that writes, before it touches the database: on SQLite its
    transaction then takes the write lock at once (BEGIN IMMEDIATE), so another writer waits its turn instead of
    failing half-way or both reading the same counter; on PostgreSQL nothing changes (row locks do that)."""
    if session.get_bind().dialect.name == "sqlite" and not session.in_transaction():
        session.connection(execution_options={IMMEDIATE: True})
    return session


def keep_after_rollback(exc: BaseException, session: Session) -> bool:
    """Write what an exception says must outlive its unit of work (a refusal's audit entry: bot.cases.services'
    ``ServiceError.record``), after the rollback that undid everything else. The owner of the session commits it:
    a service never commits its caller's session. True when there was something to keep."""
    record = getattr(exc, "record", None)
    if record is None:
        return False
    exc.record = None  # type: ignore[attr-defined]  # kept once, however many owners see the exception
    session.rollback()
    record(session)
    return True


class UnitOfWork(Session):
    """A session whose ``with`` block, left by an exception that carries a record to keep (see
    :func:`keep_after_rollback`), rolls back, writes that record and commits it before closing.

    Rows of the classes given to :func:`keep_loaded` stay in its identity map once loaded, until it closes, so
    looking one up again by its key (``session.get``) is not another query."""

    def close(self) -> None:
        self.info.pop(_KEPT, None)
        super().close()

    def __exit__(self, type_: object, value: BaseException | None, traceback: object) -> None:
        try:
            if value is not None and keep_after_rollback(value, self):
                self.commit()
        finally:
            super().__exit__(type_, value, traceback)


def keep_loaded(*classes: type) -> None:
    """Keep rows of ``classes`` for the rest of the unit of work that loaded them (see :class:`UnitOfWork`).

    SQLAlchemy's identity map holds rows weakly: a row nobody refers to any more (an agency whose name was
    read) is dropped, and the next ``session.get`` of it is a query again (a case card read its two agencies
    seven times). For small rows read again and again in one unit of work (boards, agencies, people). What a
    unit of work sees does not change: a row still held is never re-read by ``session.get`` either."""
    _KEPT_CLASSES.extend(c for c in classes if c not in _KEPT_CLASSES)


@event.listens_for(UnitOfWork, "loaded_as_persistent")
def _keep(session: Session, instance: object) -> None:
    if isinstance(instance, tuple(_KEPT_CLASSES)):
        session.info.setdefault(_KEPT, []).append(instance)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, class_=UnitOfWork, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
