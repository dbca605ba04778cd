"""Data-protection upkeep of the subject details that never hands their contents to the caller: re-encrypting
every row with the newest key, checking that a stored row can be decrypted, and erasing a case's row (retention).

These work on the raw columns (Fernet tokens) through the table, not through the ``SubjectDetails`` entity, so
no plaintext is returned: only counts, case references and yes/no answers. Reading subject details to show them
stays with storage/subjects.py and its two callers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography.fernet import InvalidToken
from sqlalchemy import Integer, Text, column, delete, func, select, table, update
from sqlalchemy.orm import Session

from storage import crypto
from storage.models import Case, OutboxMessage, SubjectDetails

ENCRYPTED_COLUMNS = ("name", "date_of_birth", "address", "case_number", "extra")
# the same table with its raw columns: Fernet tokens in and out, never decrypted on the way
_RAW = table(SubjectDetails.__tablename__, column("case_id", Integer()), *(column(c, Text()) for c in ENCRYPTED_COLUMNS))


def _raw_rows(session: Session, case_ids: list[int] | None = None) -> list[Any]:
    q = select(_RAW).order_by(_RAW.c.case_id)
    if case_ids is not None:
        q = q.where(_RAW.c.case_id.in_(case_ids))
    return list(session.execute(q))


def _ref(session: Session, case_id: int) -> str:
    return session.scalar(select(Case.ref).where(Case.id == case_id)) or f"case id {case_id}"


@dataclass(frozen=True)
class RotationResult:
    rows: int  # rows re-encrypted
    source: crypto.KeySource


def rotate(session: Session) -> RotationResult:
    """Re-encrypt every subject-details row with the newest key in PARLEY_DATA_KEYS (MultiFernet.rotate). All or
    nothing: a row no key can read stops the rotation with its case reference, and the caller rolls back."""
    source = crypto.require_real_keys()
    rows = _raw_rows(session)
    for row in rows:
        values: dict[str, str | None] = {}
        for col in ENCRYPTED_COLUMNS:
            token = getattr(row, col)
            try:
                values[col] = None if token is None else crypto.rotate_token(token, source)
            except crypto.DataKeyError:
                raise crypto.DataKeyError(
                    f"The subject details of {_ref(session, row.case_id)} cannot be decrypted with any key in "
                    f"{crypto.KEYS_ENV}: add the key they were written with (after the new one) and run the "
                    "rotation again. Nothing was changed.") from None
        session.execute(update(_RAW).where(_RAW.c.case_id == row.case_id).values(**values))
    return RotationResult(len(rows), source)


@dataclass(frozen=True)
class SampleCheck:
    rows: int  # subject-details rows stored
    checked_ref: str | None  # the case whose row was decrypted (None: no rows)
    newest_key: bool  # the sample is written with the newest key


def check_sample(session: Session, source: crypto.KeySource) -> SampleCheck:
    """Decrypt the newest subject-details row with ``source``'s keys (raising a clear DataKeyError if they
    cannot), without returning what it holds."""
    total = session.scalar(select(func.count()).select_from(_RAW)) or 0
    if not total:
        return SampleCheck(0, None, True)
    newest_id = session.scalar(select(func.max(_RAW.c.case_id)))
    [row] = _raw_rows(session, [newest_id])
    newest = crypto.keyring(crypto.KeySource(source.keys[:1], source.development, source.where))
    ring = crypto.keyring(source)
    on_newest = True
    for col in ENCRYPTED_COLUMNS:
        token = getattr(row, col)
        if token is None:
            continue
        try:
            ring.decrypt(token.encode("ascii"))
        except (InvalidToken, UnicodeEncodeError):
            raise crypto.DataKeyError(
                f"The subject details of {_ref(session, row.case_id)} cannot be decrypted with "
                f"{source.describe()}: the key they were written with is missing.") from None
        try:
            newest.decrypt(token.encode("ascii"))
        except InvalidToken:
            on_newest = False
    return SampleCheck(total, _ref(session, row.case_id), on_newest)


def erase_subject(session: Session, case_id: int) -> bool:
    """Delete a case's subject details (retention). True if there was a row."""
    session.flush()
    result = session.execute(delete(_RAW).where(_RAW.c.case_id == case_id))
    return bool(result.rowcount)


def erase_outbox(session: Session, case_id: int, ref: str, marker: str) -> int:
    """Replace the text of every message Parley sent or failed to send about a case with ``marker`` (the
    messages, e.g. a counterpart's DM, quote the concern). Pending messages are left to be delivered."""
    rows = session.scalars(select(OutboxMessage).where(OutboxMessage.case_id == case_id,
                                                       OutboxMessage.state.in_(("sent", "failed")))).all()
    for row in rows:
        row.payload = {"text": marker, "case_ref": ref, "severity": (row.payload or {}).get("severity", "info")}
    session.flush()
    return len(rows)


def has_subject(session: Session, case_id: int) -> bool:
    return session.scalar(select(func.count()).select_from(_RAW).where(_RAW.c.case_id == case_id)) == 1


def sent_messages(session: Session, case_id: int) -> int:
    return session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.case_id == case_id, OutboxMessage.state.in_(("sent", "failed")))) or 0
