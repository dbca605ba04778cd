"""The tables through which Parley reaches people and platforms and is reached: file links handed out on cards,
delivery addresses, inbound idempotency keys and conversation references (a 1:1 chat, a channel, a roster id).
They share ``storage.models.Base`` and its metadata with the rest of the schema."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.crypto import EncryptedText
from storage.models import Base, JSONType, UTCDateTime, utcnow


class FileLink(Base):
    """A file offered on a Teams card through an expiring link (a form's PDF or HTML). Kept in the database so
    any replica can serve what another produced, and encrypted like the subject details (a form carries them).
    Keyed by the SHA-256 of the link's token: the database never holds a working link."""

    __tablename__ = "file_links"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    filename: Mapped[str] = mapped_column(EncryptedText)
    media_type: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(EncryptedText)
    data: Mapped[str] = mapped_column(EncryptedText)  # the bytes, base64
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeliveryAddress(Base):
    """The delivery health of one address (a person's platform id or a channel) on one platform, and of the platform
    itself (``address`` "*"): since when it has been failing (None: fine), whether the platform refused it for good,
    and which outage, if any, the business unit has been told about. An outage ends at the next delivery that
    succeeds; ``outage`` counts them, so the business unit is told once per address (or platform) per outage."""

    __tablename__ = "delivery_addresses"
    __table_args__ = (UniqueConstraint("platform", "address"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(200))
    target_kind: Mapped[str] = mapped_column(String(8))  # channel | person | platform
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    failing_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_failure_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_ok_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    permanent: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(String(100), default="")  # a short code: HTTP 403, channel_not_found ...
    outage: Mapped[int] = mapped_column(Integer, default=0)
    alerted_outage: Mapped[int] = mapped_column(Integer, default=0)
    alerted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class InboundKey(Base):
    """Inbound platform deliveries already handled (event ids, submissions, clicks), shared by replicas,
    so a retried event or a double click never acts twice."""

    __tablename__ = "inbound_keys"
    __table_args__ = (UniqueConstraint("platform", "key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(300))
    seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ConversationRef(Base):
    """Where a platform conversation can be reached later (Teams needs a stored conversation reference to send
    a proactive message): a person's 1:1 chat, a channel, or a team member's platform id from the roster."""

    __tablename__ = "conversation_refs"
    __table_args__ = (UniqueConstraint("platform", "kind", "key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))  # person | channel | member
    key: Mapped[str] = mapped_column(String(300))  # AAD object id for person/member; channel id for channel
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
