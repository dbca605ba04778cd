"""parley audit export: a case's whole trail, every event in order with who, when, via and what, and the audit
entries about the case (refusals); JSON and CSV; never the subject details."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest

from bot.admin import audit
from bot.cases import services
from bot.cases.services import Ctx
from bot.cases.opening import NewCase
from bot.cases.errors import PermissionDenied
from storage import repo
from storage.db import keep_after_rollback
from tests.conftest import LONDON
from bot.cases import opening

NOW = dt.datetime(2026, 4, 2, 10, 0, tzinfo=LONDON)


def _case_with_history(rt) -> str:
    with rt.factory() as s:
        alice = repo.person_by_key("swindon", "alice", session=s)
        bob = repo.person_by_key("swindon", "bob", session=s)
        csc = repo.agency_by_key("swindon", "social-care", session=s)
        case = opening.open_case(Ctx(alice, "console", NOW), NewCase(
            board_id="swindon", subject_kind="child", category="thresholds", what_happened="Closed too early",
            done_so_far="Phoned", outcome_sought="Reopen", arose_on=NOW.date(), responding_agency_id=csc.id,
            responding_person_id=bob.id, subject_name="Kezia Marchbanks", subject_address="14 Quarry Lane"),
            session=s)
        later = NOW + dt.timedelta(hours=2)
        services.record_contact(Ctx(bob, "slack", later), case, on=NOW.date(), who="Alice", how="phone",
                                outcome="=cmd|' /C calc'!A0", session=s)
        s.commit()
        ed = repo.person_by_key("swindon", "ed", session=s)  # not a party
        with pytest.raises(PermissionDenied) as refused:
            services.record_outcome(Ctx(ed, "teams", later), case, resolved=True, text="x", session=s)
        assert keep_after_rollback(refused.value, s)  # as the unit of work's owner does
        repo.audit("refused", session=s, at=later, actor=ed, via="teams",
                   data={"action": "view", "ref": case.ref, "reason": "other board"})
        repo.audit("refused", session=s, at=later, actor=ed, via="teams", data={"action": "view", "ref": "SWN-X"})
        s.commit()
        return case.ref


def test_export_holds_every_event_in_order_and_the_refusals(runtime) -> None:
    ref = _case_with_history(runtime)
    text, data = audit.export(runtime.factory, ref.lower(), "json", None)
    parsed = json.loads(text)
    assert parsed["case"]["ref"] == ref and parsed["chain"]["verified"] is True
    kinds = [e["kind"] for e in parsed["events"]]
    assert kinds == ["immediate_risk_answered", "opened", "counterpart_named", "subject_details_recorded", "contact",
                     "refused"]
    assert [e["seq"] for e in parsed["events"]] == list(range(1, 7))
    contact = parsed["events"][4]
    assert (contact["who"], contact["via"], contact["at"]) == ("Bob Evans", "slack", "2026-04-02T11:00:00+00:00")
    assert contact["what"].startswith("contact on Thu 2 Apr 2026 with Alice by phone")
    assert parsed["events"][5]["who"] == "Ed Clarke" and parsed["events"][5]["data"]["action"] == "record_outcome"
    assert [(a["kind"], a["data"]["ref"]) for a in parsed["audit_entries"]] == [("refused", ref)]
    assert "Kezia" not in text and "Quarry" not in text  # the trail never holds the subject details

    table = list(csv.reader(io.StringIO(audit.render(data, "csv"))))
    assert table[0] == list(audit.CSV_COLUMNS)
    assert [r[0] for r in table[1:]] == ["event"] * 6 + ["audit entry"]
    assert [r[1] for r in table[1:7]] == [str(n) for n in range(1, 7)]
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in table for cell in row)  # no formulas
    assert audit._cell("=cmd|' /C calc'!A0") == "'=cmd|' /C calc'!A0" and audit._cell(3) == "3"


def test_export_of_an_unknown_case_says_so(runtime) -> None:
    with pytest.raises(LookupError, match="There is no case 'NOPE-1'"):
        audit.export(runtime.factory, "NOPE-1", "json", None)
