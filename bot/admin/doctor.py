"""``parley doctor``: is this installation ready to serve? One line a check, OK or PROBLEM, in plain words.

It checks: the database is reachable and migrated; PARLEY_DATA_KEYS is set, valid, and can decrypt the personal
data already stored; the Slack and Teams variables are complete (each named present or absent: a secret's value
is never printed); at least one chat platform is configured; and, for each configured platform, every agency in
each board's directory has a manager channel at every level the board's protocol can escalate to, and each board
has a business-unit channel; and, on a board where people have left, that nothing they held is left without someone
(bot/admin/people.py). It also names each training board and how far its clock has been moved (never a
PROBLEM). Any PROBLEM makes the command exit with status 1. It changes nothing (it does not even create a
development key or a missing SQLite file).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from bot.admin import people, training
from bot.cases import protocols
from bot.delivery import outages, outbox
from protocol.spec import LEVEL_ORDER, Level, Protocol
from storage import crypto, migrate, protection, repo
from storage.db import make_engine, ping, resolve_url, session_factory

SLACK_VARS = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN")
SLACK_OAUTH_VARS = ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET")  # several workspaces (OAuth), instead of the bot token
TEAMS_VARS = ("MICROSOFT_APP_ID", "MICROSOFT_APP_PASSWORD", "MICROSOFT_APP_TENANT_ID")
LEVEL_WORDS = {Level.LINE_MANAGER.value: "line managers", Level.SENIOR_MANAGER.value: "senior managers",
               Level.DIRECTOR.value: "directors"}


@dataclass(frozen=True)
class Check:
    ok: bool
    name: str
    message: str

    def line(self) -> str:
        return f"{'OK' if self.ok else 'PROBLEM':<8} {self.name}: {self.message}"


def _present(env: Mapping[str, str], names: tuple[str, ...]) -> dict[str, bool]:
    return {n: bool(env.get(n, "").strip()) for n in names}


def _listing(present: dict[str, bool]) -> str:
    return ", ".join(f"{n} {'present' if p else 'absent'}" for n, p in present.items())


def _where(url: str) -> str:
    """The database without credentials: 'sqlite file /x/parley.db', 'postgresql on host:5432/db'."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        return f"SQLite file {u.database}" if u.database else "SQLite in memory"
    return f"{u.get_backend_name()} on {u.host or 'localhost'}:{u.port or 5432}/{u.database or ''}"


def slack_oauth_check(env: Mapping[str, str]) -> tuple[Check, bool]:
    """Several workspaces (SLACK_CLIENT_ID set): each installs Parley at /slack/install; served over HTTP."""
    p = {**_present(env, SLACK_OAUTH_VARS), **_present(env, SLACK_VARS)}
    need = [n for n in ("SLACK_CLIENT_SECRET", "SLACK_SIGNING_SECRET") if not p[n]]
    if need:
        return Check(False, "Slack", f"{_listing(p)}: {' and '.join(need)} needed with SLACK_CLIENT_ID"), True
    if p["SLACK_BOT_TOKEN"] or p["SLACK_APP_TOKEN"]:
        return Check(False, "Slack", f"{_listing(p)}: with SLACK_CLIENT_ID (several workspaces, over HTTP) unset "
                                     "SLACK_BOT_TOKEN and SLACK_APP_TOKEN"), True
    return Check(True, "Slack", f"{_listing(p)} (several workspaces: installed at /slack/install, requests over "
                                "HTTP at /slack/events)"), True


def slack_check(env: Mapping[str, str]) -> tuple[Check, bool]:
    if _present(env, SLACK_OAUTH_VARS)["SLACK_CLIENT_ID"]:
        return slack_oauth_check(env)
    p = _present(env, SLACK_VARS)
    if not any(p.values()):
        return Check(True, "Slack", f"not configured ({_listing(p)})"), False
    if not p["SLACK_BOT_TOKEN"]:
        return Check(False, "Slack", f"{_listing(p)}: SLACK_BOT_TOKEN is needed for Parley to use Slack"), False
    if not (p["SLACK_SIGNING_SECRET"] or p["SLACK_APP_TOKEN"]):
        return Check(False, "Slack", f"{_listing(p)}: set SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET "
                                     "(requests over HTTP at /slack/events)"), True
    mode = "Socket Mode" if p["SLACK_APP_TOKEN"] else "requests over HTTP at /slack/events"
    return Check(True, "Slack", f"{_listing(p)} ({mode})"), True


def teams_check(env: Mapping[str, str]) -> tuple[Check, bool]:
    p = _present(env, TEAMS_VARS)
    local = env.get("PARLEY_TEAMS", "").strip() == "local"
    production = env.get("PARLEY_PRODUCTION", "").strip().lower() in ("1", "true", "yes")
    if not p["MICROSOFT_APP_ID"]:
        if local:
            if production:
                return Check(False, "Teams", "PARLEY_TEAMS=local without MICROSOFT_APP_ID while PARLEY_PRODUCTION is "
                                             "set: parley serve refuses unauthenticated Teams traffic"), True
            return Check(True, "Teams", f"PARLEY_TEAMS=local: unauthenticated, for the emulator and Agents "
                                        f"Playground only ({_listing(p)})"), True
        if any(p.values()):
            return Check(False, "Teams", f"{_listing(p)}: MICROSOFT_APP_ID is needed for Parley to use Teams"), False
        return Check(True, "Teams", f"not configured ({_listing(p)})"), False
    if not p["MICROSOFT_APP_PASSWORD"]:
        return Check(False, "Teams", f"{_listing(p)}: MICROSOFT_APP_PASSWORD is needed to answer Teams"), True
    tenancy = "single-tenant" if p["MICROSOFT_APP_TENANT_ID"] else "multi-tenant: no MICROSOFT_APP_TENANT_ID"
    return Check(True, "Teams", f"{_listing(p)} ({tenancy})"), True


def key_check(env: Mapping[str, str]) -> tuple[Check, crypto.KeySource | None]:
    raw = env.get(crypto.KEYS_ENV, "")
    if not raw.strip():
        return Check(False, "data key", f"{crypto.KEYS_ENV} is not set: personal data would be encrypted with a "
                                        "development key (the console and tests do that; parley serve refuses). "
                                        "Generate one with `parley keys generate`"), None
    try:
        keys = crypto.parse_keys(raw)
    except crypto.DataKeyError as exc:
        return Check(False, "data key", str(exc)), None
    source = crypto.KeySource(keys, False, crypto.KEYS_ENV)
    return Check(True, "data key", f"{source.describe()} present"), source


def required_levels(proto: Protocol) -> list[str]:
    """The agency levels the protocol can send an escalation prompt to (never below line managers)."""
    floor = LEVEL_ORDER.index(Level.LINE_MANAGER.value)
    levels = {LEVEL_ORDER[max(floor, LEVEL_ORDER.index(s.level.value))] for s in proto.stages}
    return [lv for lv in LEVEL_ORDER if lv in levels and lv in LEVEL_WORDS]


CONSOLE_NEEDS_NEITHER = {"data key", "chat platforms"}


def trying_out_note(checks: list[Check]) -> str | None:
    """A line for a newcomer when the only PROBLEMs are the data key or the chat platforms: the console needs
    neither (the exit code still says the set-up is not ready for real cases)."""
    problems = {c.name for c in checks if not c.ok}
    if not problems or not problems <= CONSOLE_NEEDS_NEITHER:
        return None
    return ("NOTE     Trying Parley out? `make run` / `parley console` works as it is: "
            "without a chat platform and with "
            "the development key. The PROBLEMs above are for serving real cases (`parley serve`).")


def run(url: str | None = None, env: Mapping[str, str] | None = None) -> list[Check]:
    env = os.environ if env is None else env
    checks: list[Check] = []
    url = resolve_url(url)
    where = _where(url)

    # the database
    u = make_url(url)
    engine = None
    if u.get_backend_name() == "sqlite" and u.database and not Path(u.database).exists():
        checks.append(Check(False, "database", f"{where} does not exist: run `parley db upgrade`"))
    else:
        engine = make_engine(url)
        try:
            ping(engine)
            checks.append(Check(True, "database", f"{where} is reachable"))
        except Exception as exc:
            first = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [""])[0]
            checks.append(Check(False, "database", f"cannot connect to {where} ({type(exc).__name__}: {first[:200]})"))
            engine.dispose()
            engine = None
    migrated = False
    if engine is None:
        checks.append(Check(False, "migrations", "not checked: the database is not reachable"))
    else:
        head = migrate.head_revision()
        if "alembic_version" not in inspect(engine).get_table_names():
            checks.append(Check(False, "migrations", f"the database has no tables yet: run `parley db upgrade` "
                                                     f"(Parley needs {head})"))
        else:
            current = migrate.current_revision(engine)
            migrated = current == head
            checks.append(Check(migrated, "migrations", f"up to date ({head})" if migrated else
                                f"the database is at {current} but Parley needs {head}: run `parley db upgrade`"))

    # the data key, and the personal data already stored
    kc, source = key_check(env)
    checks.append(kc)
    factory = session_factory(engine) if engine is not None else None
    if source is not None and factory is not None and migrated:
        with factory() as s:
            sample_problem = None
            try:
                sample = protection.check_sample(s, source)
            except crypto.DataKeyError as exc:
                sample_problem = str(exc)
                checks.append(Check(False, "stored personal data", sample_problem))
            else:
                if sample.rows == 0:
                    checks.append(Check(True, "stored personal data", "none stored yet, so nothing to decrypt"))
                else:
                    older = "" if sample.newest_key else (" (written with an older key: run `parley keys rotate` "
                                                          "before removing it)")
                    checks.append(Check(True, "stored personal data",
                                        f"the newest of {sample.rows} subject-details rows ({sample.checked_ref}) "
                                        f"decrypts with {crypto.KEYS_ENV}{older}"))
            # the files behind Teams links, the key canary and the latest audit checkpoint's key
            others = [m for m in protection.check_readable(s, source) if m != sample_problem]
            checks.append(Check(not others, "other stored data", " ".join(others) or
                                "the files behind Teams links and the key canary decrypt, and the latest audit "
                                "checkpoint is signed with the audit key in use"))
    elif source is not None:
        checks.append(Check(False, "stored personal data", "not checked: the database is not reachable or not "
                                                           "migrated"))

    # deliveries failing now (bot.delivery.outages): each unreachable address, and whether the business unit was told
    if factory is not None and migrated:
        checks += delivery_checks(factory)
        checks += leaver_checks(factory)
        checks += training_checks(factory)

    # chat platforms
    slack, slack_on = slack_check(env)
    teams, teams_on = teams_check(env)
    checks += [slack, teams]
    platforms = [p for p, on in (("slack", slack_on), ("teams", teams_on),
                                 ("webhook", bool(env.get("PARLEY_WEBHOOK_URL", "").strip()))) if on]
    if not platforms:
        checks.append(Check(False, "chat platforms", "neither Slack nor Teams (nor PARLEY_WEBHOOK_URL) is configured: "
                                                     "parley serve would only queue messages"))
    else:
        checks.append(Check(True, "chat platforms", ", ".join(platforms)))

    # channels for each configured platform
    if factory is not None and migrated and platforms:
        checks += _channel_checks(factory, platforms)
    if engine is not None:
        engine.dispose()
    return checks


def training_checks(factory: sessionmaker[Session]) -> list[Check]:
    """Each training board (bot/admin/training.py) and how far its clock is ahead: said, never a PROBLEM."""
    found = [b for b in training.boards(factory) if b.training]
    if not found:
        return [Check(True, "training boards", "none: every board is a real board, on the real time")]
    return [Check(True, f"training board ({b.board_id})", f"{training.describe(b)}; its messages are marked "
                                                          "[Training]") for b in found]


def delivery_checks(factory: sessionmaker[Session]) -> list[Check]:
    with factory() as s:
        found = outages.unreachable(s)
    if not found:
        return [Check(True, "deliveries", "no address or platform is failing")]
    out = []
    for u in found:
        told = (f"the business unit was told at {u.told_at:%Y-%m-%d %H:%M} UTC" if u.told_at else
                "the business unit has not been told yet")
        cases = f" (cases: {', '.join(u.cases)})" if u.cases else ""
        if u.platform == outbox.UNREACHABLE:
            out.append(Check(False, f"delivery (no account linked, {u.recipient})",
                             f"no Slack, Teams or other account linked since {u.since:%Y-%m-%d %H:%M} UTC; "
                             f"{u.waiting} message(s) waiting until they are linked{cases}; {told}"))
            continue
        how = "refused for good" if u.permanent else "failing"
        out.append(Check(False, f"delivery ({u.platform}, {u.recipient})",
                         f"{how} since {u.since:%Y-%m-%d %H:%M} UTC ({u.reason}); {u.waiting} message(s) not "
                         f"delivered{cases}; {told}"))
    return out


def leaver_checks(factory: sessionmaker[Session]) -> list[Check]:
    """On each board where people have left: someone whose line manager has left, an open case nobody holds a side
    of (escalation passes over a manager who has left to the next one up, but the directory needs mending)."""
    out = []
    with factory() as s:
        for board in repo.all_boards(session=s):
            gone = people.leavers(board.id, session=s)
            if not gone:
                continue
            gaps = people.gaps(board.id, session=s)
            out.append(Check(not gaps, f"leavers ({board.id})", "; ".join(gaps) if gaps else
                             f"{len(gone)} deactivated; everything they held has someone"))
    return out


def _channel_checks(factory: sessionmaker[Session], platforms: list[str]) -> list[Check]:

    out: list[Check] = []
    with factory() as s:
        boards = list(repo.all_boards(session=s))
        if not boards:
            return [Check(False, "directory", "no board is loaded: run `parley db upgrade`")]
        for board in boards:
            levels = required_levels(protocols.board_protocol(board.id, session=s))
            agencies = list(repo.agencies(board.id, session=s))
            have = {(c.agency_id, c.level, c.platform)
                    for c in repo.channels_of_agencies([a.id for a in agencies], session=s)}
            bu = {c.platform for c in repo.board_channels(board.id, "business_unit", session=s)}
            for platform in platforms:
                name = f"channels ({platform}, {board.id})"
                if not agencies:
                    out.append(Check(False, name, f"{board.name} has no agencies in its directory"))
                    continue
                missing = []
                for ag in agencies:
                    gaps = [LEVEL_WORDS[lv] for lv in levels if (ag.id, lv, platform) not in have]
                    if gaps:
                        missing.append(f"{ag.name} has none for {', '.join(gaps)}")
                if missing:
                    out.append(Check(False, name, "; ".join(missing) + ". Register each manager channel "
                                                  "(docs/slack.md, docs/teams.md)"))
                else:
                    out.append(Check(True, name, f"all {len(agencies)} agencies have manager channels for "
                                                 f"{', '.join(LEVEL_WORDS[lv] for lv in levels)}"))
                bname = f"business unit ({platform}, {board.id})"
                if platform in bu:
                    out.append(Check(True, bname, "channel registered"))
                else:
                    out.append(Check(False, bname, f"{board.name} has no business-unit channel on {platform}"))
    return out
