"""subject details: other personal data asked by the protocols' forms

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 08:40:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
from sqlalchemy import Text

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('subject_details', sa.Column(
        'extra', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False,
        server_default='{}'))


def downgrade() -> None:
    with op.batch_alter_table('subject_details') as batch:
        batch.drop_column('extra')
