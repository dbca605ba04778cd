"""The hash chain over each case's event history, and its verification.

Each case has a chain of its own (cases are written concurrently, so one chain over every event would make
every writer wait for every other). Every event stores

- ``data_digest``: SHA-256 of its ``data`` as canonical JSON (sorted keys, no spaces, UTF-8);
- ``prev_hash``: the ``hash`` of the case's previous event (64 zeros for the first);
- ``hash``: SHA-256 of the canonical JSON list ``["parley-event-v1", case id, seq, kind, at (UTC, ISO, with
  microseconds), actor id, actor label, via, data_digest, prev_hash]``;

and the case row keeps the hash of its latest event (``cases.event_chain_head``), so that events removed from
the end are noticed too. :func:`repo.append_event` computes these; migration 0008 backfilled them.

The chain covers the *digest* of an event's data rather than the data itself, so the retention policy can erase
free text from an old case's events and the chain still verifies: the retention run rewrites only ``data``
(on PostgreSQL the append-only trigger allows nothing else, and that only inside the retention run), and the
``anonymised`` event it appends to the same chain lists, for every event it redacted, the digest of the redacted
data. Verification accepts an event whose data no longer matches its ``data_digest`` only if it matches what a
later ``anonymised`` event of that case recorded; anything else is reported as tampering.

A chain proves the stored history is consistent with itself. Someone who can write to the database and knows
this scheme could cut it short or rebuild a whole case's chain; the signed checkpoints (storage/checkpoints.py)
show that, with a key kept outside the database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from storage import signing
from storage.models import Case, CaseEvent

SCHEME = "parley-event-v1"
GENESIS = "0" * 64
ANONYMISED = "anonymised"  # the event kind whose data["redacted"] authorises redacted events
REDACTION_SETTING = signing.REDACTION_SETTING  # see migration 0010's trigger


def has_surrogate(text: str) -> bool:
    """A lone UTF-16 surrogate: not encodable as UTF-8, so no database can store it."""
    return any("\ud800" <= ch <= "\udfff" for ch in text)


class BrokenText(ValueError):
    """Data to be stored holds a lone surrogate (refused before the database fails on it)."""


def refuse_surrogates(value: Any) -> None:
    if has_surrogate(canonical(value)):
        raise BrokenText("the data holds a lone UTF-16 surrogate, which cannot be stored (clean it first)")


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def normalise(data: dict[str, Any] | None) -> dict[str, Any]:
    """The data as the JSON column gives it back (tuples become lists, keys become strings ...)."""
    return json.loads(json.dumps(dict(data or {})))


def data_digest(data: dict[str, Any] | None) -> str:
    return hashlib.sha256(canonical(normalise(data)).encode("utf-8")).hexdigest()


def event_hash(*, prev_hash: str, case_id: int, seq: int, kind: str, at: dt.datetime, actor_id: int | None,
               actor_label: str, via: str, digest: str) -> str:
    if at.tzinfo is None:
        raise ValueError("naive datetime given to the event chain; use timezone-aware times")
    when = at.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")
    body = canonical([SCHEME, case_id, seq, kind, when, actor_id, actor_label, via, digest, prev_hash])
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def hash_of(ev: CaseEvent) -> str:
    """The hash an event's stored columns give (compare with ``ev.hash``)."""
    return event_hash(prev_hash=ev.prev_hash, case_id=ev.case_id, seq=ev.seq, kind=ev.kind, at=ev.at,
                      actor_id=ev.actor_id, actor_label=ev.actor_label, via=ev.via, digest=ev.data_digest)


# -- verification ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    case_id: int
    seq: int | None  # the event concerned (None: the case as a whole)
    what: str  # missing | link | changed | content | end | empty
    message: str  # in plain words, without the event's data


def _event_words(ev: CaseEvent) -> str:
    return f"event {ev.seq} ({ev.kind}, recorded {ev.at.astimezone(dt.timezone.utc):%Y-%m-%d %H:%M} UTC)"


def authorised_redactions(events: Sequence[CaseEvent]) -> dict[int, str]:
    """seq -> digest of the redacted data, as recorded by the case's intact ``anonymised`` events."""
    out: dict[int, str] = {}
    for ev in events:
        if ev.kind == ANONYMISED and data_digest(ev.data) == ev.data_digest:
            for seq, digest in (ev.data.get("redacted") or {}).items():
                out[int(seq)] = str(digest)
    return out


def verify_events(case_id: int, events: Sequence[CaseEvent], head: str | None) -> list[Problem]:
    """Every problem in one case's chain: missing, inserted, reordered or changed events."""
    if not events:
        if head:
            return [Problem(case_id, None, "empty", "the case has no events at all: its history was deleted")]
        return [Problem(case_id, None, "empty", "the case has no events at all: its history is missing")]
    problems: list[Problem] = []
    redacted = authorised_redactions(events)
    prev, expected = GENESIS, 1
    for ev in events:
        gap = ev.seq != expected
        if gap:
            span = f"event {expected} is" if ev.seq == expected + 1 else f"events {expected} to {ev.seq - 1} are"
            problems.append(Problem(case_id, expected, "missing",
                                    f"{span} missing: deleted from the history"))
        elif ev.prev_hash != prev:
            problems.append(Problem(case_id, ev.seq, "link",
                                    f"{_event_words(ev)} does not follow on from the event before it: events "
                                    "were inserted, removed or reordered"))
        if hash_of(ev) != ev.hash:
            problems.append(Problem(case_id, ev.seq, "changed",
                                    f"{_event_words(ev)} was changed after it was recorded: its kind, time, "
                                    "author, channel or fingerprint no longer match its hash"))
        actual = data_digest(ev.data)
        if actual != ev.data_digest and redacted.get(ev.seq) != actual:
            problems.append(Problem(case_id, ev.seq, "content",
                                    f"{_event_words(ev)} had its details changed after it was recorded"))
        prev, expected = ev.hash, ev.seq + 1
    if head is not None and head != prev:
        problems.append(Problem(case_id, None, "end",
                                f"the history ends at event {events[-1].seq}, but the case records a different "
                                "latest event: events at the end were deleted or replaced"))
    return problems


@dataclass
class ChainReport:
    cases: int = 0
    events: int = 0
    problems: list[tuple[str, Problem]] = field(default_factory=list)  # (case ref, problem)
    fingerprint: str = ""  # SHA-256 over every checked case's reference and latest hash


def verify(session: Session, *, board_id: str | None = None) -> ChainReport:
    """Recompute every case's chain (or one board's), reading the events 200 cases at a time."""
    report = ChainReport()
    q = select(Case.id, Case.ref, Case.event_chain_head).order_by(Case.id)
    if board_id:
        q = q.where(Case.board_id == board_id)
    cases = list(session.execute(q))
    fp = hashlib.sha256()
    for first in range(0, len(cases), 200):
        part = cases[first:first + 200]
        by_case: dict[int, list[CaseEvent]] = {c.id: [] for c in part}
        for ev in session.scalars(select(CaseEvent).where(CaseEvent.case_id.in_(list(by_case))).order_by(
                CaseEvent.case_id, CaseEvent.seq)):
            by_case[ev.case_id].append(ev)
        for c in part:
            events = by_case[c.id]
            report.cases += 1
            report.events += len(events)
            report.problems.extend((c.ref, p) for p in verify_events(c.id, events, c.event_chain_head))
            fp.update(f"{c.ref}:{events[-1].hash if events else '-'}\n".encode())
    report.fingerprint = fp.hexdigest()
    return report


# -- the one sanctioned rewrite: retention redaction -------------------------------------------------------
def redact(session: Session, case: Case, new_data: dict[int, dict[str, Any]]) -> dict[str, str]:
    """Replace the data of some of a case's events (the retention policy's erasure of free text), leaving every
    other column (and so the chain) as it was. Returns ``{seq: digest of the new data}`` for the ``anonymised``
    event that must follow in the same transaction. On PostgreSQL the append-only trigger lets this through only
    while the transaction-local setting holds the redaction token derived from the audit key (storage/signing.py),
    and only for the ``data`` column."""
    if not new_data:
        return {}
    session.flush()
    pg = session.get_bind().dialect.name == "postgresql"
    if pg:
        session.execute(text("SELECT set_config(:name, :token, true)"),
                        {"name": REDACTION_SETTING, "token": _redaction_token(session)})
    try:
        for seq, data in sorted(new_data.items()):
            session.execute(update(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.seq == seq)
                            .values(data=normalise(data)))
    finally:
        if pg:
            session.execute(text("SELECT set_config(:name, '', true)"), {"name": REDACTION_SETTING})
    return {str(seq): data_digest(data) for seq, data in new_data.items()}


def _redaction_token(session: Session) -> str:
    """The token the append-only trigger wants for a redaction (storage/signing.py), installing the trigger
    function with the current audit keys' token hashes if it does not list them yet (that takes ownership of the
    function: the retention run's role)."""
    keys = signing.audit_keys()
    hashes = signing.redaction_token_hashes(keys)
    current = session.execute(text("SELECT prosrc FROM pg_proc WHERE oid = to_regprocedure(:f)"),
                              {"f": f"{signing.GUARD_FUNCTION}()"}).scalar() or ""
    if hashes[0] not in current:
        session.execute(text(signing.redaction_guard_sql(hashes)))
    return signing.redaction_token(keys.newest)
