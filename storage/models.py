"""SQLAlchemy 2.0 typed models.

Subject details (the child's or adult's name, DOB, address, agency case numbers) live in their own
table, ``subject_details``, that nothing on a channel-facing path loads, encrypted at rest (storage/crypto.py).
The event history is append-only: the repository offers no update or delete for it, on PostgreSQL a trigger
refuses both, and a hash chain over each case's events shows any change (storage/chain.py); the engine derives
case state from it; the columns on ``cases`` are a projection kept in step within the same transaction.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from storage.crypto import EncryptedDate, EncryptedJSON, EncryptedText

JSONType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware datetimes on every backend: stored as UTC, returned as aware UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use timezone-aware times")
        value = value.astimezone(dt.timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Board(Base):
    __tablename__ = "boards"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    ref_prefix: Mapped[str] = mapped_column(String(8))
    current_snapshot_id: Mapped[int | None] = mapped_column(
        ForeignKey("protocol_snapshots.id", use_alter=True), nullable=True
    )
    # a training board (`parley board training`): its messages are marked as training, and its business unit moves
    # its clock from chat; the board's time is the real time plus ``clock_offset_seconds`` (0 on a real board)
    training: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    clock_offset_seconds: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ProtocolSnapshot(Base):
    """A frozen copy of a board's protocol; a case keeps the one it started under."""

    __tablename__ = "protocol_snapshots"
    __table_args__ = (UniqueConstraint("board_id", "sha256"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    board_id: Mapped[str] = mapped_column(ForeignKey("boards.id"))
    version: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Agency(Base):
    __tablename__ = "agencies"
    __table_args__ = (UniqueConstraint("board_id", "key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    board_id: Mapped[str] = mapped_column(ForeignKey("boards.id"))
    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    sector: Mapped[str] = mapped_column(String(64))
    la_area: Mapped[str | None] = mapped_column(String(100), nullable=True)
    safeguarding_lead_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", use_alter=True), nullable=True
    )
    slack_team_id: Mapped[str | None] = mapped_column(String(32), nullable=True)  # its Slack workspace
    teams_tenant_id: Mapped[str | None] = mapped_column(String(64), nullable=True)  # its Microsoft 365 tenant
    channels: Mapped[list[AgencyChannel]] = relationship(back_populates="agency", cascade="all, delete-orphan")


class AgencyChannel(Base):
    """Where an agency's managers at one level are reached on one platform (e.g. console #police-sgt-managers)."""

    __tablename__ = "agency_channels"
    __table_args__ = (UniqueConstraint("agency_id", "level", "platform"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    level: Mapped[str] = mapped_column(String(32))
    platform: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(200))
    agency: Mapped[Agency] = relationship(back_populates="channels")


class BoardChannel(Base):
    """A board-level channel, e.g. the business unit's channel for digests."""

    __tablename__ = "board_channels"
    __table_args__ = (UniqueConstraint("board_id", "purpose", "platform"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    board_id: Mapped[str] = mapped_column(ForeignKey("boards.id"))
    purpose: Mapped[str] = mapped_column(String(32))
    platform: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(200))


class Person(Base):
    __tablename__ = "people"
    __table_args__ = (UniqueConstraint("board_id", "key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    board_id: Mapped[str] = mapped_column(ForeignKey("boards.id"))
    key: Mapped[str] = mapped_column(String(64))  # short handle, e.g. "alice"
    name: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(200), default="")
    # practitioner | line_manager | senior_manager | director | safeguarding_lead | business_unit | chair | admin
    role: Mapped[str] = mapped_column(String(32))
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), nullable=True)
    line_manager_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    email: Mapped[str | None] = mapped_column(String(200), nullable=True)
    language: Mapped[str] = mapped_column(String(8), default="en")
    # a leaver (bot/admin/people.py) stays, so that their cases' history still names them, but is told nothing,
    # may not act and is offered in no list of people; made active again by an import that lists them
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    deactivated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    agency: Mapped[Agency | None] = relationship(foreign_keys=[agency_id])
    line_manager: Mapped[Person | None] = relationship(remote_side=[id])


class Absence(Base):
    """A person away from ``starts_at`` to the end of ``until`` (the board's calendar: ``ends_at``), unless ended
    sooner (``back``): meanwhile their direct messages go to ``cover`` or their line manager (bot/cases/cover.py)."""

    __tablename__ = "absences"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    board_id: Mapped[str] = mapped_column(ForeignKey("boards.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    cover_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    until: Mapped[dt.date] = mapped_column(Date)  # the last day away, inclusive
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)  # midnight after ``until`` in the board's time zone
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)  # 'back' before ``ends_at``
    ended_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)


class PersonIdentity(Base):
    """How a person is known on a platform: Slack user id, Teams AAD object id, console name."""

    __tablename__ = "person_identities"
    __table_args__ = (UniqueConstraint("platform", "external_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    platform: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(200))


class CaseCounter(Base):
    __tablename__ = "case_counters"
    board_id: Mapped[str] = mapped_column(ForeignKey("boards.id"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Case(Base):
    __tablename__ = "cases"
    # the quarterly data set selects a board's cases by when they were opened
    __table_args__ = (Index("ix_cases_board_id_opened_at", "board_id", "opened_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(32), unique=True)
    board_id: Mapped[str] = mapped_column(ForeignKey("boards.id"), index=True)
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("protocol_snapshots.id"))
    subject_kind: Mapped[str] = mapped_column(String(8))  # child | adult
    category: Mapped[str] = mapped_column(String(64))
    la_area: Mapped[str | None] = mapped_column(String(100), nullable=True)
    raising_agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    raising_person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    responding_agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), nullable=True)
    responding_person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    responding_person_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    what_happened: Mapped[str] = mapped_column(Text, default="")
    done_so_far: Mapped[str] = mapped_column(Text, default="")
    outcome_sought: Mapped[str] = mapped_column(Text, default="")
    immediate_risk: Mapped[bool] = mapped_column(Boolean, default=False)
    # projection of the engine's state, refreshed in the same transaction as each event
    status: Mapped[str] = mapped_column(String(24), index=True)
    stage_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    stage_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    protective_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    next_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # bumped by every change to the case
    version: Mapped[int] = mapped_column(Integer, default=0)
    # changes whenever the case moves (a stage entered, ended, resolved or closed): a timer set with
    # an older token can never fire
    stage_token: Mapped[int] = mapped_column(Integer, default=0)
    # the report projection (bot/cases/projection.py), from the same replay: the highest stage number the case reached,
    # whether it went straight to a higher stage (bypass), whether a policy-gap referral was flagged; with the
    # rows of ``case_stage_results``. ``projection_version`` says which version of the projection rules wrote
    # them: 0 (a case from before the projection existed) or an older version means "rebuild from the events".
    highest_stage: Mapped[int | None] = mapped_column(Integer, nullable=True)
    bypass_used: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    policy_gap: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    projection_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # the hash of the case's latest event (storage/chain.py), so that events removed from the end are noticed
    event_chain_head: Mapped[str | None] = mapped_column(String(64), nullable=True)

    snapshot: Mapped[ProtocolSnapshot] = relationship()
    raising_agency: Mapped[Agency] = relationship(foreign_keys=[raising_agency_id])
    responding_agency: Mapped[Agency | None] = relationship(foreign_keys=[responding_agency_id])
    raising_person: Mapped[Person] = relationship(foreign_keys=[raising_person_id])
    responding_person: Mapped[Person | None] = relationship(foreign_keys=[responding_person_id])


class CaseStageResult(Base):
    """One stage a case has been at (projection): how and when it was entered, how and when it ended, and the
    stage's deadline as it stood when it ended, with whether it ended on time. Written with the case's other
    projection columns by ``bot.cases.services.refresh`` from the event history, never edited on its own."""

    __tablename__ = "case_stage_results"
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    visit: Mapped[int] = mapped_column(Integer, primary_key=True)  # 1: the stage the case opened at; 2: the next ...
    stage_id: Mapped[str] = mapped_column(String(64))
    stage_number: Mapped[int] = mapped_column(Integer)
    how_entered: Mapped[str] = mapped_column(String(16))  # start | escalation | decision | bypass
    entered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # resolved | unresolved | bypassed | closed
    ended_how: Mapped[str | None] = mapped_column(String(16), nullable=True)
    ended_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the event that ended it
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    on_time: Mapped[bool | None] = mapped_column(Boolean, nullable=True)  # None: not ended, or no deadline


class SubjectDetails(Base):
    """The child's or adult's identity. Only loaded to show entitled people, in DMs and forms.

    Every column but the key is encrypted at rest (Fernet, keys from PARLEY_DATA_KEYS: storage/crypto.py): the
    raw columns hold tokens, the attributes plain values."""

    __tablename__ = "subject_details"
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    name: Mapped[str] = mapped_column(EncryptedText, default="")
    date_of_birth: Mapped[dt.date | None] = mapped_column(EncryptedDate, nullable=True)
    address: Mapped[str] = mapped_column(EncryptedText, default="")
    case_number: Mapped[str] = mapped_column(EncryptedText, default="")
    # other personal data a protocol's form asks for (e.g. parents'/carers' names and dates of birth):
    # "<form id>/<part id>/<field label>" -> value
    extra: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON, default=dict)


class CaseEvent(Base):
    """Append-only audit trail: who, what, when, via which channel; chained by hash per case (storage/chain.py)."""

    __tablename__ = "case_events"
    __table_args__ = (UniqueConstraint("case_id", "seq"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(40))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    actor_label: Mapped[str] = mapped_column(String(200))
    via: Mapped[str] = mapped_column(String(32))  # console | slack | teams | system | cli
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    data_digest: Mapped[str] = mapped_column(String(64))  # SHA-256 of data (canonical JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))  # the case's previous event's hash (zeros for the first)
    hash: Mapped[str] = mapped_column(String(64))


class AuditEntry(Base):
    """Append-only record of things that happen outside any case, e.g. an immediate-risk report made
    during an intake that was never finished, or a refusal that names no case."""

    __tablename__ = "audit_entries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    board_id: Mapped[str | None] = mapped_column(ForeignKey("boards.id"), nullable=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    actor_label: Mapped[str] = mapped_column(String(200))
    via: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class AuditCheckpoint(Base):
    """A signed checkpoint (storage/checkpoints.py): written with every commit that adds events, cases, audit
    entries or case references, it records what that commit changed (``delta``) or the whole state (``full``): for
    each case its reference, board, number of events and latest event hash; for each audit entry its digest; each
    reference counter. Chained by ``prev_mac`` and signed with an HMAC whose key is kept outside the database
    (storage/signing.py), so a deletion or a rebuilt chain shows against the last checkpoint."""

    __tablename__ = "audit_checkpoints"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(8))  # full | delta
    body: Mapped[str] = mapped_column(Text)  # canonical JSON
    key_id: Mapped[str] = mapped_column(String(16))
    prev_mac: Mapped[str] = mapped_column(String(64))
    mac: Mapped[str] = mapped_column(String(64))


class Conversation(Base):
    """A person's in-progress conversation (intake, recording an outcome ...), kept across restarts."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("platform", "user_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    user_key: Mapped[str] = mapped_column(String(200))
    flow: Mapped[str | None] = mapped_column(String(40), nullable=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Timer(Base):
    """Something Parley must do at a time: a nudge, an escalation, a re-notification, a duty reminder,
    a digest. The database is the source of truth; APScheduler only wakes the sweep that claims these.

    ``key`` is deterministic (case, token, kind, step, deadline ...), so planning the same timer twice
    is a no-op and firing it is exactly-once.
    """

    __tablename__ = "timers"
    __table_args__ = (Index("ix_timers_state_due_at", "state", "due_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(400), unique=True)
    kind: Mapped[str] = mapped_column(String(24))  # nudge | escalation | renotify | duty | digest | quarterly
    board_id: Mapped[str] = mapped_column(ForeignKey("boards.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True, index=True)
    token: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)  # when to fire (inside working hours)
    deadline_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending | done | cancelled | failed
    # a handler that met a transient database error (deadlock, serialization failure, lost connection) leaves the
    # timer pending: ``attempts`` counts those tries and ``retry_at`` is when the next may be made
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    retry_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    fired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str] = mapped_column(String(200), default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class TimerPlan(Base):
    """What a case's timers were last planned from (bot/cases/plans.py): its version, protocol snapshot and the
    planning rules, with the engine's replay of its events up to ``seq`` (hash ``head``), which is brought up to date
    from the events after it instead of replaying the whole history. Written with the timers."""

    __tablename__ = "timer_plans"
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    case_version: Mapped[int] = mapped_column(Integer)
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("protocol_snapshots.id"))
    rules: Mapped[str] = mapped_column(String(100))
    seq: Mapped[int] = mapped_column(Integer)
    head: Mapped[str | None] = mapped_column(String(64), nullable=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSONType)
    planned_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboxMessage(Base):
    """Every outbound message, written before it is handed to a platform; sent at most once per key."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_state_next", "state", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(500), unique=True)
    board_id: Mapped[str | None] = mapped_column(ForeignKey("boards.id"), nullable=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True, index=True)
    timer_id: Mapped[int | None] = mapped_column(ForeignKey("timers.id"), nullable=True)
    prompt_id: Mapped[int | None] = mapped_column(ForeignKey("escalation_prompts.id", use_alter=True),
                                                  nullable=True)
    platform: Mapped[str] = mapped_column(String(16))
    target_kind: Mapped[str] = mapped_column(String(8))  # channel | person
    address: Mapped[str] = mapped_column(String(200))  # channel address or the person's platform id
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    update_of_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"), nullable=True)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sending | sent | failed
    # for a failed row: "permanent" (the platform refused the address: 403, 404, channel_not_found ...) or
    # "transient" (retried until the retry period ran out; retried again when the platform recovers)
    failure: Mapped[str | None] = mapped_column(String(16), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    external_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class EscalationPrompt(Base):
    """An escalation prompt posted to one agency's manager channel after a stage deadline lapsed."""

    __tablename__ = "escalation_prompts"
    __table_args__ = (UniqueConstraint("timer_id", "agency_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    timer_id: Mapped[int] = mapped_column(ForeignKey("timers.id"))
    token: Mapped[int] = mapped_column(Integer)
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), nullable=True)
    agency_key: Mapped[str] = mapped_column(String(64))  # the agency's key, or "board" for the business unit
    stage_id: Mapped[str] = mapped_column(String(64))  # the stage whose deadline lapsed
    level: Mapped[str] = mapped_column(String(32))  # the level asked to act
    state: Mapped[str] = mapped_column(String(16), default="open")  # open | acknowledged
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    renotified: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Setting(Base):
    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
