"""A training board's clock moved from chat, end to end: `/parley clock +3wd` over signed Slack HTTP and `clock +3wd`
as a Teams activity. On a training board the business unit's move fires the escalation that fell due, to exactly
the channels and people the notification table names (each post marked [Training]); the same command on a real board
is refused, and so is a practitioner's; the real board sharing the database sees no timer fire."""

from __future__ import annotations

import json
import time
from collections import Counter

from sqlalchemy import select

from adapters.slack.block_checks import check_limits
from adapters.slack.blocks import message_blocks
from adapters.teams.card_checks import validate
from adapters.teams.cards import message_card
from bot.admin import training
from bot.core.messages import Button, Message
from bot.delivery.outbox import training_mark
from bot.escalation.scheduler import Sweeper
from storage.models import Timer
from tests.adapters.test_slack_e2e import USERS, slack_env  # noqa: F401 - the fixture
from tests.adapters.test_teams_e2e import teams_env  # noqa: F401 - the fixture
from tests.bot.test_scheduler import open_case

REAL_BOARD = ("Swindon Safeguarding Partnership is a real board: its clock is the real time and cannot be moved. "
              "Only a training board's clock moves.")
NOT_YOURS = "Only the business unit or an administrator can move a training board's clock."
MOVED = "Board time: Thu 9 Apr 2026 10:00 (working time). Real time: Thu 2 Apr 2026 10:00."
FELL_DUE = "SWN-2026-0001: a deadline passed with no outcome, so the escalation prompt was posted"


def card_text(card: dict) -> str:
    """What a card shows: its text, with the markdown escapes Teams does not show (``\\[`` is ``[``)."""
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                found.append(node["text"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(card)
    return "\n".join(found).replace("\\[", "[").replace("\\]", "]")


def pending(rt, board: str) -> Counter[tuple[str, str]]:
    with rt.factory() as s:
        return Counter((t.kind, t.state) for t in s.scalars(select(Timer).where(Timer.board_id == board,
                                                                               Timer.case_id.is_not(None))))


WOLVERHAMPTON_PLANNED = {("nudge", "pending"): 2, ("overdue", "pending"): 1}


def test_slack_clock_on_a_training_board_over_signed_http(slack_env) -> None:
    rt, mock, slack, clock, adapter = slack_env
    open_case(rt, "swindon", clock.now())  # Alice raises it against Bob on Thu 2 Apr: Stage 1 lapses Thu 9 09:00
    open_case(rt, "wolverhampton", clock.now())  # the real board in the same database

    def answered(n: int) -> list[str]:
        return [c.args.get("text", "") for c in mock.wait_for("/respond/1", count=n)]

    # Swindon is a real board: even its business unit is refused
    slack.command(USERS["una"], "clock +3wd")
    assert answered(1)[-1].endswith("\n" + REAL_BOARD)  # after the error's mark
    training.set_training(rt.factory, "swindon", True, clock.now())
    # a practitioner is refused on the training board
    slack.command(USERS["alice"], "clock +3wd")
    assert answered(2)[-1].endswith("\n" + NOT_YOURS)
    assert not mock.of("chat.postMessage")
    # the business unit moves it: the board time and what fell due, to her alone (ephemeral)
    slack.command(USERS["una"], "clock +3wd")
    mine = answered(4)[2:]
    assert mine[0].startswith("[Training] Board clock") and MOVED in mine[0]
    assert mine[1].startswith("\u26a0\ufe0f\n[Training] What fell due:") and FELL_DUE in mine[1]
    # the lapse prompt in both agencies' line-manager channels, the lapse notice to the two practitioners: exactly
    # those, once each
    expected = {"CPOLICEMGRS", "CCSCMGRS", "D" + USERS["alice"], "D" + USERS["bob"]}
    mock.wait_for("chat.postMessage", count=len(expected))
    time.sleep(0.5)
    posts = mock.of("chat.postMessage")
    assert Counter(p.args["channel"] for p in posts) == Counter(expected)
    for p in posts:
        header = p.args["blocks"][0]
        assert header["type"] == "header" and header["text"]["text"].startswith("\u26a0\ufe0f [Training] SWN-2026-0001")
        assert not check_limits({"blocks": p.args["blocks"]})
        asks = any(e["action_id"].startswith("esc.ack") for b in p.args["blocks"] if b["type"] == "actions"
                   for e in b["elements"])
        assert asks == p.args["channel"].startswith("C")  # the prompt asks the managers; the notice tells
    assert "the managers have been asked to take ownership" in json.dumps(
        next(p.args for p in posts if p.args["channel"] == "D" + USERS["alice"]))
    # the real board: nothing fired, now or by the scheduler on the real time
    assert pending(rt, "wolverhampton") == WOLVERHAMPTON_PLANNED
    assert Sweeper(rt.factory, clock).fire_due() == 0
    assert pending(rt, "wolverhampton") == WOLVERHAMPTON_PLANNED


def test_teams_clock_on_a_training_board(teams_env) -> None:
    rt, connector, teams, clock, _server = teams_env
    # Alice and Bob have Parley installed; the business unit registers the two agencies' line-manager channels
    for who in ("alice", "bob"):
        teams.send(teams.activity(who, "conversationUpdate", membersAdded=[{"id": "28:parley"}]))
    connector.wait(lambda c: c.cards_to("a:personal-alice") and c.cards_to("a:personal-bob"))
    channels = {"19:police@thread": "Wiltshire Police", "19:csc@thread": "Children's Social Care"}
    for channel, agency in channels.items():
        teams.send(teams.activity("una", conv=f"{channel};messageid=1", channel=channel,
                                  text=f"<at>Parley</at> register managers for {agency}"))
    connector.wait(lambda c: sum("escalation prompts" in json.dumps(a) for _, a in c.posts) == 2)
    open_case(rt, "swindon", clock.now())
    open_case(rt, "wolverhampton", clock.now())

    def say(who: str, text: str, answers: int = 1) -> list[dict]:
        """What ``who`` is answered in their personal chat."""
        conv = f"a:personal-{who}"
        seen = len([a for c, a in connector.posts if c == conv])
        teams.send(teams.activity(who, text=text))
        return connector.wait(lambda c: (lambda new: new if len(new) >= answers else None)(
            [a for cv, a in c.posts if cv == conv][seen:]))

    assert say("una", "clock +3wd")[-1]["text"] == REAL_BOARD
    training.set_training(rt.factory, "swindon", True, clock.now())
    assert say("alice", "clock +3wd")[-1]["text"] == NOT_YOURS
    before = len(connector.posts)
    card, fell = say("una", "clock +3wd", answers=2)
    shown = card_text(card["attachments"][0]["content"])
    assert "[Training] Board clock" in shown and MOVED in shown
    assert fell["text"].startswith("[Training] What fell due:") and FELL_DUE in fell["text"]
    # posted after the turn: the prompt in the two channels, the notice in Alice's and Bob's chats; nobody else
    expected = {"19:police@thread", "19:csc@thread", "a:personal-alice", "a:personal-bob"}

    def others(c) -> list[tuple[str, dict]]:
        return [(conv.split(";")[0], a) for conv, a in c.posts[before:] if conv != "a:personal-una"]

    connector.wait(lambda c: len(others(c)) >= len(expected))
    time.sleep(0.5)
    got = others(connector)
    assert Counter(conv for conv, _ in got) == Counter(expected)
    for conv, activity in got:
        content = activity["attachments"][0]["content"]
        assert not validate(content)
        assert "[Training] SWN-2026-0001" in card_text(content)
        assert ("esc.ack" in json.dumps(content)) == conv.startswith("19:")
    # the real board: nothing fired, now or by the scheduler on the real time
    assert pending(rt, "wolverhampton") == WOLVERHAMPTON_PLANNED
    assert Sweeper(rt.factory, clock).fire_due() == 0
    assert pending(rt, "wolverhampton") == WOLVERHAMPTON_PLANNED


def test_the_mark_keeps_slack_and_teams_limits() -> None:
    """A marked message as long as any: Slack's header is cut to 150 characters, its text to Block Kit's limits, and
    the Teams card stays a valid Adaptive Card."""
    long = training_mark(Message("x" * 6000, title="T" * 400, case_ref="SWN-2026-0001",
                                 buttons=(Button("case.view", "View case", "SWN-2026-0001"),)), ["cy", "en"])
    assert long.title.startswith("[Hyfforddiant | Training] TTT")
    blocks = message_blocks(long)
    assert not check_limits({"blocks": blocks}) and blocks[0]["text"]["text"].startswith("[Hyfforddiant | Training]")
    assert not validate(message_card(long))
    text_only = training_mark(Message("y" * 6000), ["en"])
    assert not check_limits({"blocks": message_blocks(text_only)}) and not validate(message_card(text_only))
