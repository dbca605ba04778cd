"""The data keys that encrypt personal data at rest: ``parley keys generate`` and ``parley keys rotate``, and the
check ``parley serve`` makes before it starts (see storage/crypto.py and README, "Data protection")."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from storage import crypto, protection
from storage.crypto import DataKeyError, KeySource

__all__ = ["DataKeyError", "generate", "key_source", "require_real_keys", "rotate"]


def generate() -> str:
    """A new Fernet key (44 characters of url-safe base64)."""
    return crypto.generate_key()


def require_real_keys() -> KeySource:
    """PARLEY_DATA_KEYS, valid; raises DataKeyError (a clear message) when it is missing or malformed."""
    return crypto.require_real_keys()


def rotate(factory: sessionmaker[Session]) -> protection.RotationResult:
    """Re-encrypt every row of personal data with the newest key, in one transaction (all or nothing)."""
    with factory() as s:
        result = protection.rotate(s)
        s.commit()
    return result


def key_source() -> KeySource:
    """The keys in use: PARLEY_DATA_KEYS, or the development key (with a loud warning on stderr), or a clear
    DataKeyError (a malformed key; no key while PARLEY_PRODUCTION is set)."""
    return crypto.key_source()
