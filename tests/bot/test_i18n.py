"""Every user-facing string is in the message catalogue (babel/gettext), and dates are formatted by babel."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.messages.pofile import read_po

from bot.core.i18n import LOCALE_DIR, Translator, available_languages, extract_messages, missing_translations


def _catalogue(lang: str):
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


# -- Welsh (cy) ---------------------------------------------------------------------------------
def test_every_message_has_a_welsh_translation() -> None:
    """Fails when any string used in bot/ or adapters/ lacks a Welsh entry (or a Welsh entry drops or adds a
    placeholder): run `make messages`, then translate the new entries in bot/locale/cy/LC_MESSAGES/parley.po."""
    assert "cy" in available_languages()
    missing = missing_translations("cy")
    assert not missing, f"{len(missing)} without a Welsh translation, e.g. {missing[:10]}"


def test_the_welsh_catalogue_has_every_english_key_and_no_stale_ones() -> None:
    en = {m.id for m in _catalogue("en") if m.id}
    cy = {m.id: m.string for m in _catalogue("cy") if m.id}
    assert set(cy) == en
    assert all(cy.values())


def test_welsh_messages_are_welsh() -> None:
    T = Translator("cy")
    assert T.language == "cy"
    assert T("Yes") == "Ie" and T("No") == "Na"
    assert T("Stage {n}: {title}", n=2, title="Rheolwyr llinell") == "Cam 2: Rheolwyr llinell"
    assert T("{n} working days", n=5) == "5 diwrnod gwaith"
    assert "perygl uniongyrchol o niwed sylweddol" in T(
        "Before anything else: is a child or adult at immediate risk of significant harm?")


def test_dates_are_formatted_by_babel_in_welsh() -> None:
    T = Translator("cy")
    assert T.locale.language == "cy" and T.locale.territory == "GB"
    assert T.date(dt.date(2026, 4, 15)) == "Mer 15 Ebr 2026"
    assert T.date(dt.date(2026, 4, 8), with_year=False) == "Mer 8 Ebr"
    week = [T.date(dt.date(2026, 4, 13) + dt.timedelta(days=i), with_year=False).split()[0] for i in range(7)]
    assert week == ["Llun", "Maw", "Mer", "Iau", "Gwen", "Sad", "Sul"]
    months = [T.date(dt.date(2026, m, 1)).split()[2] for m in range(1, 13)]
    assert months == ["Ion", "Chwef", "Maw", "Ebr", "Mai", "Meh", "Gorff", "Awst", "Medi", "Hyd", "Tach", "Rhag"]
    moment = dt.datetime(2026, 12, 25, 17, 0, tzinfo=ZoneInfo("Europe/London"))
    assert T.datetime(moment) == "Gwen 25 Rhag 2026 17:00"
    assert T.time(moment) == "17:00"


def test_make_messages_keeps_the_welsh_and_adds_new_strings_untranslated(tmp_path: Path, monkeypatch) -> None:
    """update_catalogue (what `make messages` runs for every language) keeps each Welsh translation, adds a new
    string with an empty Welsh entry (so the completeness test fails until it is translated) and drops strings
    the code no longer uses."""
    import shutil

    from bot.core import i18n

    locale = tmp_path / "locale"
    shutil.copytree(LOCALE_DIR, locale)
    monkeypatch.setattr(i18n, "LOCALE_DIR", locale)
    src = tmp_path / "src"
    (src / "bot").mkdir(parents=True)
    (src / "adapters").mkdir()
    (src / "bot" / "a.py").write_text('T("Yes")\nT("Stage {n}: {title}", n=1, title="")\nT("A string added today")\n')
    (src / "adapters" / "b.py").write_text('translator("cy")("Welcome to Parley")\n')
    for lang in i18n.available_languages():
        i18n.update_catalogue(lang, root=src)
    with (locale / "cy" / "LC_MESSAGES" / "parley.po").open("rb") as fh:
        cy = {m.id: m.string for m in read_po(fh) if m.id}
    assert cy == {"Yes": "Ie", "Stage {n}: {title}": "Cam {n}: {title}", "Welcome to Parley": "Croeso i Parley",
                  "A string added today": ""}
    assert i18n.missing_translations("cy", root=src) == ["A string added today"]
    with (locale / "en" / "LC_MESSAGES" / "parley.po").open("rb") as fh:
        assert {m.id for m in read_po(fh) if m.id} == set(cy)
