"""Cover through the real Slack adapter over HTTP: '/parley away until DATE cover NAME' answers the speaker, and the
cover is told by direct message; '/parley back' ends it (bot/conversation/cover_commands.py does the work)."""

from __future__ import annotations

import json

import pytest

from storage import repo
from storage.models import Absence
from tests.adapters.test_slack_e2e import USERS, slack_env  # noqa: F401 - the fixture

pytestmark = pytest.mark.e2e


def test_away_and_back_by_slash_command(slack_env) -> None:
    rt, mock, slack, clock, _adapter = slack_env
    slack.command(USERS["sam"], "away until 15/01/2027 cover Mia Roberts")
    answer = json.dumps(mock.wait_for("/respond/1")[0].args)
    assert "You are away until Fri 15 Jan 2027. Mia Roberts covers" in answer
    told = mock.wait_for("chat.postMessage", lambda c: c.args.get("channel") == "D" + USERS["mia"])[0]
    assert "Sam Patel is away until Fri 15 Jan 2027 and has named you to cover" in json.dumps(told.args)
    with rt.factory() as s:
        sam, mia = (repo.person_by_key("swindon", k, session=s) for k in ("sam", "mia"))
        [absence] = s.query(Absence).all()
        assert (absence.person_id, absence.cover_id, absence.ended_at) == (sam.id, mia.id, None)

    slack.command(USERS["sam"], "back")
    answer = json.dumps(mock.wait_for("/respond/1", count=2)[1].args)
    assert "Welcome back: your messages come to you again." in answer
    told = mock.wait_for("chat.postMessage", lambda c: c.args.get("channel") == "D" + USERS["mia"], count=2)[1]
    assert "Sam Patel is back: you no longer cover for them." in json.dumps(told.args)
    with rt.factory() as s:
        assert s.query(Absence).one().ended_at == clock.now()
