"""timer plans: what each case's timers were planned from, and the engine's replay they were planned on

``timer_plans`` holds one row a case (bot/cases/plans.py): the case's version, its protocol snapshot and the
planning rules its timers were last planned under, and the engine's replay of its events up to one of them (``seq``,
its hash ``head``). Start-up replans only the cases whose row is missing or out of date; actions, lists, the App Home
and the sweep bring the stored replay up to date from the events after ``seq`` instead of replaying the history. No
row is written here: every case starts without one, so the first start-up after this revision replans the cases that
are not closed (as every start-up did before), and a case is replayed in full until it has one.

The table is written out here rather than imported from storage.models (which moves on after this revision).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table(
        'timer_plans',
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('case_version', sa.Integer(), nullable=False),
        sa.Column('snapshot_id', sa.Integer(), nullable=False),
        sa.Column('rules', sa.String(length=100), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('head', sa.String(length=64), nullable=True),
        sa.Column('state', JSON_TYPE, nullable=False),
        sa.Column('planned_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_timer_plans_case_id_cases')),
        sa.ForeignKeyConstraint(['snapshot_id'], ['protocol_snapshots.id'],
                                name=op.f('fk_timer_plans_snapshot_id_protocol_snapshots')),
        sa.PrimaryKeyConstraint('case_id', name=op.f('pk_timer_plans')),
    )


def downgrade() -> None:
    op.drop_table('timer_plans')
