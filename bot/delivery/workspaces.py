"""Several Slack workspaces (OAuth mode): which workspace a Slack address is in, which workspaces Parley serves, and
slack_sdk's installation and OAuth state stores in Parley's own database (storage/slack_workspaces.py).

A Slack user or channel id belongs to one workspace, and Parley must use that workspace's bot token to reach it
(another workspace's token answers user_not_found or channel_not_found: never tried). Parley learns the workspace
from Slack itself: every request Slack signs says which workspace it comes from, who made it and in which channel
(``remember``, kept as Slack conversation references). Before Parley has seen an address, the workspace is the one
the directory records for the person's agency, or for the agency whose channel it is (``agencies.slack_team_id``);
else, with a single workspace installed, that one; otherwise none, and the message waits in the outbox (retried,
and the business unit told) until the directory says where it goes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from storage import inbound_repo, repo, slack_workspaces
from storage.platform_models import ConversationRef

if TYPE_CHECKING:
    from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
    from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore

PLATFORM = "slack"


@dataclass(frozen=True)
class Workspace:
    team_id: str
    enterprise_id: str | None = None  # an Enterprise Grid organisation's id, else None


def stores(engine: Engine, client_id: str, state_seconds: int
           ) -> tuple[SQLAlchemyInstallationStore, SQLAlchemyOAuthStateStore]:
    """slack_sdk's installation store (bot tokens, refresh tokens, their expiry) and OAuth state store, on the tables
    of migration 0014."""
    return (slack_workspaces.installation_store(engine, client_id),
            slack_workspaces.state_store(engine, state_seconds))


def installed(engine: Engine, client_id: str) -> list[Workspace]:
    """The workspaces holding a bot token of this Slack app."""
    return [Workspace(t, e) for t, e in sorted(slack_workspaces.installed(engine, client_id).items())]


def recorded(factory: sessionmaker[Session]) -> set[str]:
    """The workspaces the directory records for an agency (``agencies.csv`` ``slack_team_id``, on any board)."""
    with factory() as s:
        return slack_workspaces.recorded(session=s)


def remember(factory: sessionmaker[Session], workspace: Workspace, addresses: Mapping[str, str]) -> None:
    """Record the workspace of Slack addresses seen in a signed request: ``addresses`` maps an id to its kind
    (``person`` for a user id, ``channel`` for a channel id). Only what changed is written."""
    data = {"team": workspace.team_id, "enterprise": workspace.enterprise_id}
    with factory() as s:
        for address, kind in addresses.items():
            row = inbound_repo.conversation_ref(PLATFORM, kind, address, session=s)
            if row is not None and row.data == data:
                continue
            try:
                with s.begin_nested():
                    if row is None:
                        s.add(ConversationRef(platform=PLATFORM, kind=kind, key=address, data=data))
                    else:
                        row.data, row.updated_at = data, dt.datetime.now(dt.timezone.utc)
            except IntegrityError:
                pass  # two requests from one person at once: the other one recorded the same
        s.commit()


def workspace_of(factory: sessionmaker[Session], kind: str, address: str, person_id: int | None,
                 installed_now: list[Workspace]) -> Workspace | None:
    """The workspace a message to ``address`` (a ``person``'s Slack user id or a ``channel`` id) must be sent from:
    as Slack last said, else the agency's recorded workspace, else the only one installed; None when it cannot be
    told. ``installed_now``: the installed workspaces (their Enterprise Grid ids)."""
    enterprise = {w.team_id: w.enterprise_id for w in installed_now}
    with factory() as s:
        ref = inbound_repo.conversation_ref(PLATFORM, "person" if kind == "person" else "channel", address, session=s)
        if ref is not None and ref.data.get("team"):
            return Workspace(ref.data["team"], ref.data.get("enterprise"))
        team = (slack_workspaces.workspace_of_person(person_id, session=s) if kind == "person" and person_id
                else slack_workspaces.workspace_of_channel(address, session=s) if kind == "channel" else None)
    if team:
        return Workspace(team, enterprise.get(team))
    return installed_now[0] if len(installed_now) == 1 else None


def audit(factory: sessionmaker[Session], kind: str, workspace: Workspace, now: dt.datetime) -> None:
    """Record a change to Parley's Slack installations (``slack_installed``, ``slack_uninstalled``,
    ``slack_token_refreshed``): the workspace only, never a token."""
    with factory() as s:
        repo.audit(kind, session=s, at=now, actor=None, actor_label="Slack", via=PLATFORM,
                   data={"team": workspace.team_id, **({"enterprise": workspace.enterprise_id}
                                                       if workspace.enterprise_id else {})})
        s.commit()


@contextmanager
def refresh_lock(engine: Engine, workspace: Workspace) -> Iterator[None]:
    """Held by the one process refreshing a workspace's token (PostgreSQL: an advisory lock across replicas)."""
    with slack_workspaces.refresh_lock(engine, workspace.team_id):
        yield
