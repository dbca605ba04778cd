"""The independent chair's channel registered from inside it: `/parley register chair` over signed HTTP on Slack and
`@Parley register chair` on Teams; refused (and audited) for a practitioner; recorded as the board's `chair` channel
(where the prompts of the stages the chair runs are posted: tests/journeys/test_chair_channel.py)."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import AuditEntry, BoardChannel
from tests.adapters.test_slack_e2e import USERS, slack_env  # noqa: F401 - the fixture
from tests.adapters.test_teams_e2e import teams_env  # noqa: F401 - the fixture

CONFIRMED = ("This channel is now the independent chair's: the escalation prompts of the stages the chair runs are "
             "posted here.")
REFUSED = "Only an administrator or the business unit can register channels."


def board_channels(rt, platform: str) -> set[tuple[str, str, str]]:
    with rt.factory() as s:
        return {(c.board_id, c.purpose, c.address)
                for c in s.scalars(select(BoardChannel).where(BoardChannel.platform == platform))}


def audited(rt) -> list[tuple[str, str | None, str | None]]:
    with rt.factory() as s:
        return [(a.kind, a.data.get("action"), a.data.get("level")) for a in s.scalars(
            select(AuditEntry).where(AuditEntry.kind.in_(["refused", "channel_registered"])).order_by(AuditEntry.id))]


def test_slack_register_chair_over_signed_http(slack_env) -> None:
    rt, mock, slack, _clock, _adapter = slack_env
    mock.channels.update({"CCHAIR": True})
    assert slack.command(USERS["alice"], "register chair", channel="CCHAIR")[0] == 200
    mock.wait_for("/respond/1")
    assert mock.of("/respond/1")[-1].args["text"] == REFUSED
    assert board_channels(rt, "slack") == set()
    slack.command(USERS["una"], "register chair", channel="CCHAIR")
    mock.wait_for("/respond/1", count=2)
    assert mock.of("/respond/1")[-1].args["text"] == CONFIRMED
    assert board_channels(rt, "slack") == {("swindon", "chair", "CCHAIR")}
    assert audited(rt) == [("refused", "register_channel", None), ("channel_registered", None, "chair")]


def test_teams_register_chair(teams_env) -> None:
    rt, connector, teams, _clock, _server = teams_env

    def say_in_channel(who: str, text: str, channel: str) -> str:
        def texts() -> list[str]:
            return [a["text"] for conv, a in connector.posts if conv.startswith(channel) and a.get("text")]

        seen = len(texts())
        teams.send(teams.activity(who, "message", conv=f"{channel};messageid=1", channel=channel,
                                  text=f"<at>Parley</at> {text}"))
        return connector.wait(lambda c: texts()[seen:])[-1]

    assert say_in_channel("alice", "register chair", "19:chair@thread.tacv2") == REFUSED
    assert board_channels(rt, "teams") == set()
    assert say_in_channel("una", "register the chair", "19:chair@thread.tacv2") == CONFIRMED
    assert board_channels(rt, "teams") == {("swindon", "chair", "19:chair@thread.tacv2")}
    assert audited(rt) == [("refused", "register_channel", None), ("channel_registered", None, "chair")]
