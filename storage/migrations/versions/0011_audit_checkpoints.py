"""audit checkpoints: signed with a key kept outside the database; audit entries append-only; the redaction token

- ``audit_checkpoints`` (storage/checkpoints.py): every commit that adds events, cases, audit entries or case
  references appends one, signed with the audit key (storage/signing.py: PARLEY_AUDIT_KEY, or derived from the
  data keys). A database that already holds any of those gets a first, *full* checkpoint of the whole state here,
  so it verifies as intact afterwards; that needs the key (a clear DataKeyError before anything changes).
- PostgreSQL: ``audit_entries`` and ``audit_checkpoints`` become append-only like ``case_events``; the retention
  redaction's setting must now hold a token derived from the audit key (its SHA-256 is in the trigger function)
  instead of 'on', so a session that only knows the setting's name can no longer change an event. Without a key
  at this point the function accepts no token until ``parley retention apply`` installs the current ones.

The tables are written out here rather than imported from storage.models (which moves on after this revision).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 09:00:00
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from storage import crypto, signing

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
WHEN = sa.DateTime(timezone=True)

CASES = sa.table('cases', sa.column('id', sa.Integer()), sa.column('ref', sa.String()),
                 sa.column('board_id', sa.String()))
EVENTS = sa.table('case_events', sa.column('case_id', sa.Integer()), sa.column('seq', sa.Integer()),
                  sa.column('hash', sa.String()))
AUDIT = sa.table('audit_entries', sa.column('id', sa.Integer()), sa.column('at', WHEN),
                 sa.column('board_id', sa.String()), sa.column('actor_id', sa.Integer()),
                 sa.column('actor_label', sa.String()), sa.column('via', sa.String()), sa.column('kind', sa.String()),
                 sa.column('data', JSON_TYPE))
COUNTERS = sa.table('case_counters', sa.column('board_id', sa.String()), sa.column('year', sa.Integer()),
                    sa.column('last', sa.Integer()))
CHECKPOINTS = sa.table('audit_checkpoints', sa.column('seq', sa.Integer()), sa.column('at', WHEN),
                       sa.column('kind', sa.String()), sa.column('body', sa.Text()), sa.column('key_id', sa.String()),
                       sa.column('prev_mac', sa.String()), sa.column('mac', sa.String()))

OLD_GUARD = """
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


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


def _iso(value: dt.datetime) -> str:
    return _utc(value).isoformat(timespec='microseconds')


def _state(conn: sa.Connection) -> dict[str, dict]:
    cases = {str(r.id): [r.ref, r.board_id, 0, None] for r in conn.execute(sa.select(CASES))}
    last = sa.select(EVENTS.c.case_id, sa.func.count().label('n'), sa.func.max(EVENTS.c.seq).label('top')).group_by(
        EVENTS.c.case_id).subquery()
    for r in conn.execute(sa.select(last.c.case_id, last.c.n, EVENTS.c.hash).join(
            EVENTS, sa.and_(EVENTS.c.case_id == last.c.case_id, EVENTS.c.seq == last.c.top))):
        if str(r.case_id) in cases:
            cases[str(r.case_id)][2:] = [r.n, r.hash]
    audit = {str(r.id): [r.board_id, signing.audit_entry_digest(
        entry_id=r.id, at=_iso(r.at), board_id=r.board_id, actor_id=r.actor_id, actor_label=r.actor_label,
        via=r.via, kind=r.kind, data=r.data)] for r in conn.execute(sa.select(AUDIT))}
    counters = {f'{r.board_id}/{r.year}': r.last for r in conn.execute(sa.select(COUNTERS))}
    return {'cases': cases, 'audit': audit, 'counters': counters}


def upgrade() -> None:
    conn = op.get_bind()
    pg = conn.dialect.name == 'postgresql'
    state = _state(conn)
    keys = None
    if any(state.values()):
        keys = signing.audit_keys()  # no usable key: stop here, before anything has changed
    else:
        try:
            keys = signing.audit_keys()
        except crypto.DataKeyError:
            keys = None

    op.create_table(
        'audit_checkpoints',
        sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('at', WHEN, nullable=False),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('key_id', sa.String(length=16), nullable=False),
        sa.Column('prev_mac', sa.String(length=64), nullable=False),
        sa.Column('mac', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_checkpoints')),
    )
    if any(state.values()):
        assert keys is not None
        at = dt.datetime.now(dt.timezone.utc)
        body = signing.canonical(state)
        conn.execute(CHECKPOINTS.insert().values(
            seq=1, at=at if pg else at.replace(tzinfo=None), kind='full', body=body, key_id=signing.key_id(keys.newest),
            prev_mac='0' * 64,
            mac=signing.mac(keys.newest, seq=1, at=_iso(at), kind='full', body=body, prev_mac='0' * 64)))

    if pg:
        op.execute(signing.redaction_guard_sql(signing.redaction_token_hashes(keys) if keys else []))
        op.execute(signing.APPEND_ONLY_FUNCTION)
        for table in ('audit_entries', 'audit_checkpoints'):
            op.execute(f'CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} '
                       'FOR EACH ROW EXECUTE FUNCTION parley_append_only()')
            op.execute(f'CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} '
                       'FOR EACH STATEMENT EXECUTE FUNCTION parley_append_only()')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for table in ('audit_entries', 'audit_checkpoints'):
            op.execute(f'DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}')
            op.execute(f'DROP TRIGGER IF EXISTS {table}_append_only ON {table}')
        op.execute('DROP FUNCTION IF EXISTS parley_append_only()')
        op.execute(OLD_GUARD)
    op.drop_table('audit_checkpoints')
