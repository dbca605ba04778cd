"""Who Parley can reach in Teams: the rosters of the teams it is installed in.

When the app is installed in a team (and whenever people join one) and then every hour, each team's members are
fetched with the Bot Connector's paged members API (botbuilder's ``TeamsInfo.get_paged_team_members``) and:

- each member is linked to the directory person with the same e-mail address (or user principal name) as a
  ``teams`` identity keyed by their Entra (AAD) object id, exactly as a first message would link them;
- each member's reference (the team's conversation plus their Teams member id) is stored as a ``member``
  reference, which is what the transport needs to create a 1:1 chat with someone who never wrote to Parley.

A roster that cannot be fetched (throttled, removed from the team) is logged by type and tried again next time.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.core.teams import TeamsInfo
from botbuilder.schema import ConversationReference

from adapters.teams.connector import proactive
from bot.runtime import Runtime

log = logging.getLogger("parley.teams")
PLATFORM = "teams"
PAGE_SIZE = 500  # the most the Connector gives in one page
INTERVAL = 3600.0  # seconds between whole-roster refreshes


class Roster:
    def __init__(self, runtime: Runtime, adapter: Any, app_id: str):
        self.rt = runtime
        self.adapter = adapter
        self.app_id = app_id

    async def members(self, turn: TurnContext, team_id: str) -> list[Any]:
        """Every member of the team, page by page."""
        found: list[Any] = []
        token: str | None = None
        while True:
            page = await TeamsInfo.get_paged_team_members(turn, team_id, token, PAGE_SIZE)
            found.extend(page.members or [])
            token = page.continuation_token
            if not token:
                return found

    async def sync_team(self, team_id: str) -> int:
        """Fetch one team's roster and link its members; returns how many members it has (0 if not fetched)."""
        data = self.rt.ref(PLATFORM, "team", team_id)
        if data is None:
            return 0
        ref = ConversationReference().deserialize(data)
        result: dict[str, Any] = {}

        async def callback(turn: TurnContext) -> None:
            try:
                result["members"] = await self.members(turn, team_id)
            except Exception as exc:
                result["error"] = exc

        with proactive():
            await self.adapter.continue_conversation(ref, callback, self.app_id)
        if "error" in result or "members" not in result:
            error = result.get("error")
            log.warning("could not fetch a Teams roster (%s)", type(error).__name__ if error else "not run",
                        extra={"platform": PLATFORM})
            return 0
        members = [m for m in result["members"] if getattr(m, "aad_object_id", None) and getattr(m, "id", None)]
        base = {k: v for k, v in data.items() if k != "activityId"}
        self.rt.save_refs(PLATFORM, "member", {m.aad_object_id: {**base, "member_id": m.id} for m in members})
        linked = self.rt.link_members(PLATFORM, [
            (m.aad_object_id, [e for e in (getattr(m, "email", None), getattr(m, "user_principal_name", None)) if e])
            for m in members])
        log.info("Teams roster fetched: %d members, %d newly linked", len(members), linked,
                 extra={"platform": PLATFORM})
        return len(members)

    async def sync_all(self) -> int:
        """Every team Parley is installed in; returns the number of members seen."""
        total = 0
        for team_id in self.rt.ref_keys(PLATFORM, "team"):
            try:
                total += await self.sync_team(team_id)
            except Exception as exc:
                log.warning("Teams roster sync failed (%s)", type(exc).__name__, extra={"platform": PLATFORM})
        return total

    async def every(self, interval: float = INTERVAL) -> None:
        """Refresh every roster now and then every ``interval`` seconds (run as a task by the server)."""
        while True:
            await self.sync_all()
            await asyncio.sleep(interval)
