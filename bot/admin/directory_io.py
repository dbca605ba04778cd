"""A board's directory from a spreadsheet and back: ``parley directory import / export / check``.

The spreadsheet is a folder holding ``agencies.csv``, ``people.csv`` and ``channels.csv`` (``channels.csv`` may
be left out), or one ``.xlsx`` workbook with sheets of those names; the columns are in docs/directory.md (more
columns are allowed and ignored). Import is a sync keyed by agency key and e-mail address: it adds and changes,
never removes; with ``--deactivate-missing`` the board's people it does not list are deactivated (leavers, whose open
cases are handed over: bot/admin/people.py), and a deactivated person it lists is active again. Every problem is
reported with its file, row and column, and nothing is written while any remains. ``--dry-run`` reports what would
change and changes nothing. Export writes the same format (leaving leavers out), so that importing an export changes
nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from bot.admin import doctor, people
from bot.cases import protocols
from bot.core.i18n import available_languages
from bot.delivery import addressing, outbox
from storage import directory, outbox_repo, people_repo, repo
from storage.db import writing
from storage.directory import AgencyRow, ChannelRow, Directory, PersonRow

COLUMNS = {
    "agencies": ("key", "name", "sector", "la_area", "safeguarding_lead_email", "slack_team_id", "teams_tenant_id"),
    "people": ("email", "name", "title", "role", "agency", "line_manager_email", "language", "slack_user_id",
               "teams_object_id"),
    "channels": ("agency", "level", "platform", "address"),
}
REQUIRED_COLUMNS = {"agencies": ("key", "name", "sector"), "people": ("email", "name", "role"),
                    "channels": ("agency", "level", "platform", "address")}
ROLES = ("practitioner", "line_manager", "senior_manager", "director", "safeguarding_lead", "business_unit", "chair",
         "admin")
BOARD_ROLES = ("business_unit", "chair", "admin")  # people of the board, in no agency
MANAGER_LEVELS = ("line_manager", "senior_manager", "director")
BOARD_CHANNELS = ("business_unit", "chair")
PLATFORMS = ("slack", "teams", "webhook", "console")
KEY = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
SLACK_TEAM = re.compile(r"^T[A-Z0-9]{2,}$")
ENTRA_ID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@dataclass(frozen=True)
class Problem:
    file: str
    row: int  # as the spreadsheet numbers it: the header is row 1
    column: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}, row {self.row}, column {self.column}: {self.message}"


@dataclass
class Result:
    changes: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    written: bool = False
    to_do: list[str] = field(default_factory=list)  # what leavers left undone (bot/admin/people.py: gaps)


Rows = list[tuple[int, dict[str, str]]]


# -- reading the spreadsheet ------------------------------------------------------------------------------------
def read_tables(path: Path) -> tuple[dict[str, tuple[str, Rows]], list[Problem]]:
    """Each sheet's (file name as reported, rows numbered as the spreadsheet numbers them)."""
    tables: dict[str, tuple[str, Rows]] = {}
    problems: list[Problem] = []
    if path.is_dir():
        for name in COLUMNS:
            f = path / f"{name}.csv"
            if not f.exists():
                if name != "channels":
                    problems.append(Problem(f.name, 0, "-", "the file is missing"))
                continue
            with f.open(newline="", encoding="utf-8-sig") as fh:
                reader = csv.reader(fh)
                tables[name] = (f.name, _rows(list(reader)))
    elif path.suffix.lower() == ".xlsx" and path.exists():
        from openpyxl import load_workbook  # only for a workbook

        book = load_workbook(path, read_only=True, data_only=True)
        for name in COLUMNS:
            label = f"{path.name} [{name}]"
            if name not in book.sheetnames:
                if name != "channels":
                    problems.append(Problem(label, 0, "-", "the sheet is missing"))
                continue
            values = [["" if v is None else str(v) for v in row] for row in book[name].iter_rows(values_only=True)]
            tables[name] = (label, _rows(values))
        book.close()
    else:
        problems.append(Problem(str(path), 0, "-", "give a folder of CSV files or an .xlsx workbook"))
    for name, (label, rows) in tables.items():
        header = rows[0][1] if rows else {}
        for col in REQUIRED_COLUMNS[name]:
            if col not in header:
                problems.append(Problem(label, 1, col, "the column is missing"))
    return tables, problems


def _rows(values: list[list[str]]) -> Rows:
    """Row 1 is the header (names trimmed and lower-cased); blank rows are skipped."""
    if not values:
        return []
    header = [h.strip().lower() for h in values[0]]
    out: Rows = [(1, {h: h for h in header if h})]
    for n, row in enumerate(values[1:], start=2):
        cells = {h: (row[i].strip() if i < len(row) else "") for i, h in enumerate(header) if h}
        if any(cells.values()):
            out.append((n, cells))
    return out


# -- checking it -----------------------------------------------------------------------------------------------
def parse(tables: dict[str, tuple[str, Rows]]) -> tuple[Directory, list[Problem]]:
    problems: list[Problem] = []

    def body(name: str) -> tuple[str, Rows]:
        label, rows = tables.get(name, (f"{name}.csv", []))
        return label, rows[1:]

    a_label, a_rows = body("agencies")
    p_label, p_rows = body("people")
    c_label, c_rows = body("channels")
    agencies = _keyed(a_label, a_rows, "key", KEY, "a key is lower-case letters, digits and hyphens", problems)
    for n, r in a_rows:
        for col in ("name", "sector"):
            if not r.get(col):
                problems.append(Problem(a_label, n, col, "required"))
        if r.get("slack_team_id") and not SLACK_TEAM.match(r["slack_team_id"]):
            problems.append(Problem(a_label, n, "slack_team_id", "a Slack workspace (team) id looks like T012AB3CD"))
        if r.get("teams_tenant_id") and not ENTRA_ID.match(r["teams_tenant_id"]):
            problems.append(Problem(a_label, n, "teams_tenant_id", "a Microsoft 365 tenant id is a GUID"))
    people = _keyed(p_label, p_rows, "email", EMAIL, "not an e-mail address", problems)
    languages = available_languages()
    for n, r in p_rows:
        if not r.get("name"):
            problems.append(Problem(p_label, n, "name", "required"))
        role, agency = r.get("role", ""), r.get("agency", "").lower()
        if role not in ROLES:
            problems.append(Problem(p_label, n, "role", f"{role or '(blank)'} is not a role: use one of "
                                                        + ", ".join(ROLES)))
        elif role in BOARD_ROLES and agency:
            problems.append(Problem(p_label, n, "agency", f"a {role} person is the board's: leave agency blank"))
        elif role not in BOARD_ROLES and not agency:
            problems.append(Problem(p_label, n, "agency", f"a {role} belongs to an agency: give its key"))
        if agency and agency not in agencies:
            problems.append(Problem(p_label, n, "agency", f"no agency {agency} in agencies"))
        if r.get("language") and r["language"].lower() not in languages:
            problems.append(Problem(p_label, n, "language", f"use one of {', '.join(languages)}"))
        if r.get("slack_user_id") and not SLACK_USER.match(r["slack_user_id"]):
            problems.append(Problem(p_label, n, "slack_user_id", "a Slack user id looks like U012AB3CD"))
        if r.get("teams_object_id") and not ENTRA_ID.match(r["teams_object_id"]):
            problems.append(Problem(p_label, n, "teams_object_id", "an Entra object id is a GUID"))
    for col in ("slack_user_id", "teams_object_id"):
        problems += _twice(p_label, p_rows, col)
    for email, (n, r) in people.items():
        manager = r.get("line_manager_email", "").lower()
        if manager and manager not in people:
            problems.append(Problem(p_label, n, "line_manager_email", f"no person {manager} in people"))
        elif manager == email:
            problems.append(Problem(p_label, n, "line_manager_email", "a person cannot be their own line manager"))
    problems += _cycles(p_label, people)
    for key, (n, r) in agencies.items():
        lead = r.get("safeguarding_lead_email", "").lower()
        if lead and lead not in people:
            problems.append(Problem(a_label, n, "safeguarding_lead_email", f"no person {lead} in people"))
        elif lead and people[lead][1].get("agency", "").lower() != key:
            problems.append(Problem(a_label, n, "safeguarding_lead_email", f"{lead} is not in agency {key}"))
    seen: dict[tuple[str, str, str], int] = {}
    for n, r in c_rows:
        agency, level, platform = r.get("agency", "").lower(), r.get("level", ""), r.get("platform", "").lower()
        if agency and agency not in agencies:
            problems.append(Problem(c_label, n, "agency", f"no agency {agency} in agencies"))
        if agency and level not in MANAGER_LEVELS:
            problems.append(Problem(c_label, n, "level", "an agency's channel is for " + ", ".join(MANAGER_LEVELS)))
        if not agency and level not in BOARD_CHANNELS:
            problems.append(Problem(c_label, n, "level", "with no agency, the channel is the board's: "
                                                         + " or ".join(BOARD_CHANNELS)))
        if platform not in PLATFORMS:
            problems.append(Problem(c_label, n, "platform", "use one of " + ", ".join(PLATFORMS)))
        if not r.get("address"):
            problems.append(Problem(c_label, n, "address", "required"))
        if (agency, level, platform) in seen:
            problems.append(Problem(c_label, n, "level", f"given twice (also row {seen[(agency, level, platform)]})"))
        seen.setdefault((agency, level, platform), n)
    d = Directory(
        tuple(AgencyRow(k, r["name"], r["sector"], r.get("la_area", ""), r.get("safeguarding_lead_email", "").lower(),
                        r.get("slack_team_id", ""), r.get("teams_tenant_id", "").lower())
              for k, (_, r) in agencies.items()),
        tuple(PersonRow(e, r.get("name", ""), r.get("title", ""), r.get("role", ""), r.get("agency", "").lower(),
                        r.get("line_manager_email", "").lower(), (r.get("language") or "en").lower(),
                        r.get("slack_user_id", ""), r.get("teams_object_id", "")) for e, (_, r) in people.items()),
        tuple(ChannelRow(r.get("agency", "").lower(), r.get("level", ""), r.get("platform", "").lower(),
                         r.get("address", "")) for _, r in c_rows))
    return d, problems


def _keyed(label: str, rows: Rows, col: str, pattern: re.Pattern[str], wrong: str,
           problems: list[Problem]) -> dict[str, tuple[int, dict[str, str]]]:
    """The rows by ``col`` (lower-cased), each value well formed and given once; the others are problems."""
    found: dict[str, tuple[int, dict[str, str]]] = {}
    for n, r in rows:
        value = r.get(col, "").lower()
        if not pattern.match(value):
            problems.append(Problem(label, n, col, wrong))
        elif value in found:
            problems.append(Problem(label, n, col, f"{value} is given twice (also row {found[value][0]})"))
        else:
            found[value] = (n, r)
    return found


def _twice(label: str, rows: Rows, col: str) -> list[Problem]:
    first: dict[str, int] = {}
    out = []
    for n, r in rows:
        v = r.get(col, "")
        if v and v in first:
            out.append(Problem(label, n, col, f"{v} is given twice (also row {first[v]})"))
        first.setdefault(v, n)
    return out


def _cycles(label: str, people: dict[str, tuple[int, dict[str, str]]]) -> list[Problem]:
    """Each person whose chain of line managers comes back to them."""
    out = []
    for email, (n, _) in people.items():
        seen, at = {email}, people[email][1].get("line_manager_email", "").lower()
        while at and at in people and at not in seen:
            seen.add(at)
            at = people[at][1].get("line_manager_email", "").lower()
        if at == email and people[email][1].get("line_manager_email", "").lower() != email:
            out.append(Problem(label, n, "line_manager_email", "the line managers go round in a circle back to "
                                                               "this person"))
    return out


def _taken_identities(d: Directory, *, session: Session, label: str, rows: Rows) -> list[Problem]:
    """A Slack or Teams account the file gives someone that belongs to another person already."""
    row_of = {r.get("email", "").lower(): n for n, r in rows[1:]}
    out = []
    for p in d.people:
        for platform, col, external in (("slack", "slack_user_id", p.slack_user_id),
                                        ("teams", "teams_object_id", p.teams_object_id)):
            owner = directory.identity_owner(platform, external, session=session) if external else None
            if owner is not None and (owner.email or "").lower() != p.email:
                out.append(Problem(label, row_of.get(p.email, 0), col, f"already linked to {owner.name}"))
    return out


# -- the commands ------------------------------------------------------------------------------------------------
def import_directory(factory: sessionmaker[Session], board_id: str, path: Path, *, dry_run: bool = False,
                     deactivate_missing: bool = False, now: dt.datetime | None = None) -> Result:
    tables, problems = read_tables(path)
    d, more = parse(tables) if not problems else (Directory((), (), ()), [])
    problems += more
    if deactivate_missing and not problems and not d.people:
        label = tables.get("people", ("people.csv", []))[0]
        problems.append(Problem(label, 0, "-", "it lists nobody: --deactivate-missing would deactivate everyone"))
    with factory() as s:
        if repo.get_board(board_id, session=s) is None:
            problems.insert(0, Problem(str(path), 0, "-", f"there is no board {board_id}"))
        if problems:
            return Result(problems=problems)
        label, rows = tables["people"]
        problems = _taken_identities(d, session=s, label=label, rows=rows)
        if problems:
            return Result(problems=problems)
        writing(s)
        at = now or dt.datetime.now(dt.timezone.utc)
        changes = _joiners_and_leavers(s, board_id, d, deactivate_missing, at)
        changes += directory.write(board_id, d, session=s)
        s.flush()
        changes += [h.line() for h in people.hand_over(board_id, by=people.CLI, now=at, session=s)[0]]
        to_do = people.gaps(board_id, session=s)
        if dry_run:
            s.rollback()
            return Result(changes=changes, to_do=to_do)
        # people linked just now (a Slack or Teams id in the sheet): what could not reach them goes to them now
        kept = outbox_repo.people_with_failed(outbox.UNREACHABLE, board_id, session=s)
        waiting = sum(addressing.readdress(p, session=s, now=now) for pid in kept
                      if (p := repo.get_person(pid, session=s)) is not None)
        if waiting:
            changes.append(f"{waiting} message(s) kept for people with no account linked now go to their accounts")
        if changes:
            repo.audit("directory_imported", session=s, at=at, actor=None, actor_label="parley directory import",
                       via="cli", data={"board": board_id, "changes": len(changes)})
        s.commit()
    return Result(changes=changes, written=True, to_do=to_do)


def _joiners_and_leavers(s: Session, board_id: str, d: Directory, deactivate_missing: bool, at: dt.datetime
                         ) -> list[str]:
    """A deactivated person the sheet lists is active again; with ``deactivate_missing``, an active person it does
    not list is deactivated (before the sheet is written, so that a line manager who has left, shown blank, stays
    the way to the next one up)."""
    changes = []
    for pr in d.people:
        p = people_repo.person_by_email(board_id, pr.email, session=s)
        if p is not None:
            changes += people.reactivate(p, by=people.CLI, now=at, session=s)
    if deactivate_missing:
        for p in people_repo.active_not_listed(board_id, [pr.email for pr in d.people], session=s):
            changes += people.deactivate(p, by=people.CLI, now=at, session=s)
    s.flush()
    return changes


def _records(d: Directory) -> dict[str, list[tuple[str, ...]]]:
    return {"agencies": [(a.key, a.name, a.sector, a.la_area, a.safeguarding_lead_email, a.slack_team_id,
                          a.teams_tenant_id) for a in d.agencies],
            "people": [(p.email, p.name, p.title, p.role, p.agency, p.line_manager_email, p.language,
                        p.slack_user_id, p.teams_object_id) for p in d.people],
            "channels": [(c.agency, c.level, c.platform, c.address) for c in d.channels]}


def export_directory(factory: sessionmaker[Session], board_id: str, fmt: str, out: Path) -> list[Path]:
    """Write the board's directory as ``import`` reads it: three CSV files in the folder ``out``, or the workbook
    ``out``. Returns the files written."""
    with factory() as s:
        if repo.get_board(board_id, session=s) is None:
            raise ValueError(f"There is no board {board_id!r}.")
        records = _records(directory.read(board_id, session=s))
    if fmt == "csv":
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name, rows in records.items():
            f = out / f"{name}.csv"
            with f.open("w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh)
                w.writerow(COLUMNS[name])
                w.writerows(rows)
            written.append(f)
        return written
    if fmt == "xlsx":
        from openpyxl import Workbook  # only for a workbook

        book = Workbook()
        book.remove(book.active)
        for name, rows in records.items():
            sheet = book.create_sheet(name)
            sheet.append(list(COLUMNS[name]))
            for row in rows:
                sheet.append(list(row))
        out.parent.mkdir(parents=True, exist_ok=True)
        book.save(out)
        return [out]
    raise ValueError(f"unknown format {fmt!r}: use csv or xlsx")


def check_directory(factory: sessionmaker[Session], board_id: str, *, slack_workspaces: Collection[str] | None = None,
                    teams_tenants: Collection[str] | None = None) -> list[str]:
    """What is missing before the board can go live: a manager channel (Slack, Teams or webhook) at each level
    its protocol asks managers at, a business-unit channel, a safeguarding lead for each agency, and a Slack or
    Teams account (or the webhook) for each person. Given the Slack workspaces Parley serves (installed, or
    SLACK_TEAM_ID) and the Microsoft 365 tenants it accepts (MICROSOFT_APP_TENANT_ID(S)), also each agency whose
    recorded workspace or tenant is not among them (None: any is served)."""
    with factory() as s:
        if repo.get_board(board_id, session=s) is None:
            raise ValueError(f"There is no board {board_id!r}.")
        levels = doctor.required_levels(protocols.board_protocol(board_id, session=s))  # the rule doctor uses
        d = directory.read(board_id, session=s)
        reachable = directory.reachable_people(board_id, session=s)
        left = people.gaps(board_id, session=s)  # what leavers left undone
    live = [c for c in d.channels if c.platform != "console"]
    out = []
    for a in d.agencies:
        for level in levels:
            if not any(c.agency == a.key and c.level == level for c in live):
                out.append(f"agency {a.key} has no {level.replace('_', ' ')} channel on Slack, Teams or the webhook")
        if not a.safeguarding_lead_email:
            out.append(f"agency {a.key} has no safeguarding lead")
        if a.slack_team_id and slack_workspaces is not None and a.slack_team_id not in slack_workspaces:
            out.append(f"agency {a.key}'s Slack workspace {a.slack_team_id} is not served: Parley is not installed "
                       "there (or SLACK_TEAM_ID leaves it out)")
        on_slack = any(c.agency == a.key and c.platform == "slack" for c in live) or any(
            p.agency == a.key and p.slack_user_id for p in d.people)
        if not a.slack_team_id and on_slack and slack_workspaces is not None and len(slack_workspaces) > 1:
            out.append(f"agency {a.key} has no slack_team_id: with several Slack workspaces Parley cannot tell which "
                       "one its people and channels are in")
        if a.teams_tenant_id and teams_tenants is not None and a.teams_tenant_id not in teams_tenants:
            out.append(f"agency {a.key}'s Microsoft 365 tenant {a.teams_tenant_id} is not allowed: add it to "
                       "MICROSOFT_APP_TENANT_IDS")
    if not any(c.agency == "" and c.level == "business_unit" for c in live):
        out.append("the board has no business-unit channel on Slack, Teams or the webhook")
    for p in d.people:
        if p.email not in reachable:
            out.append(f"{p.email} has no Slack or Teams account linked (nor the webhook)")
    return out + left


def deactivated(factory: sessionmaker[Session], board_id: str) -> list[str]:
    """The board's deactivated people (their e-mail addresses): kept with their history, told nothing."""
    with factory() as s:
        return people.leavers(board_id, session=s)
