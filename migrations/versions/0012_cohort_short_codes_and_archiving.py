"""cohorts: a short code for the room, archiving; completion records of removed members

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 22:30:00.000000

- `cohorts.short_code`: 8 characters to read aloud and type on a phone, unique while it is
  stored; `cohorts.short_code_expires_at`: the end of the session's day (UTC), after which
  the code joins no one. Existing cohorts get none: their instructor makes one by rotating.
- `cohorts.archived_at`: when an instructor archived the cohort (read-only, out of the
  default list); NULL while it runs.
- `completion_records.kept_because` may also be 'removed' (an instructor removed the
  learner from the cohort).
"""

from alembic import op
import sqlalchemy as sa

import learnapp.db


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

# As models.py has it when this was written, and before it.
KEPT_BECAUSE = "kept_because IN ('left', 'removed', 'deleted', 'withdrawn')"
KEPT_BECAUSE_BEFORE = "kept_because IN ('left', 'deleted', 'withdrawn')"
# completion_records is rebuilt on SQLite reflected alone: following its foreign keys would
# reflect `users`, whose index on an expression SQLite cannot reflect.
REFLECTED_ALONE = {'reflect_kwargs': {'resolve_fks': False}}


def upgrade() -> None:
    # Nullable columns: a plain ADD COLUMN on every database (no batch rebuild of cohorts).
    op.add_column('cohorts', sa.Column('short_code', sa.String(length=8), nullable=True))
    op.add_column('cohorts', sa.Column('short_code_expires_at', learnapp.db.UTCDateTime(), nullable=True))
    op.add_column('cohorts', sa.Column('archived_at', learnapp.db.UTCDateTime(), nullable=True))
    op.create_index(op.f('ix_cohorts_short_code'), 'cohorts', ['short_code'], unique=True)
    _kept_because(KEPT_BECAUSE)


def downgrade() -> None:
    op.execute("UPDATE completion_records SET kept_because = 'left' WHERE kept_because = 'removed'")
    _kept_because(KEPT_BECAUSE_BEFORE)
    op.drop_index(op.f('ix_cohorts_short_code'), table_name='cohorts')
    # SQLite >= 3.35 drops a column in place; nothing refers to these.
    op.drop_column('cohorts', 'archived_at')
    op.drop_column('cohorts', 'short_code_expires_at')
    op.drop_column('cohorts', 'short_code')


def _kept_because(condition: str) -> None:
    with op.batch_alter_table('completion_records', schema=None, **REFLECTED_ALONE) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_completion_records_kept_because'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_completion_records_kept_because'), condition)
