"""Every user-facing string is in the message catalogue (babel/gettext), and dates are formatted by babel."""

from __future__ import annotations

import datetime as dt

from babel.messages.pofile import read_po

from bot.i18n import LOCALE_DIR, Translator, available_languages, extract_messages


def _catalogue(lang: str):  # noqa: ANN202
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "parley.po").open("rb") as fh:
        return read_po(fh)


def test_english_catalogue_has_every_message_used_in_code() -> None:
    used = extract_messages()
    assert len(used) > 150  # the extraction really found the strings
    cat = _catalogue("en")
    missing = sorted(m for m in used if cat.get(m) is None)
    assert not missing, f"run `make messages`; not in the catalogue: {missing[:10]}"


def test_catalogue_has_no_stale_messages() -> None:
    used = set(extract_messages())
    stale = sorted(m.id for m in _catalogue("en") if m.id and m.id not in used)
    assert not stale, f"run `make messages`; no longer used: {stale[:10]}"


def test_every_language_has_every_message() -> None:
    used = set(extract_messages())
    for lang in available_languages():
        cat = _catalogue(lang)
        assert all(cat.get(m) is not None for m in used), lang


def test_dates_are_formatted_by_babel_in_british_english() -> None:
    T = Translator("en")
    assert T.date(dt.date(2026, 4, 15)) == "Wed 15 Apr 2026"
    assert T.date(dt.date(2026, 4, 8), with_year=False) == "Wed 8 Apr"
    assert T("Stage {n} started", n=2) == "Stage 2 started"


def test_unknown_language_falls_back_to_english() -> None:
    assert Translator("xx").language == "en"
