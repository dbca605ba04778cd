"""Loading boards' protocols and the demo directory into the database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.orm import Session

from protocol import loader
from protocol.spec import Protocol
from storage import repo
from storage.models import Agency, AgencyChannel, Board, BoardChannel, Person, PersonIdentity

DEMO_FILE = Path(__file__).parent.parent / "demo" / "directory.yaml"
CONSOLE = "console"


def sync_protocol(protocol: Protocol, *, session: Session) -> Board:
    board, _ = repo.ensure_board(protocol.id, protocol.name, protocol.ref_prefix, protocol.version,
                                 loader.snapshot(protocol), session=session)
    return board


def sync_all_protocols(*, session: Session) -> list[Board]:
    return [sync_protocol(loader.load_file(p), session=session) for p in loader.list_board_files()]


def load_demo(*, session: Session, boards: list[str] | None = None) -> dict[str, int]:
    """Idempotent: creates the demo agencies, people and channels for each seed board."""
    data: dict[str, Any] = yaml.safe_load(DEMO_FILE.read_text("utf-8"))
    sync_all_protocols(session=session)
    counts = {"agencies": 0, "people": 0}
    for board_id, slots in data["boards"].items():
        if boards and board_id not in boards:
            continue
        agencies: dict[str, Agency] = {}
        for slot, info in slots.items():
            ag = repo.agency_by_key(board_id, slot, session=session)
            if ag is None:
                ag = Agency(board_id=board_id, key=slot, name=info["name"], sector=info["sector"],
                            la_area=info.get("la_area"))
                session.add(ag)
                session.flush()
                counts["agencies"] += 1
                for level, address in data["channels"].get(slot, {}).items():
                    session.add(AgencyChannel(agency_id=ag.id, level=level, platform=CONSOLE, address=address))
            agencies[slot] = ag
        for purpose, address in data["board_channels"].items():
            if not repo.board_channels(board_id, purpose, session=session):
                session.add(BoardChannel(board_id=board_id, purpose=purpose, platform=CONSOLE, address=address))
        people: dict[str, Person] = {}
        for p in data["people"]:
            person = repo.person_by_key(board_id, p["key"], session=session)
            if person is None:
                person = Person(board_id=board_id, key=p["key"], name=p["name"], title=p.get("title", ""),
                                role=p["role"], agency_id=agencies[p["agency"]].id if p.get("agency") else None,
                                email=f"{p['key']}@{board_id}.example")
                session.add(person)
                session.flush()
                session.add(PersonIdentity(person_id=person.id, platform=CONSOLE,
                                           external_id=f"{board_id}:{p['key']}"))
                counts["people"] += 1
            people[p["key"]] = person
        for p in data["people"]:
            if p.get("manager"):
                people[p["key"]].line_manager_id = people[p["manager"]].id
        for slot, key in data["safeguarding_leads"].items():
            agencies[slot].safeguarding_lead_id = people[key].id
        session.flush()
    return counts
