"""Message catalogues (babel / gettext) and locale-aware formatting.

Every user-facing string in bot/ and adapters/ goes through a Translator::

    T = translator(person.language)
    T("Stage {number}: {title}", number=2, title=...)

``N_("...")`` marks a string for extraction where it is defined and translated later with ``T``.
Catalogues are the .po files in bot/locale/<lang>/LC_MESSAGES/parley.po (English, and Welsh: ``cy``); they
are compiled in memory when first used, so no binary .mo file is kept in the repository. ``make messages``
re-extracts into every catalogue, keeping the translations already made.

Text that comes from a board's protocol (stage, step and category titles ...) is translated in the protocol
file itself (``title_cy``): ``T.local(stage)`` picks it. A board's channel posts can be in several languages
(``channel_languages``, Welsh first on the Welsh boards): ``in_languages`` builds one message from each.
"""

from __future__ import annotations

import ast
import datetime as dt
import functools
import io
import string
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from babel import Locale
from babel.dates import format_date, format_datetime, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from bot.core.messages import Button, Field
from protocol.spec import localized

if TYPE_CHECKING:
    from bot.core.messages import Message

LOCALE_DIR = Path(__file__).parent.parent / "locale"
DOMAIN = "parley"
DEFAULT_LANGUAGE = "en"
BABEL_LOCALES = {"en": "en_GB", "cy": "cy_GB"}
# each language's name in itself, for the language command's answer
LANGUAGE_NAMES = {"en": "English", "cy": "Cymraeg"}


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
    """The languages with a catalogue (read from the folder once a process: every Translator asks)."""
    return list(_languages())


@functools.cache
def _languages() -> tuple[str, ...]:
    return tuple(sorted(p.name for p in LOCALE_DIR.iterdir() if (p / "LC_MESSAGES" / f"{DOMAIN}.po").exists()))


class Translator:
    def __init__(self, language: str = DEFAULT_LANGUAGE):
        self.language = language if language in _languages() else DEFAULT_LANGUAGE
        self.locale = Locale.parse(BABEL_LOCALES.get(self.language, self.language))
        self._t = _translations(self.language)

    def __call__(self, message: str, **kwargs: Any) -> str:
        text = self._t.gettext(message)
        return text.format(**kwargs) if kwargs else text

    def local(self, obj: object, attr: str = "title") -> str:
        """Protocol text in this language: ``obj.<attr>_cy`` for a Welsh reader when the protocol gives it,
        otherwise the English ``obj.<attr>`` (``T.local(stage)``, ``T.local(risk, "text")``)."""
        return localized(obj, attr, self.language)

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


def in_languages(languages: Sequence[str], build: Callable[[Translator], Message]) -> Message:
    """One message in each of ``languages``, in that order (a Welsh board's channel posts: ``("cy", "en")``,
    Welsh first as the Welsh Language Standards expect). ``build`` makes the message with a translator; the
    copies are joined into one message with the same buttons: the first language's title, then each
    language's text (after the first, headed by its own title), fields and button labels as "Cymraeg |
    English", and each copy's attachments (a chart drawn in each language). One language: ``build``'s
    message unchanged."""

    langs = list(dict.fromkeys(lang for lang in languages if lang)) or [DEFAULT_LANGUAGE]
    copies = [build(translator(lang)) for lang in langs]
    first = copies[0]
    if len(copies) == 1:
        return first

    def both(texts: list[str]) -> str:
        return " | ".join(dict.fromkeys(t for t in texts if t))

    texts = [first.text]
    for m in copies[1:]:
        head = m.title if m.title and m.title != first.title else ""
        texts.append("\n".join(p for p in (head, m.text) if p))
    fields = tuple(Field(both([m.fields[i].label for m in copies]), both([m.fields[i].value for m in copies]))
                   for i in range(min(len(m.fields) for m in copies)))
    buttons = tuple(Button(b.action, both([m.buttons[i].label for m in copies]), b.value, b.style)
                    for i, b in enumerate(first.buttons) if all(len(m.buttons) > i for m in copies))
    attachments, names = [], set()
    for lang, m in zip(langs, copies, strict=True):
        for a in m.attachments:
            if any(a.data == b.data for b in attachments):
                continue
            if a.filename in names:
                stem, dot, ext = a.filename.rpartition(".")
                a = replace(a, filename=f"{stem}-{lang}.{ext}" if dot else f"{a.filename}-{lang}")
            names.add(a.filename)
            attachments.append(a)
    return replace(first, text="\n\n".join(t for t in texts if t), fields=fields, buttons=buttons,
                   attachments=tuple(attachments), private=any(m.private for m in copies))


# -- catalogue maintenance (``make messages``; the completeness test uses extract_messages) -----
SOURCE_DIRS = ("bot", "adapters")
KEYWORDS = {"T": None, "N_": None, "_": None}


def extract_messages(root: Path | None = None) -> dict[str, list[tuple[str, int]]]:
    """Every catalogue message id used in bot/ and adapters/, with where it is used."""
    from babel.messages.extract import extract_from_dir

    root = root or Path(__file__).resolve().parents[2]
    found: dict[str, list[tuple[str, int]]] = {}
    for folder in SOURCE_DIRS:
        for filename, lineno, message, _comments, _ctx in extract_from_dir(
                str(root / folder), method_map=[("**.py", "python")], keywords=KEYWORDS):
            msgid = message if isinstance(message, str) else message[0]
            if msgid:
                found.setdefault(msgid, []).append((f"{folder}/{filename}", lineno))
        for path in sorted((root / folder).rglob("*.py")):
            for msgid, lineno in _direct_calls(path):
                found.setdefault(msgid, []).append((f"{folder}/{path.relative_to(root / folder)}", lineno))
    return found


def _direct_calls(path: Path) -> list[tuple[str, int]]:
    """``translator(lang)("...")``: a translator called at once, which babel's keyword extraction can't see."""
    out = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Call) and node.args
                and getattr(node.func.func, "id", getattr(node.func.func, "attr", None)) == "translator"
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            out.append((node.args[0].value, node.lineno))
    return out


def missing_translations(language: str, root: Path | None = None) -> list[str]:
    """The message ids used in the code that ``language``'s catalogue has no translation for (absent, empty
    or fuzzy), or whose translation drops or adds a ``{placeholder}``. Empty means the catalogue is complete."""
    def fields(text: str) -> set[str]:
        return {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}

    po = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    cat = None
    if po.exists():
        with po.open("rb") as fh:
            cat = read_po(fh, locale=BABEL_LOCALES.get(language, language), domain=DOMAIN)
    out = []
    for msgid in sorted(extract_messages(root)):
        m = cat.get(msgid) if cat is not None else None
        text = m.string if m is not None and isinstance(m.string, str) and not m.fuzzy else ""
        if not text or fields(text) != fields(msgid):
            out.append(msgid)
    return out


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
    if old is not None:  # keep the header as the translators left it
        cat.creation_date, cat.revision_date = old.creation_date, old.revision_date
        cat.last_translator, cat.language_team = old.last_translator, old.language_team
    for msgid, where in sorted(extract_messages(root).items()):
        string = ""
        if old is not None and (m := old.get(msgid)) is not None and not m.fuzzy:
            string = m.string if isinstance(m.string, str) else ""
        cat.add(msgid, string, locations=sorted(set(where)))
    po.parent.mkdir(parents=True, exist_ok=True)
    with po.open("wb") as fh:
        write_po(fh, cat, width=100, omit_header=False, sort_output=True, no_location=True)
    return po
