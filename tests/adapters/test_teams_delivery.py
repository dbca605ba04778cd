"""Teams delivery tells the truth (issue #13): what the Bot Connector refuses is never marked sent, its
Retry-After is obeyed, slow answers time out, channel posts are top-level and updated in place, and people in a
team's roster are reached although they never wrote to Parley. Against the fake Bot Connector of
test_teams_e2e.py, with short timeouts standing in for Teams' real ones."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from adapters.teams.server import TeamsServer
from bot.delivery import outbox
from bot.core.clock import FixedClock
from bot.core.messages import Message
from bot.escalation.scheduler import Sweeper
from storage import repo
from storage.models import OutboxMessage, PersonIdentity
from storage.platform_models import ConversationRef
from tests.adapters.test_teams_e2e import AAD, FakeConnector, Loop, Teams
from tests.conftest import LONDON
from bot.delivery import addressing

pytestmark = pytest.mark.e2e
TIMEOUT = 1.5  # seconds: stands in for PARLEY_TEAMS_TIMEOUT (30 s) so the slow cases stay quick


@pytest.fixture
def env(sqlite_runtime) -> Iterator[tuple[Any, FakeConnector, Teams, FixedClock, TeamsServer]]:
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
    server = TeamsServer(rt, clock, timeout=TIMEOUT, roster_interval=None)
    bot_port = loop.serve(server.web_app())
    try:
        yield rt, connector, Teams(bot_port, f"http://127.0.0.1:{conn_port}/"), clock, server
    finally:
        loop.stop()


def _dm(rt, clock: FixedClock, who: str, key: str) -> int:
    with rt.factory() as s:
        person = repo.person_by_key("swindon", who, session=s)
        row = addressing.queue_to_person(person, Message("Something to know", title="A note"), session=s, key=key,
                                     now=clock.now())
        assert row is not None and row.platform == "teams"
        s.commit()
        return row.id


def _row(rt, row_id: int) -> OutboxMessage:
    with rt.factory() as s:
        row = s.get(OutboxMessage, row_id)
        s.expunge(row)
        return row


def _installed(teams: Teams, connector: FakeConnector, who: str) -> None:
    teams.send(teams.activity(who, "conversationUpdate", membersAdded=[{"id": "28:parley"}]))
    connector.wait(lambda c: c.cards_to(f"a:personal-{who}"))


@pytest.mark.parametrize("status,headers,state,permanent_words", [
    (429, {"Retry-After": "120"}, "pending", None),
    (500, {}, "pending", None),
    (503, {"Retry-After": "30"}, "pending", None),
    (403, {}, "failed", "HTTP 403"),
    (404, {}, "failed", "HTTP 404"),
])
def test_a_refused_send_is_never_marked_sent(env, status, headers, state, permanent_words) -> None:
    rt, connector, teams, clock, server = env
    _installed(teams, connector, "bob")
    before = len(connector.cards_to("a:personal-bob"))
    row_id = _dm(rt, clock, "bob", f"t{status}")
    connector.answer(status, headers)
    assert server.deliverer.deliver() == 0
    row = _row(rt, row_id)
    assert row.state == state and row.external_id is None and row.sent_at is None
    assert len(connector.cards_to("a:personal-bob")) == before
    if permanent_words:
        assert permanent_words in row.last_error
    else:
        wait = float(headers.get("Retry-After", 0))
        due = row.next_attempt_at if row.next_attempt_at.tzinfo else row.next_attempt_at.replace(tzinfo=dt.timezone.utc)
        assert due >= clock.now() + dt.timedelta(seconds=wait)  # Retry-After obeyed
        # once Teams answers again, the message goes, exactly once
        clock.set(due)
        assert server.deliverer.deliver() == 1
        row = _row(rt, row_id)
        assert row.state == "sent" and row.external_id.startswith("a:personal-bob|act-")
        assert len(connector.cards_to("a:personal-bob")) == before + 1


def test_retry_after_is_obeyed_for_its_whole_length(env) -> None:
    rt, connector, teams, clock, server = env
    _installed(teams, connector, "bob")
    row_id = _dm(rt, clock, "bob", "ra")
    connector.answer(429, {"Retry-After": "600"})
    server.deliverer.deliver()
    clock.set(clock.now() + dt.timedelta(seconds=599))
    assert server.deliverer.deliver() == 0 and _row(rt, row_id).state == "pending"
    assert not connector.refused[1:]  # not even asked again before the 600 s are up
    clock.set(clock.now() + dt.timedelta(seconds=2))
    assert server.deliverer.deliver() == 1


def test_a_slow_connector_times_out_as_a_retryable_failure(env) -> None:
    rt, connector, teams, clock, server = env
    _installed(teams, connector, "bob")
    row_id = _dm(rt, clock, "bob", "slow")
    connector.delay = TIMEOUT + 1.0  # e.g. Teams taking 25 s with PARLEY_TEAMS_TIMEOUT=20
    started = time.monotonic()
    assert server.deliverer.deliver() == 0
    assert time.monotonic() - started < TIMEOUT * 3 + 5
    row = _row(rt, row_id)
    assert row.state == "pending" and row.external_id is None and "did not answer" in row.last_error


def test_a_failed_card_update_is_not_lost(env) -> None:
    rt, connector, teams, clock, server = env
    _installed(teams, connector, "bob")
    row_id = _dm(rt, clock, "bob", "orig")
    assert server.deliverer.deliver() == 1
    original = _row(rt, row_id)
    with rt.factory() as s:
        bob = repo.person_by_key("swindon", "bob", session=s)
        upd = outbox.queue(session=s, key="upd", platform="teams", target_kind="person", address=AAD["bob"],
                           person_id=bob.id, message=Message("Changed", title="A note"), now=clock.now(),
                           update_of=s.get(OutboxMessage, row_id))
        s.commit()
        upd_id = upd.id
    connector.answer(429, {"Retry-After": "45"})
    assert server.deliverer.deliver() == 0
    row = _row(rt, upd_id)
    assert row.state == "pending" and row.external_id is None and not connector.puts
    clock.set(clock.now() + dt.timedelta(seconds=46))
    assert server.deliverer.deliver() == 1
    conv, act = original.external_id.split("|")
    assert [(c, a) for c, a, _ in connector.puts] == [(conv, act)]


def test_intake_answers_at_once_with_a_slow_connector_and_the_dm_follows(env) -> None:
    """The click is answered in the invoke itself; the counterpart's DM goes through the outbox after the turn."""
    rt, connector, teams, clock, server = env
    _installed(teams, connector, "bob")
    intake = teams.invoke("alice", "form.risk", {"risk": "no", "context": ""})
    context = next(a["data"]["context"] for a in intake["actions"] if a.get("verb") == "form.intake")
    with rt.factory() as s:
        csc = repo.agency_by_key("swindon", "social-care", session=s).id
        bob = repo.person_by_key("swindon", "bob", session=s).id
    server.transport.timeout = 30.0  # a slow Connector that does answer, within the timeout
    connector.delay = 25.0  # 25 s: far longer than Teams waits for an invoke's answer
    started = time.monotonic()
    done = teams.invoke("alice", "form.intake", {
        "context": context, "pre0": "no", "category": "thresholds", "agency": str(csc), "person": str(bob),
        "what": "Closed too early", "done": "Phoned", "sought": "Re-open", "arose": "2026-04-02",
        "subject_name": "Jamie Doe"})
    assert time.monotonic() - started < 2.0
    assert "SWN-2026-0001" in json.dumps(done)
    to_bob = connector.wait(lambda c: [x for x in c.cards_to("a:personal-bob") if "SWN-2026-0001" in json.dumps(x)],
                            timeout=60)
    assert to_bob


def test_someone_in_a_team_roster_who_never_wrote_gets_the_dm(env) -> None:
    rt, connector, teams, clock, server = env
    with rt.factory() as s:  # bob is in the directory only: no Teams identity, no conversation
        bob = repo.person_by_key("swindon", "bob", session=s)
        for i in repo.identities(bob.id, session=s):
            if i.platform == "teams":
                s.delete(i)
        s.commit()
    connector.roster["19:team@thread"] = [
        {"id": f"29:{k}", "aadObjectId": f"roster-{k}", "name": k, "email": f"{k}@swindon.example",
         "userPrincipalName": f"{k}@swindon.example"} for k in ("carl", "bob", "mia", "hana", "ed")]
    # the app is installed in the team: the roster is fetched page by page and its members linked
    teams.send(teams.activity("una", "conversationUpdate", conv="19:general@thread", channel="19:general@thread",
                              membersAdded=[{"id": "28:parley"}]))
    connector.wait(lambda c: len(c.pages) >= 3)  # five members, two a page
    assert all(size == 500 for _, size in connector.pages)
    deadline = time.monotonic() + 10
    while rt.identity_of(bob.id, "teams") != "roster-bob" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rt.identity_of(bob.id, "teams") == "roster-bob"
    general = connector.cards_to("19:general@thread")
    assert general and "register managers for" in json.dumps(general[-1])  # channel guidance, not `new`
    row_id = _dm(rt, clock, "bob", "roster")
    assert server.deliverer.deliver() == 1
    assert connector.created[-1]["members"] == [{"id": "29:bob"}]
    assert connector.created[-1]["channelData"] == {"tenant": {"id": "tenant-1"}}  # Teams needs the tenant
    conv = _row(rt, row_id).external_id.split("|")[0]
    assert conv.startswith("a:new-") and connector.cards_to(conv)
    # the 1:1 is remembered: the next message goes straight there
    _dm(rt, clock, "bob", "roster2")
    created = len(connector.created)
    assert server.deliverer.deliver() == 1 and len(connector.created) == created
    assert len(connector.cards_to(conv)) == 2


def test_the_hourly_refresh_links_people_who_joined_later(env) -> None:
    rt, connector, teams, clock, server = env
    teams.send(teams.activity("una", "conversationUpdate", conv="19:general@thread", channel="19:general@thread",
                              membersAdded=[{"id": "28:parley"}]))
    connector.wait(lambda c: c.pages)
    with rt.factory() as s:
        ed = repo.person_by_key("swindon", "ed", session=s)
    assert rt.identity_of(ed.id, "teams") is None
    connector.roster["19:team@thread"] = [{"id": "29:ed", "aadObjectId": "roster-ed", "email": "ED@swindon.example"}]
    assert server.sync_rosters() == 1
    assert rt.identity_of(ed.id, "teams") == "roster-ed"
    assert rt.ref("teams", "member", "roster-ed")["member_id"] == "29:ed"


def test_someone_teams_cannot_reach_is_a_permanent_failure_saying_why(env) -> None:
    rt, connector, teams, clock, server = env
    with rt.factory() as s:  # linked to Teams, but in no roster and never wrote: no conversation to use
        for ref in s.scalars(select(ConversationRef).where(ConversationRef.key == AAD["bob"])):
            s.delete(ref)
        s.commit()
    row_id = _dm(rt, clock, "bob", "unreachable")
    assert server.deliverer.deliver() == 0
    row = _row(rt, row_id)
    assert row.state == "failed" and row.external_id is None
    assert "not in the roster of any team" in row.last_error


def test_escalation_posts_are_top_level_and_updated_in_place(env) -> None:
    rt, connector, teams, clock, server = env
    for channel, agency in (("19:police@thread", "Wiltshire Police"), ("19:csc@thread", "Children's Social Care")):
        teams.send(teams.activity("una", conv=f"{channel};messageid=1", channel=channel,
                                  text=f"<at>Parley</at> register managers for {agency}"))
    with rt.factory() as s:
        from bot.cases.services import Ctx
        from bot.cases.opening import NewCase, open_case

        alice = repo.person_by_key("swindon", "alice", session=s)
        csc = repo.agency_by_key("swindon", "social-care", session=s)
        bob = repo.person_by_key("swindon", "bob", session=s)
        open_case(Ctx(alice, "console", clock.now()), NewCase(
            board_id="swindon", subject_kind="child", category="thresholds", what_happened="x", done_so_far="y",
            outcome_sought="z", arose_on=clock.now().date(), responding_agency_id=csc.id,
            responding_person_id=bob.id), session=s)
        s.commit()
    # later someone talks to Parley in another thread of each channel: that must not move where posts go
    for channel in ("19:police@thread", "19:csc@thread"):
        teams.send(teams.activity("una", conv=f"{channel};messageid=7", channel=channel, text="<at>Parley</at> help"))
    clock.set(dt.datetime(2026, 4, 9, 9, 30, tzinfo=LONDON))
    Sweeper(rt.factory, clock).fire_due()
    server.deliverer.deliver()
    police = connector.wait(lambda c: c.cards_to("19:police@thread"))
    connector.wait(lambda c: c.cards_to("19:csc@thread"))
    assert not [conv for conv, _ in connector.posts if ";messageid=" in conv and "SWN-2026-0001" in json.dumps(_)]
    with rt.factory() as s:
        posted = {r.address: r.external_id for r in s.scalars(select(OutboxMessage).where(
            OutboxMessage.target_kind == "channel", OutboxMessage.update_of_id.is_(None)))
            if r.external_id and r.address in ("19:police@thread", "19:csc@thread")}
    ack = next(a for a in police[-1]["actions"] if a.get("verb") == "esc.ack")
    teams.invoke("sam", "esc.ack", ack["data"], conv="19:police@thread;messageid=99", channel="19:police@thread")
    puts = connector.wait(lambda c: c.puts if len(c.puts) >= 2 else None)
    assert {(conv, act) for conv, act, _ in puts} >= {tuple(posted[ch].split("|")) for ch in posted}
    assert all(";messageid=" not in conv for conv, _, _ in puts)


def _intake(teams: Teams, rt, **kw: Any) -> tuple[dict, dict]:
    form = teams.invoke("alice", "form.risk", {"risk": "no", "context": ""})
    submit = next(a for a in form["actions"] if a.get("verb") == "form.intake")
    with rt.factory() as s:
        csc = repo.agency_by_key("swindon", "social-care", session=s).id
        bob = repo.person_by_key("swindon", "bob", session=s).id
    data = {**submit["data"], "pre0": "no", "category": "thresholds", "agency": str(csc), "person": str(bob),
            "what": "Closed too early", "done": "Phoned", "sought": "Re-open", "arose": "2026-04-02", **kw}
    return submit, data


def _cases(rt) -> list[str]:
    with rt.factory() as s:
        return [c.ref for c in repo.cases_for_board("swindon", session=s)]


def test_a_resubmitted_intake_makes_one_case(env) -> None:
    rt, connector, teams, clock, server = env
    _, data = _intake(teams, rt)
    # the same invoke activity delivered twice (Teams retrying it)
    act = teams.activity("alice", "invoke", name="adaptiveCard/action",
                         value={"action": {"type": "Action.Execute", "verb": "form.intake", "data": data}})
    first = json.loads(teams.send(act)[1])["value"]
    again = json.loads(teams.send(act)[1])["value"]
    assert "SWN-2026-0001" in json.dumps(first) and "Already done" in json.dumps(again)
    # the same card submitted again (a new activity: a second click on a form still on screen)
    third = teams.invoke("alice", "form.intake", data)
    assert "Already done" in json.dumps(third)
    # the Action.Submit fallback (a message carrying the verb) posted twice
    _, data2 = _intake(teams, rt)
    msg = teams.activity("alice", value={"verb": "form.intake", **data2})
    teams.send(msg)
    teams.send(msg)
    assert _cases(rt) == ["SWN-2026-0001", "SWN-2026-0002"]
    replies = connector.wait(lambda c: [x for x in c.cards_to("a:personal-alice") if "Already done" in json.dumps(x)])
    assert len(replies) == 1


def test_a_form_sent_back_with_problems_can_be_sent_again(env) -> None:
    """Only work that went through is remembered: a refused submission, corrected, makes the case."""
    rt, connector, teams, clock, server = env
    _, data = _intake(teams, rt, what="")
    refused = teams.invoke("alice", "form.intake", data)
    assert "Please fill this in" in json.dumps(refused) and _cases(rt) == []
    done = teams.invoke("alice", "form.intake", {**data, "what": "Closed too early"})
    assert "SWN-2026-0001" in json.dumps(done) and _cases(rt) == ["SWN-2026-0001"]


def test_a_second_click_is_answered_not_repeated(env) -> None:
    rt, connector, teams, clock, server = env
    _, data = _intake(teams, rt)
    teams.invoke("alice", "form.intake", data)
    close = teams.activity("alice", "invoke", name="adaptiveCard/action",
                           value={"action": {"type": "Action.Execute", "verb": "case.view",
                                             "data": {"value": "SWN-2026-0001"}}})
    assert "SWN-2026-0001" in json.dumps(json.loads(teams.send(close)[1])["value"])
    assert "Already done" in json.dumps(json.loads(teams.send(close)[1])["value"])
