"""outbox: outgoing work (mail) written in the transaction that causes it, run by the worker

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-12 10:00:00.000000
"""

from alembic import op
import sqlalchemy as sa
import learnapp.db


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

WAITING = 'done_at IS NULL AND failed_at IS NULL'


def upgrade() -> None:
    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', learnapp.db.UTCDateTime(), nullable=False),
    sa.Column('last_error', sa.String(length=2000), nullable=True),
    sa.Column('created_at', learnapp.db.UTCDateTime(), nullable=False),
    sa.Column('claimed_until', learnapp.db.UTCDateTime(), nullable=True),
    sa.Column('done_at', learnapp.db.UTCDateTime(), nullable=True),
    sa.Column('failed_at', learnapp.db.UTCDateTime(), nullable=True),
    sa.CheckConstraint("kind IN ('mail')", name=op.f('ck_outbox_kind')),
    sa.CheckConstraint('attempts >= 0', name=op.f('ck_outbox_attempts_not_negative')),
    sa.CheckConstraint('done_at IS NULL OR failed_at IS NULL', name=op.f('ck_outbox_done_or_failed')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sqlite_autoincrement=True
    )
    op.create_index(op.f('ix_outbox_created_at'), 'outbox', ['created_at'], unique=False)
    op.create_index(
        'ix_outbox_due',
        'outbox',
        ['next_attempt_at'],
        unique=False,
        sqlite_where=sa.text(WAITING),
        postgresql_where=sa.text(WAITING),
    )


def downgrade() -> None:
    op.drop_index('ix_outbox_due', table_name='outbox')
    op.drop_index(op.f('ix_outbox_created_at'), table_name='outbox')
    op.drop_table('outbox')
