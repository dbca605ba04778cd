"""people: leavers are deactivated, not removed (``active``, ``deactivated_at``)

Everyone already in the directory stays active (the server default); bot/admin/people.py deactivates a leaver and
hands their open cases over.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('people', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('active', sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column('deactivated_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('people', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('deactivated_at')
        batch_op.drop_column('active')
