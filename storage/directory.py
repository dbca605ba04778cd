"""A board's directory as rows, read and written in one go: what ``parley directory import / export / check``
(bot/admin/directory_io.py) compare and change. Keyed by agency key and by e-mail address (case-insensitive)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Agency, AgencyChannel, BoardChannel, Person, PersonIdentity

CHAT_PLATFORMS = ("slack", "teams")  # the identities a spreadsheet can carry


@dataclass(frozen=True)
class AgencyRow:
    key: str
    name: str
    sector: str
    la_area: str
    safeguarding_lead_email: str
    slack_team_id: str = ""  # its Slack workspace (T012AB3CD)
    teams_tenant_id: str = ""  # its Microsoft 365 tenant (a GUID)


@dataclass(frozen=True)
class PersonRow:
    email: str
    name: str
    title: str
    role: str
    agency: str  # an agency key, or "" (business unit, chair, admin)
    line_manager_email: str
    language: str
    slack_user_id: str
    teams_object_id: str


@dataclass(frozen=True)
class ChannelRow:
    agency: str  # "" for a board channel
    level: str  # line_manager | senior_manager | director; business_unit | chair for a board channel
    platform: str
    address: str


@dataclass(frozen=True)
class Directory:
    agencies: tuple[AgencyRow, ...]
    people: tuple[PersonRow, ...]
    channels: tuple[ChannelRow, ...]


def read(board_id: str, *, session: Session) -> Directory:
    """The board's directory as the spreadsheet would hold it (sorted, so that an export is stable). Leavers (people
    no longer active) are left out, and so is a line manager or safeguarding lead who has left: the sheet shows none,
    as :func:`write` reads it."""
    agencies = session.scalars(select(Agency).where(Agency.board_id == board_id)).all()
    people = session.scalars(select(Person).where(Person.board_id == board_id)).all()
    by_id = {p.id: p for p in people}
    agency_key = {a.id: a.key for a in agencies}
    ids: dict[tuple[int, str], str] = {}
    for ident in session.scalars(select(PersonIdentity).where(PersonIdentity.person_id.in_(list(by_id)),
                                                             PersonIdentity.platform.in_(CHAT_PLATFORMS))):
        ids[(ident.person_id, ident.platform)] = ident.external_id

    def email(pid: int | None) -> str:
        p = by_id.get(pid) if pid is not None else None
        return (p.email or "") if p is not None and p.active else ""

    a_rows = tuple(sorted((AgencyRow(a.key, a.name, a.sector, a.la_area or "", email(a.safeguarding_lead_id),
                                     a.slack_team_id or "", a.teams_tenant_id or "")
                           for a in agencies), key=lambda r: r.key))
    p_rows = tuple(sorted((PersonRow((p.email or "").lower(), p.name, p.title or "", p.role,
                                     agency_key.get(p.agency_id, "") if p.agency_id else "",
                                     email(p.line_manager_id).lower(), p.language or "en",
                                     ids.get((p.id, "slack"), ""), ids.get((p.id, "teams"), ""))
                           for p in people if p.email and p.active), key=lambda r: r.email))
    c_rows = [ChannelRow(agency_key[c.agency_id], c.level, c.platform, c.address)
              for c in session.scalars(select(AgencyChannel).where(AgencyChannel.agency_id.in_(list(agency_key))))]
    c_rows += [ChannelRow("", b.purpose, b.platform, b.address)
               for b in session.scalars(select(BoardChannel).where(BoardChannel.board_id == board_id))]
    return Directory(a_rows, p_rows, tuple(sorted(c_rows, key=lambda r: (r.agency, r.level, r.platform))))


def identity_owner(platform: str, external_id: str, *, session: Session) -> Person | None:
    ident = session.scalar(select(PersonIdentity).where(PersonIdentity.platform == platform,
                                                        PersonIdentity.external_id == external_id))
    return session.get(Person, ident.person_id) if ident is not None else None


def _key_for(email: str, taken: set[str]) -> str:
    """A short handle for a new person (the console's ``/as``), from their e-mail address."""
    base = re.sub(r"[^a-z0-9]+", "-", email.split("@", 1)[0].lower()).strip("-")[:60] or "person"
    key, n = base, 2
    while key in taken:
        key, n = f"{base}-{n}", n + 1
    taken.add(key)
    return key


def write(board_id: str, d: Directory, *, session: Session) -> list[str]:
    """Make the board's directory what ``d`` says (adding and changing; nothing is removed: leavers are
    bot/admin/people.py's); returns what changed, in words, in the order it was done. ``d`` has been checked
    (bot/admin/directory_io.py). A blank line manager or safeguarding lead where the directory holds one who has left
    is no change (the export shows such a one blank), so that the next manager up is still found through them."""
    done: list[str] = []
    agencies = {a.key: a for a in session.scalars(select(Agency).where(Agency.board_id == board_id))}
    for ar in d.agencies:
        a = agencies.get(ar.key)
        if a is None:
            a = agencies[ar.key] = Agency(board_id=board_id, key=ar.key, name=ar.name, sector=ar.sector,
                                          la_area=ar.la_area or None, slack_team_id=ar.slack_team_id or None,
                                          teams_tenant_id=ar.teams_tenant_id or None)
            session.add(a)
            done.append(f"added agency {ar.key}")
        else:
            changed = _set(a, name=ar.name, sector=ar.sector, la_area=ar.la_area or None,
                           slack_team_id=ar.slack_team_id or None, teams_tenant_id=ar.teams_tenant_id or None)
            if changed:
                done.append(f"changed agency {ar.key}: {', '.join(changed)}")
    session.flush()
    people = {(p.email or "").lower(): p for p in session.scalars(select(Person).where(Person.board_id == board_id))
              if p.email}
    taken = set(session.scalars(select(Person.key).where(Person.board_id == board_id)))
    for pr in d.people:
        agency_id = agencies[pr.agency].id if pr.agency else None
        p = people.get(pr.email)
        if p is None:
            p = people[pr.email] = Person(board_id=board_id, key=_key_for(pr.email, taken), name=pr.name,
                                           title=pr.title, role=pr.role, agency_id=agency_id, email=pr.email,
                                           language=pr.language)
            session.add(p)
            done.append(f"added person {pr.email}")
        else:
            changed = _set(p, name=pr.name, title=pr.title, role=pr.role, agency_id=agency_id,
                           language=pr.language)
            if changed:
                names = ", ".join(c.replace("agency_id", "agency") for c in changed)
                done.append(f"changed person {pr.email}: {names}")
    session.flush()
    for pr in d.people:
        p = people[pr.email]
        manager = people[pr.line_manager_email].id if pr.line_manager_email else _left(p.line_manager_id, session)
        if p.line_manager_id != manager:
            p.line_manager_id = manager
            done.append(f"changed person {pr.email}: line manager")
        for platform, external in (("slack", pr.slack_user_id), ("teams", pr.teams_object_id)):
            if external and _link(p, platform, external, session=session):
                done.append(f"linked person {pr.email} to {platform}")
    for ar in d.agencies:
        a = agencies[ar.key]
        lead = people[ar.safeguarding_lead_email].id if ar.safeguarding_lead_email else _left(a.safeguarding_lead_id,
                                                                                             session)
        if a.safeguarding_lead_id != lead:
            a.safeguarding_lead_id = lead
            done.append(f"changed agency {ar.key}: safeguarding lead")
    for cr in d.channels:
        done += set_channel(board_id, cr, agencies, session=session)
    session.flush()
    return done


def _left(person_id: int | None, session: Session) -> int | None:
    """``person_id`` if that person has left (the sheet shows them blank), else None."""
    person = session.get(Person, person_id) if person_id is not None else None
    return person.id if person is not None and not person.active else None


def _set(obj: object, **values: object) -> list[str]:
    changed = [k for k, v in values.items() if getattr(obj, k) != v]
    for k in changed:
        setattr(obj, k, values[k])
    return changed


def _link(person: Person, platform: str, external_id: str, *, session: Session) -> bool:
    existing = session.scalar(select(PersonIdentity).where(PersonIdentity.platform == platform,
                                                           PersonIdentity.person_id == person.id))
    if existing is not None:
        if existing.external_id == external_id:
            return False
        existing.external_id = external_id
        return True
    session.add(PersonIdentity(person_id=person.id, platform=platform, external_id=external_id))
    return True


def set_channel(board_id: str, row: ChannelRow, agencies: dict[str, Agency], *, session: Session) -> list[str]:
    """Make ``row`` the board's channel for its agency (or the board) and level on its platform."""
    where = f"{row.agency or 'board'} {row.level} on {row.platform}"
    if row.agency:
        agency = agencies[row.agency]
        found: AgencyChannel | BoardChannel | None = session.scalar(select(AgencyChannel).where(
            AgencyChannel.agency_id == agency.id, AgencyChannel.level == row.level,
            AgencyChannel.platform == row.platform))
        if found is None:
            session.add(AgencyChannel(agency_id=agency.id, level=row.level, platform=row.platform, address=row.address))
            return [f"added channel {where}"]
    else:
        found = session.scalar(select(BoardChannel).where(BoardChannel.board_id == board_id,
                                                          BoardChannel.purpose == row.level,
                                                          BoardChannel.platform == row.platform))
        if found is None:
            session.add(BoardChannel(board_id=board_id, purpose=row.level, platform=row.platform, address=row.address))
            return [f"added channel {where}"]
    if found.address != row.address:
        found.address = row.address
        return [f"changed channel {where}"]
    return []



def reachable_people(board_id: str, *, session: Session) -> set[str]:
    """The e-mail addresses (lower case) of the board's people Parley can reach: linked to Slack, Teams or the
    webhook (the console is for trying Parley out, not a way to reach anyone)."""
    rows = session.scalars(select(Person.email).join(PersonIdentity, PersonIdentity.person_id == Person.id).where(
        Person.board_id == board_id, PersonIdentity.platform.in_(("slack", "teams", "webhook"))))
    return {e.lower() for e in rows if e}
