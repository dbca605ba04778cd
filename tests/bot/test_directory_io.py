"""A board's directory from a spreadsheet (docs/directory-template/, the template docs/directory.md describes), on an
empty database as at go-live; every row problem reported and nothing written; import of an export changes nothing;
`parley directory check` lists what is missing."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from adapters.cli import app
from bot.admin.directory_io import check_directory, export_directory, import_directory
from bot.runtime import Runtime
from storage import repo
from storage.models import AgencyChannel, AuditEntry, BoardChannel, Person, PersonIdentity

TEMPLATE = Path(__file__).resolve().parents[2] / "docs" / "directory-template"


@pytest.fixture
def bare(db_url: str) -> Iterator[Runtime]:
    """Migrated, the boards' protocols loaded, no directory (no demo data)."""
    rt = Runtime(db_url)
    rt.upgrade()
    rt.sync_protocols()  # as `parley db upgrade` does
    yield rt
    rt.engine.dispose()


def people_count(rt: Runtime) -> int:
    with rt.factory() as s:
        return s.scalar(select(func.count()).select_from(Person)) or 0


def test_a_whole_board_from_the_template(bare) -> None:
    result = import_directory(bare.factory, "swindon", TEMPLATE)
    assert result.problems == [] and result.written
    assert sum(c.startswith("added agency") for c in result.changes) == 4
    assert sum(c.startswith("added person") for c in result.changes) == 19
    assert sum(c.startswith("added channel") for c in result.changes) == 13
    with bare.factory() as s:
        alice = s.scalar(select(Person).where(Person.email == "alice.hughes@police.example.org"))
        assert alice is not None and alice.key == "alice-hughes" and alice.role == "practitioner"
        assert alice.line_manager is not None and alice.line_manager.name == "Sam Patel"
        assert repo.person_by_identity("slack", "U01ALICE", session=s).id == alice.id
        bob = s.scalar(select(Person).where(Person.email == "bob.evans@swindon.example.org"))
        assert repo.person_by_identity("teams", "0b0b0b0b-1111-4222-8333-444455556666", session=s).id == bob.id
        gwen = s.scalar(select(Person).where(Person.email == "gwen.thomas@nhs.example.org"))
        assert gwen.language == "cy"
        police = repo.agency_by_key("swindon", "police", session=s)
        assert repo.get_person(police.safeguarding_lead_id, session=s).name == "Priya Shah"
        assert (police.slack_team_id, police.teams_tenant_id) == ("T01POLICE", None)  # its Slack workspace
        csc = repo.agency_by_key("swindon", "social-care", session=s)
        assert (csc.slack_team_id, csc.teams_tenant_id) == (None, "5c5c5c5c-aaaa-4bbb-8ccc-000000000001")
        assert [c.address for c in repo.agency_channels(police.id, "line_manager", session=s)] == ["C01POLSGT"]
        assert [(c.platform, c.address) for c in repo.board_channels("swindon", "business_unit", session=s)] == \
            [("slack", "C01BUSUNIT")]
        audit = s.scalars(select(AuditEntry).where(AuditEntry.kind == "directory_imported")).all()
        assert [a.data["changes"] for a in audit] == [len(result.changes)]
    # complete for go-live: every level Swindon's protocol asks managers at has a channel, everyone is reachable
    assert check_directory(bare.factory, "swindon") == []
    # importing it again changes nothing, and is not audited again
    again = import_directory(bare.factory, "swindon", TEMPLATE)
    assert (again.changes, again.problems) == ([], [])


def rows(folder: Path, name: str) -> list[list[str]]:
    with (folder / f"{name}.csv").open(newline="", encoding="utf-8-sig") as fh:
        got = list(csv.reader(fh))
    return [got[0], *sorted(got[1:])]


def test_export_gives_back_what_was_imported_as_csv_and_as_xlsx(bare, tmp_path) -> None:
    assert import_directory(bare.factory, "swindon", TEMPLATE).written
    export_directory(bare.factory, "swindon", "csv", tmp_path / "out")
    for name in ("agencies", "people", "channels"):
        assert rows(tmp_path / "out", name) == rows(TEMPLATE, name)
    book = tmp_path / "board.xlsx"
    export_directory(bare.factory, "swindon", "xlsx", book)
    assert import_directory(bare.factory, "swindon", book).changes == []  # the workbook says the same
    assert import_directory(bare.factory, "swindon", tmp_path / "out").changes == []


def test_the_demo_directory_round_trips_and_is_not_ready_for_go_live(runtime, tmp_path) -> None:
    export_directory(runtime.factory, "swindon", "csv", tmp_path)
    assert import_directory(runtime.factory, "swindon", tmp_path).changes == []
    missing = check_directory(runtime.factory, "swindon")
    # the demo's channels and people are the console's only
    assert "agency police has no line manager channel on Slack, Teams or the webhook" in missing
    assert "the board has no business-unit channel on Slack, Teams or the webhook" in missing
    assert "alice@swindon.example has no Slack or Teams account linked (nor the webhook)" in missing
    assert not any("safeguarding lead" in m for m in missing)


def broken_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "broken"
    shutil.copytree(TEMPLATE, folder)
    people = (folder / "people.csv").read_text(encoding="utf-8").splitlines()
    people[1] = people[1].replace(",police,sam.patel", ",polise,sam.patel")  # row 2: unknown agency
    people[2] = people[2].replace("ian.morgan@police", "ian.morgen@police")  # row 3: unknown manager
    people[5] = people[5].replace(",safeguarding_lead,", ",safeguarding_officer,")  # row 6: unknown role
    people[10] = people[10].replace("hana.jones@nhs", "alice.hughes@police")  # row 11: e-mail given twice
    people[11] = people[11].replace(",U01HUGH,", ",hugh,")  # row 12: not a Slack user id
    # rows 15-17: Ed -> Fay -> Glen -> Ed, a circle
    people[16] = people[16].replace("jo.kelly@school.example.org,en", "ed.clarke@school.example.org,en")
    (folder / "people.csv").write_text("\n".join(people) + "\n", encoding="utf-8")
    agencies = (folder / "agencies.csv").read_text(encoding="utf-8").splitlines()
    agencies[3] = agencies[3].replace("hugh.williams@nhs", "hana.jones@nhs")  # row 4: hana's e-mail is gone
    agencies[1] = agencies[1].replace(",T01POLICE,", ",police-workspace,")  # row 2: not a Slack team id
    agencies[2] = agencies[2].replace(",5c5c5c5c-aaaa-4bbb-8ccc-000000000001", ",csc-tenant")  # row 3: not a GUID
    (folder / "agencies.csv").write_text("\n".join(agencies) + "\n", encoding="utf-8")
    with (folder / "channels.csv").open("a", encoding="utf-8") as fh:
        fh.write("education,deputy_head,slack,C01EDDEP\n")  # row 15: no such level
    return folder


def test_every_row_problem_is_reported_with_file_row_and_column_and_nothing_is_written(bare, tmp_path) -> None:
    result = import_directory(bare.factory, "swindon", broken_copy(tmp_path))
    assert not result.written and result.changes == []
    assert sorted((p.file, p.row, p.column) for p in result.problems) == sorted([
        ("people.csv", 2, "agency"),
        ("people.csv", 3, "line_manager_email"),
        ("people.csv", 6, "role"),
        ("people.csv", 11, "email"),
        ("people.csv", 12, "slack_user_id"),
        ("people.csv", 15, "line_manager_email"), ("people.csv", 16, "line_manager_email"),
        ("people.csv", 17, "line_manager_email"),
        ("agencies.csv", 4, "safeguarding_lead_email"),
        ("agencies.csv", 2, "slack_team_id"), ("agencies.csv", 3, "teams_tenant_id"),
        ("channels.csv", 15, "level"),
    ]), [str(p) for p in result.problems]
    assert people_count(bare) == 0
    with bare.factory() as s:
        assert s.scalar(select(func.count()).select_from(AgencyChannel)) == 0
        assert s.scalar(select(func.count()).select_from(BoardChannel)) == 0
        assert s.scalar(select(func.count()).select_from(PersonIdentity)) == 0


def test_a_dry_run_reports_and_changes_nothing(bare, tmp_path) -> None:
    assert import_directory(bare.factory, "swindon", TEMPLATE).written
    folder = tmp_path / "moved"
    shutil.copytree(TEMPLATE, folder)
    text = (folder / "people.csv").read_text(encoding="utf-8")
    (folder / "people.csv").write_text(text.replace("Alice Hughes,Police Constable", "Alice Hughes,Detective "
                                                    "Constable"), encoding="utf-8")
    dry = import_directory(bare.factory, "swindon", folder, dry_run=True)
    assert dry.changes == ["changed person alice.hughes@police.example.org: title"] and not dry.written
    with bare.factory() as s:
        assert s.scalar(select(Person.title).where(Person.key == "alice-hughes")) == "Police Constable"
    assert import_directory(bare.factory, "swindon", folder).changes == dry.changes
    with bare.factory() as s:
        assert s.scalar(select(Person.title).where(Person.key == "alice-hughes")) == "Detective Constable"


def test_a_slack_account_of_someone_else_is_refused(runtime, tmp_path) -> None:
    with runtime.factory() as s:  # the demo's bob already uses U01ALICE
        s.add(PersonIdentity(person_id=repo.person_by_key("swindon", "bob", session=s).id, platform="slack",
                             external_id="U01ALICE"))
        s.commit()
    result = import_directory(runtime.factory, "swindon", TEMPLATE)
    assert [(p.file, p.row, p.column, p.message) for p in result.problems] == [
        ("people.csv", 2, "slack_user_id", "already linked to Bob Evans")]


def test_the_commands(bare, tmp_path, db_url) -> None:
    runner = CliRunner()
    bad = runner.invoke(app, ["directory", "import", str(broken_copy(tmp_path)), "--board", "swindon", "--db", db_url])
    assert bad.exit_code == 1 and "people.csv, row 6, column role: safeguarding_officer is not a role" in bad.output
    assert "nothing was written" in bad.output
    dry = runner.invoke(app, ["directory", "import", str(TEMPLATE), "--board", "swindon", "--dry-run", "--db", db_url])
    assert dry.exit_code == 0 and "added person alice.hughes@police.example.org" in dry.output
    assert people_count(bare) == 0
    ok = runner.invoke(app, ["directory", "import", str(TEMPLATE), "--board", "swindon", "--db", db_url])
    assert ok.exit_code == 0 and "change(s) made" in ok.output and people_count(bare) == 19
    checked = runner.invoke(app, ["directory", "check", "--board", "swindon", "--db", db_url])
    assert checked.exit_code == 0 and "everyone can be reached" in checked.output
    out = tmp_path / "export.xlsx"
    exported = runner.invoke(app, ["directory", "export", "--board", "swindon", "--format", "xlsx", "--out", str(out),
                                   "--db", db_url])
    assert exported.exit_code == 0 and out.exists()


POLICE_WS, PARTNERS_WS, CSC_TENANT = "T01POLICE", "T01PARTNERS", "5c5c5c5c-aaaa-4bbb-8ccc-000000000001"


def test_check_names_each_agency_whose_workspace_or_tenant_parley_does_not_serve(bare, tmp_path) -> None:
    assert import_directory(bare.factory, "swindon", TEMPLATE).written
    # served: every agency's workspace and tenant; none named: nothing is checked
    assert check_directory(bare.factory, "swindon", slack_workspaces={POLICE_WS, PARTNERS_WS},
                           teams_tenants={CSC_TENANT}) == []
    assert check_directory(bare.factory, "swindon") == []
    missing = check_directory(bare.factory, "swindon", slack_workspaces={POLICE_WS, "T09ELSEWHERE"},
                              teams_tenants={"0a0a0a0a-0000-4000-8000-000000000000"})
    assert missing == [
        "agency education's Slack workspace T01PARTNERS is not served: Parley is not installed there (or SLACK_TEAM_ID "
        "leaves it out)",
        "agency health's Slack workspace T01PARTNERS is not served: Parley is not installed there (or SLACK_TEAM_ID "
        "leaves it out)",
        "agency social-care's Microsoft 365 tenant 5c5c5c5c-aaaa-4bbb-8ccc-000000000001 is not allowed: add it to "
        "MICROSOFT_APP_TENANT_IDS"]
    # with several workspaces, an agency on Slack must say which is its own
    folder = tmp_path / "unsaid"
    shutil.copytree(TEMPLATE, folder)
    text = (folder / "agencies.csv").read_text(encoding="utf-8")
    (folder / "agencies.csv").write_text(text.replace(",T01POLICE,", ",,"), encoding="utf-8")
    assert import_directory(bare.factory, "swindon", folder).changes == ["changed agency police: slack_team_id"]
    assert check_directory(bare.factory, "swindon", slack_workspaces={POLICE_WS, PARTNERS_WS}) == [
        "agency police has no slack_team_id: with several Slack workspaces Parley cannot tell which one its people "
        "and channels are in"]
    assert check_directory(bare.factory, "swindon", slack_workspaces={PARTNERS_WS}) == []  # one: it is that one


def test_the_check_command_reads_what_parley_serves_from_the_environment(bare, db_url) -> None:
    from slack_sdk.oauth.installation_store import Installation

    from bot.delivery import workspaces

    assert import_directory(bare.factory, "swindon", TEMPLATE).written
    runner = CliRunner()

    def check(**env: str):
        clear = {"SLACK_CLIENT_ID": "", "SLACK_TEAM_ID": "", "MICROSOFT_APP_TENANT_ID": "",
                 "MICROSOFT_APP_TENANT_IDS": ""}
        return runner.invoke(app, ["directory", "check", "--board", "swindon", "--db", db_url], env={**clear, **env})

    assert check().exit_code == 0
    both = check(SLACK_TEAM_ID=f"{POLICE_WS},{PARTNERS_WS}", MICROSOFT_APP_TENANT_ID=CSC_TENANT.upper())
    assert both.exit_code == 0, both.output
    refused = check(SLACK_TEAM_ID=POLICE_WS, MICROSOFT_APP_TENANT_ID="0a0a0a0a-0000-4000-8000-000000000000",
                    MICROSOFT_APP_TENANT_IDS=f" {CSC_TENANT}, ")
    assert refused.exit_code == 1
    assert "missing: agency health's Slack workspace T01PARTNERS is not served" in refused.output
    assert "Microsoft 365 tenant" not in refused.output  # the partnership's other tenants count too
    # OAuth mode: the workspaces served are those installed (slack_sdk's installation store, in Parley's database)
    store, _states = workspaces.stores(bare.engine, "CID", 600)
    store.save(Installation(app_id="A1", team_id=PARTNERS_WS, user_id="U1", bot_token="xoxb-p", bot_id="B1"))
    oauth = check(SLACK_CLIENT_ID="CID")
    assert oauth.exit_code == 1 and "agency police's Slack workspace T01POLICE is not served" in oauth.output
    assert "T01PARTNERS is not served" not in oauth.output
    store.save(Installation(app_id="A1", team_id=POLICE_WS, user_id="U1", bot_token="xoxb-q", bot_id="B2"))
    assert check(SLACK_CLIENT_ID="CID").exit_code == 0
