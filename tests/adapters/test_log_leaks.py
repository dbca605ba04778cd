"""No log line carries free text or SQL parameters, from Parley or any library (#14): a database error while a
concern is submitted over Slack, and an exception handed to a log call as an argument, leave no trace of what was
typed in the log, in JSON or text."""

from __future__ import annotations

import io
import json
import logging
import time

import pytest
from sqlalchemy.exc import IntegrityError

from bot.forms import forms as forms_module
from bot.core import logs
from tests.adapters.test_slack_races import _intake_view
from tests.adapters.test_slack_e2e import USERS, slack_env
from tests.adapters.test_teams_e2e import teams_env

SECRET_TEXT = "Zebedee Quarrington at 7 Lantern Row"

__all__ = ["slack_env", "teams_env"]


@pytest.fixture
def captured() -> io.StringIO:
    buf = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    logs.configure("json", "DEBUG", stream=buf)
    yield buf
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def test_a_database_error_during_a_slack_submission_logs_no_submitted_text(slack_env, monkeypatch,
                                                                           captured) -> None:
    rt, mock, slack, _clock, _adapter = slack_env
    intake, state = _intake_view(rt, mock, slack)
    state["what"] = {"what": {"type": "plain_text_input", "value": f"Concern about {SECRET_TEXT}."}}

    def broken(self, *args, **kwargs):
        raise IntegrityError("INSERT INTO cases (what_happened) VALUES (?)", (f"Concern about {SECRET_TEXT}.",),
                             Exception("UNIQUE constraint failed: cases.ref"))

    monkeypatch.setattr(forms_module.Forms, "submit", broken)
    payload = {"type": "view_submission", "user": {"id": USERS["alice"]}, "team": {"id": "T1"},
               "view": {**intake, "id": "VLOG", "hash": "HLOG", "state": {"values": state}}}
    assert slack.interact(payload)[0] >= 500
    time.sleep(0.3)
    text = captured.getvalue()
    assert "IntegrityError" in text  # the failure is logged, by its type
    assert SECRET_TEXT not in text and "Zebedee" not in text
    for line in text.splitlines():
        json.loads(line)  # every line is one JSON object


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_an_exception_given_as_an_argument_is_named_not_quoted(fmt) -> None:
    buf = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.configure(fmt, "INFO", stream=buf)
        error = ValueError(f"could not store {SECRET_TEXT}")
        logging.getLogger("parley.teams").error("Teams turn failed: %s", error)
        logging.getLogger("slack_bolt.App").error(f"Failed to run listener function (error: {error})")
        logging.getLogger("botbuilder.core").warning("Activity rejected: " + SECRET_TEXT)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    text = buf.getvalue()
    assert SECRET_TEXT not in text and "Zebedee" not in text
    assert "Teams turn failed: ValueError" in text and "Failed to run listener function" in text


def test_a_database_error_during_a_teams_message_logs_no_typed_text(teams_env, monkeypatch,
                                                                     captured) -> None:
    """Teams: a message typed to the bot meets a database error (with the text among its SQL parameters); the
    log says what failed, by type, and never what was typed."""
    from bot.conversation import router as conversation_module

    _rt, _connector, teams, _clock, _server = teams_env

    def broken(self, person_id, text=None, **kwargs):
        raise IntegrityError("UPDATE conversations SET state=?", (text,), Exception("database is locked"))

    monkeypatch.setattr(conversation_module.Conversation, "handle", broken)
    teams.send(teams.activity("alice", text=f"outcome about {SECRET_TEXT}"))
    time.sleep(0.3)
    text = captured.getvalue()
    assert "IntegrityError" in text
    assert SECRET_TEXT not in text and "Zebedee" not in text
