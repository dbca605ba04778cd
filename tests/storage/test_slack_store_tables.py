"""Migration 0014 creates slack_sdk's installation and OAuth state store tables exactly as the installed slack_sdk
builds them (compared with the stores' own metadata, so a slack_sdk upgrade that changes them fails here), on SQLite
and PostgreSQL; the stores then work in Parley's database; and each agency records its workspace and tenant."""

from __future__ import annotations

import time

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from slack_sdk.oauth.installation_store import Installation
from sqlalchemy import func, inspect, select

from storage import slack_workspaces
from storage.migrate import upgrade
from storage.db import make_engine


def _migrated(url: str):
    upgrade(url)
    return make_engine(url)


def test_the_migrated_tables_are_the_ones_slack_sdk_builds(db_url: str) -> None:
    engine = _migrated(db_url)
    try:
        store = slack_workspaces.installation_store(engine, "CID")
        states = slack_workspaces.state_store(engine, 600)
        expected = slack_workspaces.sdk_metadata()
        # the stores' own metadata is what sdk_metadata() builds: the same three tables, columns and indexes
        assert set(store.metadata.tables) | set(states.metadata.tables) == set(expected.tables) == \
            set(slack_workspaces.SDK_TABLES)

        with engine.connect() as conn:
            for metadata in (store.metadata, states.metadata, expected):
                def only(name, type_, parent_names, tables=set(metadata.tables)) -> bool:
                    return type_ != "table" or name in tables

                ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True,
                                                             "include_name": only})
                assert compare_metadata(ctx, metadata) == []
        found = inspect(engine)
        for table in expected.tables.values():
            columns = {c["name"]: c for c in found.get_columns(table.name)}
            assert list(columns) == [c.name for c in table.columns]
            for c in table.columns:
                assert columns[c.name]["nullable"] == c.nullable, (table.name, c.name)
            assert found.get_pk_constraint(table.name)["constrained_columns"] == ["id"]
            assert {(i["name"], tuple(i["column_names"])) for i in found.get_indexes(table.name)} == \
                {(i.name, tuple(c.name for c in i.columns)) for i in table.indexes}
        agencies = {c["name"]: c for c in found.get_columns("agencies")}
        assert agencies["slack_team_id"]["nullable"] and agencies["teams_tenant_id"]["nullable"]
    finally:
        engine.dispose()


def test_the_stores_work_in_parleys_database(db_url: str) -> None:
    engine = _migrated(db_url)
    try:
        store = slack_workspaces.installation_store(engine, "CID")
        expires = int(time.time()) + 43200
        store.save(Installation(app_id="A1", team_id="T1", team_name="Police", user_id="U1",
                                bot_token="xoxe.xoxb-1", bot_id="B1", bot_user_id="UB1", bot_scopes="chat:write",
                                bot_refresh_token="xoxe-1-r", bot_token_expires_at=expires, token_type="bot"))
        store.save(Installation(app_id="A1", team_id="T2", team_name="Council", user_id="U2", bot_token="xoxb-2",
                                bot_id="B2", bot_user_id="UB2", token_type="bot"))
        found = store.find_installation(enterprise_id=None, team_id="T1")
        assert found is not None and found.bot_token == "xoxe.xoxb-1" and found.bot_refresh_token == "xoxe-1-r"
        assert found.bot_token_expires_at == expires  # naive UTC in the table, the same instant back
        assert store.find_bot(enterprise_id=None, team_id="T2").bot_token == "xoxb-2"
        assert slack_workspaces.installed(engine, "CID") == {"T1": None, "T2": None}
        assert slack_workspaces.installed(engine, "another-app") == {}
        store.delete_all(enterprise_id=None, team_id="T2")
        assert slack_workspaces.installed(engine, "CID") == {"T1": None}

        states = slack_workspaces.state_store(engine, 600)
        state = states.issue()
        assert states.consume(state) and not states.consume(state)  # once only
        assert not states.consume("forged")
        old = slack_workspaces.state_store(engine, -1).issue()  # issued already expired
        assert not states.consume(old)
        with slack_workspaces.refresh_lock(engine, "T1"):
            if engine.dialect.name == "postgresql":  # another process cannot take it meanwhile
                assert not _try_lock(engine, slack_workspaces.lock_key("T1"))
                assert _try_lock(engine, slack_workspaces.lock_key("T2"))  # another workspace's can
        if engine.dialect.name == "postgresql":
            assert _try_lock(engine, slack_workspaces.lock_key("T1"))  # given back
    finally:
        engine.dispose()


def test_alembic_leaves_slack_sdks_tables_alone() -> None:
    assert not slack_workspaces.owned_by_parley("slack_bots", "table", {})
    assert slack_workspaces.owned_by_parley("agencies", "table", {})
    assert slack_workspaces.owned_by_parley("slack_bots_idx", "index", {})


def _try_lock(engine, key: int) -> bool:
    """On a connection of its own: could the advisory lock be taken (then given back)?"""
    with engine.connect() as conn:
        got = bool(conn.scalar(select(func.pg_try_advisory_lock(key))))
        if got:
            conn.scalar(select(func.pg_advisory_unlock(key)))
        conn.commit()
        return got
