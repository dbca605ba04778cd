"""Message catalogues (babel / gettext) and locale-aware formatting.

Every user-facing string in bot/ and adapters/ goes through a Translator::

    T = translator(person.language)
    T("Stage {number}: {title}", number=2, title=...)

``N_("...")`` marks a string for extraction where it is defined and translated later with ``T``.
Catalogues are the .po files in bot/locale/<lang>/LC_MESSAGES/parley.po; they are compiled in memory
when first used, so no binary .mo file is kept in the repository. ``make messages`` re-extracts.
"""

from __future__ import annotations

import datetime as dt
import io
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date, format_datetime, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "parley"
DEFAULT_LANGUAGE = "en"
BABEL_LOCALES = {"en": "en_GB", "cy": "cy_GB"}


def N_(message: str) -> str:
    """Mark a string for the catalogue without translating it yet."""
    return message


@lru_cache(maxsize=8)
def _translations(language: str) -> Translations:
    po = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po.exists():
        return Translations()  # falls back to the msgid itself
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=BABEL_LOCALES.get(language, language), domain=DOMAIN)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(buf, domain=DOMAIN)


def available_languages() -> list[str]:
    return sorted(p.name for p in LOCALE_DIR.iterdir() if (p / "LC_MESSAGES" / f"{DOMAIN}.po").exists())


class Translator:
    def __init__(self, language: str = DEFAULT_LANGUAGE):
        self.language = language if language in available_languages() else DEFAULT_LANGUAGE
        self.locale = Locale.parse(BABEL_LOCALES.get(self.language, self.language))
        self._t = _translations(self.language)

    def __call__(self, message: str, **kwargs: Any) -> str:
        text = self._t.gettext(message)
        return text.format(**kwargs) if kwargs else text

    def plural(self, singular: str, plural: str, n: int, **kwargs: Any) -> str:
        text = self._t.ngettext(singular, plural, n)
        return text.format(n=n, **kwargs)

    # -- dates: "Wed 15 Apr 2026", "Wed 8 Apr", "17:00" ------------------------------------------
    def date(self, day: dt.date, with_year: bool = True) -> str:
        return format_date(day, "EEE d MMM y" if with_year else "EEE d MMM", locale=self.locale)

    def time(self, moment: dt.datetime) -> str:
        return format_time(moment, "HH:mm", locale=self.locale)

    def datetime(self, moment: dt.datetime, with_year: bool = True) -> str:
        pattern = "EEE d MMM y HH:mm" if with_year else "EEE d MMM HH:mm"
        return format_datetime(moment, pattern, tzinfo=moment.tzinfo, locale=self.locale)


def translator(language: str | None = None) -> Translator:
    return Translator(language or DEFAULT_LANGUAGE)


# -- catalogue maintenance (``make messages``; the completeness test uses extract_messages) -----
SOURCE_DIRS = ("bot", "adapters")
KEYWORDS = {"T": None, "N_": None, "_": None}


def extract_messages(root: Path | None = None) -> dict[str, list[tuple[str, int]]]:
    """Every catalogue message id used in bot/ and adapters/, with where it is used."""
    from babel.messages.extract import extract_from_dir

    root = root or Path(__file__).resolve().parent.parent
    found: dict[str, list[tuple[str, int]]] = {}
    for folder in SOURCE_DIRS:
        for filename, lineno, message, _comments, _ctx in extract_from_dir(
                str(root / folder), method_map=[("**.py", "python")], keywords=KEYWORDS):
            msgid = message if isinstance(message, str) else message[0]
            if msgid:
                found.setdefault(msgid, []).append((f"{folder}/{filename}", lineno))
    return found


def update_catalogue(language: str, root: Path | None = None) -> Path:
    """Add new message ids to a language's .po (keeping existing translations) and drop unused ones."""
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import write_po

    po = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    old = None
    if po.exists():
        with po.open("rb") as fh:
            old = read_po(fh, locale=BABEL_LOCALES.get(language, language), domain=DOMAIN)
    cat = Catalog(locale=BABEL_LOCALES.get(language, language), domain=DOMAIN, project="Parley",
                  charset="utf-8", fuzzy=False)
    for msgid, where in sorted(extract_messages(root).items()):
        string = ""
        if old is not None and (m := old.get(msgid)) is not None and not m.fuzzy:
            string = m.string if isinstance(m.string, str) else ""
        cat.add(msgid, string, locations=sorted(set(where)))
    po.parent.mkdir(parents=True, exist_ok=True)
    with po.open("wb") as fh:
        write_po(fh, cat, width=100, omit_header=False, sort_output=True, no_location=True)
    return po
