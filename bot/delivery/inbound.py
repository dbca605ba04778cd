"""Who is speaking, and whether we have seen this delivery before: shared by the Slack and Teams adapters.

Identity: a platform user is mapped to a directory person by a stored identity, else by their e-mail address
(linked on first use), else not at all: they are told how to get linked. An administrator or the business
unit can link someone by hand (``link``).

Deduplication: platform retries (Slack's X-Slack-Retry-Num) and double clicks carry the same key; the key is
stored in the database, so it holds across replicas. A key seen within ``window`` is a duplicate.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.cases.errors import PermissionDenied, ServiceError
from bot.core.i18n import available_languages, translator
from bot.delivery import addressing
from storage import inbound_repo, repo
from storage.models import Person, PersonIdentity

LINKERS = {"admin", "business_unit"}


def person_for(platform: str, external_id: str, email: str | None, *, session: Session) -> Person | None:
    person = repo.person_by_identity(platform, external_id, session=session)
    if person is not None or not email:
        return person
    matches = inbound_repo.people_by_email(email.strip().lower(), session=session)
    if len(matches) != 1:
        return None  # unknown, or ambiguous (the same address on two boards): an admin links them
    try:
        with session.begin_nested():
            session.add(PersonIdentity(person_id=matches[0].id, platform=platform, external_id=external_id))
    except IntegrityError:
        # two first requests from one person at once both found no identity: the second finds the first's
        return repo.person_by_identity(platform, external_id, session=session)
    addressing.readdress(matches[0], session=session)  # what could not reach them before goes there now
    return matches[0]


def language_from_locale(person: Person, locale: str | None, platform: str, now: dt.datetime, *,
                         session: Session) -> bool:
    """Default a newly linked person's language from their platform's locale ("cy", "cy-GB" -> Welsh), unless
    they already chose one with the language command; recorded in the audit trail. True if it changed."""
    wanted = (locale or "").replace("_", "-").split("-")[0].lower()
    if not wanted or wanted == person.language or wanted not in available_languages():
        return False
    if repo.audit_entries(session=session, kind="language_set", actor_id=person.id):
        return False  # their own choice stands
    before, person.language = person.language, wanted
    repo.audit("language_set", session=session, at=now, actor=person, via=platform,
               data={"from": before, "to": wanted, "source": "platform locale"})
    return True


def link(linker: Person, platform: str, external_id: str, person_key: str, *, session: Session) -> Person:
    T = translator(linker.language)
    if linker.role not in LINKERS:
        raise PermissionDenied(T("Only an administrator or the business unit can link people."))
    person = repo.person_by_key(linker.board_id, person_key.strip().lstrip("@"), session=session)
    if person is None:
        raise ServiceError(T("There is nobody called {key} in the directory.", key=person_key[:40]))
    existing = inbound_repo.identity(platform, external_id, session=session)
    if existing is not None:
        existing.person_id = person.id
    else:
        session.add(PersonIdentity(person_id=person.id, platform=platform, external_id=external_id))
    repo.audit("identity_linked", session=session, at=dt.datetime.now(dt.timezone.utc), actor=linker,
               via=platform, data={"person": person.key, "platform": platform})
    session.flush()
    addressing.readdress(person, session=session)  # what could not reach them before goes there now
    return person


def forget(platform: str, key: str, *, session: Session) -> None:
    """Drop a stored delivery key (its work failed before anything was recorded, so a retry must run)."""
    inbound_repo.delete_key(platform, key[:300], session=session)


def first_time(platform: str, key: str, now: dt.datetime, *, session: Session,
               window: dt.timedelta | None = None) -> bool:
    """True the first time ``key`` is seen (or again after ``window``); False for a duplicate."""
    key = key[:300]
    if inbound_repo.add_key(platform, key, now, session=session):
        return True
    row = inbound_repo.key_for_update(platform, key, session=session)
    if row is None or window is None or now - row.seen_at < window:
        return False
    row.seen_at = now
    return True
