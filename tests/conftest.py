"""Shared fixtures: databases (SQLite always; PostgreSQL when reachable, and required under CI=true),
a migrated runtime with the demo directory, a fixed clock and a conversation driver.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text

from bot.core.clock import FixedClock
from bot.conversation.router import Conversation
from bot.runtime import Runtime
from storage import repo

# Subject details are encrypted at rest (storage/crypto.py). The suite, and the parley processes it starts, use a
# key of their own unless PARLEY_DATA_KEYS is already set: nothing to set by hand, and no development key file.
os.environ.setdefault("PARLEY_DATA_KEYS", Fernet.generate_key().decode("ascii"))

LONDON = ZoneInfo("Europe/London")
PG_BASE = os.environ.get("PARLEY_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(autouse=True, scope="session")
def _files_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Files the console saves (PARLEY_FILES_DIR, default ./parley-files) go to a temporary folder during the
    suite, never into the checkout; the parley processes the tests start inherit it."""
    before = os.environ.get("PARLEY_FILES_DIR")
    os.environ["PARLEY_FILES_DIR"] = str(tmp_path_factory.mktemp("parley-files"))
    yield
    if before is None:
        os.environ.pop("PARLEY_FILES_DIR", None)
    else:
        os.environ["PARLEY_FILES_DIR"] = before


def _pg_reachable() -> str | None:
    try:
        eng = create_engine(PG_BASE, connect_args={"connect_timeout": 3})
        with eng.connect() as conn:
            conn.execute(text("select 1"))
        eng.dispose()
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


_PG_PROBLEM = _pg_reachable()


def require_postgres() -> None:
    if _PG_PROBLEM is None:
        return
    if IN_CI:
        pytest.fail(f"CI=true but PostgreSQL at {PG_BASE} is not reachable ({_PG_PROBLEM}); "
                    "start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start")
    pytest.skip(f"PostgreSQL not reachable at {PG_BASE} ({_PG_PROBLEM}); these tests run under CI=true")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL pointing at a fresh schema of its own, dropped afterwards."""
    require_postgres()
    schema = f"parley_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_BASE)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_BASE else "?"
    yield f"{PG_BASE}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'parley.db'}"
    else:
        yield request.getfixturevalue("pg_url")


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'parley.db'}"


def make_runtime(url: str) -> Runtime:
    rt = Runtime(url)
    rt.upgrade()
    rt.load_demo()
    return rt


@pytest.fixture
def runtime(db_url: str) -> Iterator[Runtime]:
    rt = make_runtime(db_url)
    yield rt
    rt.engine.dispose()


@pytest.fixture
def sqlite_runtime(sqlite_url: str) -> Iterator[Runtime]:
    rt = make_runtime(sqlite_url)
    yield rt
    rt.engine.dispose()


@pytest.fixture
def clock() -> FixedClock:
    # Thu 2 Apr 2026 10:00 London: Good Friday and Easter Monday are the next working days' neighbours
    return FixedClock(dt.datetime(2026, 4, 2, 10, 0, tzinfo=LONDON))


class Chat:
    """Drive the channel-neutral conversation as named people of one board."""

    def __init__(self, runtime: Runtime, clock: FixedClock, board: str = "swindon", platform: str = "console"):
        self.rt = runtime
        self.clock = clock
        self.board = board
        self.conv = Conversation(runtime.factory, clock, platform)

    def pid(self, key: str) -> int:
        with self.rt.factory() as s:
            p = repo.person_by_key(self.board, key, session=s)
            assert p is not None, key
            return p.id

    def say(self, who: str, text: str):
        return self.conv.handle(self.pid(who), text)

    def press(self, who: str, action: str, value: str):
        return self.conv.handle(self.pid(who), action=action, value=value)

    def script(self, who: str, *answers: str):
        reply = None
        for a in answers:
            reply = self.say(who, a)
        return reply


@pytest.fixture
def chat(runtime: Runtime, clock: FixedClock) -> Chat:
    return Chat(runtime, clock)


def texts(reply) -> str:
    """All the text a reply shows the speaker (titles, text, fields and choices)."""
    out = []
    for m in reply.to_speaker:
        out.extend([m.title or "", m.text])
        out.extend(f"{f.label}: {f.value}" for f in m.fields)
        if m.prompt:
            out.extend(c.label for c in m.prompt.choices)
        out.extend(b.label for b in m.buttons)
    return "\n".join(out)
