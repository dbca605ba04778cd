"""The bot's facade for adapters and the CLI: database set-up and the few directory and case queries
an adapter needs, each in its own unit of work. Adapters import this, never storage/ directly.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from bot.admin import directory
from bot.cases import errors, projection, protocols, services
from bot.core import views
from bot.core.clock import board_now
from bot.core.i18n import Translator, translator
from bot.core.messages import message_from_data
from bot.delivery import addressing, inbound
from bot.records import documents, render
from bot.reporting import reports
from storage import cases_repo, inbound_repo, migrate, outbox_repo, repo
from storage.db import keep_after_rollback, make_engine, ping, resolve_url, session_factory
from storage.models import utcnow
from storage.platform_models import ConversationRef

if TYPE_CHECKING:
    from bot.core.messages import Message
    from protocol.calendar import WorkingCalendar
    from storage.models import Person


@dataclass(frozen=True)
class PersonInfo:
    id: int
    key: str
    name: str
    title: str
    agency: str | None
    language: str


class Runtime:
    def __init__(self, url: str | None = None):
        self.url = resolve_url(url)
        self.engine = make_engine(self.url)
        self.factory: sessionmaker[Session] = session_factory(self.engine)

    # -- set-up --------------------------------------------------------------------------------
    def wait_for_database(self, cap: float = 30.0) -> int:
        """Wait until the database answers, trying again with a growing pause (1, 2, 4 ... ``cap`` seconds) and
        one log line an attempt (the error's type only: never its text, which can carry SQL parameters), so that
        `parley serve` and `parley scheduler` wait for a database that starts after them or restarts instead of
        exiting. Returns the number of attempts."""
        log = logging.getLogger("parley.startup")
        attempt = 0
        while True:
            attempt += 1
            try:
                ping(self.engine)
            except (DBAPIError, OSError) as exc:
                wait = min(2.0 ** (attempt - 1), cap)
                log.warning("database unreachable at start-up; trying again", extra={
                    "attempt": attempt, "retry_in": wait, "error": type(getattr(exc, "orig", None) or exc).__name__})
                self.engine.dispose()
                time.sleep(wait)
                continue
            if attempt > 1:
                log.info("database reachable", extra={"attempt": attempt})
            return attempt

    def upgrade(self) -> None:
        """Apply the migrations, then rebuild the projection of any case that has none or an older one (a
        database upgraded from before the projection existed, or from older projection rules)."""
        migrate.upgrade(self.url)
        self.reproject(only_stale=True)

    def reproject(self, board_id: str | None = None, *, check: bool = False, only_stale: bool = False,
                  batch: int = 500) -> projection.RebuildReport:
        """Compare every case's stored projection (or a board's; or only the stale ones) with a replay of its
        events and, unless ``check``, repair the ones that differ; committed in batches of ``batch`` cases."""
        with self.factory() as s:
            if only_stale:
                ids = [c.id for c in projection.stale(s, board_id=board_id)]
            else:
                ids = cases_repo.case_ids(session=s, board_id=board_id)
        total = projection.RebuildReport()
        for first in range(0, len(ids), batch):
            with self.factory() as s:
                cases = list(cases_repo.cases_by_ids(ids[first:first + batch], session=s))
                part = projection.rebuild(s, cases=cases, check=check)
                if not check:
                    s.commit()
            total.checked += part.checked
            total.wrong.update(part.wrong)
        return total

    def is_current(self) -> bool:
        return "alembic_version" in inspect(self.engine).get_table_names() and migrate.is_current(self.engine)

    def load_demo(self) -> dict[str, int]:
        with self.factory() as s:
            counts = directory.load_demo(session=s)
            s.commit()
        return counts

    def sync_protocols(self) -> list[str]:
        with self.factory() as s:
            boards = [b.id for b in directory.sync_all_protocols(session=s)]
            s.commit()
        return boards

    # -- queries ---------------------------------------------------------------------------------
    def board_ids(self) -> list[str]:
        with self.factory() as s:
            return [b.id for b in repo.all_boards(session=s)]

    def board_name(self, board_id: str) -> str:
        with self.factory() as s:
            b = repo.get_board(board_id, session=s)
            return b.name if b else board_id

    def board_now(self, board_id: str, now: dt.datetime) -> dt.datetime:
        """The board's time when the process's clock says ``now`` (a training board's clock may be ahead)."""
        with self.factory() as s:
            return board_now(board_id, now, session=s)

    def calendar(self, board_id: str) -> WorkingCalendar:
        with self.factory() as s:
            return protocols.board_protocol(board_id, session=s).calendar()

    def _info(self, p: Person, s: Session) -> PersonInfo:
        ag = repo.get_agency(p.agency_id, session=s) if p.agency_id else None
        return PersonInfo(p.id, p.key, p.name, p.title, ag.name if ag else None, p.language)

    def people(self, board_id: str) -> list[PersonInfo]:
        with self.factory() as s:
            return [self._info(p, s) for p in repo.people(board_id, session=s)]

    def colleagues(self, person_id: int) -> list[PersonInfo]:
        """Everyone else in the same board's directory."""
        with self.factory() as s:
            person = repo.get_person(person_id, session=s)
            if person is None:
                return []
            names = {a.id: a.name for a in repo.agencies(person.board_id, session=s)}
            return [PersonInfo(p.id, p.key, p.name, p.title, names.get(p.agency_id), p.language)
                    for p in repo.people(person.board_id, session=s) if p.id != person_id]

    def person(self, person_id: int) -> PersonInfo | None:
        with self.factory() as s:
            p = repo.get_person(person_id, session=s)
            return self._info(p, s) if p else None

    def person_by_key(self, board_id: str, key: str) -> PersonInfo | None:
        with self.factory() as s:
            p = repo.person_by_key(board_id, key, session=s)
            return self._info(p, s) if p else None

    def find_people(self, board_id: str, text: str) -> list[PersonInfo]:
        with self.factory() as s:
            return [self._info(p, s) for p in repo.find_people(board_id, text, session=s)]

    def setting(self, key: str) -> str | None:
        with self.factory() as s:
            return repo.get_setting(key, session=s)

    def set_setting(self, key: str, value: str) -> None:
        with self.factory() as s:
            repo.set_setting(key, value, session=s)
            s.commit()

    def parse_local_time(self, board_id: str, text: str) -> dt.datetime:
        """'2026-04-02 10:00' (or a date) in the board's timezone."""
        cal = self.calendar(board_id)
        text = text.strip()
        if len(text) == 10:
            return cal.at(dt.date.fromisoformat(text), cal.day_start)
        moment = dt.datetime.fromisoformat(text.replace(" ", "T"))
        return moment if moment.tzinfo else moment.replace(tzinfo=cal.tz)

    def last_channel_post(self, board_id: str, channel: str) -> Message | None:
        """The newest message delivered to a channel of this board (the console's scroll-back)."""
        with self.factory() as s:
            row = outbox_repo.last_sent_to_channel(board_id, channel, session=s)
            if row is None:
                return None
            latest = outbox_repo.latest_sent_update(row.id, session=s)
            return message_from_data((latest or row).payload)

    # -- platform identity, deduplication and the App Home ----------------------------------------
    def person_for(self, platform: str, external_id: str, email_lookup: Callable[[], str | None] | None = None,
                   locale: str | Callable[[], str | None] | None = None
                   ) -> PersonInfo | None:
        """The directory person behind a platform user: by stored identity, else by e-mail (``email_lookup``
        is called only then, e.g. Slack users.info), linked on first use. On that first link the platform's
        ``locale`` (e.g. Teams' ``cy-GB``; a string, or a function asked after ``email_lookup``) sets the person's
        language, unless they have chosen one already."""
        with self.factory() as s:
            p = inbound.person_for(platform, external_id, None, session=s)
            if p is None and email_lookup is not None:
                email = email_lookup()
                p = inbound.person_for(platform, external_id, email, session=s) if email else None
                if p is not None:
                    inbound.language_from_locale(p, locale() if callable(locale) else locale, platform,
                                                 utcnow(), session=s)
                s.commit()
            return self._info(p, s) if p else None


    def link(self, linker_id: int, platform: str, external_id: str, person_key: str) -> PersonInfo:
        with self.factory() as s:
            linker = repo.get_person(linker_id, session=s)
            assert linker is not None
            p = inbound.link(linker, platform, external_id, person_key, session=s)
            s.commit()
            return self._info(p, s)

    def first_time(self, platform: str, key: str, now: dt.datetime, window_seconds: float | None = None) -> bool:
        with self.factory() as s:
            new = inbound.first_time(platform, key, now, session=s,
                                     window=dt.timedelta(seconds=window_seconds) if window_seconds else None)
            s.commit()
            return new

    def queue_reply(self, person_id: int, messages: list, key: str, now: dt.datetime) -> int:
        """The speaker's own replies, written to the outbox (delivered and retried like every other message) for an
        adapter whose replies are not part of the platform's request (Slack's direct messages). Returns how many
        were queued (none when the person has no address)."""
        with self.factory() as s:
            person = repo.get_person(person_id, session=s)
            queued = 0
            for i, m in enumerate(messages):
                if person is not None and addressing.queue_to_person(person, replace(m, kind=m.kind or "reply"),
                                                                     session=s, key=f"{key}:{i}", now=now,
                                                                     redirect=False) is not None:
                    queued += 1
            s.commit()
            return queued

    def person_claiming(self, platform: str, external_id: str, keys: Callable[[PersonInfo], list[str]],
                        now: dt.datetime) -> tuple[PersonInfo | None, list[str] | None]:
        """``person_for`` by stored identity alone and, when someone is found, ``first_time`` for each of
        ``keys(them)``, in one unit of work: (the person, the keys claimed), or (the person, None) when one of the
        keys was seen before (then none is kept), or (None, None) for someone not linked yet."""
        with self.factory() as s:
            p = inbound.person_for(platform, external_id, None, session=s)
            if p is None:
                return None, None
            info = self._info(p, s)
            wanted = keys(info)
            for key in wanted:
                if not inbound.first_time(platform, key, now, session=s):
                    s.rollback()
                    return info, None
            s.commit()
            return info, wanted

    def forget(self, platform: str, key: str) -> None:
        """Undo ``first_time`` for work that did not go through (refused, or failed), so a retry is not taken
        for a duplicate: a key is kept only for work that committed."""
        with self.factory() as s:
            inbound.forget(platform, key, session=s)
            s.commit()

    def identity_of(self, person_id: int, platform: str) -> str | None:
        with self.factory() as s:
            return next((i.external_id for i in repo.identities(person_id, session=s) if i.platform == platform), None)

    def case_list(self, person_id: int, now: dt.datetime) -> Message | None:
        """The person's cases as the ``list`` command shows them (a Teams list card's next page)."""
        with self.factory() as s:
            person = repo.get_person(person_id, session=s)
            if person is None or not person.active:  # a leaver sees no cases (bot/admin/people.py)
                return None
            return views.case_list(translator(person.language), list(repo.cases_involving(person, session=s)),
                                   board_now(person.board_id, now, session=s), session=s)

    def case_headline(self, ref: str, language: str = "en") -> str | None:
        """'REF · raising agency → responding agency · stage' (channel-safe), for naming a case on a form."""
        with self.factory() as s:
            case = repo.case_by_ref(ref, session=s)
            if case is None:
                return None
            return views.case_headline(translator(language), case, protocols.protocol_for(case, session=s), session=s)

    def home_messages(self, person_id: int, now: dt.datetime) -> list[Message]:
        """The person's open cases as case cards, overdue first then by next deadline (for an App Home): each case's
        state from its plan (bot.cases.plans), so no case's history is read."""
        with self.factory() as s:
            person = repo.get_person(person_id, session=s)
            if person is None or not person.active:  # a leaver sees no cases (bot/admin/people.py)
                return []
            T = translator(person.language)
            now = board_now(person.board_id, now, session=s)
            cards = []
            cases = list(repo.cases_involving(person, session=s))
            for case, st in zip(cases, services.states_of(cases, now, session=s), strict=True):
                cards.append((not views.overdue_items(st),
                              case.next_due_at or dt.datetime.max.replace(tzinfo=dt.timezone.utc),
                              views.case_view(T, case, st, session=s, now=now)))
            return [c for _, _, c in sorted(cards, key=lambda x: (x[0], x[1]))]

    # -- stored conversation references (Teams proactive messaging) and channel registration -----------
    def save_ref(self, platform: str, kind: str, key: str, data: dict) -> None:
        with self.factory() as s:
            row = inbound_repo.conversation_ref(platform, kind, key, session=s)
            if row is None:
                s.add(ConversationRef(platform=platform, kind=kind, key=key, data=data))
            else:
                row.data, row.updated_at = data, utcnow()
            s.commit()

    def ref(self, platform: str, kind: str, key: str) -> dict | None:
        with self.factory() as s:
            row = inbound_repo.conversation_ref(platform, kind, key, session=s)
            return dict(row.data) if row else None

    def save_refs(self, platform: str, kind: str, refs: dict[str, dict]) -> None:
        """Store many conversation references of one kind at once (a team's roster)."""
        if not refs:
            return
        with self.factory() as s:
            rows = {r.key: r for r in inbound_repo.conversation_refs(platform, kind, refs, session=s)}
            for key, data in refs.items():
                row = rows.get(key)
                if row is None:
                    s.add(ConversationRef(platform=platform, kind=kind, key=key, data=data))
                elif row.data != data:
                    row.data, row.updated_at = data, utcnow()
            s.commit()

    def ref_keys(self, platform: str, kind: str) -> list[str]:
        with self.factory() as s:
            return inbound_repo.conversation_ref_keys(platform, kind, session=s)

    def link_members(self, platform: str, members: list[tuple[str, list[str]]]) -> int:
        """Link platform users seen in a roster, (external id, e-mail addresses), to the directory people with
        those addresses, as a first message would; returns how many were newly linked."""
        linked = 0
        with self.factory() as s:
            for external_id, emails in members:
                if inbound.person_for(platform, external_id, None, session=s) is not None:
                    continue
                for email in emails:
                    if inbound.person_for(platform, external_id, email, session=s) is not None:
                        linked += 1
                        break
            s.commit()
        return linked

    def any_ref(self, platform: str, kind: str) -> dict | None:
        with self.factory() as s:
            row = inbound_repo.newest_conversation_ref(platform, kind, session=s)
            return dict(row.data) if row else None

    # -- files offered through links (adapters/teams/files.py) ---------------------------------------
    def put_file(self, token: str, *, filename: str, media_type: str, title: str, data: bytes,
                 expires_at: dt.datetime) -> None:
        with self.factory() as s:
            repo.put_file_link(token, session=s, filename=filename, media_type=media_type, title=title, data=data,
                               expires_at=expires_at)
            s.commit()

    def get_file(self, token: str, now: dt.datetime) -> tuple[str, str, str, dt.datetime, bytes] | None:
        """(filename, media type, title, expiry, bytes) behind a link's token, or None (unknown or expired)."""
        with self.factory() as s:
            row = repo.get_file_link(token, now, session=s)
            s.commit()
            if row is None:
                return None
            return row.filename, row.media_type, row.title, row.expires_at, base64.b64decode(row.data)

    def prune_files(self, now: dt.datetime) -> int:
        with self.factory() as s:
            gone = repo.prune_file_links(now, session=s)
            s.commit()
            return gone

    def audit_refusal(self, platform: str, reason: str, data: dict | None = None) -> None:
        """Record a request refused before anyone could be identified (a payload from another Slack workspace
        or Teams tenant): the board's audit entries keep it."""
        with self.factory() as s:
            repo.audit("refused", session=s, at=utcnow(), actor=None, via=platform,
                       data={"reason": reason, **(data or {})})
            s.commit()

    def export_log(self, board_id: str, out: Path, fmt: str, start: dt.date | None, end: dt.date | None) -> Path:
        with self.factory() as s:
            rows = reports.log_rows(board_id, session=s, start=start, end=end)
            header = reports.log_header(board_id, session=s)
        return reports.write_log(rows, fmt, out, header)

    def render_form(self, ref: str, form_id: str, fmt: str, now: dt.datetime | None = None) -> bytes:
        """A case's form as PDF or HTML, with the subject details (the CLI is run by an administrator of the
        database, who is entitled to the whole record)."""
        T = translator()
        now = now or dt.datetime.now(dt.timezone.utc)
        with self.factory() as s:
            case = repo.case_by_ref(ref.strip(), session=s)
            if case is None:
                raise ValueError(f"There is no case {ref!r}.")
            now = board_now(case.board_id, now, session=s)
            try:  # the forms the case has reached, by the same rule as `form REF` in the chat
                form = documents.reached_form(T, case, form_id, session=s, now=now)
            except errors.ServiceError as exc:
                if keep_after_rollback(exc, s):  # the refusal's audit entry
                    s.commit()
                raise ValueError(exc.message) from None
            filled = documents.fill(T, case, form, session=s, now=now, with_subject_details=True)
        if fmt == "pdf":
            return render.render_pdf(T, filled)
        if fmt == "html":
            return render.render_html(T, filled).encode("utf-8")
        raise ValueError(f"unknown format {fmt!r}: use html or pdf")

    def export_quarterly(self, board_id: str, quarter: str, out: Path, fmt: str) -> Path:
        with self.factory() as s:
            label, tables = reports.quarterly(board_id, quarter, session=s)
            s.commit()  # keep any case projection the report had to rebuild first
        return reports.write_quarterly(label, tables, fmt, out)

    def board_overview(self, board_id: str, now: dt.datetime, T: Translator) -> list[str]:
        """One line a case: reference, agencies, stage, status and next deadline (channel-safe)."""
        lines = []
        with self.factory() as s:
            now = board_now(board_id, now, session=s)
            cases = list(repo.cases_for_board(board_id, session=s))
            for case, st in zip(cases, services.states_of(cases, now, session=s), strict=True):
                proto = protocols.protocol_for(case, session=s)
                short = views.agenda(st).next_short(T, proto)
                nxt = " \u2014 " + T("next: {line}", line=short) if short else ""
                flag = "\u26a0 " + T("OVERDUE") + " " if views.overdue_items(st) else ""
                lines.append(f"{flag}{views.case_headline(T, case, proto, session=s)} "
                             f"[{services.status_label(T, st.status)}]{nxt}")
        return lines

    def overdue_lines(self, board_id: str, now: dt.datetime, T: Translator) -> list[str]:
        return [line for _, line in self.overdue_items(board_id, now, T)]

    def overdue_items(self, board_id: str, now: dt.datetime, T: Translator) -> list[tuple[str, str]]:
        """(key, line) for each overdue deadline of the board's open cases; the key (case, step, deadline) stays
        the same while that deadline stays overdue, so a caller can tell which ones it has shown already."""
        out = []
        with self.factory() as s:
            now = board_now(board_id, now, session=s)
            cases = list(repo.cases_for_board(board_id, session=s, statuses=["open", "awaiting_decision"]))
            for case, st in zip(cases, services.states_of(cases, now, session=s), strict=True):
                proto = protocols.protocol_for(case, session=s)
                out.extend((f"{case.ref}|{i.step.id}|{i.due_at.isoformat() if i.due_at else ''}",
                            f"{case.ref}: {views.deadline_line(T, i, proto)}") for i in views.overdue_items(st))
        return out

