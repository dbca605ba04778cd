"""Several Slack workspaces: slack_sdk's installation and OAuth state stores in Parley's own database (their tables
come from migration 0014, never from ``create_tables``), the workspaces installed, each agency's recorded workspace,
and the lock under which a workspace's token is refreshed. The queries of bot/delivery/workspaces.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import Engine, MetaData, func, select
from sqlalchemy.orm import Session

from storage.models import Agency, AgencyChannel, Person

INSTALLATIONS, BOTS, STATES = "slack_installations", "slack_bots", "slack_oauth_states"
SDK_TABLES = (INSTALLATIONS, BOTS, STATES)  # slack_sdk's, not Parley's models: autogenerate leaves them alone


def installation_store(engine: Engine, client_id: str) -> SQLAlchemyInstallationStore:
    return SQLAlchemyInstallationStore(client_id=client_id, engine=engine, bots_table_name=BOTS,
                                       installations_table_name=INSTALLATIONS)


def state_store(engine: Engine, expiration_seconds: int) -> SQLAlchemyOAuthStateStore:
    return SQLAlchemyOAuthStateStore(expiration_seconds=expiration_seconds, engine=engine, table_name=STATES)


def sdk_metadata() -> MetaData:
    """The three tables as the installed slack_sdk builds them (what migration 0014 must have created)."""
    metadata = MetaData()
    SQLAlchemyInstallationStore.build_installations_table(metadata, INSTALLATIONS)
    SQLAlchemyInstallationStore.build_bots_table(metadata, BOTS)
    SQLAlchemyOAuthStateStore.build_oauth_states_table(metadata, STATES)
    return metadata


def owned_by_parley(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's ``include_name``: compare and autogenerate Parley's own tables only (slack_sdk owns its three)."""
    return not (type_ == "table" and name in SDK_TABLES)


def installed(engine: Engine, client_id: str) -> dict[str, str | None]:
    """The workspaces this app (``client_id``) holds a bot token for: team id -> enterprise id (None outside an
    Enterprise Grid organisation)."""
    bots = sdk_metadata().tables[BOTS]
    with engine.connect() as conn:
        rows = conn.execute(select(bots.c.team_id, bots.c.enterprise_id).where(
            bots.c.client_id == client_id, bots.c.bot_token.is_not(None), bots.c.team_id.is_not(None)).distinct())
        return {team: enterprise for team, enterprise in rows}


def recorded(*, session: Session) -> set[str]:
    """Every Slack workspace an agency (of any board) records as its own."""
    return set(session.scalars(select(Agency.slack_team_id).where(Agency.slack_team_id.is_not(None)).distinct()))


def workspace_of_person(person_id: int, *, session: Session) -> str | None:
    """The Slack workspace recorded for the person's agency, if any."""
    return session.scalar(select(Agency.slack_team_id).join(Person, Person.agency_id == Agency.id)
                          .where(Person.id == person_id))


def workspace_of_channel(address: str, *, session: Session) -> str | None:
    """The Slack workspace recorded for the agency whose Slack channel ``address`` is, if any (one workspace: the
    same channel registered for two agencies in two workspaces cannot be told apart, and gives none)."""
    teams = set(session.scalars(select(Agency.slack_team_id).join(AgencyChannel, AgencyChannel.agency_id == Agency.id)
                                .where(AgencyChannel.platform == "slack", AgencyChannel.address == address,
                                       Agency.slack_team_id.is_not(None))))
    return teams.pop() if len(teams) == 1 else None


def lock_key(team_id: str) -> int:
    """The advisory lock's key for one workspace's refresh (64 bits of a hash of the team id)."""
    return int.from_bytes(hashlib.sha256(f"parley.slack.refresh:{team_id}".encode()).digest()[:8], "big", signed=True)


@contextmanager
def refresh_lock(engine: Engine, team_id: str) -> Iterator[None]:
    """Held while one workspace's token is refreshed, so that two Parley processes never spend the same refresh token
    (Slack revokes a refresh token once used): a session-level advisory lock on PostgreSQL; on SQLite, which one
    process serves, nothing (the caller's thread lock is enough)."""
    if engine.dialect.name != "postgresql":
        yield
        return
    key = lock_key(team_id)
    with engine.connect() as conn:
        conn.execute(select(func.pg_advisory_lock(key)))
        conn.commit()
        try:
            yield
        finally:
            conn.execute(select(func.pg_advisory_unlock(key)))
            conn.commit()
