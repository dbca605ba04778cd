"""data protection: subject details encrypted at rest, hash chain over case events, append-only trigger

- ``subject_details``: name, date_of_birth, address, case_number and extra become TEXT columns holding Fernet
  tokens (storage/crypto.py); every existing plaintext row is encrypted here with the newest key of
  PARLEY_DATA_KEYS (or the development key, see README 'Data protection'). No key is needed when the table is
  empty.
- ``case_events``: ``data_digest``, ``prev_hash`` and ``hash`` (storage/chain.py), backfilled for every existing
  event in each case's order; ``cases.event_chain_head``: the hash of each case's latest event.
- PostgreSQL: a trigger refuses UPDATE, DELETE and TRUNCATE on ``case_events``. The one exception is the
  retention policy's redaction, which may replace an event's ``data`` (and nothing else) while the
  transaction-local setting ``parley.retention_redaction`` is on; the chain keeps verifying because it covers
  ``data_digest`` and the ``anonymised`` event records the redacted data's digest. SQLite has no such trigger.

The downgrade decrypts the subject details back into their old columns (it needs the key) and drops the rest.
The hashes are computed by storage/chain.py's scheme "parley-event-v1", which therefore never changes (a new
scheme would get a new tag, and verification would keep accepting v1).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 09:00:00
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from storage import chain, crypto

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


class _UTCDateTime(sa.TypeDecorator[dt.datetime]):
    """The stored event times as this migration reads them: aware UTC on every backend (a frozen copy of the
    type storage.models had when this migration was written; migrations never import the live models)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        value = value.astimezone(dt.timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == 'sqlite' else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)

TRIGGER_FUNCTION = """
CREATE OR REPLACE FUNCTION parley_case_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF coalesce(current_setting('parley.retention_redaction', true), '') = 'on'
       AND NEW.id = OLD.id AND NEW.case_id = OLD.case_id AND NEW.seq = OLD.seq AND NEW.kind = OLD.kind
       AND NEW.at = OLD.at AND NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id
       AND NEW.actor_label = OLD.actor_label AND NEW.via = OLD.via AND NEW.data_digest = OLD.data_digest
       AND NEW.prev_hash = OLD.prev_hash AND NEW.hash = OLD.hash THEN
      RETURN NEW;
    END IF;
  END IF;
  RAISE EXCEPTION USING MESSAGE = 'case_events is append-only: ' || TG_OP
    || ' refused (the event history of a case can only be added to)';
END
$fn$
"""


def _subject_columns(to_text: bool) -> None:
    pg = op.get_bind().dialect.name == 'postgresql'
    with op.batch_alter_table('subject_details', schema=None) as batch_op:
        if to_text:
            if pg:
                batch_op.alter_column('extra', server_default=None, existing_type=JSON_TYPE, existing_nullable=False)
            batch_op.alter_column('name', type_=sa.Text(), existing_type=sa.String(length=200),
                                  existing_nullable=False)
            batch_op.alter_column('date_of_birth', type_=sa.Text(), existing_type=sa.Date(), existing_nullable=True,
                                  postgresql_using="to_char(date_of_birth, 'YYYY-MM-DD')")
            batch_op.alter_column('case_number', type_=sa.Text(), existing_type=sa.String(length=100),
                                  existing_nullable=False)
            batch_op.alter_column('extra', type_=sa.Text(), existing_type=JSON_TYPE, existing_nullable=False,
                                  server_default=None, postgresql_using='extra::text')
        else:
            batch_op.alter_column('name', type_=sa.String(length=200), existing_type=sa.Text(),
                                  existing_nullable=False)
            batch_op.alter_column('date_of_birth', type_=sa.Date(), existing_type=sa.Text(), existing_nullable=True,
                                  postgresql_using='date_of_birth::date')
            batch_op.alter_column('case_number', type_=sa.String(length=100), existing_type=sa.Text(),
                                  existing_nullable=False)
            batch_op.alter_column('extra', type_=JSON_TYPE, existing_type=sa.Text(), existing_nullable=False,
                                  server_default='{}', postgresql_using='extra::jsonb')


def _convert_subjects(convert: Callable[[str], str]) -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text('SELECT case_id, name, date_of_birth, address, case_number, extra '
                                'FROM subject_details ORDER BY case_id')).all()
    if not rows:
        return
    conn.execute(
        sa.text('UPDATE subject_details SET name = :name, date_of_birth = :dob, address = :address, '
                'case_number = :case_number, extra = :extra WHERE case_id = :case_id'),
        [{'case_id': r.case_id, 'name': convert(r.name or ''),
          'dob': convert(str(r.date_of_birth)) if r.date_of_birth is not None else None,
          'address': convert(r.address or ''), 'case_number': convert(r.case_number or ''),
          'extra': convert(r.extra or '{}', json_text=True)} for r in rows])


def _encrypt(value: str, json_text: bool = False) -> str:
    if json_text:
        value = json.dumps(json.loads(value), sort_keys=True, ensure_ascii=False)
    return crypto.encrypt(value)


def _decrypt(value: str, json_text: bool = False) -> str:
    return crypto.decrypt(value)


def _backfill_chain() -> None:
    conn = op.get_bind()
    events = sa.table('case_events', sa.column('id', sa.Integer()), sa.column('case_id', sa.Integer()),
                      sa.column('seq', sa.Integer()), sa.column('kind', sa.String()),
                      sa.column('at', _UTCDateTime()),
                      sa.column('actor_id', sa.Integer()), sa.column('actor_label', sa.String()),
                      sa.column('via', sa.String()), sa.column('data', JSON_TYPE),
                      sa.column('data_digest', sa.String()), sa.column('prev_hash', sa.String()),
                      sa.column('hash', sa.String()))
    cases = sa.table('cases', sa.column('id', sa.Integer()), sa.column('event_chain_head', sa.String()))
    case_ids = conn.execute(sa.select(cases.c.id).order_by(cases.c.id)).scalars().all()
    for case_id in case_ids:
        rows = conn.execute(sa.select(events).where(events.c.case_id == case_id).order_by(events.c.seq)).all()
        prev, updates = chain.GENESIS, []
        for r in rows:
            digest = chain.data_digest(r.data)
            h = chain.event_hash(prev_hash=prev, case_id=r.case_id, seq=r.seq, kind=r.kind, at=r.at,
                                 actor_id=r.actor_id, actor_label=r.actor_label, via=r.via, digest=digest)
            updates.append({'b_id': r.id, 'b_digest': digest, 'b_prev': prev, 'b_hash': h})
            prev = h
        if updates:
            conn.execute(events.update().where(events.c.id == sa.bindparam('b_id')).values(
                data_digest=sa.bindparam('b_digest'), prev_hash=sa.bindparam('b_prev'), hash=sa.bindparam('b_hash')),
                updates)
            conn.execute(cases.update().where(cases.c.id == case_id).values(event_chain_head=prev))


def upgrade() -> None:
    pg = op.get_bind().dialect.name == 'postgresql'
    if op.get_bind().execute(sa.text('SELECT count(*) FROM subject_details')).scalar():
        crypto.keyring()  # no usable key: stop here, before anything has changed (a clear DataKeyError)
    # subject details: TEXT columns holding Fernet tokens; existing rows encrypted
    _subject_columns(to_text=True)
    _convert_subjects(_encrypt)

    # the hash chain
    with op.batch_alter_table('cases', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('event_chain_head', sa.String(length=64), nullable=True))
    with op.batch_alter_table('case_events', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('data_digest', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('prev_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('hash', sa.String(length=64), nullable=True))
    _backfill_chain()
    # (nothing points at case_events, so SQLite may recreate it to make the columns NOT NULL)
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        for column in ('data_digest', 'prev_hash', 'hash'):
            batch_op.alter_column(column, existing_type=sa.String(length=64), nullable=False)

    if pg:
        op.execute(TRIGGER_FUNCTION)
        op.execute('CREATE TRIGGER case_events_append_only BEFORE UPDATE OR DELETE ON case_events '
                   'FOR EACH ROW EXECUTE FUNCTION parley_case_events_append_only()')
        op.execute('CREATE TRIGGER case_events_no_truncate BEFORE TRUNCATE ON case_events '
                   'FOR EACH STATEMENT EXECUTE FUNCTION parley_case_events_append_only()')


def downgrade() -> None:
    pg = op.get_bind().dialect.name == 'postgresql'
    if pg:
        op.execute('DROP TRIGGER IF EXISTS case_events_no_truncate ON case_events')
        op.execute('DROP TRIGGER IF EXISTS case_events_append_only ON case_events')
        op.execute('DROP FUNCTION IF EXISTS parley_case_events_append_only()')
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.drop_column('hash')
        batch_op.drop_column('prev_hash')
        batch_op.drop_column('data_digest')
    with op.batch_alter_table('cases', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('event_chain_head')
    _convert_subjects(_decrypt)
    _subject_columns(to_text=False)
