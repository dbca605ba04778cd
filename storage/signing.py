"""The secret that signs the audit checkpoints (storage/checkpoints.py) and unlocks the retention redaction on
PostgreSQL: kept outside the database, so someone who can only write to the database cannot forge either.

``PARLEY_AUDIT_KEY``: a comma-separated list of secrets, newest first (each at least 32 characters; `parley keys
generate` makes one). New checkpoints are signed with the first; any of them verifies. When it is not set, the
audit keys are derived from the data keys (``PARLEY_DATA_KEYS``, or the development key): each data key gives
HMAC-SHA256(data key, "parley audit checkpoints v1"), a distinct key that reveals nothing about the data key.
Then rotating the data key rotates the audit key too (``parley keys rotate`` writes a full checkpoint signed with
the new one, so the old key can go).

Every key is named by a *key id* (the first 16 hex digits of SHA-256("parley-audit-key-id:" + key)), stored with
each checkpoint so verification knows which key to try; the id reveals nothing about the key.

This module imports nothing from storage.models, so migrations may use it. The scheme tags below never change (a
new scheme would get a new tag).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from typing import Any

from storage import crypto

AUDIT_KEY_ENV = "PARLEY_AUDIT_KEY"
DERIVE_LABEL = b"parley audit checkpoints v1"
CHECKPOINT_SCHEME = "parley-checkpoint-v1"
AUDIT_ENTRY_SCHEME = "parley-audit-entry-v1"
REDACTION_LABEL = b"parley retention redaction v1"
MIN_LENGTH = 32


@dataclass(frozen=True)
class AuditKeys:
    keys: tuple[bytes, ...]  # newest first
    where: str  # "PARLEY_AUDIT_KEY" or "derived from <data keys>"

    @property
    def ids(self) -> dict[str, bytes]:
        return {key_id(k): k for k in self.keys}

    @property
    def newest(self) -> bytes:
        return self.keys[0]


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"parley-audit-key-id:" + key).hexdigest()[:16]


def derive(data_key: bytes) -> bytes:
    return hmac.new(data_key, DERIVE_LABEL, hashlib.sha256).digest()


def audit_keys() -> AuditKeys:
    """The keys that sign and verify checkpoints; a clear DataKeyError when there are none."""
    text = os.environ.get(AUDIT_KEY_ENV, "")
    if text.strip():
        parts = [p.strip() for p in text.split(",") if p.strip()]
        for i, part in enumerate(parts, start=1):
            if len(part) < MIN_LENGTH:
                raise crypto.DataKeyError(
                    f"{AUDIT_KEY_ENV}: key {i} of {len(parts)} is shorter than {MIN_LENGTH} characters. Generate one "
                    "with `parley keys generate`.")
        return AuditKeys(tuple(p.encode("utf-8") for p in parts), AUDIT_KEY_ENV)
    source = crypto.key_source()
    return AuditKeys(tuple(derive(k) for k in source.keys), f"derived from {source.describe()}")


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def mac(key: bytes, *, seq: int, at: str, kind: str, body: str, prev_mac: str) -> str:
    message = canonical([CHECKPOINT_SCHEME, seq, at, kind, body, prev_mac])
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()


def audit_entry_digest(*, entry_id: int, at: str, board_id: str | None, actor_id: int | None, actor_label: str,
                       via: str, kind: str, data: Any) -> str:
    """SHA-256 over an audit entry's columns (``at`` as UTC ISO with microseconds; data as canonical JSON)."""
    body = canonical([AUDIT_ENTRY_SCHEME, entry_id, at, board_id, actor_id, actor_label, via, kind,
                      json.loads(json.dumps(data or {}))])
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


# -- the retention redaction's token (PostgreSQL) ----------------------------------------------------------------
def redaction_token(key: bytes) -> str:
    """What the retention run puts in the transaction-local setting so the append-only trigger lets its redaction
    through; the trigger holds only the token's SHA-256."""
    return hmac.new(key, REDACTION_LABEL, hashlib.sha256).hexdigest()


def redaction_token_hashes(keys: AuditKeys) -> list[str]:
    return [hashlib.sha256(redaction_token(k).encode("ascii")).hexdigest() for k in keys.keys]


# the append-only trigger of case_events on PostgreSQL (migration 0008, replaced by 0010): the retention run's
# redaction may replace an event's data, and nothing else, only while the transaction-local setting holds a token
# whose SHA-256 is listed here (one for each configured audit key; none: every redaction is refused). Installing it
# needs ownership of the function, the same privilege that could disable the trigger.
REDACTION_SETTING = "parley.retention_redaction"
GUARD_FUNCTION = "parley_case_events_append_only"


def redaction_guard_sql(token_hashes: list[str]) -> str:
    for h in token_hashes:
        if not all(c in "0123456789abcdef" for c in h) or len(h) != 64:
            raise ValueError("a token hash is 64 hex digits")
    listed = ", ".join(f"'{h}'" for h in token_hashes) or "NULL"
    return f"""
CREATE OR REPLACE FUNCTION {GUARD_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  token text := coalesce(current_setting('{REDACTION_SETTING}', true), '');
BEGIN
  -- parley-redaction-tokens: {' '.join(token_hashes) or 'none'}
  IF TG_OP = 'UPDATE' AND token <> ''
     AND encode(sha256(convert_to(token, 'UTF8')), 'hex') = ANY (ARRAY[{listed}]::text[])
     AND NEW.id = OLD.id AND NEW.case_id = OLD.case_id AND NEW.seq = OLD.seq AND NEW.kind = OLD.kind
     AND NEW.at = OLD.at AND NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id
     AND NEW.actor_label = OLD.actor_label AND NEW.via = OLD.via AND NEW.data_digest = OLD.data_digest
     AND NEW.prev_hash = OLD.prev_hash AND NEW.hash = OLD.hash THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION USING MESSAGE = 'case_events is append-only: ' || TG_OP
    || ' refused (the event history of a case can only be added to)';
END
$fn$
"""


APPEND_ONLY_FUNCTION = """
CREATE OR REPLACE FUNCTION parley_append_only() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  RAISE EXCEPTION USING MESSAGE = TG_TABLE_NAME || ' is append-only: ' || TG_OP || ' refused';
END
$fn$
"""
