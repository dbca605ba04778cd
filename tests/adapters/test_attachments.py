"""A message's files (a PNG chart and a PDF form) through the outbox and every adapter: kept in the outbox's JSON;
uploaded into the message's thread on Slack (resuming after a failed upload or a crash without posting anything
twice); on Teams the PNG inline in the card and the PDF through an expiring link the Teams server serves; saved
by the console with their paths printed."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import random
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from matplotlib.figure import Figure
from PIL import Image, ImageDraw
from sqlalchemy import func, select, text

from adapters.console.app import ConsoleApp
from adapters.slack.block_checks import check_limits as slack_limits
from adapters.slack.server import web_client
from adapters.slack.transport import SlackTransport
from adapters.teams import card_checks, card_parts, cards
from adapters.teams.files import FileLinks, Link
from adapters.teams.server import TeamsServer
from bot.delivery import outbox
from bot.core.clock import FixedClock
from bot.delivery.delivery import Deliverer, DeliveryError
from bot.core.messages import Attachment, Message, message_from_data, message_to_data
from storage import repo
from bot.runtime import Runtime
from storage.models import OutboxMessage, PersonIdentity
from storage.platform_models import FileLink
from tests.adapters.slack_mock import MockSlack
from tests.adapters.test_teams_e2e import AAD, FakeConnector, Loop, Teams
from tests.conftest import LONDON
from bot.delivery import addressing

# the plumbing is tested with a synthetic PDF posted to channels; the product never posts a form to a channel
pytestmark = pytest.mark.synthetic_channel_files

NOW = dt.datetime(2026, 4, 13, 9, 0, tzinfo=LONDON)


def _png() -> bytes:
    img = Image.new("RGB", (240, 120), "white")
    draw = ImageDraw.Draw(img)
    draw.rectangle((20, 40, 80, 110), fill=(0, 114, 178))
    draw.rectangle((120, 10, 180, 110), fill=(0, 158, 115))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _pdf() -> bytes:
    fig = Figure(figsize=(8.27, 11.69))
    fig.text(0.1, 0.9, "Appendix 1: Concerns about inter-agency safeguarding practice")
    buf = io.BytesIO()
    fig.savefig(buf, format="pdf")
    return buf.getvalue()


PNG, PDF = _png(), _pdf()
CHART = Attachment("chart.png", "image/png", PNG, "Chart: open cases by stage")
FORM = Attachment("appendix-1.pdf", "application/pdf", PDF, "Appendix 1 form")


def message(text: str = "This week's figures and the form.") -> Message:
    return Message(text, title="Weekly digest", attachments=(CHART, FORM))


def _queue_channel(rt, platform: str, address: str, m: Message, key: str = "test:1") -> None:
    with rt.factory() as s:
        outbox.queue_to_channel(platform, address, m, session=s, key=key, now=NOW, board_id="swindon")
        s.commit()


def _queue_person(rt, key: str, m: Message, identity: tuple[str, str] | None = None) -> None:
    """A direct message to ``key`` through the outbox (on their first platform; ``identity`` adds one)."""
    with rt.factory() as s:
        person = repo.person_by_key("swindon", key, session=s)
        if identity is not None:
            s.add(PersonIdentity(person_id=person.id, platform=identity[0], external_id=identity[1]))
            s.flush()
        assert addressing.queue_to_person(person, m, session=s, key="test:dm", now=NOW) is not None
        s.commit()


def _rows(rt) -> list[OutboxMessage]:
    with rt.factory() as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


# -- the outbox ----------------------------------------------------------------------------------------------
def test_attachments_survive_the_outbox(sqlite_runtime) -> None:
    m = message()
    data = message_to_data(m)
    assert json.loads(json.dumps(data)) == data  # plain JSON: base64 text, no bytes
    assert message_from_data(data) == m
    _queue_channel(sqlite_runtime, "console", "#business-unit", m)
    [row] = _rows(sqlite_runtime)
    assert row.payload["attachments"][0]["media_type"] == "image/png"

    delivered: list = []

    class Recording:
        platform = "console"

        def send(self, msg):
            delivered.append(msg)
            return "x"

        update = send

        def find_sent(self, msg):
            return None

    assert Deliverer(sqlite_runtime.factory, {"console": Recording()}, FixedClock(NOW), "w").deliver() == 1
    [out] = delivered
    assert out.message.attachments == (CHART, FORM)
    assert out.message.attachments[0].data == PNG and out.message.attachments[1].data == PDF


# -- Slack -----------------------------------------------------------------------------------------------------
@pytest.fixture
def slack() -> Iterator[tuple[MockSlack, SlackTransport]]:
    with MockSlack() as mock:
        yield mock, SlackTransport(web_client("xoxb-test", mock.url), pace_seconds=0)


def _check_slack_files(mock: MockSlack, channel: str) -> None:
    [post] = [c for c in mock.of("chat.postMessage") if c.args["channel"] == channel]
    blocks = post.args["blocks"]
    assert not slack_limits({"blocks": blocks, "text": post.args["text"]})
    assert blocks[-1]["type"] == "context" and \
        "In this message's thread: Chart: open cases by stage, Appendix 1 form" in blocks[-1]["elements"][0]["text"]
    ts = next(m["ts"] for m in mock.history[channel] if m.get("metadata"))
    files = mock.shared_files(channel)
    assert [(f["name"], f["title"], f["data"], f["thread_ts"]) for f in files] == [
        ("chart.png", "Chart: open cases by stage", PNG, ts), ("appendix-1.pdf", "Appendix 1 form", PDF, ts)]
    assert [f["alt_txt"] for f in files] == ["Chart: open cases by stage", None]  # an image's alt text


def test_slack_uploads_each_file_into_the_messages_thread(sqlite_runtime, slack) -> None:
    mock, transport = slack
    rt = sqlite_runtime
    _queue_channel(rt, "slack", "C0BUSINESS", message())
    _queue_person(rt, "una", message("Your form."), ("slack", "UUNA"))
    assert Deliverer(rt.factory, {"slack": transport}, FixedClock(NOW), "w").deliver() == 2
    _check_slack_files(mock, "C0BUSINESS")
    _check_slack_files(mock, "DUUNA")  # the direct message's files are in its thread too
    assert [r.state for r in _rows(rt)] == ["sent", "sent"]


def test_slack_resumes_a_failed_upload_without_posting_twice(sqlite_runtime, slack) -> None:
    mock, transport = slack
    rt = sqlite_runtime
    _queue_channel(rt, "slack", "C0BUSINESS", message())
    mock.fail_next["upload"] = (500, {})  # the first file's bytes are refused at the upload URL
    deliverer = Deliverer(rt.factory, {"slack": transport}, FixedClock(NOW), "w")
    assert deliverer.deliver() == 0
    [row] = _rows(rt)
    assert row.state == "pending" and "upload" in row.last_error
    assert len(mock.of("chat.postMessage")) == 1 and not mock.shared_files("C0BUSINESS")
    deliverer.clock = FixedClock(NOW + dt.timedelta(minutes=5))
    assert deliverer.deliver() == 1
    assert len(mock.of("chat.postMessage")) == 1  # the message was found by its outbox key, not posted again
    _check_slack_files(mock, "C0BUSINESS")


def test_slack_after_a_crash_finishes_the_upload_once(sqlite_runtime, slack) -> None:
    """A worker posts the message and dies before the files are uploaded: when its lease runs out the next worker
    finds the message (find_sent) and uploads only what is missing."""
    mock, transport = slack
    rt = sqlite_runtime
    _queue_channel(rt, "slack", "C0BUSINESS", message())
    dying = Deliverer(rt.factory, {"slack": transport}, FixedClock(NOW), "dying")
    [(claimed, _)] = dying._claim()
    mock.fail_next["upload"] = (500, {})
    with pytest.raises(DeliveryError):
        transport.send(claimed)  # ... and the worker never records anything
    assert _rows(rt)[0].state == "sending"
    later = Deliverer(rt.factory, {"slack": SlackTransport(transport.client, pace_seconds=0)},
                      FixedClock(NOW + dt.timedelta(minutes=2)), "next")
    assert later.deliver() == 0  # nothing new was sent: the earlier post was found and completed
    [row] = _rows(rt)
    assert row.state == "sent" and row.external_id.startswith("C0BUSINESS:")
    assert len(mock.of("chat.postMessage")) == 1
    _check_slack_files(mock, "C0BUSINESS")
    # asked again (another crash after the uploads), nothing more is uploaded
    assert later.transports["slack"].find_sent(claimed) == row.external_id
    assert len(mock.shared_files("C0BUSINESS")) == 2


# -- Teams cards -------------------------------------------------------------------------------------------------
def _no_schema_problems(card: dict) -> None:
    try:
        problems = card_checks.validate(card)
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    assert not problems and not card_checks.check_limits(card), (problems, card_checks.check_limits(card))


def test_teams_card_shows_the_png_inline_and_links_the_pdf() -> None:
    asked: list[str] = []

    def link(a: Attachment) -> Link:
        asked.append(a.filename)
        return Link(f"https://parley.example.org/files/{a.filename}", dt.datetime(2026, 4, 20, 8, tzinfo=dt.UTC))

    card = cards.message_card(message(), link=link)
    _no_schema_problems(card)
    [image] = [b for b in card["body"] if b["type"] == "Image"]
    assert image["url"] == "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert image["altText"] == "Chart: open cases by stage"
    [action] = [a for a in card["actions"] if a["type"] == "Action.OpenUrl"]
    assert action == {"type": "Action.OpenUrl", "title": "Open Appendix 1 form",
                      "url": "https://parley.example.org/files/appendix-1.pdf"}
    assert any("Appendix 1 form: the link works until Mon 20 Apr 2026 09:00" in b.get("text", "")
               for b in card["body"])
    assert asked == ["appendix-1.pdf"]  # the inline image needed no link


def test_teams_image_too_big_for_a_card_is_shown_from_its_link() -> None:
    noise = Image.frombytes("RGB", (160, 160), random.Random(7).randbytes(160 * 160 * 3))  # does not compress
    buf = io.BytesIO()
    noise.save(buf, format="PNG")
    big = Attachment("big.png", "image/png", buf.getvalue(), "A detailed chart")
    assert len(big.data) * 4 / 3 > card_parts.CARD_MAX_BYTES
    m = Message("Figures", attachments=(big,))
    card = cards.message_card(m, link=lambda a: Link("https://parley.example.org/files/t", NOW))
    _no_schema_problems(card)
    assert [(b["url"], b["altText"]) for b in card["body"] if b["type"] == "Image"] == [
        ("https://parley.example.org/files/t", "A detailed chart")]
    # with nowhere to link it, the card still fits and names the file
    card = cards.message_card(m)
    _no_schema_problems(card)
    assert not [b for b in card["body"] if b["type"] == "Image"]
    assert any("A detailed chart cannot be opened here" in b.get("text", "") for b in card["body"])


def test_teams_card_for_the_real_digest_fits_with_its_chart_inline(sqlite_runtime) -> None:
    from bot.reporting import digests
    from bot.core.i18n import translator
    from tests.bot.test_digests import NOW as DIGEST_NOW
    from tests.bot.test_digests import build_cases

    build_cases(sqlite_runtime)
    with sqlite_runtime.factory() as s:
        digest = digests.weekly_digest(translator(), "cardiff-and-vale", DIGEST_NOW, session=s)
    card = cards.message_card(digest, link=lambda a: pytest.fail("the chart fits inline"))
    _no_schema_problems(card)
    [image] = [b for b in card["body"] if b["type"] == "Image"]
    assert image["url"].startswith("data:image/png;base64,") and image["altText"] == digest.attachments[0].title
    assert "Stage 1: median 1.5 working days" in json.dumps(card)  # the text was not cut to make room


# -- Teams end to end ----------------------------------------------------------------------------------------------
@pytest.fixture
def teams_files(sqlite_runtime, tmp_path) -> Iterator[tuple[Any, ...]]:
    rt = sqlite_runtime
    with rt.factory() as s:
        s.add(PersonIdentity(person_id=repo.person_by_key("swindon", "una", session=s).id, platform="teams",
                             external_id=AAD["una"]))
        s.commit()
    clock = FixedClock(NOW)
    loop = Loop()
    connector = FakeConnector()
    conn_port = loop.serve(connector.app)
    files = FileLinks(rt, "", clock)
    server = TeamsServer(rt, clock, files=files)
    bot_port = loop.serve(server.web_app())
    files.base_url = f"http://127.0.0.1:{bot_port}"  # the public address (known once the port is)
    try:
        yield rt, connector, Teams(bot_port, f"http://127.0.0.1:{conn_port}/"), clock, server, files
    finally:
        loop.stop()


def _get(url: str) -> tuple[int, bytes, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def test_teams_delivers_the_png_inline_and_serves_the_pdf_until_the_link_expires(teams_files, tmp_path) -> None:
    rt, connector, teams, clock, server, files = teams_files
    teams.send(teams.activity("una", "conversationUpdate", membersAdded=[{"id": "28:parley"}]))  # Una installs
    connector.wait(lambda c: c.cards_to("a:personal-una"))
    _queue_person(rt, "una", message("Your form."))
    with rt.factory() as s:
        row = s.scalars(select(OutboxMessage)).one()
        assert row.platform == "teams"
    assert server.deliverer.deliver() == 1
    card = connector.wait(lambda c: [x for x in c.cards_to("a:personal-una") if "Your form." in json.dumps(x)])[0]
    _no_schema_problems(card)
    [image] = [b for b in card["body"] if b["type"] == "Image"]
    assert image["url"].startswith("data:image/png;base64,") and image["altText"] == "Chart: open cases by stage"
    [action] = [a for a in card["actions"] if a["type"] == "Action.OpenUrl"]
    assert action["title"] == "Open Appendix 1 form"
    url = action["url"]
    token = re.fullmatch(rf"{re.escape(files.base_url)}/files/([A-Za-z0-9_-]{{43}})", url).group(1)

    status, body, headers = _get(url)
    assert status == 200 and body == PDF
    assert headers["Content-Type"] == "application/pdf" and headers["Cache-Control"] == "no-store"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert 'filename="appendix-1.pdf"' in headers["Content-Disposition"]
    # another process or replica (the scheduler's, say) reads the same database: the link works there too
    other = FileLinks(Runtime(rt.url), files.base_url, FixedClock(NOW + dt.timedelta(days=1)))
    assert other.get(token).data == PDF
    # a token that was never given out, or is malformed, finds nothing
    assert _get(url[:-3] + "xyz")[0] == 404 and _get(f"{files.base_url}/files/..%2F..%2Fetc")[0] == 404
    # after seven days the link stops working and the file is gone
    clock.at = NOW + dt.timedelta(days=7, minutes=1)
    assert _get(url)[0] == 404
    with rt.factory() as s:
        assert s.scalar(select(func.count()).select_from(FileLink)) == 0  # the expired file is deleted


def test_teams_link_files_are_pruned_and_kept_encrypted(sqlite_runtime) -> None:
    """Link files live in the database, encrypted (a form carries subject details), keyed by the token's hash:
    neither the bytes, the file's name nor a working link can be read from the database."""
    rt = sqlite_runtime
    clock = FixedClock(NOW)
    files = FileLinks(rt, "https://parley.example.org/", clock, ttl=dt.timedelta(hours=1))
    first = files.publish(FORM)
    assert first.url.startswith("https://parley.example.org/files/") and first.expires_at == NOW + dt.timedelta(hours=1)
    token = first.url.rsplit("/", 1)[1]
    with rt.engine.connect() as conn:
        [raw] = conn.execute(text("SELECT token_hash, filename, title, data FROM file_links")).all()
    assert token not in str(raw) and "appendix-1" not in str(raw) and base64.b64encode(PDF).decode() not in str(raw)
    assert files.get(token).data == PDF and files.get(token).filename == "appendix-1.pdf"
    clock.at = NOW + dt.timedelta(hours=2)
    files.publish(CHART)  # publishing prunes what has expired
    with rt.factory() as s:
        assert s.scalar(select(func.count()).select_from(FileLink)) == 1
    assert files.get(token) is None
    assert FileLinks(rt, "", clock).publish(FORM) is None  # no public address: no link


# -- console -------------------------------------------------------------------------------------------------------
def test_console_saves_each_file_and_prints_its_path(sqlite_runtime, tmp_path: Path) -> None:
    rt = sqlite_runtime
    out = io.StringIO()
    app = ConsoleApp(rt, "swindon", out=out, start=NOW, files=tmp_path / "files")
    _queue_channel(rt, "console", "#business-unit", message())
    app.deliverer.deliver()
    shown = out.getvalue()
    assert "[#business-unit]:" in shown
    paths = re.findall(r"\U0001f4ce (.+): saved to (\S+)", shown)
    assert [t for t, _ in paths] == ["Chart: open cases by stage", "Appendix 1 form"]
    assert [Path(p).read_bytes() for _, p in paths] == [PNG, PDF]
    assert [Path(p).parent for _, p in paths] == [(tmp_path / "files").resolve()] * 2
    assert Path(paths[0][1]).name.endswith("-chart.png") and Path(paths[1][1]).name.endswith("-appendix-1.pdf")
    # shown again (/channel), the same files are printed, not saved twice
    app.handle_line("/channel business-unit")
    assert re.findall(r"saved to (\S+)", out.getvalue())[-2:] == [p for _, p in paths]
    assert len(list((tmp_path / "files").iterdir())) == 2


def test_console_prints_where_the_digest_chart_was_saved(sqlite_runtime, tmp_path: Path) -> None:
    out = io.StringIO()
    app = ConsoleApp(sqlite_runtime, "swindon", out=out, start=dt.datetime(2026, 4, 2, 10, tzinfo=LONDON),
                     files=tmp_path / "files")
    app.handle_line("/clock +1h")  # the scheduler plans the next digest: Monday 09:00 ...
    app.handle_line("/clock 2026-04-07 09:05")  # ... which waits for Tuesday, as Monday is Easter Monday
    shown = out.getvalue()
    assert "[#business-unit]:" in shown and "Weekly digest" in shown
    [saved] = re.findall(r"saved to (\S+\.png)", shown)
    with Image.open(saved) as img:
        assert img.format == "PNG" and img.size == (1000, 460)
