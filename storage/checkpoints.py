"""Signed checkpoints: what each case's chain (storage/chain.py) cannot show on its own.

A case's hash chain shows a changed, inserted or reordered event, but not a history cut short with the case's
head moved back (or cleared), a case deleted with everything about it, or a chain rebuilt from scratch by someone
who knows the scheme. Nor did anything protect ``audit_entries``. So every commit that adds a case event, a case,
an audit entry or a case reference also appends a row to ``audit_checkpoints``, in the same transaction:

- ``body``: what the commit changed, as canonical JSON: ``cases`` {case id: [reference, board, number of events,
  latest event hash]}, ``audit`` {entry id: [board, digest of the entry]} and ``counters`` {"board/year": last
  reference number}; a ``full`` checkpoint holds the whole state instead (the first one, the one migration 0010
  writes for existing data, and the one ``parley keys rotate`` writes with a new key);
- ``seq`` (1, 2, 3 ... without gaps), ``prev_mac`` (the previous checkpoint's ``mac``) and ``mac``: an HMAC-SHA256
  over all of it with the audit key (storage/signing.py), which is kept outside the database.

``parley audit verify`` replays the checkpoints (checking each MAC and link) into the state they vouch for and
compares it with the database: a case or audit entry that is missing, changed, added or has fewer or more events
than signed, a counter moved back, or a reference issued with no case, is reported. Without the key nobody can
write a checkpoint that verifies, so rebuilding a chain shows too. What a database alone cannot show is a roll
back of the newest checkpoints *together with* everything they recorded: for that ``verify`` prints a fingerprint
(the latest checkpoint's number and MAC) to keep elsewhere; ``verify --expect SEQ:MAC`` checks that that
checkpoint is still there, unchanged, with the chain carrying on from it.

On PostgreSQL writers take ``LOCK TABLE audit_checkpoints IN EXCLUSIVE MODE`` just before committing (the last lock
a transaction takes, held only through its commit), so the checkpoints form one sequence without deadlocks; SQLite
has one writer at a time anyway.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, event, func, select, text
from sqlalchemy.orm import Session

from storage import crypto, signing
from storage.models import AuditCheckpoint, AuditEntry, Board, Case, CaseCounter, CaseEvent, utcnow

GENESIS = "0" * 64
TOUCHED = "parley.checkpoint.touched"


# -- writing ----------------------------------------------------------------------------------------------------
def touch(session: Session, *, case_id: int | None = None, audit_id: int | None = None,
          counter: tuple[str, int] | None = None) -> None:
    """Note something the commit must record in its checkpoint (called by storage.repo)."""
    t = session.info.setdefault(TOUCHED, {"cases": set(), "audit": set(), "counters": set()})
    if case_id is not None:
        t["cases"].add(case_id)
    if audit_id is not None:
        t["audit"].add(audit_id)
    if counter is not None:
        t["counters"].add(counter)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")


def _cases(session: Session, case_ids: list[int] | None) -> dict[str, list[Any]]:
    """{case id: [ref, board, number of events, latest event hash]} for these cases (all when None)."""
    q = select(Case.id, Case.ref, Case.board_id)
    if case_ids is not None:
        q = q.where(Case.id.in_(case_ids))
    out = {str(r.id): [r.ref, r.board_id, 0, None] for r in session.execute(q)}
    last = select(CaseEvent.case_id, func.count().label("n"), func.max(CaseEvent.seq).label("top")).group_by(
        CaseEvent.case_id)
    if case_ids is not None:
        last = last.where(CaseEvent.case_id.in_(case_ids))
    sub = last.subquery()
    for r in session.execute(select(sub.c.case_id, sub.c.n, CaseEvent.hash).join(
            CaseEvent, and_(CaseEvent.case_id == sub.c.case_id, CaseEvent.seq == sub.c.top))):
        if str(r.case_id) in out:
            out[str(r.case_id)][2:] = [r.n, r.hash]
    return out


def entry_digest(e: AuditEntry) -> str:
    return signing.audit_entry_digest(entry_id=e.id, at=_iso(e.at), board_id=e.board_id, actor_id=e.actor_id,
                                      actor_label=e.actor_label, via=e.via, kind=e.kind, data=e.data)


def _audit(session: Session, ids: list[int] | None) -> dict[str, list[Any]]:
    q = select(AuditEntry)
    if ids is not None:
        q = q.where(AuditEntry.id.in_(ids))
    return {str(e.id): [e.board_id, entry_digest(e)] for e in session.scalars(q)}


def _counters(session: Session, which: list[tuple[str, int]] | None) -> dict[str, int]:
    rows = session.scalars(select(CaseCounter))
    return {f"{c.board_id}/{c.year}": c.last for c in rows
            if which is None or (c.board_id, c.year) in which}


def full_state(session: Session) -> dict[str, dict]:
    return {"cases": _cases(session, None), "audit": _audit(session, None), "counters": _counters(session, None)}


def _lock(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE audit_checkpoints IN EXCLUSIVE MODE"))


def write(session: Session, body: dict[str, dict], *, full: bool = False) -> AuditCheckpoint:
    """Append a checkpoint (a full one when it is the first), signed with the newest audit key. Raises a clear
    DataKeyError when no audit key is available: nothing is committed unsigned."""
    keys = signing.audit_keys()
    _lock(session)
    last = session.execute(select(AuditCheckpoint.seq, AuditCheckpoint.mac).order_by(
        AuditCheckpoint.seq.desc()).limit(1)).first()
    if last is None and not full:
        body, full = full_state(session), True
    seq, prev = (last.seq + 1, last.mac) if last else (1, GENESIS)
    at = utcnow()
    kind = "full" if full else "delta"
    text_body = signing.canonical(body)
    cp = AuditCheckpoint(seq=seq, at=at, kind=kind, body=text_body, key_id=signing.key_id(keys.newest),
                         prev_mac=prev, mac=signing.mac(keys.newest, seq=seq, at=_iso(at), kind=kind,
                                                        body=text_body, prev_mac=prev))
    session.add(cp)
    session.flush()
    return cp


def write_full(session: Session) -> AuditCheckpoint:
    """A checkpoint of the whole state (e.g. after a key rotation: from here on only the new key is needed)."""
    session.flush()
    return write(session, full_state(session), full=True)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    touched = session.info.pop(TOUCHED, None)
    if not touched or not any(touched.values()):
        return
    session.flush()
    body = {"cases": _cases(session, sorted(touched["cases"])) if touched["cases"] else {},
            "audit": _audit(session, sorted(touched["audit"])) if touched["audit"] else {},
            "counters": _counters(session, sorted(touched["counters"])) if touched["counters"] else {}}
    if not any(body.values()):  # everything noted was rolled back (a savepoint)
        return
    write(session, body)


# -- verifying --------------------------------------------------------------------------------------------------
@dataclass
class LedgerReport:
    checkpoints: int = 0
    latest_seq: int = 0
    latest_mac: str = ""
    latest_at: dt.datetime | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def fingerprint(self) -> str:
        return f"{self.latest_seq}:{self.latest_mac[:32]}" if self.latest_seq else "0:none"


EXPECT = re.compile(r"^\s*(\d+):([0-9a-f]{8,64})\s*$")


def parse_expect(value: str) -> tuple[int, str]:
    m = EXPECT.match(value.lower())
    if not m:
        raise ValueError(f"{value!r} is not a fingerprint: it looks like 1234:0f3a... (as `parley audit verify` "
                         "prints it)")
    return int(m.group(1)), m.group(2)


def _replay(rows: list[AuditCheckpoint], keys: signing.AuditKeys | None, report: LedgerReport
            ) -> dict[str, dict] | None:
    """Check every checkpoint's number, link and MAC and return the state they vouch for (None: no trust)."""
    known = keys.ids if keys else {}
    # checkpoints before the last full one signed with a configured key may use a retired key
    start = 0
    for i, cp in enumerate(rows):
        if cp.kind == "full" and cp.key_id in known:
            start = i
    state: dict[str, dict] | None = None
    prev_seq, prev_mac = 0, GENESIS
    retired = 0
    for i, cp in enumerate(rows):
        if cp.seq != prev_seq + 1:
            span = f"checkpoint {prev_seq + 1} is" if cp.seq == prev_seq + 2 else \
                f"checkpoints {prev_seq + 1} to {cp.seq - 1} are"
            report.problems.append(f"audit checkpoints: {span} missing: deleted")
        elif cp.prev_mac != prev_mac:
            report.problems.append(f"audit checkpoints: checkpoint {cp.seq} does not follow on from the one before "
                                   "it: checkpoints were replaced or reordered")
        prev_seq, prev_mac = cp.seq, cp.mac
        key = known.get(cp.key_id)
        if key is None:
            if i < start:
                retired += 1
                continue
            report.problems.append(f"audit checkpoints: checkpoint {cp.seq} is signed with a key that is not "
                                   "configured (neither the audit key nor a retired one Parley knows): it was "
                                   "forged, or the audit key is wrong")
            continue
        if signing.mac(key, seq=cp.seq, at=_iso(cp.at), kind=cp.kind, body=cp.body, prev_mac=cp.prev_mac) != cp.mac:
            report.problems.append(f"audit checkpoints: checkpoint {cp.seq} does not match its signature: it was "
                                   "changed or forged")
            continue
        body = json.loads(cp.body)
        if cp.kind == "full":
            state = {k: dict(body.get(k) or {}) for k in ("cases", "audit", "counters")}
        elif state is not None:
            for k in ("cases", "audit", "counters"):
                state[k].update(body.get(k) or {})
    if retired:
        report.notes.append(f"{retired} checkpoint(s) before checkpoint {rows[start].seq} are signed with a retired "
                            "key: the state is checked from that full checkpoint on")
    return state


def verify(session: Session, *, board_id: str | None = None, expect: str | None = None) -> LedgerReport:
    report = LedgerReport()
    rows = list(session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq)))
    report.checkpoints = len(rows)
    if rows:
        report.latest_seq, report.latest_mac, report.latest_at = rows[-1].seq, rows[-1].mac, rows[-1].at
    try:
        keys: signing.AuditKeys | None = signing.audit_keys()
    except crypto.DataKeyError as exc:
        keys = None
        report.problems.append(f"audit checkpoints: cannot be checked without the audit key: {exc}")
    actual = full_state(session)
    if not rows:
        if any(actual.values()):
            report.problems.append("audit checkpoints: there are none, but the database holds cases, audit entries "
                                   "or references: the checkpoints were deleted")
        expected: dict[str, dict] = {"cases": {}, "audit": {}, "counters": {}}
    else:
        replayed = _replay(rows, keys, report)
        if replayed is None:
            if keys is not None:
                report.problems.append("audit checkpoints: no full checkpoint signed with a configured key: the "
                                       "state cannot be checked")
            _check_expect(rows, expect, report)
            return report
        expected = replayed
    _compare(session, expected, actual, board_id, report)
    _check_expect(rows, expect, report)
    return report


def _check_expect(rows: list[AuditCheckpoint], expect: str | None, report: LedgerReport) -> None:
    if not expect:
        return
    seq, mac = parse_expect(expect)
    match = next((cp for cp in rows if cp.seq == seq), None)
    if match is None:
        report.problems.append(f"audit checkpoints: checkpoint {seq}, which you kept, is no longer in the database "
                               f"(the latest is {report.latest_seq}): the history was cut back or rebuilt")
    elif not match.mac.startswith(mac):
        report.problems.append(f"audit checkpoints: checkpoint {seq} is not the one you kept: the history was "
                               "rebuilt")


def _compare(session: Session, expected: dict[str, dict], actual: dict[str, dict], board_id: str | None,
             report: LedgerReport) -> None:
    def mine(board: str | None) -> bool:
        return board_id is None or board == board_id

    p = report.problems
    exp_cases, act_cases = expected["cases"], actual["cases"]
    for cid in sorted(set(exp_cases) | set(act_cases), key=int):
        e, a = exp_cases.get(cid), act_cases.get(cid)
        if not mine((a or e)[1]):
            continue
        if e is None:
            p.append(f"{a[0]}: no signed checkpoint records this case: it was added outside Parley")
        elif a is None:
            p.append(f"{e[0]}: the case was deleted (the signed checkpoints record it, with {e[2]} events)")
        elif a[:2] != e[:2]:
            p.append(f"{a[0]}: its reference or board was changed (signed as {e[0]} of {e[1]})")
        elif a[2] != e[2]:
            how = "deleted" if a[2] < e[2] else "added outside Parley"
            p.append(f"{a[0]}: has {a[2]} events but the signed checkpoints record {e[2]}: events were {how}")
        elif a[3] != e[3]:
            p.append(f"{a[0]}: its latest event is not the one signed: the history was rebuilt or replaced")
    exp_audit, act_audit = expected["audit"], actual["audit"]
    lost = changed = added = 0
    for aid in set(exp_audit) | set(act_audit):
        e, a = exp_audit.get(aid), act_audit.get(aid)
        if not mine((a or e)[0]):
            continue
        if e is None:
            added += 1
        elif a is None:
            lost += 1
        elif a != e:
            changed += 1
    for n, what in ((lost, "deleted"), (changed, "changed after they were written"),
                    (added, "added outside Parley")):
        if n:
            p.append(f"audit entries: {n} {'was' if n == 1 else 'were'} {what}")
    exp_counters, act_counters = expected["counters"], actual["counters"]
    for key in sorted(set(exp_counters) | set(act_counters)):
        if not mine(key.rsplit("/", 1)[0]):
            continue
        e, a = exp_counters.get(key), act_counters.get(key)
        if e is not None and (a is None or a < e):
            p.append(f"case references {key}: the counter was moved back from {e} to {a or 0}")
        elif e is None or a != e:
            p.append(f"case references {key}: the counter was changed outside Parley ({e} signed, {a} stored)")
    # every reference issued has its case
    prefixes = dict(session.execute(select(Board.id, Board.ref_prefix)).all())
    numbers: dict[tuple[str, int], set[int]] = {}
    for ref, board in ((v[0], v[1]) for v in act_cases.values()):
        m = re.match(r"^.*-(\d{4})-(\d+)$", ref)
        if m:
            numbers.setdefault((board, int(m.group(1))), set()).add(int(m.group(2)))
    for key, last in sorted(act_counters.items()):
        board, year = key.rsplit("/", 1)
        if not mine(board):
            continue
        have = numbers.get((board, int(year)), set())
        gone = [n for n in range(1, last + 1) if n not in have]
        if gone:
            refs = ", ".join(f"{prefixes.get(board, board)}-{year}-{n:04d}" for n in gone[:10])
            more = f" and {len(gone) - 10} more" if len(gone) > 10 else ""
            p.append(f"case references: {refs}{more} {'was' if len(gone) == 1 else 'were'} issued but no case has "
                     "it: deleted")
