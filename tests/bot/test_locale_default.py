"""A person's language defaults from their platform's locale on first link (Teams sends the activity's locale,
Slack users.info with include_locale), unless they have chosen one with the language command."""

from __future__ import annotations

from sqlalchemy import select

from storage import repo
from storage.models import AuditEntry


def _lang(rt, key: str) -> str:
    with rt.factory() as s:
        return repo.person_by_key("swindon", key, session=s).language


def test_first_link_takes_the_platform_locale(runtime) -> None:
    info = runtime.person_for("teams", "aad-una", lambda: "una@swindon.example", locale="cy-GB")
    assert info is not None and info.key == "una"
    assert _lang(runtime, "una") == "cy"
    with runtime.factory() as s:
        [entry] = s.scalars(select(AuditEntry).where(AuditEntry.kind == "language_set")).all()
        assert entry.data == {"from": "en", "to": "cy", "source": "platform locale"} and entry.via == "teams"
    # later turns with another locale change nothing: the identity is already linked
    runtime.person_for("teams", "aad-una", lambda: "una@swindon.example", locale="en-GB")
    assert _lang(runtime, "una") == "cy"


def test_a_chosen_language_stands_and_unknown_locales_change_nothing(runtime, clock) -> None:
    from tests.conftest import Chat

    chat = Chat(runtime, clock)
    chat.say("bob", "language en")  # Bob chose English himself
    runtime.person_for("teams", "aad-bob", lambda: "bob@swindon.example", locale="cy-GB")
    assert _lang(runtime, "bob") == "en"
    runtime.person_for("slack", "USAM", lambda: "sam@swindon.example", locale="fr-FR")
    assert _lang(runtime, "sam") == "en"
