"""section_reads: how long the learner had the section open before marking it read

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-20 10:00:00.000000

- `section_reads.reading_seconds`: seconds from the moment the section page was served (a
  signed time in the mark-read form) to the mark-read POST. NULL when it is not known: reads
  recorded before this revision, and reads whose form carried no valid signed time (missing,
  tampered, from the future or more than a day old).
"""

from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A nullable column: a plain ADD COLUMN on every database (no batch rebuild on SQLite).
    op.add_column('section_reads', sa.Column('reading_seconds', sa.Integer(), nullable=True))


def downgrade() -> None:
    # SQLite >= 3.35 drops a column in place; nothing refers to this one.
    op.drop_column('section_reads', 'reading_seconds')
