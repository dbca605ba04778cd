"""End to end in a real Teams-like client: the Microsoft 365 Agents Playground (npm), driven by Playwright in
headless Debian Chromium, talking to Parley's real Teams aiohttp app on http://localhost:3978/api/messages.

Install what it needs with ``scripts/install_teams_e2e.sh`` (or just ``make e2e-teams``). Without the
playground, Chromium or Playwright the test is skipped; with ``PARLEY_PLAYGROUND=1`` (set by ``make e2e-teams``)
anything missing is a failure instead. Screenshots of every step go to ``artifacts/teams/``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from aiohttp import web

from adapters.teams.server import TeamsServer
from bot.conversation.engine import Turn
from bot.conversation.flows.common import case_news
from bot.cases import services
from bot.notify import notify
from bot.core.clock import FixedClock
from bot.escalation.scheduler import Sweeper
from storage import repo
from storage.models import Case, OutboxMessage, PersonIdentity
from tests.bot.test_scheduler import open_case
from tests.adapters.test_teams_e2e import Loop
from tests.conftest import LONDON
from bot.cases import opening

pytestmark = pytest.mark.playground

REPO = Path(__file__).resolve().parents[2]
CLI = REPO / ".e2e" / "node_modules" / "@microsoft" / "m365agentsplayground" / "cli.js"
CHROMIUM = Path(os.environ.get("PARLEY_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = REPO / "artifacts" / "teams"
BOT_PORT = 3978
REQUIRED = os.environ.get("PARLEY_PLAYGROUND", "").lower() in ("1", "true", "yes")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
UI_TIMEOUT_MS = 20_000


def _missing() -> list[str]:
    missing = []
    if not CLI.is_file():
        missing.append(f"the Agents Playground ({CLI.relative_to(REPO)})")
    if shutil.which("node") is None:
        missing.append("node")
    if not CHROMIUM.is_file():
        missing.append(f"Chromium ({CHROMIUM})")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright Python package")
    return missing


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"{reason} (PARLEY_PLAYGROUND=1 requires it; `make e2e-teams` installs everything)")
    pytest.skip(f"{reason}; run `make e2e-teams` (scripts/install_teams_e2e.sh installs it)")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def requirements() -> None:
    missing = _missing()
    if missing:
        _unavailable("not installed: " + ", ".join(missing))
    if not _port_free(BOT_PORT):
        _unavailable(f"port {BOT_PORT} (the bot's endpoint) is in use")


class Bot:
    """Parley's Teams app on localhost:3978, recording every activity the playground posts to it."""

    def __init__(self, rt: Any, clock: FixedClock):
        self.rt = rt
        self.clock = clock
        self.server = TeamsServer(rt, clock)
        self.activities: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        app = self.server.web_app()

        @web.middleware
        async def record(request: web.Request, handler: Any) -> web.StreamResponse:
            if request.method == "POST" and request.path == "/api/messages":
                body = await request.json()  # aiohttp caches the body: the adapter reads it again
                with self.lock:
                    self.activities.append(body)
            return await handler(request)

        app.middlewares.append(record)
        self.loop = Loop()

        async def start() -> None:
            runner = web.AppRunner(app, shutdown_timeout=2.0)  # teardown cancels what is still running
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", BOT_PORT).start()
            self.loop.runners.append(runner)

        asyncio.run_coroutine_threadsafe(start(), self.loop.loop).result(10)

    def wait_activity(self, predicate: Any, timeout: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                found = next((a for a in self.activities if predicate(a)), None)
            if found is not None:
                return found
            time.sleep(0.05)
        raise AssertionError(f"no such activity; got {[a.get('type') for a in self.activities]}")


@pytest.fixture
def bot(requirements: None, sqlite_runtime: Any) -> Iterator[Bot]:
    clock = FixedClock(dt.datetime(2026, 4, 2, 10, 0, tzinfo=LONDON))
    b = Bot(sqlite_runtime, clock)
    try:
        yield b
    finally:
        b.loop.stop()


@pytest.fixture
def playground(requirements: None, tmp_path: Path) -> Iterator[str]:
    """A fresh playground per test (its conversation state lives in the server), on a free port."""
    port = _free_port()
    log_file = tmp_path / "playground.log"
    env = {**os.environ, "TEAMSAPPTESTER_BROWSER": "none", "M365_AGENTS_PLAYGROUND_LOGFILE": str(log_file)}
    proc = subprocess.Popen(["node", str(CLI), "start", "-e", f"http://localhost:{BOT_PORT}/api/messages",
                             "-c", "msteams", "--dt", "-p", str(port)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    listening = threading.Event()
    actual: dict[str, int] = {}

    def drain() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line.rstrip())
            m = re.search(r"Listening on (\d+)", line)
            if m and not listening.is_set():
                actual["port"] = int(m.group(1))  # it silently picks another port if ours was taken
                listening.set()

    threading.Thread(target=drain, daemon=True).start()
    try:
        if not listening.wait(60):
            pytest.fail("the playground did not start: " + "\n".join(output[-20:]))
        yield f"http://localhost:{actual['port']}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "playground-stdout.log").write_text("\n".join(output) + "\n")
        if log_file.exists():
            shutil.copyfile(log_file, ARTIFACTS / "playground.log")


@pytest.fixture
def page(requirements: None) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        pg.set_default_timeout(UI_TIMEOUT_MS)
        try:
            yield pg
        finally:
            try:
                (ARTIFACTS / "last-page.html").write_text(pg.content())
            except Exception:
                pass
            browser.close()


class Shots:
    def __init__(self, page: Any):
        self.page = page
        self.n = 0
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for old in ARTIFACTS.glob("*.png"):
            old.unlink()

    def __call__(self, name: str) -> Path:
        self.n += 1
        path = ARTIFACTS / f"{self.n:02d}-{name}.png"
        self.page.screenshot(path=str(path))
        return path


def cards(page: Any, text: str | None = None) -> Any:
    """Top-level Adaptive Cards in the chat (optionally only those containing ``text``)."""
    loc = page.locator(".ac-adaptiveCard:not(.ac-adaptiveCard .ac-adaptiveCard)")
    return loc.filter(has_text=text) if text else loc


def say(page: Any, text: str) -> None:
    box = page.locator('[data-lexical-editor="true"][role="textbox"]')
    box.click()
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def test_parley_in_the_agents_playground(bot: Bot, playground: str, page: Any) -> None:
    from playwright.sync_api import expect

    shot = Shots(page)
    rt = bot.rt
    page.goto(playground)
    page.get_by_text("Connected.").first.wait_for()
    # the playground's default user: link their AAD object id to alice of the Swindon directory
    first = bot.wait_activity(lambda a: (a.get("from") or {}).get("aadObjectId"))
    print("first activity from the playground:", json.dumps(first)[:2000])
    aad = first["from"]["aadObjectId"]
    with rt.factory() as s:
        alice = repo.person_by_key("swindon", "alice", session=s)
        s.add(PersonIdentity(person_id=alice.id, platform="teams", external_id=aad))
        s.commit()
    expect(cards(page, "Welcome to Parley")).to_have_count(1)
    shot("connected-welcome")

    say(page, "new")
    risk = cards(page, "Before anything else")
    expect(risk).to_have_count(1)
    shot("risk-card")
    before = cards(page).count()
    risk.get_by_text("No", exact=True).click()
    risk.get_by_role("button", name="Next").click()
    intake = cards(page, "Which agency is the other professional in?")
    expect(intake).to_have_count(1)
    expect(cards(page, "Before anything else")).to_have_count(0)
    assert cards(page).count() == before  # replaced in place, not a new message
    shot("intake-card")

    intake.get_by_role("radiogroup", name="child protection conference decision").get_by_text("No", exact=True).click()
    intake.get_by_role("combobox", name="Which best describes the disagreement?").click()
    page.get_by_role("option", name="Thresholds / decision about a referral").click()
    intake.get_by_role("radiogroup", name="Which agency").get_by_text("Swindon Children's Social Care").click()
    person = intake.get_by_role("combobox", name="Who is the professional you disagree with?")
    person.click()
    person.press_sequentially("Bob")
    page.get_by_role("option", name=re.compile(r"^Bob Evans")).click()
    intake.get_by_role("textbox", name="What is the disagreement about?").fill("CSC closed the referral after one visit")
    intake.get_by_role("textbox", name="What have you already done").fill("Phoned the duty social worker")
    intake.get_by_role("textbox", name="What outcome are you looking for?").fill("Re-open the referral")
    arose = intake.get_by_role("combobox", name="When did the disagreement arise")
    arose.fill("2026-04-02")
    arose.press("Tab")  # Enter would open the calendar popup, which hides the rest of the card from role queries
    expect(arose).to_have_value("April 2, 2026")
    expect(page.get_by_role("dialog")).to_have_count(0)
    shot("intake-filled")
    before = cards(page).count()
    intake.get_by_role("button", name="Submit").click()
    confirmation = cards(page, "Recorded as SWN-2026-0001.")
    expect(confirmation).to_have_count(1)
    expect(cards(page, "Which agency is the other professional in?")).to_have_count(0)
    assert cards(page).count() == before
    expect(confirmation.get_by_role("button", name="Record the outcome")).to_be_visible()
    shot("confirmation-card")
    with rt.factory() as s:
        case = repo.case_by_ref("SWN-2026-0001", session=s)
        assert case is not None and case.raising_person_id == alice.id and case.stage_number == 1
        assert repo.get_agency(case.responding_agency_id, session=s).name == "Swindon Children's Social Care"
        assert repo.get_person(case.responding_person_id, session=s).name == "Bob Evans"

    # proactive: bob opens a second case naming alice; the counterpart DM reaches her through the conversation
    # reference stored when the playground installed the app (outbox -> TeamsServer.deliverer -> Teams transport)
    with rt.factory() as s:
        bob = repo.person_by_key("swindon", "bob", session=s)
        ctx = services.Ctx(actor=bob, via="teams", now=bot.clock.now())
        case2 = opening.open_case(ctx, opening.NewCase(
            board_id="swindon", subject_kind="child", category="information-sharing",
            what_happened="Police did not share the incident log", done_so_far="Emailed twice",
            outcome_sought="Share the log", arose_on=dt.date(2026, 4, 2), responding_agency_id=alice.agency_id,
            responding_person_id=alice.id), session=s)
        assert case2.ref == "SWN-2026-0002"
        dms = case_news(Turn(ctx.T, ctx, s, {}, []), case2, notify.Event.CASE_OPENED,
                         lambda T, _roles: T("{name} has raised a professional disagreement with you.",
                                             name=bob.name))
        assert alice.id in [o.to.person_id for o in dms]
        rows = s.scalars(select(OutboxMessage).where(OutboxMessage.case_id == case2.id,
                                                     OutboxMessage.platform == "teams")).all()
        # alice is the only one on the case with a Teams identity (the others are told on the console)
        assert [(r.person_id, r.address) for r in rows] == [(alice.id, aad)]
        s.commit()
    before = cards(page).count()
    assert bot.server.deliverer.deliver() == 1
    dm = cards(page, "Bob Evans has raised a professional disagreement with you.")
    expect(dm).to_have_count(1)
    expect(dm).to_contain_text("SWN-2026-0002")
    assert cards(page).count() == before + 1
    dm.scroll_into_view_if_needed()
    shot("proactive-counterpart-dm")

    # a button on the proactive card: Record the outcome replaces that card with the outcome form, in place
    dm.get_by_role("button", name="Record the outcome").click()
    outcome = cards(page, "What is the outcome at this stage?")
    expect(outcome).to_have_count(1)
    expect(cards(page, "Bob Evans has raised a professional disagreement with you.")).to_have_count(0)
    assert cards(page).count() == before + 1
    outcome.scroll_into_view_if_needed()
    shot("outcome-form-in-place")

    # time passes: past the Stage 1 deadline (Wed 8 Apr 2026 17:00) the scheduler's messages reach alice too
    bot.clock.set(dt.datetime(2026, 4, 9, 9, 15, tzinfo=LONDON))
    Sweeper(rt.factory, bot.clock).fire_due()
    before = cards(page).count()
    assert bot.server.deliverer.deliver() == 2  # alice's two notes; the managers' channels are not Teams ones
    overdue = cards(page, "has passed with no outcome recorded, so the managers have been asked")
    expect(overdue).to_have_count(2)
    expect(overdue.filter(has_text="SWN-2026-0001")).to_have_count(1)
    expect(overdue.filter(has_text="SWN-2026-0002")).to_have_count(1)
    assert cards(page).count() == before + 2
    overdue.last.scroll_into_view_if_needed()
    shot("deadline-passed-notes")


def test_escalation_card_in_a_team_channel(bot: Bot, playground: str, page: Any) -> None:
    """A manager channel in a team: registered from inside it, the escalation card arrives there as a new
    top-level post, Acknowledge is pressed on it, and that same post is updated in place."""
    from playwright.sync_api import expect

    shot = Shots(page)
    rt = bot.rt
    page.goto(playground)
    page.get_by_text("Connected.").first.wait_for()
    first = bot.wait_activity(lambda a: (a.get("from") or {}).get("aadObjectId"))
    aad = first["from"]["aadObjectId"]
    with rt.factory() as s:  # the playground's user is, for now, Swindon's business unit manager
        una = repo.person_by_key("swindon", "una", session=s)
        identity = PersonIdentity(person_id=una.id, platform="teams", external_id=aad)
        s.add(identity)
        s.commit()
    page.get_by_role("treeitem", name=re.compile("General")).click()
    expect(cards(page, "Parley is now in this team")).to_have_count(1)
    box = page.locator('[data-lexical-editor="true"][role="textbox"]').first
    box.click()
    page.keyboard.type("@Te")  # in a channel the bot only hears messages that @mention it
    page.get_by_role("menuitem", name="Test Bot").click()
    page.keyboard.type(" register managers for Wiltshire Police")
    page.get_by_role("button", name="Post").click()
    # the answer, in the channel's thread (the playground's log panel shows its text too)
    expect(page.get_by_text("This channel is now where Wiltshire Police's line managers get escalation prompts.")
           .first).to_be_visible()
    shot("channel-registered")
    registration = bot.wait_activity(lambda a: "register managers" in (a.get("text") or ""))
    channel_id = registration["channelData"]["channel"]["id"]

    # a case between alice (police) and bob (social care); the stage 1 deadline passes unresolved
    with rt.factory() as s:
        ref = s.get(Case, open_case(rt, "swindon", bot.clock.now())).ref
    bot.clock.set(dt.datetime(2026, 4, 9, 9, 15, tzinfo=LONDON))
    Sweeper(rt.factory, bot.clock).fire_due()
    with rt.factory() as s:
        rows = s.scalars(select(OutboxMessage).where(OutboxMessage.platform == "teams")).all()
        # one Teams message: the prompt to Wiltshire Police's managers, in the channel just registered (the
        # business unit's own notes go to the board's channels, none of which is in Teams)
        assert [(r.target_kind, r.address) for r in rows] == [("channel", channel_id)], \
            [(r.target_kind, r.address, r.payload.get("kind")) for r in rows]
    before = cards(page).count()
    assert bot.server.deliverer.deliver() == 1
    prompt = cards(page, "Please acknowledge and take ownership")
    expect(prompt).to_have_count(1)
    expect(prompt).to_contain_text(ref)
    assert cards(page).count() == before + 1
    prompt.scroll_into_view_if_needed()
    shot("channel-escalation-card")

    # a police sergeant presses Acknowledge on it: the same Teams account now belongs to Sam Patel
    with rt.factory() as s:
        sam = repo.person_by_key("swindon", "sam", session=s)
        s.get(PersonIdentity, identity.id).person_id = sam.id
        s.commit()
    before = cards(page).count()
    prompt.get_by_role("button", name="Acknowledge / take ownership").click()
    bot.wait_activity(lambda a: a.get("type") == "invoke")
    deadline = time.monotonic() + 20
    updated = 0
    while updated == 0 and time.monotonic() < deadline:
        updated = bot.server.deliverer.deliver()
        time.sleep(0.2)
    done = cards(page, "Acknowledged by Sam Patel")
    expect(done).to_have_count(1)
    expect(done).to_contain_text(ref)
    expect(cards(page, "Please acknowledge and take ownership")).to_have_count(0)
    expect(done.get_by_role("button", name="Acknowledge / take ownership")).to_have_count(0)
    assert cards(page).count() == before  # the same post, updated in place: no new post, no reply card
    done.scroll_into_view_if_needed()
    shot("channel-card-acknowledged")
    with rt.factory() as s:
        case = repo.case_by_ref(ref, session=s)
        assert case is not None and case.stage_number == 2  # the acknowledgement moved it on, as the card says
        sent = s.scalars(select(OutboxMessage).where(OutboxMessage.platform == "teams")).all()
        posted = [r for r in sent if r.target_kind == "channel" and r.update_of_id is None]
        updates = [r for r in sent if r.update_of_id is not None]
        assert len(posted) == 1 and [u.update_of_id for u in updates] == [posted[0].id]
        assert all(r.state == "sent" for r in sent)
