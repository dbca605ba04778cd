"""The case log export in Cardiff & Vale's columns (CV-N19), from cases driven through the services."""

from __future__ import annotations

import csv
import datetime as dt
import subprocess
import sys
from pathlib import Path

from openpyxl import load_workbook

from bot import reports, services
from bot.services import Ctx, NewCase
from storage import repo
from tests.conftest import LONDON


def _open(s, who: str, responder: str, when: dt.datetime, what: str):  # noqa: ANN001, ANN202
    actor = repo.person_by_key("cardiff-and-vale", who, session=s)
    other = repo.person_by_key("cardiff-and-vale", responder, session=s)
    return services.open_case(Ctx(actor, "console", when), NewCase(
        board_id="cardiff-and-vale", subject_kind="adult", category="thresholds", what_happened=what,
        done_so_far="x", outcome_sought="y", arose_on=when.date(), responding_agency_id=other.agency_id,
        responding_person_id=other.id, subject_name="Jamie Doe"), session=s)


def test_log_rows_follow_the_protocols_columns(sqlite_runtime, tmp_path: Path) -> None:  # noqa: ANN001
    rt = sqlite_runtime
    t1 = dt.datetime(2026, 4, 2, 10, tzinfo=LONDON)
    with rt.factory() as s:
        a = _open(s, "alice", "bob", t1, "Referral not accepted")
        b = _open(s, "ed", "hana", dt.datetime(2026, 4, 20, 11, tzinfo=LONDON), "=HYPERLINK(\"http://x\")")
        services.record_outcome(Ctx(repo.person_by_key("cardiff-and-vale", "bob", session=s), "console",
                                    dt.datetime(2026, 4, 7, 15, tzinfo=LONDON)), a, resolved=True,
                                text="Referral accepted", session=s)
        s.commit()
        rows = reports.log_rows("cardiff-and-vale", session=s, now=dt.datetime(2026, 5, 1, tzinfo=LONDON))
        only_april_2 = reports.log_rows("cardiff-and-vale", session=s, start=dt.date(2026, 4, 2),
                                        end=dt.date(2026, 4, 2))
    assert rows[0] == ["02.04.26", a.ref, "Cardiff", "South Wales Police",
                       "Differing views on thresholds: Referral not accepted", "Cardiff Council Children's Services",
                       "07.04.26", "Referral accepted"]
    assert rows[1][:4] == ["20.04.26", b.ref, "Vale of Glamorgan", "Vale of Glamorgan Schools"]
    assert rows[1][6] == "" and rows[1][7] == "Open at Stage 1: Agency response"
    assert [r[1] for r in only_april_2] == [a.ref]
    assert "Jamie" not in str(rows)  # the case reference stands in for the name
    out = reports.write_log(rows, "csv", tmp_path / "log.csv")
    read = list(csv.reader(out.open(encoding="utf-8")))
    assert read[0] == ["Date Raised", "Name of person/Case Ref", "LA Area (Cardiff/Vale)",
                       "Name of agency raising concern", "Summary of concern and Themes identified",
                       "Name of responding agency", "Date resolved", "Outcome"]
    assert read[1] == rows[0]
    xlsx = reports.write_log(rows, "xlsx", tmp_path / "log.xlsx")
    ws = load_workbook(xlsx).active
    assert [c.value for c in ws[2]] == rows[0]
    # a cell that would be a spreadsheet formula is neutralised
    assert not str(ws["E3"].value).startswith("=") and "HYPERLINK" in str(ws["E3"].value)


def test_export_log_command(sqlite_runtime, tmp_path: Path) -> None:  # noqa: ANN001
    parley = Path(sys.executable).with_name("parley")
    out = tmp_path / "cv.csv"
    done = subprocess.run([str(parley), "export", "log", "--board", "cardiff-and-vale", "--format", "csv",
                           "--out", str(out), "--db", sqlite_runtime.url], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert out.read_text(encoding="utf-8").startswith("Date Raised,")
    bad = subprocess.run([str(parley), "export", "log", "--board", "nowhere", "--db", sqlite_runtime.url],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "Unknown board" in bad.stderr
