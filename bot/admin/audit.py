"""The event history as evidence: ``parley audit verify`` (recompute every case's hash chain and say, in plain
words, which events were changed, inserted or deleted) and ``parley audit export REF`` (a case's whole trail for a
subject access request or an inspection: every event with who, when, via and what, and the audit entries about
the case, such as refusals, as JSON or CSV).

The trail never contains the subject details: they are not part of the history (see
docs/data-protection.md); ``parley form`` gives a case's forms with them for an entitled reader.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot.cases import protocols, services
from bot.core import history
from bot.core.i18n import translator
from storage import chain, checkpoints, escalation_repo, repo
from storage.models import AuditEntry, Case


# -- verify ---------------------------------------------------------------------------------------------------
@dataclass
class VerifyResult:
    cases: int
    events: int
    problems: list[str] = field(default_factory=list)  # "REF: what is wrong", in plain words
    fingerprint: str = ""  # "SEQ:MAC": the latest signed checkpoint, to keep elsewhere and pass as --expect
    checkpoints: int = 0
    latest_at: dt.datetime | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(factory: sessionmaker[Session], board_id: str | None = None, expect: str | None = None) -> VerifyResult:
    """Every case's hash chain, and the state the signed checkpoints vouch for (storage/checkpoints.py)."""
    if expect:
        checkpoints.parse_expect(expect)  # a ValueError in words before anything is read
    with factory() as s:
        report = chain.verify(s, board_id=board_id)
        ledger = checkpoints.verify(s, board_id=board_id, expect=expect)
    return VerifyResult(report.cases, report.events,
                        [f"{ref}: {p.message}" for ref, p in report.problems] + ledger.problems,
                        ledger.fingerprint, ledger.checkpoints, ledger.latest_at, ledger.notes)


# -- export ---------------------------------------------------------------------------------------------------
def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="seconds")


def _about(entry: AuditEntry, case: Case, prompt_ids: set[int]) -> bool:
    d = entry.data or {}
    return (d.get("case_id") == case.id or str(d.get("ref") or d.get("case") or "").upper() == case.ref.upper()
            or (isinstance(d.get("prompt"), int) and d["prompt"] in prompt_ids))


def trail(factory: sessionmaker[Session], ref: str) -> dict[str, Any]:
    """A case's full trail as plain data: the case, every event in order, the audit entries about it, and whether
    its hash chain verifies."""
    T = translator()
    with factory() as s:
        case = repo.case_by_ref(ref, session=s)
        if case is None:
            raise LookupError(f"There is no case {ref.strip()!r}.")
        proto = protocols.protocol_for(case, session=s)
        events = list(repo.events_for(case.id, session=s))
        problems = chain.verify_events(case.id, events, case.event_chain_head)
        prompt_ids = escalation_repo.prompt_ids(case.id, session=s)
        entries = [e for e in repo.audit_entries_of_board(case.board_id, session=s) if _about(e, case, prompt_ids)]
        return {
            "case": {
                "ref": case.ref, "board": case.board_id, "board_name": proto.name,
                "raising_agency": services.agency_name(case.raising_agency_id, session=s),
                "responding_agency": services.agency_name(case.responding_agency_id, session=s),
                "opened_at": _iso(case.opened_at), "status": case.status,
            },
            "exported_at": _iso(dt.datetime.now(dt.timezone.utc)),
            "events": [{
                "seq": e.seq, "at": _iso(e.at), "who": e.actor_label, "who_id": e.actor_id, "via": e.via,
                "kind": e.kind, "what": history.event_summary(T, e.kind, dict(e.data or {}), proto),
                "data": e.data, "hash": e.hash,
            } for e in events],
            "audit_entries": [{
                "id": a.id, "at": _iso(a.at), "who": a.actor_label, "who_id": a.actor_id, "via": a.via,
                "kind": a.kind, "data": a.data,
            } for a in entries],
            "chain": {"verified": not problems, "problems": [p.message for p in problems],
                      "head": case.event_chain_head},
        }


CSV_COLUMNS = ("record", "seq", "at", "who", "via", "kind", "what", "details", "hash")


def _cell(value: Any) -> str:
    """A CSV cell; one starting with = + - @ would be a spreadsheet formula, so it is neutralised."""
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _details(data: dict[str, Any] | None) -> str:
    return json.dumps(data or {}, sort_keys=True, ensure_ascii=False)


def render(data: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if fmt != "csv":
        raise ValueError(f"unknown format {fmt!r}: use json or csv")
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_COLUMNS)
    for e in data["events"]:
        w.writerow([_cell(x) for x in ("event", e["seq"], e["at"], e["who"], e["via"], e["kind"], e["what"],
                                        _details(e["data"]), e["hash"])])
    for a in data["audit_entries"]:
        w.writerow([_cell(x) for x in ("audit entry", "", a["at"], a["who"], a["via"], a["kind"], a["kind"],
                                        _details(a["data"]), "")])
    return buf.getvalue()


def export(factory: sessionmaker[Session], ref: str, fmt: str, out: Path | None) -> tuple[str | None, dict]:
    """Write the trail to ``out`` (or return its text when ``out`` is None)."""
    data = trail(factory, ref)
    text = render(data, fmt)
    if out is None:
        return text, data
    out.write_text(text, encoding="utf-8")
    return None, data
