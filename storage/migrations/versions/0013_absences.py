"""absences: a person away until a date, and who covers for them meanwhile (bot/cases/cover.py)

A new table only; nothing that exists changes. The table is written out here rather than imported from
storage.models (which moves on after this revision).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'absences',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('board_id', sa.String(length=64), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('cover_id', sa.Integer(), nullable=True),
        sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('until', sa.Date(), nullable=False),
        sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('ended_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['board_id'], ['boards.id'], name=op.f('fk_absences_board_id_boards')),
        sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_absences_person_id_people')),
        sa.ForeignKeyConstraint(['cover_id'], ['people.id'], name=op.f('fk_absences_cover_id_people')),
        sa.ForeignKeyConstraint(['created_by_id'], ['people.id'], name=op.f('fk_absences_created_by_id_people')),
        sa.ForeignKeyConstraint(['ended_by_id'], ['people.id'], name=op.f('fk_absences_ended_by_id_people')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_absences')),
    )
    with op.batch_alter_table('absences', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_absences_board_id'), ['board_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_absences_person_id'), ['person_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('absences', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_absences_person_id'))
        batch_op.drop_index(batch_op.f('ix_absences_board_id'))
    op.drop_table('absences')
