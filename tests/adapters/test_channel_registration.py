"""Channels registered from inside them: `/parley register …` over signed HTTP on Slack and `@Parley register …` on
Teams; the business unit's channel too; refused (and audited) for a practitioner; on Slack only where Parley is a
member, since it must post there later."""

from __future__ import annotations

from sqlalchemy import select

from storage import repo
from storage.models import AgencyChannel, AuditEntry, BoardChannel
from tests.adapters.test_slack_e2e import USERS, slack_env  # noqa: F401 - the fixture
from tests.adapters.test_teams_e2e import teams_env  # noqa: F401 - the fixture


def answers(mock) -> list[str]:
    return [c.args.get("text", "") for c in mock.of("/respond/1")]


def channels_of(rt, platform: str) -> tuple[set, set]:
    with rt.factory() as s:
        agency = {(repo.get_agency(c.agency_id, session=s).key, c.level, c.address)
                  for c in s.scalars(select(AgencyChannel).where(AgencyChannel.platform == platform))}
        board = {(c.board_id, c.purpose, c.address)
                 for c in s.scalars(select(BoardChannel).where(BoardChannel.platform == platform))}
    return agency, board


def test_slack_registration_over_signed_http(slack_env) -> None:
    rt, mock, slack, _clock, _adapter = slack_env
    mock.channels.update({"CPOLSENIOR": True, "CBU": True, "COUTSIDE": False})
    before = channels_of(rt, "slack")
    # a practitioner may not: refused, audited, nothing recorded
    assert slack.command(USERS["alice"], "register managers police senior", channel="CPOLSENIOR")[0] == 200
    mock.wait_for("/respond/1")
    assert answers(mock)[-1] == "Only an administrator or the business unit can register channels."
    assert channels_of(rt, "slack") == before
    with rt.factory() as s:
        refused = s.scalars(select(AuditEntry).where(AuditEntry.kind == "refused")).all()
        assert [r.data["action"] for r in refused] == ["register_channel"]
    # the business unit (linked through users.info by e-mail) registers a level and its own channel
    slack.command(USERS["una"], "register managers police senior", channel="CPOLSENIOR")
    mock.wait_for("/respond/1", count=2)
    assert answers(mock)[-1] == "This channel is now where Wiltshire Police's senior managers get escalation prompts."
    slack.command(USERS["una"], "register business-unit", channel="CBU")
    mock.wait_for("/respond/1", count=3)
    assert answers(mock)[-1].startswith("This channel is now the business unit's")
    # a channel Parley is not in, or one Slack will not show it: told to invite Parley first, nothing recorded
    slack.command(USERS["una"], "register managers education", channel="COUTSIDE")
    slack.command(USERS["una"], "register managers education", channel="CPRIVATE")
    mock.wait_for("/respond/1", count=5)
    assert answers(mock)[-2:] == ["Invite Parley to this channel first (/invite @Parley), then register it."] * 2
    agency, board = channels_of(rt, "slack")
    assert agency - before[0] == {("police", "senior_manager", "CPOLSENIOR")}
    assert board - before[1] == {("swindon", "business_unit", "CBU")}
    with rt.factory() as s:
        done = s.scalars(select(AuditEntry).where(AuditEntry.kind == "channel_registered")).all()
        assert [(d.data["agency"], d.data["level"]) for d in done] == [("police", "senior_manager"),
                                                                      ("board", "business_unit")]


def test_teams_registration_of_a_level_and_the_business_unit(teams_env) -> None:
    rt, connector, teams, _clock, _server = teams_env

    def texts(channel: str) -> list[str]:
        return [a["text"] for conv, a in connector.posts if conv.startswith(channel) and a.get("text")]

    def say_in_channel(who: str, text: str, channel: str) -> str:
        seen = len(texts(channel))
        teams.send(teams.activity(who, "message", conv=f"{channel};messageid=1", channel=channel,
                                  text=f"<at>Parley</at> {text}"))
        return connector.wait(lambda c: texts(channel)[seen:])[-1]

    before = channels_of(rt, "teams")
    assert say_in_channel("alice", "register directors for social care", "19:csc-heads@thread.tacv2") == \
        "Only an administrator or the business unit can register channels."
    assert channels_of(rt, "teams") == before
    assert say_in_channel("una", "register directors for social care", "19:csc-heads@thread.tacv2") == \
        "This channel is now where Swindon Children's Social Care's directors get escalation prompts."
    assert say_in_channel("una", "register business-unit", "19:bu@thread.tacv2").startswith(
        "This channel is now the business unit's")
    agency, board = channels_of(rt, "teams")
    assert agency - before[0] == {("social-care", "director", "19:csc-heads@thread.tacv2")}
    assert board - before[1] == {("swindon", "business_unit", "19:bu@thread.tacv2")}
