"""The permission matrix in every adapter: each of a case's buttons pressed by each role, as a Slack click over
signed HTTP and as a Teams card action (the console's table is tests/bot/test_permissions.py, through the same
conversation). A refusal reaches the presser only and changes nothing but the audit trail; an allowed press is
never refused."""

from __future__ import annotations

import json
import time

import pytest

from bot.cases.permissions import ACTION_NAMES, MATRIX, Role
from storage import repo
from storage.models import Case, Person, PersonIdentity
from tests.adapters.test_slack_e2e import slack_env  # noqa: F401 - fixture
from tests.adapters.test_teams_e2e import teams_env  # noqa: F401 - fixture
from tests.bot.test_permissions import CASE_BUTTONS, PEOPLE
from tests.bot.test_scheduler import open_case
from tests.conftest import LONDON

pytestmark = pytest.mark.e2e
NOW = __import__("datetime").datetime(2026, 4, 2, 10, 0, tzinfo=LONDON)


def _setup(rt, platform: str) -> tuple[int, str, dict[str, str]]:
    """A Swindon case (Alice, police, with Bob, social care), a duty sergeant outside both management lines, and
    a platform identity for one person in each role."""
    cid = open_case(rt, "swindon", NOW)
    ids = {}
    with rt.factory() as s:
        police = repo.agency_by_key("swindon", "police", session=s).id
        s.add(Person(board_id="swindon", key="dan", name="Dan Shaw", title="Duty Sergeant", role="line_manager",
                     agency_id=police, email="dan@swindon.example"))
        s.flush()
        for key in PEOPLE.values():
            person = repo.person_by_key("swindon", key, session=s)
            external = ("U" if platform == "slack" else "aad-") + key.upper()
            if repo.person_by_identity(platform, external, session=s) is None and not any(
                    i.platform == platform for i in repo.identities(person.id, session=s)):
                s.add(PersonIdentity(person_id=person.id, platform=platform, external_id=external))
            ids[key] = next(i.external_id for i in repo.identities(person.id, session=s) if i.platform == platform) \
                if any(i.platform == platform for i in repo.identities(person.id, session=s)) else external
        s.commit()
        ref = s.get(Case, cid).ref
    return cid, ref, ids


def _version(rt, cid: int) -> tuple:
    with rt.factory() as s:
        case = s.get(Case, cid)
        return case.version, case.status, case.stage_id


def _refusals(rt, cid: int) -> list[tuple[int | None, str]]:
    with rt.factory() as s:
        return [(e.actor_id, e.data["action"]) for e in repo.events_for(cid, session=s) if e.kind == "refused"]


def _wait_more(calls, seen: int, what: tuple) -> None:
    deadline = time.monotonic() + 10
    while len(calls()) <= seen and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(calls()) > seen, what


def test_slack_every_button_for_every_role(slack_env) -> None:
    rt, mock, slack, _clock, _adapter = slack_env
    cid, ref, ids = _setup(rt, "slack")
    before = _version(rt, cid)
    expected_refusals = 0
    for role, key in PEOPLE.items():
        user = ids[key]
        for n, button in enumerate(CASE_BUTTONS):
            def answers() -> list:
                # a modal opened in the ack says only "Opening the form…": what it then shows is the answer
                return [c for c in mock.calls if (c.method == "views.publish" and c.args.get("user_id") == user)
                        or (c.method == "chat.postEphemeral" and c.args.get("user") == user)
                        or c.method == "views.update"]

            def dms() -> list:
                return [c for c in mock.of("chat.postMessage") if c.args.get("channel") == f"D{user}"]

            seen, dm_seen = len(answers()), len(dms())
            status, _, _ = slack.click(user, f"case.{button}", ref, channel="CPOLICEMGRS", message_ts=f"{n}.{key}")
            assert status == 200
            _wait_more(answers, seen, (role, button))
            told = json.dumps([c.args for c in answers()[seen:]] + [c.args for c in dms()[dm_seen:]])
            refused = "you can't" in told or "You can't" in told
            allowed = role in MATRIX[ACTION_NAMES[button]]
            assert refused == (not allowed), (role, button, told[:300])
            expected_refusals += not allowed
            # leave any question it started, and wait for that answer (its App Home refresh comes last), so the
            # next press is judged only by what the next press brings
            seen = len(answers())
            slack.event({"type": "message", "channel_type": "im", "channel": f"D{user}", "user": user,
                         "text": "cancel", "ts": f"{n}.{key}9"}, f"Ev-{key}-{n}")
            _wait_more(answers, seen, (role, button, "cancel"))
    assert _version(rt, cid) == before  # nothing about the case changed
    assert len(_refusals(rt, cid)) == expected_refusals  # every refusal audited, once


def test_teams_every_button_for_every_role(teams_env) -> None:
    rt, _connector, teams, _clock, _server = teams_env
    cid, ref, ids = _setup(rt, "teams")
    before = _version(rt, cid)
    from tests.adapters import test_teams_e2e

    aad = dict(test_teams_e2e.AAD)
    test_teams_e2e.AAD.update({key: ids[key] for key in PEOPLE.values()})
    try:
        expected_refusals = 0
        for role, key in PEOPLE.items():
            for button in CASE_BUTTONS:
                card = json.dumps(teams.invoke(key, f"case.{button}", {"value": ref}))
                refused = "you can't" in card or "You can't" in card
                allowed = role in MATRIX[ACTION_NAMES[button]]
                assert refused == (not allowed), (role, button, card[:300])
                expected_refusals += not allowed
                teams.send(teams.activity(key, "message", text="cancel"))
    finally:
        test_teams_e2e.AAD.clear()
        test_teams_e2e.AAD.update(aad)
    assert _version(rt, cid) == before
    assert len(_refusals(rt, cid)) == expected_refusals
    assert Role.OTHER in PEOPLE  # the table includes someone with no part in the case
