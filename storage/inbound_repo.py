"""Repository of what the platforms bring in: who is speaking (identities, e-mail addresses), the delivery keys
seen (deduplication) and the stored conversation references (Teams proactive messaging). The queries of
bot/delivery/inbound.py and of bot/runtime.py's references. The session is keyword-only.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import datetime as dt

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.models import Person, PersonIdentity
from storage.platform_models import ConversationRef, InboundKey


# -- identities -------------------------------------------------------------------------------------------------
def people_by_email(email: str, *, session: Session) -> Sequence[Person]:
    """Everyone with this e-mail address, on any board (compared in lower case; ``email`` already is)."""
    return session.scalars(select(Person).where(func.lower(Person.email) == email)).all()


def identity(platform: str, external_id: str, *, session: Session) -> PersonIdentity | None:
    return session.scalar(select(PersonIdentity).where(PersonIdentity.platform == platform,
                                                       PersonIdentity.external_id == external_id))


# -- delivery keys (deduplication) ------------------------------------------------------------------------------
def add_key(platform: str, key: str, seen_at: dt.datetime, *, session: Session) -> bool:
    """Store a delivery key; False, and nothing written, when it is stored already. One statement (``INSERT ...
    ON CONFLICT DO NOTHING``): no savepoint to catch the duplicate with, so nothing else in the session is undone."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = insert(InboundKey).values(platform=platform, key=key, seen_at=seen_at).on_conflict_do_nothing(
        index_elements=["platform", "key"]).returning(InboundKey.id)
    return session.execute(stmt).scalar() is not None


def delete_key(platform: str, key: str, *, session: Session) -> None:
    session.execute(delete(InboundKey).where(InboundKey.platform == platform, InboundKey.key == key))


def key_for_update(platform: str, key: str, *, session: Session) -> InboundKey | None:
    """A stored delivery key, locked (``FOR UPDATE``)."""
    return session.scalar(select(InboundKey).where(InboundKey.platform == platform, InboundKey.key == key)
                          .with_for_update())


# -- conversation references ------------------------------------------------------------------------------------
def conversation_ref(platform: str, kind: str, key: str, *, session: Session) -> ConversationRef | None:
    return session.scalar(select(ConversationRef).where(ConversationRef.platform == platform,
                                                        ConversationRef.kind == kind, ConversationRef.key == key))


def conversation_refs(platform: str, kind: str, keys: Collection[str], *, session: Session
                      ) -> Sequence[ConversationRef]:
    return session.scalars(select(ConversationRef).where(
        ConversationRef.platform == platform, ConversationRef.kind == kind,
        ConversationRef.key.in_(list(keys)))).all()


def conversation_ref_keys(platform: str, kind: str, *, session: Session) -> list[str]:
    return list(session.scalars(select(ConversationRef.key).where(ConversationRef.platform == platform,
                                                                  ConversationRef.kind == kind)
                                .order_by(ConversationRef.key)))


def newest_conversation_ref(platform: str, kind: str, *, session: Session) -> ConversationRef | None:
    return session.scalars(select(ConversationRef).where(ConversationRef.platform == platform,
                                                         ConversationRef.kind == kind)
                           .order_by(ConversationRef.updated_at.desc()).limit(1)).first()
