"""What one Teams card invoke costs Parley (issue #17): work it need not do is not done. Counted, never timed."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from adapters.teams.connector import BoundedAuthentication
from tests.adapters.test_teams_e2e import teams_env  # noqa: F401  (the fixture)


class _Inner:
    """A Bot Framework authentication that counts the user token clients it makes."""

    def __init__(self) -> None:
        self.made = 0

    async def create_user_token_client(self, claims_identity: Any) -> Any:
        self.made += 1
        inner = self

        class Client:
            async def get_token_status(self, user_id: str, channel_id: str, include_filter: str) -> list:
                return [(user_id, channel_id, include_filter, inner.made)]

        return Client()


def test_a_turn_makes_no_user_token_client_until_one_is_used() -> None:
    """botbuilder asks for one every turn (for OAuth sign-in, which Parley does not use); making it costs as much as
    a connector client. It is made the first time it is used, once."""
    inner = _Inner()
    auth = BoundedAuthentication(inner, 5.0)  # type: ignore[arg-type]

    async def turn() -> tuple[int, list, list]:
        client = await auth.create_user_token_client(None)  # type: ignore[arg-type]
        before = inner.made
        first = await client.get_token_status("u", "msteams", "")
        second = await client.get_token_status("u", "msteams", "x")
        return before, first, second

    before, first, second = asyncio.run(turn())
    assert before == 0
    assert first == [("u", "msteams", "", 1)] and second == [("u", "msteams", "x", 1)] and inner.made == 1


def test_the_intake_card_reads_the_directory_once(teams_env) -> None:
    rt, _connector, teams, _clock, _server = teams_env
    calls: list[int] = []
    colleagues = rt.colleagues

    def counting(person_id: int) -> Any:
        calls.append(person_id)
        return colleagues(person_id)

    rt.colleagues = counting
    intake = teams.invoke("alice", "form.risk", {"risk": "no", "context": ""})
    assert "form.intake" in str(intake)
    assert len(calls) == 1


def test_the_three_buttons_statement_budgets(teams_env) -> None:
    """The statements one press of each button runs while it is answered (the benchmark's three: bench/bench_teams.py),
    and its commits. Each budget is what the invoke needs now; before issue #17's work it was 19, 29 and 24
    statements on 5, 3 and 3 connections taken from the pool (directory rows read again and again in one unit of work, a line-management chain a row at a time,
    the intake card's directory read twice and the risk answer's person and board read again for the intake, the
    outcome form's case read again in a unit of work of its own, a savepoint around the delivery key, claimed in a unit of work of its own)."""
    from sqlalchemy import event

    from storage import repo
    from tests.bot.test_scheduler import open_case

    rt, _connector, teams, clock, _server = teams_env
    open_case(rt, "swindon", clock.now())
    with rt.factory() as s:
        ref = next(iter(repo.cases_involving(repo.person_by_key("swindon", "alice", session=s), session=s))).ref
    seen: list[str] = []
    counting = {"on": False}

    def answering() -> bool:  # the turn itself, not the outbox delivered after it (an executor's thread)
        return counting["on"] and not threading.current_thread().name.startswith("asyncio")

    def statement(conn, cursor, text, *_: object) -> None:
        if answering():
            seen.append(text)

    def commit(conn) -> None:
        if answering():
            seen.append("COMMIT")

    def checkout(*_: object) -> None:
        if answering():
            seen.append("CHECKOUT")

    event.listen(rt.engine, "before_cursor_execute", statement)
    event.listen(rt.engine, "commit", commit)
    event.listen(rt.engine, "checkout", checkout)
    try:
        teams.invoke("alice", "case.view", {"value": ref})  # warm: the protocol parsed, references stored
        costs = {}
        for verb, data in (("form.risk", {"risk": "no", "context": ""}), ("case.view", {"value": ref}),
                           ("case.record_outcome", {"value": ref})):
            seen.clear()
            counting["on"] = True
            card = teams.invoke("alice", verb, data)
            counting["on"] = False
            assert card["type"] == "AdaptiveCard"
            costs[verb] = (len([x for x in seen if x not in ("COMMIT", "CHECKOUT")]), seen.count("COMMIT"),
                           seen.count("CHECKOUT"))
    finally:
        event.remove(rt.engine, "before_cursor_execute", statement)
        event.remove(rt.engine, "commit", commit)
        event.remove(rt.engine, "checkout", checkout)
    # (statements, commits, connections taken from the pool): who is pressing and the delivery key in one unit of
    # work, committed; then the button's own unit of work (the risk answer's and the view's commit: they may write;
    # the intake is read after the risk answer's commit, on a connection taken again), and the intake card's people
    assert costs == {"form.risk": (11, 2, 4), "case.view": (16, 2, 2), "case.record_outcome": (14, 1, 2)}


def test_the_outcome_form_named_in_its_own_unit_of_work_is_the_same_form(teams_env) -> None:
    """Record the outcome names the case in the form's own unit of work (not in a second one): the same form."""
    from tests.bot.test_scheduler import open_case

    rt, _connector, _teams, clock, server = teams_env
    open_case(rt, "swindon", clock.now())
    for key in ("alice", "bob"):
        person = rt.person_by_key("swindon", key)
        for value in ("SWN-2026-0001", "SWN-2026-0001 resolved"):
            named = server.bot.forms.outcome(person.id, value, named=True)
            assert named == server.bot._named(server.bot.forms.outcome(person.id, value), person)
            assert named.title.startswith("Record the outcome: SWN-2026-0001")


def test_who_is_pressing_and_the_delivery_keys_in_one_unit_of_work(teams_env) -> None:
    """Runtime.person_claiming: the person and their keys claimed together; a key seen before claims none (the
    others are not kept, so their retry is not taken for a duplicate); someone not linked claims nothing."""
    rt, _connector, _teams, clock, _server = teams_env
    now = clock.now()
    person, claimed = rt.person_claiming("teams", "aad-alice", lambda p: [f"card:{p.id}:x"], now)
    assert person is not None and person.key == "alice" and claimed == [f"card:{person.id}:x"]
    again, none = rt.person_claiming("teams", "aad-alice", lambda p: ["activity:new", f"card:{p.id}:x"], now)
    assert again == person and none is None
    assert rt.first_time("teams", "activity:new", now)  # not kept by the refused claim
    assert rt.person_claiming("teams", "aad-nobody", lambda p: ["activity:other"], now) == (None, None)
    assert rt.first_time("teams", "activity:other", now)
