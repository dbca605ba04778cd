"""The same journeys delivered through Slack's and Teams' renderers: the message model is shared, so the recipients
are the same ones, and every message each person or channel gets renders within the platform's rules (Block Kit
limits and escaping; Adaptive Cards 1.5 schema and Teams' limits)."""

from __future__ import annotations

from adapters.slack.blocks import message_blocks
from adapters.teams.cards import message_card
from bot.core.messages import Message
from tests.adapters.test_slack_blocks import assert_safe
from tests.adapters.test_teams_cards import assert_card
from tests.journeys.harness import Journey, at
from tests.journeys.test_swindon_journey import swindon_whole_case


def slack(message: Message) -> None:
    assert_safe(message_blocks(message))


def teams(message: Message) -> None:
    assert_card(message_card(message))


def test_the_swindon_journey_on_slack(sqlite_runtime) -> None:
    j = Journey(sqlite_runtime, "swindon", at(2026, 4, 2, 10), platform="slack", render=slack)
    swindon_whole_case(j)
    assert j.recorder.n > 30  # the whole journey went through Slack's renderer


def test_the_swindon_journey_on_teams(sqlite_runtime) -> None:
    j = Journey(sqlite_runtime, "swindon", at(2026, 4, 2, 10), platform="teams", render=teams)
    swindon_whole_case(j)
    assert j.recorder.n > 30
