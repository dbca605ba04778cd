"""The case log export in Cardiff & Vale's columns (CV-N19), from cases driven through the services."""

from __future__ import annotations

import csv
import datetime as dt
import subprocess
import sys
from pathlib import Path

from openpyxl import load_workbook

from bot.cases import services
from bot.reporting import reports
from bot.cases.services import Ctx
from bot.cases.opening import NewCase
from storage import repo
from tests.conftest import LONDON
from bot.cases import opening


def _open(s, who: str, responder: str, when: dt.datetime, what: str):
    actor = repo.person_by_key("cardiff-and-vale", who, session=s)
    other = repo.person_by_key("cardiff-and-vale", responder, session=s)
    return opening.open_case(Ctx(actor, "console", when), NewCase(
        board_id="cardiff-and-vale", subject_kind="adult", category="thresholds", what_happened=what,
        done_so_far="x", outcome_sought="y", arose_on=when.date(), responding_agency_id=other.agency_id,
        responding_person_id=other.id, subject_name="Jamie Doe"), session=s)


def test_log_rows_follow_the_protocols_columns(sqlite_runtime, tmp_path: Path) -> None:
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


def test_export_log_command(sqlite_runtime, tmp_path: Path) -> None:
    parley = Path(sys.executable).with_name("parley")
    out = tmp_path / "cv.csv"
    done = subprocess.run([str(parley), "export", "log", "--board", "cardiff-and-vale", "--format", "csv",
                           "--out", str(out), "--db", sqlite_runtime.url], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert out.read_text(encoding="utf-8").startswith("Date Raised,")
    bad = subprocess.run([str(parley), "export", "log", "--board", "nowhere", "--db", sqlite_runtime.url],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "Unknown board" in bad.stderr


def _at(m: int, d: int, h: int = 15) -> dt.datetime:
    return dt.datetime(2026, m, d, h, tzinfo=LONDON)


def test_quarterly_numbers_from_a_hand_built_set(sqlite_runtime, tmp_path: Path) -> None:
    """Three Cardiff & Vale cases in Q2 2026 with known answers: one resolved on time at Stage 1, one that missed
    two stage deadlines, and one that bypassed to Stage 3 (CV-15); one case in Q3 must not count."""
    rt = sqlite_runtime
    with rt.factory() as s:
        def who(k: str) -> Ctx:
            return Ctx(repo.person_by_key("cardiff-and-vale", k, session=s), "console", _at(4, 2, 10))

        a = _open(s, "alice", "bob", _at(4, 2, 10), "a")
        services.complete_step(who("alice"), a, "raise-with-manager", on=dt.date(2026, 4, 2), session=s)
        services.record_outcome(Ctx(who("bob").actor, "console", _at(4, 7)), a, resolved=True, text="ok", session=s)
        b = _open(s, "alice", "bob", _at(4, 2, 10), "b")
        services.complete_step(who("alice"), b, "raise-with-manager", on=dt.date(2026, 4, 2), session=s)
        services.record_outcome(Ctx(who("alice").actor, "console", _at(4, 10)), b, resolved=False, text="no",
                                session=s)  # Stage 1 was due Wed 8 Apr: late
        una = Ctx(repo.person_by_key("cardiff-and-vale", "una", session=s), "console", _at(4, 10))
        services.complete_step(una, b, "refer-to-business-unit", on=dt.date(2026, 4, 10), session=s)
        services.complete_step(una, b, "form-sent-to-responder", on=dt.date(2026, 4, 10), session=s)
        services.record_outcome(Ctx(una.actor, "console", _at(4, 28)), b, resolved=False, text="no",
                                session=s)  # Part B was due Fri 24 Apr: late
        c = _open(s, "ed", "hana", _at(4, 20, 10), "c")
        services.bypass_to_stage(Ctx(who("ed").actor, "console", _at(4, 20, 11)), c, reason_id="death-serious-harm",
                                 session=s)
        _open(s, "alice", "bob", _at(7, 1, 10), "next quarter")
        s.commit()
        label, tables = reports.quarterly("cardiff-and-vale", "2026Q2", session=s, now=_at(5, 1))
    got = dict(tables)
    assert label.startswith("Cardiff and Vale Safeguarding Board: Q2 2026 (Wed 1 Apr 2026 to Tue 30 Jun 2026)")
    assert got["Category / theme"] == [("Differing views on thresholds", 3)]
    assert got["Raising agency"] == [("South Wales Police", 2), ("Vale of Glamorgan Schools", 1)]
    assert got["Responding agency"] == [("Cardiff Council Children's Services", 2),
                                        ("Cardiff and Vale University Health Board", 1)]
    assert got["Local authority area"] == [("Cardiff", 2), ("Vale of Glamorgan", 1)]
    assert got["Highest stage reached"] == [("Stage 1", 1), ("Stage 3", 2)]
    assert got["Status"] == [("open", 2), ("resolved", 1)]
    assert got["Stage deadlines"] == [("Stage 1 late", 1), ("Stage 1 on time", 1), ("Stage 2 late", 1)]
    assert got["Bypass to a higher stage"] == [("Used", 1)]
    html = reports.write_quarterly(label, tables, "html", tmp_path / "q.html").read_text(encoding="utf-8")
    assert "<h2>Stage deadlines</h2>" in html and "Jamie" not in html
    rows = list(csv.reader(reports.write_quarterly(label, tables, "csv", tmp_path / "q.csv").open(encoding="utf-8")))
    assert ["Bypass to a higher stage", "Used", "1"] in rows
    assert load_workbook(reports.write_quarterly(label, tables, "xlsx", tmp_path / "q.xlsx")).active["A1"].value == label


def test_quarter_labels_and_bad_input() -> None:
    assert reports.quarter_dates(2026, 1, "financial") == (dt.date(2026, 4, 1), dt.date(2026, 6, 30))
    assert reports.quarter_dates(2026, 4, "financial") == (dt.date(2027, 1, 1), dt.date(2027, 3, 31))
    assert reports.quarter_dates(2026, 4) == (dt.date(2026, 10, 1), dt.date(2026, 12, 31))
    import pytest

    with pytest.raises(ValueError, match="not a quarter"):
        reports.parse_quarter("2026-Q3")


def test_report_quarterly_command(sqlite_runtime, tmp_path: Path) -> None:
    parley = Path(sys.executable).with_name("parley")
    out = tmp_path / "q.html"
    done = subprocess.run([str(parley), "report", "quarterly", "--board", "mid-and-west-wales", "--quarter", "2026Q3",
                           "--out", str(out), "--db", sqlite_runtime.url], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "<h1>Mid &amp; West Wales Safeguarding Board (CYSUR / CWMPAS): Q3 2026" in out.read_text(encoding="utf-8")
    bad = subprocess.run([str(parley), "report", "quarterly", "--board", "swindon", "--quarter", "Q3",
                          "--db", sqlite_runtime.url], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "not a quarter" in bad.stderr
