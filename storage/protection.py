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
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from storage import checkpoints, crypto, signing
from storage.models import AuditCheckpoint, Case, OutboxMessage, Setting, SubjectDetails
from storage.platform_models import FileLink

ENCRYPTED_COLUMNS = ("name", "date_of_birth", "address", "case_number", "extra")
# the same table with its raw columns: Fernet tokens in and out, never decrypted on the way
_RAW = table(SubjectDetails.__tablename__, column("case_id", Integer()),
             *(column(c, Text()) for c in ENCRYPTED_COLUMNS))
FILE_COLUMNS = ("filename", "title", "data")  # file_links (Teams forms): encrypted like the subject details
_FILES = table(FileLink.__tablename__, column("token_hash", Text()), column("created_at"),
               *(column(c, Text()) for c in FILE_COLUMNS))
_SETTINGS = table(Setting.__tablename__, column("key", Text()), column("value", Text()))
CANARY = "datakeys.canary"  # settings: a Fernet token of CANARY_TEXT, written with the key in use at first start
CANARY_TEXT = "parley data key canary"


def _raw_rows(session: Session, case_ids: list[int] | None = None) -> list[Any]:
    q = select(_RAW).order_by(_RAW.c.case_id)
    if case_ids is not None:
        q = q.where(_RAW.c.case_id.in_(case_ids))
    return list(session.execute(q))


def _ref(session: Session, case_id: int) -> str:
    return session.scalar(select(Case.ref).where(Case.id == case_id)) or f"case id {case_id}"


@dataclass(frozen=True)
class RotationResult:
    rows: int  # subject-details rows re-encrypted
    source: crypto.KeySource
    files: int = 0  # files behind Teams links re-encrypted


def rotate(session: Session) -> RotationResult:
    """Re-encrypt every subject-details row, every file behind a Teams link and the key canary with the newest key
    in PARLEY_DATA_KEYS (MultiFernet.rotate), then write a full audit checkpoint signed with the newest audit key
    (so an audit key derived from an old data key is no longer needed). All or nothing: a row no key can read
    stops the rotation with its case reference, and the caller rolls back."""
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
    files = list(session.execute(select(_FILES.c.token_hash, *(_FILES.c[c] for c in FILE_COLUMNS))))
    for f in files:
        try:
            values = {c: crypto.rotate_token(getattr(f, c), source) for c in FILE_COLUMNS}
        except crypto.DataKeyError:
            raise crypto.DataKeyError(
                f"A file behind a Teams link cannot be decrypted with any key in {crypto.KEYS_ENV}: add the key it "
                "was written with (after the new one) and run the rotation again. Nothing was changed.") from None
        session.execute(update(_FILES).where(_FILES.c.token_hash == f.token_hash).values(**values))
    canary = session.scalar(select(_SETTINGS.c.value).where(_SETTINGS.c.key == CANARY))
    if canary is not None:
        try:
            new = crypto.rotate_token(canary, source)
        except crypto.DataKeyError:
            new = crypto.keyring(source).encrypt(CANARY_TEXT.encode()).decode("ascii")  # nothing else depends on it
        session.execute(update(_SETTINGS).where(_SETTINGS.c.key == CANARY).values(value=new))
    checkpoints.write_full(session)
    return RotationResult(len(rows), source, len(files))


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


# -- the start-up check: can the configured keys read what is stored? -----------------------------------------
def _readable(ring: Any, token: str | None) -> bool:
    if token is None:
        return True
    try:
        ring.decrypt(token.encode("ascii"))
        return True
    except (InvalidToken, UnicodeEncodeError):
        return False


def check_readable(session: Session, source: crypto.KeySource) -> list[str]:
    """What stored data ``source``'s keys cannot read, in words (empty: all is well): the newest subject-details
    row, the newest file behind a Teams link, the key canary, and whether the latest audit checkpoint is signed
    with a configured audit key. Nothing decrypted is returned."""
    ring = crypto.keyring(source)
    out: list[str] = []
    try:
        check_sample(session, source)
    except crypto.DataKeyError as exc:
        out.append(str(exc))
    f = session.execute(select(*(_FILES.c[c] for c in FILE_COLUMNS)).order_by(_FILES.c.created_at.desc())
                        .limit(1)).first()
    if f is not None and not all(_readable(ring, getattr(f, c)) for c in FILE_COLUMNS):
        out.append(f"The files behind Teams links cannot be decrypted with {source.describe()}: the key they were "
                   "written with is missing.")
    canary = session.scalar(select(_SETTINGS.c.value).where(_SETTINGS.c.key == CANARY))
    if canary is not None and not _readable(ring, canary):
        out.append(f"This database's data was written with another key than {source.describe()} (its key canary "
                   "does not decrypt).")
    latest = session.scalar(select(AuditCheckpoint.key_id).order_by(AuditCheckpoint.seq.desc()).limit(1))
    if latest is not None:
        try:
            keys = signing.audit_keys()
        except crypto.DataKeyError as exc:
            out.append(str(exc))
        else:
            if latest not in keys.ids:
                out.append(f"The latest audit checkpoint is signed with a key other than the audit key ({keys.where}):"
                           " set PARLEY_AUDIT_KEY (or PARLEY_DATA_KEYS) to the keys this database was written with.")
    return out


def ensure_canary(session: Session, source: crypto.KeySource) -> None:
    """Store the key canary if there is none yet (a database's first start with a key). Two replicas starting at
    once may both find none: the second insert gives way to the first rather than failing."""
    if session.scalar(select(_SETTINGS.c.value).where(_SETTINGS.c.key == CANARY)) is None:
        token = crypto.keyring(source).encrypt(CANARY_TEXT.encode()).decode("ascii")
        insert = {"postgresql": pg_insert, "sqlite": sqlite_insert}.get(session.get_bind().dialect.name)
        if insert is None:
            session.execute(_SETTINGS.insert().values(key=CANARY, value=token))
        else:
            session.execute(insert(_SETTINGS).values(key=CANARY, value=token).on_conflict_do_nothing(
                index_elements=["key"]))
