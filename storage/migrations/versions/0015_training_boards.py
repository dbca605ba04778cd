"""training boards: a board can be marked as training, and keeps how far its own clock has been moved ahead of the
real time (a training board's business unit moves it from chat to rehearse a whole escalation in minutes). Existing
boards are real boards on the real time.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('boards', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('training', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('clock_offset_seconds', sa.Integer(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('boards', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('clock_offset_seconds')
        batch_op.drop_column('training')
