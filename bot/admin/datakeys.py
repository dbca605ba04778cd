"""The data keys that encrypt personal data at rest: ``parley keys generate`` and ``parley keys rotate``, and the
check ``parley serve`` makes before it starts (see storage/crypto.py and docs/data-protection.md)."""

from __future__ import annotations

import os

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from storage import crypto, protection, repo
from storage.crypto import DataKeyError, KeySource

__all__ = ["DataKeyError", "check_startup", "development_notice", "generate", "key_source", "require_real_keys",
           "rotate"]
DEV_BANNER_SHOWN = "datakeys.development_banner_shown"  # settings key: the full banner was shown for this database


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


def development_notice(factory: sessionmaker[Session]) -> str | None:
    """With the development key: its full warning banner the first time a command runs against this database
    (remembered in the settings table), afterwards a one-line reminder, returned for the caller to print. None
    when a real key is configured, or when the banner has just been shown."""
    if os.environ.get(crypto.KEYS_ENV, "").strip() or crypto.production():
        return None
    try:
        with factory() as s:
            shown = repo.get_setting(DEV_BANNER_SHOWN, session=s)
    except SQLAlchemyError:  # no settings table yet (a database not migrated): nowhere to remember it
        crypto.key_source()
        return None
    if shown:
        crypto.quiet_development_warning()
        crypto.key_source()
        return (f"Using the development data key in {crypto.dev_key_path()}: fine for trying Parley out, not for "
                f"real cases (set {crypto.KEYS_ENV}; see `parley doctor`).")
    crypto.key_source()  # prints the banner (once in this process)
    with factory() as s:
        repo.set_setting(DEV_BANNER_SHOWN, "yes", session=s)
        s.commit()
    return None


def check_startup(factory: sessionmaker[Session]) -> None:
    """Before ``parley serve``, ``scheduler`` or ``console`` starts: the keys in use must read what is already
    stored (a subject-details row, a file behind a Teams link, the key canary, and the latest audit checkpoint's
    signature), or a clear DataKeyError says what is wrong, so a wrong key never writes new data beside the old.
    On a database's first start the key canary is stored."""
    source = crypto.key_source()
    with factory() as s:
        problems = protection.check_readable(s, source)
        if problems:
            dev = (f" The development key in {source.where} is not the one this database was written with: point "
                   f"{crypto.DEV_FILE_ENV} at that one, or set {crypto.KEYS_ENV}.") if source.development else ""
            raise DataKeyError("Parley will not start: the configured keys cannot read this database's data. "
                               + " ".join(problems) + dev)
        protection.ensure_canary(s, source)
        s.commit()
