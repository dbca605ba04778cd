"""Delivery outages: which addresses (and platforms) are failing, and telling the business unit about them.

``bot.delivery.delivery`` calls :func:`note_failure` when a platform refuses or fails a message and :func:`note_success`
when one is accepted. Each address (a person's platform id or a channel) and each platform (address ``*``) has a
row in ``delivery_addresses`` saying since when it has been failing; an outage ends at the next message the
address (or, for the platform, any address) accepts.

The board's business unit is told, through the outbox, once per outage:
- at once, when the platform refused an address for good (HTTP 403/404, Slack's channel_not_found, is_archived,
  not_in_channel, user_not_found, account_inactive, cannot_dm_bot ...): the row is ``failed``;
- when an address has been failing for ``alert_after`` (30 minutes by default, ``PARLEY_ALERT_AFTER_MINUTES``);
- when a whole platform has accepted nothing for ``alert_after``: one message for the platform, not one per
  address.
The message names the case references and the recipients (a person's name, or the channel) and never the
content of what could not be delivered. It goes to the board's business-unit channel; when that is the failing
address (or on the failing platform), to the business-unit people by direct message on another platform; when
there is none, to the business-unit channel all the same, to arrive when the platform is back.
``parley doctor`` lists the addresses failing now (:func:`unreachable`).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.cases import cover, protocols
from bot.core.i18n import Translator, in_languages, translator
from bot.core.messages import Message, Severity
from bot.delivery import outbox
from storage import cases_repo, outbox_repo, repo
from storage.models import Case, OutboxMessage, Person
from storage.platform_models import DeliveryAddress

log = logging.getLogger("parley.delivery")
KIND = "delivery_alert"  # the message kind of an alert (an alert that cannot be delivered raises no alert)
PLATFORM = "*"  # the address of a platform's own row
OPEN_STATUSES = ("open", "awaiting_decision")
LISTED = 20  # recipients named in one alert; the rest are counted


@dataclass(frozen=True)
class Policy:
    """How long and how often delivery is retried, and when the business unit is told."""

    backoff_cap: dt.timedelta = dt.timedelta(minutes=15)
    retry_for: dt.timedelta = dt.timedelta(hours=72)  # at least; longer while the message's case is open
    alert_after: dt.timedelta = dt.timedelta(minutes=30)
    recovery_sweep: dt.timedelta = dt.timedelta(hours=1)  # rows failed transiently are tried again this often
    give_up_after: dt.timedelta = dt.timedelta(days=30)  # ... while younger than this

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Policy:
        env = os.environ if env is None else env
        policy = cls()
        hours = env.get("PARLEY_RETRY_HOURS", "").strip()
        minutes = env.get("PARLEY_ALERT_AFTER_MINUTES", "").strip()
        if hours:
            policy = replace(policy, retry_for=dt.timedelta(hours=float(hours)))
        if minutes:
            policy = replace(policy, alert_after=dt.timedelta(minutes=float(minutes)))
        return policy


def send_timeout(env: Mapping[str, str] | None = None) -> float:
    """Seconds a transport waits for the platform's answer before counting the attempt as failed (retried)."""
    env = os.environ if env is None else env
    return float(env.get("PARLEY_SEND_TIMEOUT", "").strip() or 10)


def _state(s: Session, platform: str, address: str, target_kind: str, person_id: int | None) -> DeliveryAddress:
    row = outbox_repo.address_for_update(platform, address, session=s)
    if row is not None:
        return row
    try:
        with s.begin_nested():
            row = DeliveryAddress(platform=platform, address=address, target_kind=target_kind, person_id=person_id,
                                  permanent=False, reason="", outage=0, alerted_outage=0)
            s.add(row)
            s.flush()
        return row
    except IntegrityError:  # another worker made it first
        found = outbox_repo.address_for_update(platform, address, session=s)
        assert found is not None
        return found


def _begin(row: DeliveryAddress, now: dt.datetime, reason: str) -> None:
    if row.failing_since is None:
        row.outage += 1
        row.failing_since = now
    row.last_failure_at = now
    row.reason = reason[:100]


def note_success(s: Session, platform: str, address: str, now: dt.datetime) -> bool:
    """An address accepted a message: its outage (and its platform's) is over. True when the platform had been
    failing, so that rows failed transiently meanwhile can be tried again."""
    rows = outbox_repo.failing_addresses(platform, [address, PLATFORM], session=s)
    recovered = False
    for row in rows:
        row.failing_since, row.permanent, row.last_ok_at = None, False, now
        recovered = True
    if recovered:
        retry_failed(s, now, platforms=[platform])
    return recovered


def retry_failed(s: Session, now: dt.datetime, *, platforms: list[str], policy: Policy | None = None) -> int:
    """Rows failed transiently (the retry period ran out during an outage) go back to pending."""
    policy = policy or Policy()
    return outbox_repo.retry_failed(platforms, now, now - policy.give_up_after, session=s)


def note_failure(s: Session, row: OutboxMessage, *, reason: str, permanent: bool, now: dt.datetime,
                 policy: Policy) -> None:
    """Record a failed attempt at ``row`` and tell the business unit when this outage calls for it."""
    addr = _state(s, row.platform, row.address, row.target_kind, row.person_id)
    _begin(addr, now, reason)
    addr.permanent = addr.permanent or permanent
    plat = None
    if not permanent:  # an address the platform refuses says nothing about the platform
        plat = _state(s, row.platform, PLATFORM, "platform", None)
        _begin(plat, now, reason)
    if (row.payload or {}).get("kind") == KIND or row.board_id is None:
        return  # an alert that cannot be delivered is logged, not alerted about
    if plat is not None and plat.failing_since is not None and now - plat.failing_since >= policy.alert_after:
        _alert(s, plat, now, platform_down=True)
        addr.alerted_outage = addr.outage  # covered by the platform's alert
    elif permanent or (addr.failing_since is not None and now - addr.failing_since >= policy.alert_after):
        _alert(s, addr, now, platform_down=False)


# -- the alert -------------------------------------------------------------------------------------------------
def _waiting(s: Session, subject: DeliveryAddress) -> list[OutboxMessage]:
    """The rows the outage holds up: to the address (or anywhere on the platform), tried and not delivered."""
    rows = outbox_repo.held_up(subject.platform, None if subject.address == PLATFORM else subject.address,
                               session=s)
    return [r for r in rows if (r.payload or {}).get("kind") != KIND]


def recipient(T: Translator, s: Session, target_kind: str, address: str, person_id: int | None) -> str:
    if target_kind == "person" and person_id is not None:
        person = s.get(Person, person_id)
        if person is not None:
            return person.name
    return T("channel {channel}", channel=address)


def _failing(s: Session, platform: str, address: str) -> bool:
    return outbox_repo.any_failing(platform, [address, PLATFORM], session=s)


def _alert(s: Session, subject: DeliveryAddress, now: dt.datetime, *, platform_down: bool) -> None:
    if subject.alerted_outage == subject.outage:
        return  # told already during this outage
    subject.alerted_outage, subject.alerted_at = subject.outage, now
    rows = _waiting(s, subject)
    boards = sorted({r.board_id for r in rows if r.board_id})
    for board in boards:
        _alert_board(s, board, subject, [r for r in rows if r.board_id == board], now, platform_down=platform_down)
    log.warning("delivery outage: business unit told", extra={"platform": subject.platform,
                                                              "boards": len(boards), "rows": len(rows)})


def _alert_board(s: Session, board: str, subject: DeliveryAddress, rows: list[OutboxMessage], now: dt.datetime, *,
                 platform_down: bool) -> None:

    proto = protocols.board_protocol(board, session=s)
    refs = {}
    for cid in {r.case_id for r in rows if r.case_id}:
        case = s.get(Case, cid)
        if case is not None:
            refs[cid] = case.ref
    since = subject.failing_since or now

    def build(T: Translator) -> Message:
        lines, seen = [], set()
        for r in rows:
            item = (refs.get(r.case_id or 0), r.target_kind, r.address, r.person_id)
            if item in seen:
                continue
            seen.add(item)
            who = recipient(T, s, r.target_kind, r.address, r.person_id)
            ref = refs.get(r.case_id or 0)
            lines.append(T("{ref}: {recipient}", ref=ref, recipient=who) if ref else
                         T("no case: {recipient}", recipient=who))
        more = len(lines) - LISTED
        listed = "\n".join(f"- {line}" for line in lines[:LISTED])
        if more > 0:
            listed += "\n" + T("and {n} more", n=more)
        when = T.datetime(since.astimezone(ZoneInfo(proto.timezone)))
        platform = subject.platform
        if platform_down:
            text = T("{platform} has not accepted any message from Parley since {since}. The messages are kept and "
                     "retried, and will be delivered when it is back. Not yet delivered:", platform=platform,
                     since=when)
        elif platform == outbox.UNREACHABLE:
            text = T("Parley has no way to reach these people: no Slack or Teams account is linked to them in the "
                     "directory. Tell them another way, and link them (check their e-mail address in the directory, "
                     "or add Parley to one of their teams); what is waiting is then delivered:")
        elif subject.permanent:
            text = T("{platform} refused messages to this address ({reason}), so they could not be delivered. "
                     "Check the directory entry or the channel, and tell the people concerned another way:",
                     platform=platform, reason=subject.reason)
        else:
            text = T("Messages to this address on {platform} have failed since {since} ({reason}). They are kept "
                     "and retried:", platform=platform, since=when, reason=subject.reason)
        return Message(f"{text}\n{listed}", title=T("Messages could not be delivered"), severity=Severity.WARNING,
                       kind=KIND)

    key = f"delivery-alert:{subject.platform}:{subject.address}:{subject.outage}:{board}"
    # the board's business-unit channel, unless it is the address (or on the platform) that is failing
    channels = list(repo.board_channels(board, "business_unit", session=s))
    usable = [c for c in channels if not _failing(s, c.platform, c.address)
              and not (c.platform == subject.platform and (platform_down or c.address == subject.address))]
    queued = 0
    for ch in usable:
        msg = replace(in_languages(proto.channel_languages, build), kind=KIND)
        queued += outbox.queue_to_channel(ch.platform, ch.address, msg, session=s, key=key, now=now,
                                          board_id=board) is not None
    if not usable:  # the business-unit people (or their covers), by direct message on a platform that works
        for bu in repo.people_with_role(board, "business_unit", session=s):
            reach = cover.reach(bu, now, session=s)
            person = reach.reader
            ids = {i.platform: i.external_id for i in repo.identities(person.id, session=s)}
            for platform in outbox.PERSON_PLATFORMS:
                address = ids.get(platform)
                if address is None or _failing(s, platform, address) or (
                        platform == subject.platform and (platform_down or address == subject.address)):
                    continue
                T = translator(person.language)
                msg = replace(build(T), kind=KIND)
                msg = cover.covering(T, msg, reach.absent) if reach.absent is not None else msg
                queued += outbox.queue(session=s, key=f"{key}:p{person.id}", platform=platform,
                                       target_kind="person", address=address, person_id=person.id, message=msg,
                                       now=now, board_id=board) is not None
                break
    if not queued:  # nowhere else: the business-unit channel all the same, delivered when the platform is back
        for ch in channels:
            msg = replace(in_languages(proto.channel_languages, build), kind=KIND)
            outbox.queue_to_channel(ch.platform, ch.address, msg, session=s, key=key, now=now, board_id=board)


# -- parley doctor ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Unreachable:
    platform: str
    recipient: str
    since: dt.datetime
    reason: str
    permanent: bool
    waiting: int  # messages not delivered (pending or failed)
    cases: tuple[str, ...]
    told_at: dt.datetime | None  # when the business unit was told about this outage


def unreachable(s: Session) -> list[Unreachable]:
    T = translator()
    out = []
    for a in outbox_repo.all_failing(session=s):
        rows = _waiting(s, a)
        refs = sorted({c.ref for c in cases_repo.cases_by_ids({r.case_id for r in rows if r.case_id}, session=s)})
        who = T("the whole platform") if a.address == PLATFORM else recipient(T, s, a.target_kind, a.address,
                                                                               a.person_id)
        assert a.failing_since is not None
        out.append(Unreachable(a.platform, who, a.failing_since, a.reason, a.permanent, len(rows), tuple(refs),
                               a.alerted_at if a.alerted_outage == a.outage else None))
    return out
