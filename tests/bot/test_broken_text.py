"""A lone UTF-16 surrogate (e.g. "\\ud800" escaped in a Slack or Teams JSON string) cannot be stored by either
database: the conversation refuses it with a clear message instead of crashing, and storage refuses it before the
database does (R10)."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.cases import services
from storage import chain, repo
from tests.bot.test_conversation import INTAKE_SWINDON
from tests.conftest import LONDON, Chat, texts
from bot.cases import errors

LONE = "\ud800"


@pytest.mark.parametrize("where", [0, 3, 8])  # immediate risk, what happened, the counterpart's name
def test_a_lone_surrogate_in_the_conversation_gets_a_clear_message(chat: Chat, runtime, where) -> None:
    chat.say("alice", "new")
    chat.script("alice", *INTAKE_SWINDON[:where])
    reply = chat.say("alice", f"Jamie {LONE} Doe")
    assert "broken character" in texts(reply)
    # nothing was lost: the conversation carries on from the same question
    chat.script("alice", *INTAKE_SWINDON[where:])
    done = chat.say("alice", "submit")
    assert (done.to_speaker[0].case_ref or "").startswith("SWN-2026-"), texts(done)


def test_a_lone_surrogate_in_a_button_value_gets_a_clear_message(chat: Chat) -> None:
    reply = chat.press("alice", "case.sign_record", f"SWN-2026-0001 1 {LONE}")
    assert "broken character" in texts(reply)


def test_clean_text_refuses_it_and_storage_refuses_it_before_the_database(runtime) -> None:
    with pytest.raises(errors.ServiceError, match="broken character"):
        services.clean_text(f"what happened {LONE}")
    assert services.clean_text("emoji 🙂 fine") == "emoji 🙂 fine"  # a whole surrogate pair is a character
    at = dt.datetime(2026, 4, 2, 9, tzinfo=LONDON)
    with runtime.factory() as s:
        with pytest.raises(chain.BrokenText):
            repo.audit("refused", session=s, at=at, actor=None, via="slack", data={"text": LONE})
        conv = repo.get_conversation("slack", "U1", session=s)
        with pytest.raises(chain.BrokenText):
            repo.save_conversation(conv, "intake", {"answers": {"what": LONE}}, session=s)
        s.rollback()
