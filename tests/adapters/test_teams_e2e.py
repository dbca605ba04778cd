"""End to end through the real Teams adapter with a fake Bot Connector: Parley's aiohttp app receives activities
exactly as Teams sends them; a local aiohttp server stands in for the Bot Framework service (the activities'
serviceUrl points at it) and records every POST and PUT of activities."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import threading
import logging
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import delete, select

from adapters.teams.card_checks import validate
from adapters.teams.server import TeamsServer
from bot.core.clock import FixedClock
from bot.escalation.scheduler import Sweeper
from storage import repo
from storage.models import PersonIdentity
from tests.bot.test_scheduler import open_case
from tests.conftest import LONDON

pytestmark = pytest.mark.e2e
AAD = {"alice": "aad-alice", "bob": "aad-bob", "sam": "aad-sam", "hugh": "aad-hugh", "una": "aad-una"}


class Loop:
    """An asyncio loop in a thread, running aiohttp apps on local ports."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.runners: list[web.AppRunner] = []

    def serve(self, app: web.Application) -> int:
        async def start() -> int:
            runner = web.AppRunner(app, shutdown_timeout=2.0)  # teardown cancels what is still running
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.runners.append(runner)
            return site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

        return asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)

    def stop(self) -> None:
        async def stop() -> None:
            for r in self.runners:
                await r.cleanup()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)


class FakeConnector:
    """The Bot Connector's REST API as Parley uses it. ``answer(status, headers)`` queues a failure for the next
    write (an activity POST or PUT, or creating a conversation); ``delay`` makes every activity POST slow;
    ``roster[team]`` is the team's members, served page by page."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, Any]]] = []  # (conversation id, activity)
        self.puts: list[tuple[str, str, dict[str, Any]]] = []
        self.created: list[dict[str, Any]] = []
        self.refused: list[tuple[str, int]] = []  # (path, status) answered with a failure
        self.failures: list[tuple[int, dict[str, str]]] = []
        self.delay = 0.0
        self.roster: dict[str, list[dict[str, Any]]] = {}
        self.pages: list[tuple[str, int | None]] = []  # (team, page size) of each roster page asked for
        self.lock = threading.RLock()
        ids = itertools.count(1)

        def failure(request: web.Request) -> web.Response | None:
            with self.lock:
                if not self.failures:
                    return None
                status, headers = self.failures.pop(0)
                self.refused.append((request.path, status))
            return web.json_response({"error": {"code": "Failure", "message": "no"}}, status=status, headers=headers)

        async def post_activity(request: web.Request) -> web.Response:
            body = await request.json()
            if self.delay:
                await asyncio.sleep(self.delay)
            refused = failure(request)
            if refused is not None:
                return refused
            with self.lock:
                self.posts.append((request.match_info["conv"], body))
            return web.json_response({"id": f"act-{next(ids)}"})

        async def put_activity(request: web.Request) -> web.Response:
            body = await request.json()
            refused = failure(request)
            if refused is not None:
                return refused
            with self.lock:
                self.puts.append((request.match_info["conv"], request.match_info["act"], body))
            return web.json_response({"id": request.match_info["act"]})

        async def member(request: web.Request) -> web.Response:
            user = request.match_info["user"]
            key = user.replace("29:", "")
            return web.json_response({"id": user, "aadObjectId": AAD.get(key, f"aad-{key}"), "name": key,
                                      "email": f"{key}@swindon.example", "userPrincipalName": f"{key}@swindon.example"})

        async def paged(request: web.Request) -> web.Response:
            team = request.match_info["conv"]
            size = int(request.query["pageSize"]) if "pageSize" in request.query else None
            start = int(request.query.get("continuationToken") or 0)
            with self.lock:
                self.pages.append((team, size))
                members = self.roster.get(team, [])
            page = members[start:start + min(size or 100, 2)]  # two a page, to make the paging real
            more = start + len(page) < len(members)
            return web.json_response({"members": page, **({"continuationToken": str(start + len(page))}
                                                          if more else {})})

        async def create(request: web.Request) -> web.Response:
            body = await request.json()
            refused = failure(request)
            if refused is not None:
                return refused
            with self.lock:
                self.created.append(body)
            return web.json_response({"id": f"a:new-{next(ids)}", "activityId": "", "serviceUrl": ""})

        self.app = web.Application()
        self.app.router.add_post("/v3/conversations/{conv}/activities", post_activity)
        self.app.router.add_post("/v3/conversations/{conv}/activities/{reply}", post_activity)
        self.app.router.add_put("/v3/conversations/{conv}/activities/{act}", put_activity)
        self.app.router.add_get("/v3/conversations/{conv}/members/{user}", member)
        self.app.router.add_get("/v3/conversations/{conv}/pagedmembers", paged)
        self.app.router.add_post("/v3/conversations", create)

    def answer(self, status: int, headers: dict[str, str] | None = None, times: int = 1) -> None:
        with self.lock:
            self.failures.extend([(status, headers or {})] * times)

    def cards_to(self, conv: str) -> list[dict[str, Any]]:
        with self.lock:
            return [a["attachments"][0]["content"] for c, a in self.posts if c == conv and a.get("attachments")]

    def wait(self, predicate, timeout: float = 10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                found = predicate(self)
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError(f"timed out; posts={[(c, a.get('type')) for c, a in self.posts]} puts={len(self.puts)}")


class Teams:
    def __init__(self, bot_port: int, service_url: str):
        self.url = f"http://127.0.0.1:{bot_port}/api/messages"
        self.service_url = service_url
        self.ids = itertools.count(1)

    def send(self, activity: dict[str, Any], headers: dict[str, str] | None = None) -> tuple[int, str]:
        req = urllib.request.Request(self.url, data=json.dumps(activity).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=20) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def activity(self, who: str, kind: str = "message", *, conv: str | None = None, channel: str | None = None,
                 **extra: Any) -> dict[str, Any]:
        conversation = {"id": conv or f"a:personal-{who}", "conversationType": "channel" if channel else "personal",
                        "tenantId": "tenant-1"}
        act = {"type": kind, "id": f"in-{next(self.ids)}", "timestamp": "2026-04-02T09:00:00.000Z",
               "serviceUrl": self.service_url, "channelId": "msteams",
               "from": {"id": f"29:{who}", "name": who, "aadObjectId": AAD[who]},
               "conversation": conversation, "recipient": {"id": "28:parley", "name": "Parley"},
               "channelData": {"tenant": {"id": "tenant-1"}}}
        if channel:
            act["channelData"]["channel"] = {"id": channel}
            act["channelData"]["team"] = {"id": "19:team@thread"}
        act.update(extra)
        return act

    def invoke(self, who: str, verb: str, data: dict[str, Any], **kw: Any) -> dict[str, Any]:
        status, body = self.send(self.activity(who, "invoke", name="adaptiveCard/action",
                                               value={"action": {"type": "Action.Execute", "verb": verb,
                                                                 "data": data}}, **kw))
        assert status == 200, (status, body)
        answer = json.loads(body)
        assert answer["type"] == "application/vnd.microsoft.card.adaptive"
        return answer["value"]


@pytest.fixture
def teams_env(sqlite_runtime) -> Iterator[tuple[Any, FakeConnector, Teams, FixedClock, TeamsServer]]:
    rt = sqlite_runtime
    with rt.factory() as s:
        for key, aad in AAD.items():
            s.add(PersonIdentity(person_id=repo.person_by_key("swindon", key, session=s).id, platform="teams",
                                 external_id=aad))
        s.commit()
    clock = FixedClock(dt.datetime(2026, 4, 2, 10, 0, tzinfo=LONDON))
    loop = Loop()
    connector = FakeConnector()
    conn_port = loop.serve(connector.app)
    server = TeamsServer(rt, clock)
    bot_port = loop.serve(server.web_app())
    try:
        yield rt, connector, Teams(bot_port, f"http://127.0.0.1:{conn_port}/"), clock, server
    finally:
        loop.stop()


def test_whole_case_in_teams(teams_env) -> None:
    rt, connector, teams, clock, server = teams_env
    # installs: a welcome card in each personal chat, references stored for later proactive messages
    for who in ("alice", "bob"):
        teams.send(teams.activity(who, "conversationUpdate", membersAdded=[{"id": "28:parley"}]))
    welcome = connector.wait(lambda c: c.cards_to("a:personal-alice"))
    assert "Welcome to Parley" in json.dumps(welcome)
    # business unit registers the two agencies' manager channels
    for channel, agency in (("19:police@thread", "Wiltshire Police"), ("19:csc@thread", "Children's Social Care")):
        status, _ = teams.send(teams.activity("una", conv=f"{channel};messageid=1", channel=channel,
                                              text=f"<at>Parley</at> register managers for {agency}"))
        assert status in (200, 201)
    connector.wait(lambda c: sum("escalation prompts" in json.dumps(a) for _, a in c.posts) == 2)
    # alice starts: the intake opens with the immediate-risk question
    teams.send(teams.activity("alice", text="new"))
    risk = connector.wait(lambda c: [x for x in c.cards_to("a:personal-alice") if "immediate risk" in json.dumps(x)])
    assert not validate(risk[-1])
    intake = teams.invoke("alice", "form.risk", {"risk": "no", "context": ""})
    assert not validate(intake) and "form.intake" in json.dumps(intake)
    with rt.factory() as s:
        csc = repo.agency_by_key("swindon", "social-care", session=s).id
        bob = repo.person_by_key("swindon", "bob", session=s).id
    context = next(a["data"]["context"] for a in intake["actions"] if a.get("verb") == "form.intake")
    done = teams.invoke("alice", "form.intake", {
        "context": context, "pre0": "no", "category": "thresholds", "agency": str(csc), "person": str(bob),
        "what": "Closed too early <at>Everyone</at>", "done": "Phoned", "sought": "Re-open", "arose": "2026-04-02",
        "subject_name": "Jamie Doe"})
    assert "SWN-2026-0001" in json.dumps(done) and not validate(done)
    # the counterpart gets a proactive 1:1 message
    to_bob = connector.wait(lambda c: [x for x in c.cards_to("a:personal-bob") if "SWN-2026-0001" in json.dumps(x)])
    assert "case.record_outcome" in json.dumps(to_bob)
    assert "Jamie" not in json.dumps(connector.posts)
    # the counterpart presses Record the outcome: the card is replaced by the outcome form
    outcome = teams.invoke("bob", "case.record_outcome", {"value": "SWN-2026-0001"})
    assert "form.outcome" in json.dumps(outcome) and not validate(outcome)
    # the deadline lapses: escalation cards in both manager channels
    clock.set(dt.datetime(2026, 4, 9, 9, 30, tzinfo=LONDON))
    Sweeper(rt.factory, clock).fire_due()
    server.deliverer.deliver()
    police = connector.wait(lambda c: c.cards_to("19:police@thread;messageid=1") or c.cards_to("19:police@thread"))
    card = police[-1]
    assert not validate(card) and "Jamie" not in json.dumps(card)
    ack = next(a for a in card["actions"] if a.get("verb") == "esc.ack")
    # a manager of an uninvolved agency is refused and nothing changes
    refused = teams.invoke("hugh", "esc.ack", ack["data"], conv="19:police@thread;messageid=1",
                           channel="19:police@thread")
    assert "can't" in json.dumps(refused)
    with rt.factory() as s:
        assert repo.case_by_ref("SWN-2026-0001", session=s).stage_number == 1
    # Sam acknowledges: his card refreshes, and the posted cards are updated in place for everyone
    mine = teams.invoke("sam", "esc.ack", ack["data"], conv="19:police@thread;messageid=1",
                        channel="19:police@thread")
    assert "taken ownership" in json.dumps(mine)
    puts = connector.wait(lambda c: c.puts if len(c.puts) >= 2 else None)
    assert any("Acknowledged by Sam Patel" in json.dumps(p[2]) for p in puts)
    with rt.factory() as s:
        assert repo.case_by_ref("SWN-2026-0001", session=s).stage_number == 2
    again = teams.invoke("sam", "esc.ack", ack["data"], conv="19:police@thread;messageid=1",
                         channel="19:police@thread")
    assert "Already acknowledged by Sam Patel" in json.dumps(again)


def test_malformed_invoke_gets_an_error_card_and_nothing_is_lost(teams_env) -> None:
    rt, connector, teams, _clock, _server = teams_env
    card = teams.invoke("alice", "form.intake", {"context": "risk=no", "what": 12345, "agency": "nonsense"})
    assert "Please" in json.dumps(card) and not validate(card)
    card = teams.invoke("alice", "no.such.verb", {"value": None})
    assert "no longer available" in json.dumps(card)
    status, _ = teams.send({"type": "invoke", "name": "adaptiveCard/action"})  # truncated activity
    assert status in (400, 401, 500) or status == 200
    with rt.factory() as s:
        assert repo.cases_for_board("swindon", session=s) == []


def test_app_id_set_means_a_valid_jwt_is_required(sqlite_runtime) -> None:
    loop = Loop()
    try:
        server = TeamsServer(sqlite_runtime, FixedClock(dt.datetime(2026, 4, 2, 10, tzinfo=LONDON)),
                             app_id="00000000-0000-0000-0000-000000000001", app_password="secret")
        port = loop.serve(server.web_app())
        teams = Teams(port, "http://127.0.0.1:1/")
        status, _ = teams.send(teams.activity("alice", text="new"))
        assert status == 401
        status, _ = teams.send(teams.activity("alice", text="new"), headers={"Authorization": "Bearer not.a.jwt"})
        assert status == 401
    finally:
        loop.stop()


def test_someone_who_never_messaged_the_bot_is_reached_through_the_team_roster(teams_env) -> None:
    """A 1:1 chat is created for a team member seen in the roster, and the queued message is posted there."""
    rt, connector, teams, clock, server = teams_env
    # bob is added to a team where the app is installed (he never messages the bot himself)
    teams.send(teams.activity("una", "conversationUpdate", conv="19:general@thread", channel="19:general@thread",
                              membersAdded=[{"id": "29:bob", "aadObjectId": AAD["bob"]}]))
    open_case(rt, "swindon", clock.now())  # alice raises it, naming bob
    # the Stage 1 deadline lapses: the practitioners, bob among them, are told managers were asked to act
    clock.set(dt.datetime(2026, 4, 9, 9, 30, tzinfo=LONDON))
    Sweeper(rt.factory, clock).fire_due()
    server.deliverer.deliver()
    created = connector.wait(lambda c: [conv for conv, a in c.posts if conv.startswith("a:new-")])
    cards = connector.cards_to(created[0])
    assert cards and "SWN-2026-0001" in json.dumps(cards)


def test_teams_throttling_and_refusals_become_outbox_retries_or_failures(sqlite_runtime) -> None:
    """HTTP 429 from Teams is retried with backoff through the outbox; a 403 is final; 5xx is retried."""
    from adapters.teams.transport import TeamsTransport
    from bot.delivery.delivery import DeliveryError

    class Boom(Exception):
        def __init__(self, status: int) -> None:
            super().__init__(f"HTTP {status}")
            self.status = status

    transport = TeamsTransport(sqlite_runtime, adapter=None, app_id="")

    async def fail(status: int) -> None:
        raise Boom(status)

    for status, permanent, retry in ((429, False, 5), (503, False, None), (403, True, None)):
        with pytest.raises(DeliveryError) as err:
            transport._run(fail(status))
        assert err.value.permanent is permanent and err.value.retry_after == retry


def test_forged_tokens_get_401_without_a_traceback(sqlite_runtime, caplog) -> None:
    """Tokens that look like Bot Framework's but are forged: alg none, HS256, an unknown key id, no key id (T6).
    Each is refused with 401, and nothing is logged as an error."""
    import jwt as pyjwt

    now = int(time.time())
    claims = {"iss": "https://api.botframework.com", "aud": "00000000-0000-0000-0000-000000000001",
              "serviceurl": "http://127.0.0.1:1/", "nbf": now - 10, "exp": now + 3600}
    forged = [pyjwt.encode(claims, key="", algorithm="none"),
              pyjwt.encode(claims, key="a-secret-of-thirty-two-characters!!", algorithm="HS256",
                           headers={"kid": "unknown-kid"}),
              pyjwt.encode(claims, key="a-secret-of-thirty-two-characters!!", algorithm="HS256")]
    loop = Loop()
    try:
        server = TeamsServer(sqlite_runtime, FixedClock(dt.datetime(2026, 4, 2, 10, tzinfo=LONDON)),
                             app_id="00000000-0000-0000-0000-000000000001", app_password="secret")
        port = loop.serve(server.web_app())
        teams = Teams(port, "http://127.0.0.1:1/")
        for token in forged:
            status, _ = teams.send(teams.activity("alice", text="new"), headers={"Authorization": f"Bearer {token}"})
            assert status == 401, token
    finally:
        loop.stop()
    # this server's own records (another test's Slack worker may still be winding down meanwhile)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR
                and r.name.startswith(("parley", "aiohttp", "botbuilder", "botframework"))]


def test_someone_who_installs_parley_but_never_types_gets_what_waited_for_them(teams_env) -> None:
    """Bob is in the directory with no account linked: the lapse notice for him is kept and the business unit told;
    when he installs the app (a conversationUpdate, no message) he is linked by his e-mail address and the
    notice reaches his personal chat, once."""
    from bot.delivery import outbox
    from storage.models import OutboxMessage

    rt, connector, teams, clock, server = teams_env
    with rt.factory() as s:
        bob = repo.person_by_key("swindon", "bob", session=s)
        s.execute(delete(PersonIdentity).where(PersonIdentity.person_id == bob.id))
        s.commit()
    open_case(rt, "swindon", clock.now())  # alice raises it, naming bob
    clock.set(dt.datetime(2026, 4, 9, 9, 30, tzinfo=LONDON))
    Sweeper(rt.factory, clock).fire_due()
    with rt.factory() as s:
        waiting = s.scalars(select(OutboxMessage).where(OutboxMessage.person_id == bob.id)).all()
        assert [(r.platform, r.state) for r in waiting] == [(outbox.UNREACHABLE, "failed")]
        alerts = [r for r in s.scalars(select(OutboxMessage)) if r.payload.get("kind") == "delivery_alert"]
        assert len(alerts) == 1 and "Bob" in json.dumps(alerts[0].payload)
    server.deliverer.deliver()
    assert not connector.cards_to("a:personal-bob")

    teams.send(teams.activity("bob", "conversationUpdate", membersAdded=[{"id": "28:parley"}]))
    connector.wait(lambda c: c.cards_to("a:personal-bob"))  # the welcome card
    server.deliverer.deliver()
    got = connector.wait(lambda c: [x for x in c.cards_to("a:personal-bob") if "SWN-2026-0001" in json.dumps(x)])
    assert len(got) == 1
    server.deliverer.deliver()
    assert len([x for x in connector.cards_to("a:personal-bob") if "SWN-2026-0001" in json.dumps(x)]) == 1
    with rt.factory() as s:
        assert repo.person_by_identity("teams", AAD["bob"], session=s).key == "bob"
        row = s.get(OutboxMessage, waiting[0].id)
        assert (row.platform, row.address, row.state) == ("teams", AAD["bob"], "sent")


def test_an_unchanged_conversation_reference_is_not_written_again(teams_env) -> None:
    """Each turn used to rewrite the person's and the member's references (their activity id always differs)."""
    rt, connector, teams, _clock, server = teams_env
    writes: list[tuple[str, str]] = []
    save = rt.save_ref

    def counting(platform: str, kind: str, key: str, data: dict) -> None:
        writes.append((kind, key))
        save(platform, kind, key, data)

    rt.save_ref = counting
    teams.send(teams.activity("alice", text="help"))
    first = list(writes)
    assert ("person", AAD["alice"]) in first
    teams.send(teams.activity("alice", text="list"))
    teams.send(teams.activity("alice", text="help"))
    assert writes == first  # nothing new to store on the next turns
    with rt.factory() as s:
        from storage.platform_models import ConversationRef

        stored = s.scalars(select(ConversationRef).where(ConversationRef.key == AAD["alice"])).all()
        assert stored and all("activityId" not in r.data for r in stored)
