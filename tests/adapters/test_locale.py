"""Slack: a person first linked by e-mail takes their Slack locale as Parley's language, and is answered in it."""

from __future__ import annotations

import json

import pytest

from bot.core.i18n import translator
from storage import repo
from tests.adapters.test_slack_e2e import slack_env  # noqa: F401 - fixture

pytestmark = pytest.mark.e2e


def test_slack_locale_sets_welsh_on_first_link(slack_env) -> None:
    rt, mock, slack, _clock, _adapter = slack_env
    mock.locales["UUNA"] = "cy-GB"
    slack.command("UUNA", "help")
    answer = mock.wait_for("/respond/1")[0]
    assert any(c.args.get("include_locale") in (True, "true", "1", 1) for c in mock.of("users.info"))
    with rt.factory() as s:
        assert repo.person_by_key("swindon", "una", session=s).language == "cy"
    welsh = translator("cy")("I help you resolve a professional disagreement with another agency, following your "
                              "board's protocol.")
    assert welsh != "I help you resolve" and welsh in json.dumps(answer.args, ensure_ascii=False)


def test_slack_app_home_follows_a_language_change_at_once(slack_env) -> None:
    _rt, mock, slack, _clock, _adapter = slack_env
    slack.event({"type": "message", "channel_type": "im", "channel": "DUALICE", "user": "UALICE",
                 "text": "language cy", "ts": "1.1"}, "Ev-lang")
    welsh_home = translator("cy")("Your cases")
    assert welsh_home != "Your cases"
    mock.wait_for("views.publish", lambda c: c.args.get("user_id") == "UALICE"
                  and welsh_home in json.dumps(c.args.get("view"), ensure_ascii=False))
