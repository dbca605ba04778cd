"""delivery outages: failed rows say why (permanent or transient), addresses remember their outages, and timers
retried after a transient database error

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 10:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failure', sa.String(length=16), nullable=True))
    with op.batch_alter_table('timers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('retry_at', sa.DateTime(timezone=True), nullable=True))
    # rows failed for good by the old eight-attempt limit: the transient ones are retried from now on
    op.execute("UPDATE outbox SET failure = CASE WHEN last_error LIKE 'Slack 5%' OR last_error LIKE 'HTTP 5%' "
               "OR last_error LIKE 'unreachable%' OR last_error = 'rate limited' OR last_error LIKE 'HTTP 429%' "
               "OR last_error LIKE 'Slack upload failed%' THEN 'transient' ELSE 'permanent' END "
               "WHERE state = 'failed'")
    op.create_table(
        'delivery_addresses',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('platform', sa.String(length=16), nullable=False),
        sa.Column('address', sa.String(length=200), nullable=False),
        sa.Column('target_kind', sa.String(length=8), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=True),
        sa.Column('failing_since', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_failure_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_ok_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('permanent', sa.Boolean(), nullable=False),
        sa.Column('reason', sa.String(length=100), nullable=False),
        sa.Column('outage', sa.Integer(), nullable=False),
        sa.Column('alerted_outage', sa.Integer(), nullable=False),
        sa.Column('alerted_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_delivery_addresses_person_id_people')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_addresses')),
        sa.UniqueConstraint('platform', 'address', name=op.f('uq_delivery_addresses_platform')),
    )


def downgrade() -> None:
    op.drop_table('delivery_addresses')
    with op.batch_alter_table('timers', schema=None) as batch_op:
        batch_op.drop_column('retry_at')
        batch_op.drop_column('attempts')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('failure')
