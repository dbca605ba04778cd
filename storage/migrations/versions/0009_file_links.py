"""file links: files offered on Teams cards, in the database (encrypted) instead of a folder on one machine

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 09:50:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'file_links',
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('filename', sa.Text(), nullable=False),
        sa.Column('media_type', sa.String(length=100), nullable=False),
        sa.Column('title', sa.Text(), nullable=False),
        sa.Column('data', sa.Text(), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_file_links')),
    )
    op.create_index(op.f('ix_file_links_expires_at'), 'file_links', ['expires_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_file_links_expires_at'), table_name='file_links')
    op.drop_table('file_links')
