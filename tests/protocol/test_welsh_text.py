"""Welsh text in the protocol format: ``<key>_cy`` beside the English, ``recipients_cy``, ``channel_languages``."""

from __future__ import annotations

import pytest
import yaml

from protocol.loader import ProtocolError, from_snapshot, load_board, load_data, snapshot
from protocol.spec import localized

WELSH_BOARDS = ("mid-and-west-wales", "cardiff-and-vale")


@pytest.mark.parametrize("board", WELSH_BOARDS)
def test_the_welsh_boards_post_welsh_first_and_carry_welsh_titles(board: str) -> None:
    p = load_board(board)
    assert p.channel_languages == ("cy", "en")
    assert p.name_cy and p.name_cy != p.name
    for s in p.stages:
        assert s.title_cy and s.title_cy != s.title, s.id
        for st in s.steps:
            assert st.title_cy and st.title_cy != st.title, st.id
    for c in p.categories:
        assert c.title_cy and c.title_cy != c.title, c.id
    assert set(p.recipients_cy) == set(p.recipients)
    assert p.immediate_risk.text_cy and "niwed" in p.immediate_risk.text_cy  # harm


@pytest.mark.parametrize("board", ["swindon", "wolverhampton"])
def test_the_english_boards_post_in_english(board: str) -> None:
    assert load_board(board).channel_languages == ("en",)


def test_localized_picks_the_welsh_and_falls_back_to_english() -> None:
    p = load_board("mid-and-west-wales")
    stage = p.stage("line-managers")
    assert localized(stage, "title", "cy") == "Rheolwyr llinell"
    assert localized(stage, "title", "en") == "Line managers"
    assert p.recipient("log-chair", "cy") == "Cadeirydd y Grŵp Gweithredol Lleol (LOG)"
    assert p.recipient("log-chair") == "Local Operational Group (LOG) Chair"
    swindon = load_board("swindon")
    assert localized(swindon.stages[0], "title", "cy") == swindon.stages[0].title  # no Welsh: the English


def test_a_snapshot_keeps_the_welsh() -> None:
    p = load_board("cardiff-and-vale")
    again = from_snapshot(snapshot(p))
    assert again == p
    assert again.stage("chair").title_cy == p.stage("chair").title_cy
    assert again.channel_languages == ("cy", "en")


def _raw(board: str) -> dict:
    from protocol.loader import BOARDS_DIR

    return yaml.safe_load((BOARDS_DIR / f"{board}.yaml").read_text("utf-8"))


def test_a_board_posting_in_welsh_must_give_every_welsh_text() -> None:
    raw = _raw("mid-and-west-wales")
    del raw["stages"][1]["steps"][0]["title_cy"]
    del raw["recipients_cy"]["log-chair"]
    del raw["categories"][2]["title_cy"]
    with pytest.raises(ProtocolError) as exc:
        load_data(raw, source="mww.yaml")
    where = {path for path, _ in exc.value.problems}
    assert where == {"stages[1].steps[0].title_cy", "recipients_cy.log-chair", "categories[2].title_cy"}
    assert "channel_languages includes cy" in str(exc.value)
    # the same file posting in English only may leave them out
    raw["channel_languages"] = ["en"]
    assert load_data(raw, source="mww.yaml").stage("line-managers").steps[0].title_cy is None


def test_welsh_for_an_undeclared_recipient_and_unknown_languages_are_refused() -> None:
    raw = _raw("cardiff-and-vale")
    raw["recipients_cy"]["nobody"] = "Neb"
    with pytest.raises(ProtocolError, match=r"recipients_cy.nobody: recipient 'nobody' is not declared"):
        load_data(raw, source="cv.yaml")
    raw = _raw("cardiff-and-vale")
    raw["channel_languages"] = ["cy", "fr"]
    with pytest.raises(ProtocolError, match="channel_languages"):
        load_data(raw, source="cv.yaml")
    raw = _raw("cardiff-and-vale")
    raw["stages"][0]["title_cy"] = ""
    with pytest.raises(ProtocolError, match=r"stages.0.title_cy|stages\[0\]\.title_cy"):
        load_data(raw, source="cv.yaml")
