"""PostgreSQL for the benchmarks: the server the tests use (PARLEY_TEST_PG_URL or 127.0.0.1:5432 db test), each
run in a schema of its own that is dropped afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text

PG_BASE = os.environ.get("PARLEY_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def pg_reachable() -> bool:
    try:
        eng = create_engine(PG_BASE, connect_args={"connect_timeout": 3})
        with eng.connect() as conn:
            conn.execute(text("select 1"))
        eng.dispose()
        return True
    except Exception:
        return False


@contextmanager
def fresh_schema() -> Iterator[str]:
    """A database URL whose search path is a new, empty schema; the schema is dropped on the way out."""
    admin = create_engine(PG_BASE)
    schema = f"parley_bench_{uuid.uuid4().hex[:10]}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        sep = "&" if "?" in PG_BASE else "?"
        yield f"{PG_BASE}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
