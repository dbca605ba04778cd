"""What one Teams card invoke costs Parley (issue #17): work it need not do is not done. Counted, never timed."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from adapters.teams.connector import BoundedAuthentication
from tests.adapters.test_teams_e2e import teams_env  # noqa: F401  (the fixture)


class _Inner:
    """A Bot Framework authentication that counts the user token clients it makes."""

    def __init__(self) -> None:
        self.made = 0

    async def create_user_token_client(self, claims_identity: Any) -> Any:
        self.made += 1
        inner = self

        class Client:
            async def get_token_status(self, user_id: str, channel_id: str, include_filter: str) -> list:
                return [(user_id, channel_id, include_filter, inner.made)]

        return Client()


def test_a_turn_makes_no_user_token_client_until_one_is_used() -> None:
    """botbuilder asks for one every turn (for OAuth sign-in, which Parley does not use); making it costs as much as
    a connector client. It is made the first time it is used, once."""
    inner = _Inner()
    auth = BoundedAuthentication(inner, 5.0)  # type: ignore[arg-type]

    async def turn() -> tuple[int, list, list]:
        client = await auth.create_user_token_client(None)  # type: ignore[arg-type]
        before = inner.made
        first = await client.get_token_status("u", "msteams", "")
        second = await client.get_token_status("u", "msteams", "x")
        return before, first, second

    before, first, second = asyncio.run(turn())
    assert before == 0
    assert first == [("u", "msteams", "", 1)] and second == [("u", "msteams", "x", 1)] and inner.made == 1


def test_the_intake_card_reads_the_directory_once(teams_env) -> None:
    rt, _connector, teams, _clock, _server = teams_env
    calls: list[int] = []
    colleagues = rt.colleagues

    def counting(person_id: int) -> Any:
        calls.append(person_id)
        return colleagues(person_id)

    rt.colleagues = counting
    intake = teams.invoke("alice", "form.risk", {"risk": "no", "context": ""})
    assert "form.intake" in str(intake)
    assert len(calls) == 1

