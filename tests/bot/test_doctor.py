"""parley doctor: one line a check, OK or PROBLEM, in plain words; secrets named present or absent, never shown."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from cryptography.fernet import Fernet

from bot.admin import doctor
from protocol import loader
from storage import migrate, repo, subjects
from storage.models import AgencyChannel, BoardChannel, Case
from tests.conftest import LONDON

SECRETS = {"SLACK_BOT_TOKEN": "xoxb-very-secret-1", "SLACK_SIGNING_SECRET": "sign-very-secret-2",
           "MICROSOFT_APP_ID": "11111111-2222-3333-4444-555555555555", "MICROSOFT_APP_PASSWORD": "pw-very-secret-3"}


def _env(**over: str) -> dict[str, str]:
    env = {"PARLEY_DATA_KEYS": os.environ["PARLEY_DATA_KEYS"], **SECRETS}
    env.update(over)
    return {k: v for k, v in env.items() if v is not None}


def _register_everything(rt, platforms=("slack", "teams")) -> None:
    with rt.factory() as s:
        for board in repo.all_boards(session=s):
            for ag in repo.agencies(board.id, session=s):
                for lv in ("line_manager", "senior_manager", "director"):
                    for p in platforms:
                        s.add(AgencyChannel(agency_id=ag.id, level=lv, platform=p, address=f"{p}-{ag.id}-{lv}"))
            for p in platforms:
                s.add(BoardChannel(board_id=board.id, purpose="business_unit", platform=p, address=f"{p}-bu"))
        s.commit()


def _store_subject(rt) -> None:
    with rt.factory() as s:
        b = repo.get_board("swindon", session=s)
        alice = repo.person_by_key("swindon", "alice", session=s)
        case = repo.add_case(Case(ref="SWN-2026-0001", board_id="swindon", snapshot_id=b.current_snapshot_id,
                                  subject_kind="child", category="other", raising_agency_id=alice.agency_id,
                                  raising_person_id=alice.id, status="open",
                                  opened_at=dt.datetime(2026, 4, 2, 9, tzinfo=LONDON)), session=s)
        subjects.set_subject(case.id, session=s, name="Kezia Marchbanks")
        s.commit()


def _lines(checks) -> str:
    return "\n".join(c.line() for c in checks)


def test_a_complete_configuration_is_all_ok_and_shows_no_secret(sqlite_runtime) -> None:
    rt = sqlite_runtime
    _register_everything(rt)
    _store_subject(rt)
    checks = doctor.run(rt.url, _env())
    out = _lines(checks)
    assert all(c.ok for c in checks), out
    assert all(line.startswith(("OK       ", "PROBLEM  ")) for line in out.splitlines())
    for secret in (*SECRETS.values(), os.environ["PARLEY_DATA_KEYS"]):
        assert secret not in out
    assert "OK       Slack: SLACK_BOT_TOKEN present, SLACK_SIGNING_SECRET present, SLACK_APP_TOKEN absent" in out
    assert "MICROSOFT_APP_TENANT_ID absent (multi-tenant" in out
    assert "the newest of 1 subject-details rows (SWN-2026-0001) decrypts with PARLEY_DATA_KEYS" in out
    assert "OK       channels (slack, wolverhampton): all 4 agencies have manager channels for line managers, " \
           "senior managers, directors" in out
    assert "OK       business unit (teams, swindon): channel registered" in out
    names = {c.name for c in checks}
    assert {"database", "migrations", "data key", "stored personal data", "Slack", "Teams"} <= names


def test_missing_channels_are_named_agency_by_agency(sqlite_runtime) -> None:
    rt = sqlite_runtime  # the demo directory has console channels only
    checks = {c.name: c for c in doctor.run(rt.url, _env(MICROSOFT_APP_ID="", MICROSOFT_APP_PASSWORD=""))}
    ch = checks["channels (slack, swindon)"]
    assert not ch.ok
    assert "Wiltshire Police has none for line managers, directors" in ch.message
    assert "Swindon Schools has none for line managers, directors" in ch.message
    assert not checks["business unit (slack, swindon)"].ok
    assert "channels (teams, swindon)" not in checks  # Teams is not configured, so not checked
    assert checks["Teams"].ok and "not configured" in checks["Teams"].message


@pytest.mark.parametrize("env, name, expected", [
    ({"PARLEY_DATA_KEYS": ""}, "data key", "PARLEY_DATA_KEYS is not set"),
    ({"PARLEY_DATA_KEYS": "too-short"}, "data key", "key 1 of 1 is not a Fernet key"),
    ({"SLACK_SIGNING_SECRET": "", "SLACK_APP_TOKEN": ""}, "Slack", "set SLACK_APP_TOKEN (Socket Mode) or "
                                                                   "SLACK_SIGNING_SECRET"),
    ({"SLACK_BOT_TOKEN": ""}, "Slack", "SLACK_BOT_TOKEN is needed"),
    ({"MICROSOFT_APP_PASSWORD": ""}, "Teams", "MICROSOFT_APP_PASSWORD is needed"),
    ({"MICROSOFT_APP_ID": ""}, "Teams", "MICROSOFT_APP_ID is needed"),
    ({"MICROSOFT_APP_ID": "", "MICROSOFT_APP_PASSWORD": "", "PARLEY_TEAMS": "local", "PARLEY_PRODUCTION": "true"},
     "Teams", "parley serve refuses unauthenticated Teams traffic"),
    ({"MICROSOFT_APP_ID": "", "MICROSOFT_APP_PASSWORD": "", "SLACK_BOT_TOKEN": "", "SLACK_SIGNING_SECRET": ""},
     "chat platforms", "neither Slack nor Teams"),
    # several Slack workspaces (OAuth): the client secret and signing secret, and neither single-workspace token
    ({"SLACK_BOT_TOKEN": "", "SLACK_CLIENT_ID": "1111.2222"}, "Slack",
     "SLACK_CLIENT_SECRET needed with SLACK_CLIENT_ID"),
    ({"SLACK_CLIENT_ID": "1111.2222", "SLACK_CLIENT_SECRET": "client-very-secret-4"}, "Slack",
     "unset SLACK_BOT_TOKEN and SLACK_APP_TOKEN"),
])
def test_each_problem_is_said_in_plain_words(sqlite_runtime, env, name, expected) -> None:
    _register_everything(sqlite_runtime)
    checks = doctor.run(sqlite_runtime.url, _env(**env))
    [check] = [c for c in checks if c.name == name]
    assert not check.ok and expected in check.message, check.line()
    assert [c.name for c in checks if not c.ok] == [name]
    assert not any(v in _lines(checks) for v in SECRETS.values() if len(v) > 12)


def test_a_key_that_cannot_read_the_stored_data(sqlite_runtime) -> None:
    _register_everything(sqlite_runtime)
    _store_subject(sqlite_runtime)
    wrong = Fernet.generate_key().decode()
    checks = {c.name: c for c in doctor.run(sqlite_runtime.url, _env(PARLEY_DATA_KEYS=wrong))}
    assert checks["data key"].ok
    assert not checks["stored personal data"].ok
    assert "SWN-2026-0001 cannot be decrypted" in checks["stored personal data"].message
    older = {c.name: c for c in doctor.run(sqlite_runtime.url,
                                           _env(PARLEY_DATA_KEYS=f"{wrong},{os.environ['PARLEY_DATA_KEYS']}"))}
    assert older["stored personal data"].ok and "run `parley keys rotate`" in older["stored personal data"].message


def test_an_unreachable_or_unmigrated_database(tmp_path) -> None:
    checks = doctor.run("postgresql://parley:hunter2-secret@127.0.0.1:1/nope", _env())
    out = _lines(checks)
    assert "PROBLEM  database: cannot connect to postgresql on 127.0.0.1:1/nope" in out
    assert "PROBLEM  migrations: not checked" in out and "hunter2" not in out
    missing = doctor.run(f"sqlite:///{tmp_path / 'none.db'}", _env())
    assert "does not exist: run `parley db upgrade`" in missing[0].message and not (tmp_path / "none.db").exists()
    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrate.upgrade(url, "0007")
    behind = {c.name: c for c in doctor.run(url, _env())}
    assert not behind["migrations"].ok
    assert behind["migrations"].message == f"the database is at 0007 but Parley needs {migrate.head_revision()}: " \
                                           "run `parley db upgrade`"


def test_required_levels_follow_each_protocols_stages() -> None:
    assert doctor.required_levels(loader.load_board("cardiff-and-vale")) == ["line_manager"]
    assert doctor.required_levels(loader.load_board("swindon")) == ["line_manager", "director"]
    assert doctor.required_levels(loader.load_board("wolverhampton")) == ["line_manager", "senior_manager",
                                                                          "director"]


def test_several_slack_workspaces_are_a_complete_configuration(sqlite_runtime) -> None:
    _register_everything(sqlite_runtime)
    env = _env(SLACK_BOT_TOKEN="", SLACK_CLIENT_ID="1111.2222", SLACK_CLIENT_SECRET="client-very-secret-4")
    checks = doctor.run(sqlite_runtime.url, env)
    [slack] = [c for c in checks if c.name == "Slack"]
    assert slack.ok and "SLACK_CLIENT_ID present, SLACK_CLIENT_SECRET present" in slack.message
    assert "several workspaces: installed at /slack/install" in slack.message
    assert "channels (slack, swindon)" in {c.name for c in checks}  # Slack counts as configured
    assert "client-very-secret-4" not in _lines(checks)
