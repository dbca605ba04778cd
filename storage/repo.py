"""Repository of boards, the directory, single cases, the event history, the audit trail, conversations and
settings. With the other repositories (cases_repo, outbox_repo, escalation_repo, inbound_repo, reporting_repo, ...)
these are the only queries the rest of Parley makes: bot/ builds no SQL. The session is keyword-only.

There is no function to update or delete a case event: the history is append-only, and each event is chained
to the one before by hash (storage/chain.py).
Subject details are in :mod:`storage.subjects`, kept apart so channel-facing code never loads them.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, Select, bindparam, delete, event, func, literal, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage import chain, checkpoints
from storage.db import keep_loaded
from storage.models import (
    Agency,
    AuditEntry,
    AgencyChannel,
    Board,
    BoardChannel,
    Case,
    CaseCounter,
    CaseEvent,
    Conversation,
    Person,
    PersonIdentity,
    ProtocolSnapshot,
    Setting,
    utcnow,
)
from storage.platform_models import FileLink


# -- boards and protocol snapshots ------------------------------------------------------------
def get_board(board_id: str, *, session: Session) -> Board | None:
    return session.get(Board, board_id)


def all_boards(*, session: Session) -> Sequence[Board]:
    return session.scalars(select(Board).order_by(Board.id)).all()


def training_offsets(*, session: Session) -> dict[str, int]:
    """Each training board whose clock has been moved: board id -> seconds ahead of the real time."""
    rows = session.execute(select(Board.id, Board.clock_offset_seconds).where(
        Board.training.is_(True), Board.clock_offset_seconds != 0))
    return {board_id: seconds for board_id, seconds in rows}


def snapshot_sha(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def ensure_board(board_id: str, name: str, ref_prefix: str, version: str, snapshot_data: dict[str, Any], *,
                 session: Session) -> tuple[Board, ProtocolSnapshot]:
    """Create or update a board and make ``snapshot_data`` its current protocol snapshot.

    An unchanged protocol reuses its snapshot; a changed one adds a new snapshot, leaving cases that
    started under an older one untouched.
    """
    board = session.get(Board, board_id)
    if board is None:
        board = Board(id=board_id, name=name, ref_prefix=ref_prefix)
        session.add(board)
        session.flush()
    board.name, board.ref_prefix = name, ref_prefix
    sha = snapshot_sha(snapshot_data)
    snap = session.scalar(
        select(ProtocolSnapshot).where(ProtocolSnapshot.board_id == board_id, ProtocolSnapshot.sha256 == sha)
    )
    if snap is None:
        snap = ProtocolSnapshot(board_id=board_id, version=version, sha256=sha, data=snapshot_data)
        session.add(snap)
        session.flush()
    board.current_snapshot_id = snap.id
    return board, snap


_SNAPSHOT_SHA = "parley.snapshot_sha256"  # session.info: each snapshot's digest, once read


@event.listens_for(Session, "after_soft_rollback")
def _forget_snapshots(session: Session, _previous: object) -> None:
    session.info.pop(_SNAPSHOT_SHA, None)  # a snapshot rolled back may leave its id to another


def snapshot_sha256(snapshot_id: int, *, session: Session) -> str:
    """A snapshot's digest alone: the protocol's JSON is neither read nor decoded."""
    known: dict[int, str] = session.info.setdefault(_SNAPSHOT_SHA, {})  # a stored snapshot never changes
    if snapshot_id in known:
        return known[snapshot_id]
    with session.no_autoflush:  # snapshots are flushed when they are made (ensure_board): nothing to flush first
        sha = session.scalar(select(ProtocolSnapshot.sha256).where(ProtocolSnapshot.id == snapshot_id))
    if sha is None:
        raise LookupError(f"no protocol snapshot {snapshot_id}")
    known[snapshot_id] = sha
    return sha


def snapshot_data(snapshot_id: int, *, session: Session) -> dict[str, Any]:
    """A snapshot's protocol, as the JSON it was stored as (bot.cases.protocols reads it once per process)."""
    with session.no_autoflush:
        data = session.scalar(select(ProtocolSnapshot.data).where(ProtocolSnapshot.id == snapshot_id))
    if data is None:
        raise LookupError(f"no protocol snapshot {snapshot_id}")
    return data


def current_snapshot(board: Board, *, session: Session) -> ProtocolSnapshot:
    if board.current_snapshot_id is None:
        raise LookupError(f"board {board.id} has no protocol loaded")
    snap = session.get(ProtocolSnapshot, board.current_snapshot_id)
    assert snap is not None
    return snap


# -- directory --------------------------------------------------------------------------------
keep_loaded(Board, Agency, Person)  # read once per unit of work (storage.db.UnitOfWork)


def agencies(board_id: str, *, session: Session) -> Sequence[Agency]:
    return session.scalars(select(Agency).where(Agency.board_id == board_id).order_by(Agency.name)).all()


def get_agency(agency_id: int, *, session: Session) -> Agency | None:
    return session.get(Agency, agency_id)


def agency_by_key(board_id: str, key: str, *, session: Session) -> Agency | None:
    return session.scalar(select(Agency).where(Agency.board_id == board_id, Agency.key == key))


def agency_channels(agency_id: int, level: str | None = None, *, session: Session) -> Sequence[AgencyChannel]:
    q = select(AgencyChannel).where(AgencyChannel.agency_id == agency_id)
    if level:
        q = q.where(AgencyChannel.level == level)
    return session.scalars(q.order_by(AgencyChannel.id)).all()


def channels_of_agencies(agency_ids: list[int], *, session: Session) -> Sequence[AgencyChannel]:
    return session.scalars(select(AgencyChannel).where(AgencyChannel.agency_id.in_(agency_ids))).all()


def board_channels(board_id: str, purpose: str, *, session: Session) -> Sequence[BoardChannel]:
    return session.scalars(
        select(BoardChannel).where(BoardChannel.board_id == board_id, BoardChannel.purpose == purpose)
    ).all()


def get_person(person_id: int, *, session: Session) -> Person | None:
    return session.get(Person, person_id)


def people(board_id: str, *, session: Session, agency_id: int | None = None, include_inactive: bool = False
           ) -> Sequence[Person]:
    """The board's people (of one agency), by name: the active ones only, unless ``include_inactive``."""
    q = select(Person).where(Person.board_id == board_id)
    if agency_id is not None:
        q = q.where(Person.agency_id == agency_id)
    if not include_inactive:
        q = q.where(Person.active.is_(True))
    return session.scalars(q.order_by(Person.name)).all()


def people_with_role(board_id: str, role: str, *, session: Session) -> Sequence[Person]:
    """The board's active people with ``role``."""
    return session.scalars(select(Person).where(Person.board_id == board_id, Person.role == role,
                                                Person.active.is_(True))).all()


def person_by_key(board_id: str, key: str, *, session: Session) -> Person | None:
    return session.scalar(select(Person).where(Person.board_id == board_id, Person.key == key))


def person_by_identity(platform: str, external_id: str, *, session: Session) -> Person | None:
    return session.scalar(
        select(Person).join(PersonIdentity, PersonIdentity.person_id == Person.id).where(
            PersonIdentity.platform == platform, PersonIdentity.external_id == external_id
        )
    )


def identities(person_id: int, *, session: Session) -> Sequence[PersonIdentity]:
    return session.scalars(select(PersonIdentity).where(PersonIdentity.person_id == person_id)).all()


def find_people(board_id: str, text: str, *, session: Session) -> Sequence[Person]:
    """People whose key or name matches ``text`` (case-insensitive, exact key first)."""
    needle = text.strip().lower()
    if not needle:
        return []
    exact = person_by_key(board_id, needle, session=session)
    if exact:
        return [exact]
    like = f"%{needle}%"
    return session.scalars(
        select(Person).where(
            Person.board_id == board_id, or_(func.lower(Person.name).like(like), func.lower(Person.key).like(like))
        ).order_by(Person.name)
    ).all()


def managers_of(person: Person, *, session: Session) -> list[Person]:
    """The person's line manager, their manager, and so on up the chain (read in one query; a loop in the chain
    ends it)."""
    if not person.line_manager_id:
        return []
    out: list[Person] = []
    seen = {person.id}
    for mgr in session.scalars(_CHAIN, {"start": person.line_manager_id}):
        if mgr.id in seen:
            break
        out.append(mgr)
        seen.add(mgr.id)
    return out


def _chain() -> Select[Person]:
    """The people up a line-management chain from ``:start``, nearest first (built once: building it costs more
    than running it)."""
    up = select(Person.id, Person.line_manager_id, literal(1).label("depth")).where(
        Person.id == bindparam("start")).cte("chain", recursive=True)
    up = up.union_all(select(Person.id, Person.line_manager_id, up.c.depth + 1)
                      .join(up, Person.id == up.c.line_manager_id).where(up.c.depth < 100))
    return select(Person).join(up, Person.id == up.c.id).order_by(up.c.depth)


_CHAIN = _chain()


# -- cases ------------------------------------------------------------------------------------
def next_case_ref(board: Board, year: int, *, session: Session) -> str:
    """``SWN-2026-0007``: a per-board, per-year sequence, allocated under a row lock (PostgreSQL) or inside the
    write lock a unit of work takes on SQLite (storage.db.writing). The year's counter row is made first if it is
    missing; of two first cases of a year at once, the second finds the row the first made."""
    q = select(CaseCounter).where(CaseCounter.board_id == board.id, CaseCounter.year == year).with_for_update()
    counter = session.scalar(q)
    if counter is None:
        try:
            with session.begin_nested():
                session.add(CaseCounter(board_id=board.id, year=year, last=0))
        except IntegrityError:
            pass
        counter = session.scalar(q)
        assert counter is not None
    counter.last += 1
    session.flush()
    checkpoints.touch(session, counter=(board.id, year))
    return f"{board.ref_prefix}-{year}-{counter.last:04d}"


def add_case(case: Case, *, session: Session) -> Case:
    session.add(case)
    session.flush()
    checkpoints.touch(session, case_id=case.id)
    return case


def get_case(case_id: int, *, session: Session) -> Case | None:
    return session.get(Case, case_id)


def case_by_ref(ref: str, *, session: Session, for_update: bool = False) -> Case | None:
    q = select(Case).where(func.upper(Case.ref) == ref.strip().upper())
    if for_update:
        q = q.with_for_update()
    return session.scalar(q)


def lock_case(case: Case, *, session: Session) -> Case:
    """Re-read the case row under a lock (PostgreSQL ``FOR UPDATE``; SQLite serialises writers)."""
    locked = session.scalar(select(Case).where(Case.id == case.id).with_for_update().execution_options(
        populate_existing=True))
    assert locked is not None
    return locked


def cases_for_board(board_id: str, *, session: Session, statuses: Sequence[str] | None = None) -> Sequence[Case]:
    q = select(Case).where(Case.board_id == board_id)
    if statuses:
        q = q.where(Case.status.in_(statuses))
    return session.scalars(q.order_by(Case.opened_at)).all()


def cases_involving(person: Person, *, session: Session, include_closed: bool = False) -> Sequence[Case]:
    """Cases the person raised or is the counterpart on, or whose parties they manage; for the business unit and
    the chair, also the board's open cases at a stage run at their level (the chair's stages involve the business
    unit too)."""
    ids = [person.id]
    # people this person line-manages, directly or further down
    frontier = [person.id]
    while frontier:
        reports = session.scalars(select(Person.id).where(Person.line_manager_id.in_(frontier))).all()
        frontier = [r for r in reports if r not in ids]
        ids.extend(frontier)
    mine = or_(Case.raising_person_id.in_(ids), Case.responding_person_id.in_(ids))
    levels = BOARD_LEVELS.get(person.role)
    if levels:
        # the business unit and the chair: also the board's open cases at a stage run at their level
        at_level = [c.id for c in session.scalars(select(Case).where(
            Case.board_id == person.board_id, Case.status.in_(["open", "awaiting_decision"]),
            Case.stage_id.is_not(None))) if _stage_level(c, session=session) in levels]
        if at_level:
            mine = or_(mine, Case.id.in_(at_level))
    q = select(Case).where(mine)
    if not include_closed:
        q = q.where(Case.status.in_(["open", "awaiting_decision"]))
    return session.scalars(q.order_by(Case.next_due_at.is_(None), Case.next_due_at, Case.opened_at)).all()


# a directory role -> the protocol levels (protocol.spec.Level) of the stages that person runs: the business unit
# supports the chair's stages as well as its own
BOARD_LEVELS = {"business_unit": {"business_unit", "independent_chair"}, "chair": {"independent_chair"}}


def _stage_level(case: Case, *, session: Session) -> str | None:
    """The level (as the protocol snapshot spells it) of the stage the case is at."""
    snap = session.get(ProtocolSnapshot, case.snapshot_id)
    stages = ((snap.data or {}).get("protocol") or {}).get("stages") or [] if snap else []
    return next((st.get("level") for st in stages if st.get("id") == case.stage_id), None)


# -- the event history (append-only) ----------------------------------------------------------
APPEND_ATTEMPTS = 5


def append_event(case: Case, kind: str, *, session: Session, at: dt.datetime, actor: Person | None,
                 actor_label: str | None = None, via: str, data: dict[str, Any] | None = None) -> CaseEvent:
    """Add an event at the end of the case's history, chained to the one before (storage/chain.py)."""
    if at.tzinfo is None:
        raise ValueError("naive datetime given to the database; use timezone-aware times")
    body = chain.normalise(data)
    chain.refuse_surrogates([kind, actor_label or "", via, body])
    label = actor_label or (actor.name if actor else "Parley")
    actor_id = actor.id if actor else None
    digest = chain.data_digest(body)
    for attempt in range(APPEND_ATTEMPTS):
        last = session.execute(select(CaseEvent.seq, CaseEvent.hash).where(CaseEvent.case_id == case.id)
                               .order_by(CaseEvent.seq.desc()).limit(1)).first()
        seq, prev = (last.seq + 1, last.hash) if last else (1, chain.GENESIS)
        ev = CaseEvent(
            case_id=case.id,
            seq=seq,
            kind=kind,
            at=at,
            actor_id=actor_id,
            actor_label=label,
            via=via,
            data=body,
            data_digest=digest,
            prev_hash=prev,
            hash=chain.event_hash(prev_hash=prev, case_id=case.id, seq=seq, kind=kind, at=at, actor_id=actor_id,
                                  actor_label=label, via=via, digest=digest),
        )
        try:
            # two people acting on one case at the same moment (two refusals, a click and a sweep) both read the
            # same last event: the one that loses the (case, seq) race reads again and goes after the winner
            with session.begin_nested():
                session.add(ev)
                session.flush()
        except IntegrityError:
            if attempt == APPEND_ATTEMPTS - 1:
                raise
            continue
        break
    case.event_chain_head = ev.hash
    session.flush()
    checkpoints.touch(session, case_id=case.id)  # the commit signs the case's new head (storage/checkpoints.py)
    return ev


def audit(kind: str, *, session: Session, at: dt.datetime, actor: Person | None, via: str,
          data: dict[str, Any] | None = None, board_id: str | None = None, actor_label: str | None = None
          ) -> AuditEntry:
    chain.refuse_surrogates([kind, actor_label or "", via, dict(data or {})])
    entry = AuditEntry(at=at, board_id=board_id or (actor.board_id if actor else None),
                       actor_id=actor.id if actor else None,
                       actor_label=actor_label or (actor.name if actor else "Parley"), via=via, kind=kind,
                       data=dict(data or {}))
    session.add(entry)
    session.flush()
    checkpoints.touch(session, audit_id=entry.id)
    return entry


def audit_entries(*, session: Session, kind: str | None = None, actor_id: int | None = None
                  ) -> Sequence[AuditEntry]:
    q = select(AuditEntry)
    if kind:
        q = q.where(AuditEntry.kind == kind)
    if actor_id is not None:
        q = q.where(AuditEntry.actor_id == actor_id)
    return session.scalars(q.order_by(AuditEntry.id)).all()


def audit_entries_of_board(board_id: str, *, session: Session) -> Sequence[AuditEntry]:
    """The board's audit entries and those of no board, in order."""
    return session.scalars(select(AuditEntry).where(
        or_(AuditEntry.board_id == board_id, AuditEntry.board_id.is_(None))).order_by(AuditEntry.id)).all()


def events_for(case_id: int, *, session: Session) -> Sequence[CaseEvent]:
    return session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq)).all()


def event_rows(case_id: int, *, session: Session, after: int = 0
               ) -> Sequence[Row[tuple[int, str, dt.datetime, dict[str, Any], str, str]]]:
    """The case's events after sequence number ``after`` (all of them by default), in order, as light rows (seq, kind,
    at, data, prev_hash, hash): what the engine reads, without building an ORM object per event
    (bot/cases/replays.py)."""
    return session.execute(select(CaseEvent.seq, CaseEvent.kind, CaseEvent.at, CaseEvent.data, CaseEvent.prev_hash,
                                  CaseEvent.hash)
                           .where(CaseEvent.case_id == case_id, CaseEvent.seq > after).order_by(CaseEvent.seq)).all()


# -- conversations and settings ---------------------------------------------------------------
def get_conversation(platform: str, user_key: str, *, session: Session) -> Conversation:
    conv = session.scalar(
        select(Conversation).where(Conversation.platform == platform, Conversation.user_key == user_key)
    )
    if conv is None:
        # two inputs from one person at once (a double click) may both find no row: the second insert loses the
        # race and reads the row the first one made, instead of failing the person's input
        try:
            with session.begin_nested():
                conv = Conversation(platform=platform, user_key=user_key, flow=None, state={})
                session.add(conv)
                session.flush()
        except IntegrityError:
            conv = session.scalar(
                select(Conversation).where(Conversation.platform == platform, Conversation.user_key == user_key))
            assert conv is not None
    return conv


def save_conversation(conv: Conversation, flow: str | None, state: dict[str, Any], *, session: Session) -> None:
    chain.refuse_surrogates([flow or "", state])
    conv.flow = flow
    conv.state = dict(state)
    conv.updated_at = utcnow()
    session.flush()


def get_setting(key: str, *, session: Session) -> str | None:
    row = session.get(Setting, key)
    return row.value if row else None


def set_setting(key: str, value: str, *, session: Session) -> None:
    row = session.get(Setting, key)
    if row is None:
        session.add(Setting(key=key, value=value))
    else:
        row.value = value
    session.flush()


# -- files offered through links (Teams) ------------------------------------------------------------------------
def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def put_file_link(token: str, *, session: Session, filename: str, media_type: str, title: str, data: bytes,
                  expires_at: dt.datetime) -> None:
    session.add(FileLink(token_hash=_token_hash(token), filename=filename, media_type=media_type, title=title,
                         data=base64.b64encode(data).decode("ascii"), expires_at=expires_at))
    session.flush()


def get_file_link(token: str, now: dt.datetime, *, session: Session) -> FileLink | None:
    """The file behind a link's token while it has not expired (an expired one is deleted)."""
    row = session.get(FileLink, _token_hash(token))
    if row is not None and now >= row.expires_at:
        session.delete(row)
        session.flush()
        return None
    return row


def prune_file_links(now: dt.datetime, *, session: Session) -> int:
    return session.execute(delete(FileLink).where(FileLink.expires_at <= now)).rowcount or 0
