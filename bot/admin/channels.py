"""Registering a channel from inside it, the same on Slack (``/parley register …``) and Teams (``@Parley
register …``): the adapters pass the text and the channel's id; what the words mean, who may, and what is
recorded are decided here.

- ``register managers <agency> [line|senior|directors]`` (line managers when no level is given), or
  ``register line managers|senior managers|directors for <agency>``: the agency's escalation prompts at that level
  are posted in this channel;
- ``register business-unit``: the board's digests, delivery alerts and board-run stages are posted here;
- ``register chair``: the independent chair's channel: the escalation prompts of the stages the chair runs are
  posted here too (as in the business unit's channel).

Only the business unit and administrators may (the permission matrix's "register a channel"); a refusal is
audited, as is each registration.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from bot.admin import people
from bot.cases import permissions
from bot.cases.errors import PermissionDenied, ServiceError
from bot.cases.services import Ctx, refusal_audit
from bot.core.i18n import translator
from storage import directory, repo
from storage.directory import ChannelRow

LEVEL_WORDS = {"line": "line_manager", "line managers": "line_manager", "managers": "line_manager",
               "line_manager": "line_manager", "senior": "senior_manager", "senior managers": "senior_manager",
               "senior_manager": "senior_manager", "director": "director", "directors": "director"}
_BOARD = re.compile(r"^register\s+(business[- _]unit)$", re.I)
_CHAIR = re.compile(r"^register\s+(?:the\s+)?(?:independent\s+)?chair(?:'s)?$", re.I)
_FOR = re.compile(r"^register\s+(line managers|managers|senior managers|directors)\s+for\s+(.+)$", re.I)
_AGENCY = re.compile(r"^register\s+managers\s+(.+?)(?:\s+(line|senior|directors?|line_manager|senior_manager))?$",
                     re.I)


@dataclass(frozen=True)
class Registration:
    agency: str  # the agency as typed ("" for the board's business-unit or chair channel)
    level: str  # line_manager | senior_manager | director, or business_unit | chair


def parse(text: str) -> Registration | None:
    """The registration ``text`` asks for, or None when it is not a register command."""
    t = " ".join((text or "").split())
    if _BOARD.match(t):
        return Registration("", "business_unit")
    if _CHAIR.match(t):
        return Registration("", "chair")
    if m := _FOR.match(t):
        return Registration(m.group(2), LEVEL_WORDS[m.group(1).lower()])
    if m := _AGENCY.match(t):
        return Registration(m.group(1), LEVEL_WORDS[(m.group(2) or "line").lower()])
    return None


def register(factory: sessionmaker[Session], person_id: int, platform: str, channel: str, reg: Registration,
             now: dt.datetime) -> str:
    """Record ``channel`` as ``reg`` says; returns the confirmation, in the person's language. Raises
    PermissionDenied (audited) for anyone but the business unit and administrators, ServiceError for an agency
    that is not one of the board's."""
    with factory() as s:
        person = repo.get_person(person_id, session=s)
        assert person is not None
        T = translator(person.language)
        if not person.active:  # a leaver (bot/admin/people.py)
            refused = people.refuse_inactive(person, platform, now, session=s)
            s.commit()
            raise ServiceError(refused.text)
        if not permissions.allowed(person, permissions.Act.REGISTER_CHANNEL, session=s):
            raise PermissionDenied(T("Only an administrator or the business unit can register channels."),
                                   record=refusal_audit(Ctx(person, platform, now), {
                                       "action": "register_channel", "channel": channel[:200]}))
        agencies = {a.key: a for a in repo.agencies(person.board_id, session=s)}
        key = ""
        if reg.agency:
            needle = reg.agency.strip().lower()
            matches = [a for a in agencies.values() if needle == a.key or needle in a.name.lower()]
            if len(matches) != 1:
                raise ServiceError(T("I couldn't find a single agency called {name}. Agencies: {names}",
                                     name=reg.agency[:60], names=", ".join(a.name for a in agencies.values())))
            key = matches[0].key
        directory.set_channel(person.board_id, ChannelRow(key, reg.level, platform, channel), agencies, session=s)
        repo.audit("channel_registered", session=s, at=now, actor=person, via=platform,
                   data={"agency": key or "board", "level": reg.level, "platform": platform})
        s.commit()
        if reg.level == "chair":
            return T("This channel is now the independent chair's: the escalation prompts of the stages the chair "
                     "runs are posted here.")
        if not key:
            return T("This channel is now the business unit's: the weekly digest, delivery alerts and the board's "
                     "own stages are posted here.")
        words = {"line_manager": T("line managers"), "senior_manager": T("senior managers"),
                 "director": T("directors")}
        return T("This channel is now where {agency}'s {level} get escalation prompts.", agency=agencies[key].name,
                 level=words[reg.level])
