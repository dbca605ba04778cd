"""Encryption at rest for personal data (the subject details): Fernet keys from the environment.

``PARLEY_DATA_KEYS`` is a comma-separated list of Fernet keys, newest first. Everything is written with the
first key; any key in the list can read (``MultiFernet``), so a new key is put in front of the old ones and
``parley keys rotate`` then re-encrypts every row with it, after which the old key can be dropped. Generate a
key with ``parley keys generate`` (or ``python -c "from cryptography.fernet import Fernet;
print(Fernet.generate_key().decode())"``).

With no ``PARLEY_DATA_KEYS`` a *development key* is used, so that ``make run`` and the tests work on a fresh
clone: it is generated once into a local file (``.parley-dev-key`` in the current folder, or
``PARLEY_DEV_KEY_FILE``; the file is gitignored) and a loud warning says so. ``parley serve`` refuses to start
that way (:func:`require_real_keys`), and so does every command when ``PARLEY_PRODUCTION`` is set.

The column types at the bottom encrypt on the way into the database and decrypt on the way out, so the rest of
Parley reads and writes plain values while the raw columns only ever hold Fernet tokens.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Text, TypeDecorator

KEYS_ENV = "PARLEY_DATA_KEYS"
DEV_FILE_ENV = "PARLEY_DEV_KEY_FILE"
DEV_FILE_DEFAULT = ".parley-dev-key"
PRODUCTION_ENV = "PARLEY_PRODUCTION"


class DataKeyError(RuntimeError):
    """The data keys are missing, malformed, or cannot read what is stored. The message says what to do and
    never contains a key or any decrypted value."""


@dataclass(frozen=True)
class KeySource:
    keys: tuple[bytes, ...]
    development: bool  # True: the generated development key, not PARLEY_DATA_KEYS
    where: str  # "PARLEY_DATA_KEYS" or the development key file's path

    def describe(self) -> str:
        if self.development:
            return f"the development key in {self.where}"
        n = len(self.keys)
        return f"{KEYS_ENV} ({n} key{'s' if n != 1 else ''}, newest first)"


def production() -> bool:
    return os.environ.get(PRODUCTION_ENV, "").strip().lower() in ("1", "true", "yes")


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


def parse_keys(text: str, *, where: str = KEYS_ENV) -> tuple[bytes, ...]:
    """The keys in a comma-separated list, checked one by one (the error names the position, never the key)."""
    return _parse_keys(text, where)


@lru_cache(maxsize=16)
def _parse_keys(text: str, where: str) -> tuple[bytes, ...]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise DataKeyError(f"{where} is set but holds no key. Generate one with `parley keys generate`.")
    keys = []
    for i, part in enumerate(parts, start=1):
        try:
            Fernet(part.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise DataKeyError(
                f"{where}: key {i} of {len(parts)} is not a Fernet key (a Fernet key is 44 characters of url-safe "
                "base64, 32 bytes). Generate one with `parley keys generate`.") from None
        keys.append(part.encode("ascii"))
    return tuple(keys)


def dev_key_path() -> Path:
    return Path(os.environ.get(DEV_FILE_ENV) or DEV_FILE_DEFAULT).expanduser().resolve()


_warned: set[str] = set()


def _warn_development(path: Path, created: bool) -> None:
    if str(path) in _warned:
        return
    _warned.add(str(path))
    verb = "generated a development key into" if created else "is using the development key in"
    bar = "!" * 100
    sys.stderr.write(
        f"{bar}\n"
        f"WARNING: {KEYS_ENV} is not set, so Parley {verb} {path}.\n"
        "Personal data (the subject details) is encrypted with it: fine for the console, demos and tests, NOT for\n"
        "real cases (anyone with that file can read the data, and losing it loses the data).\n"
        f"`parley serve` refuses to run like this. Set {KEYS_ENV} (see docs/data-protection.md).\n"
        f"{bar}\n")
    sys.stderr.flush()


def quiet_development_warning() -> None:
    """Leave the development-key banner out in this process: the caller has already said it in one line (the
    banner is shown in full once per database, see bot.admin.datakeys.development_notice)."""
    _warned.add(str(dev_key_path()))


_dev_keys: dict[Path, bytes] = {}


def _dev_key(path: Path) -> bytes:
    """Read the development key file, creating it (mode 600, atomically) if it does not exist yet."""
    if path in _dev_keys and path.exists():
        return _dev_keys[path]
    created = False
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".parley-dev-key.", dir=path.parent)
        try:
            os.write(fd, (generate_key() + "\n").encode("ascii"))
            os.close(fd)
            try:
                os.link(tmp, path)  # fails if another process created it first: then that one is used
                created = True
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)
    text = path.read_text("ascii").strip()
    keys = parse_keys(text, where=f"the development key file {path}")
    _warn_development(path, created)
    _dev_keys[path] = keys[0]
    return keys[0]


def key_source(*, allow_development: bool = True) -> KeySource:
    """Where the data keys come from: ``PARLEY_DATA_KEYS``, else the development key (created on first use)
    unless ``PARLEY_PRODUCTION`` is set or ``allow_development`` is False."""
    text = os.environ.get(KEYS_ENV, "")
    if text.strip():
        return KeySource(parse_keys(text), False, KEYS_ENV)
    if production():
        raise DataKeyError(f"{KEYS_ENV} is not set and {PRODUCTION_ENV} is: Parley will not use a development "
                           "key in production. Generate a key with `parley keys generate` and set "
                           f"{KEYS_ENV} (see docs/data-protection.md).")
    if not allow_development:
        raise DataKeyError(f"{KEYS_ENV} is not set. Generate a key with `parley keys generate` and set "
                           f"{KEYS_ENV} (see docs/data-protection.md).")
    path = dev_key_path()
    return KeySource((_dev_key(path),), True, str(path))


def require_real_keys() -> KeySource:
    """The configured keys, refusing the development key (``parley serve``)."""
    return key_source(allow_development=False)


_rings: dict[tuple[bytes, ...], MultiFernet] = {}


def keyring(source: KeySource | None = None) -> MultiFernet:
    source = source or key_source()
    ring = _rings.get(source.keys)
    if ring is None:
        ring = MultiFernet([Fernet(k) for k in source.keys])
        _rings[source.keys] = ring
    return ring


def encrypt(text: str) -> str:
    return keyring().encrypt(text.encode("utf-8")).decode("ascii")


def undecryptable(source: KeySource | None = None) -> DataKeyError:
    where = source.describe() if source else f"the configured data keys ({KEYS_ENV})"
    return DataKeyError(
        f"Stored personal data cannot be decrypted with {where}: it was written with a key that is not in the "
        f"list (put the old key after the new one in {KEYS_ENV}), or it was not written by Parley.")


def decrypt(token: str) -> str:
    source = key_source()
    try:
        return keyring(source).decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeEncodeError):
        raise undecryptable(source) from None


def rotate_token(token: str, source: KeySource) -> str:
    """The same value encrypted with the newest key (``MultiFernet.rotate``)."""
    try:
        return keyring(source).rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeEncodeError):
        raise undecryptable(source) from None


# -- column types -------------------------------------------------------------------------------------------
class EncryptedText(TypeDecorator[str]):
    """Text stored as a Fernet token."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else encrypt(str(value))

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else decrypt(value)


class EncryptedDate(TypeDecorator[dt.date]):
    """A date stored as a Fernet token of its ISO form."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: dt.date | None, dialect: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, dt.date):
            raise TypeError(f"a date is needed here, not {type(value).__name__}")
        return encrypt(value.isoformat())

    def process_result_value(self, value: str | None, dialect: Any) -> dt.date | None:
        return None if value is None else dt.date.fromisoformat(decrypt(value))


class EncryptedJSON(TypeDecorator[dict]):
    """A JSON object stored as a Fernet token of its text. Assign a new dict to change it."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: dict | None, dialect: Any) -> str | None:
        return None if value is None else encrypt(json.dumps(value, sort_keys=True, ensure_ascii=False))

    def process_result_value(self, value: str | None, dialect: Any) -> dict | None:
        return None if value is None else json.loads(decrypt(value))
