"""completion_records: kept for former members too, with why each is kept and whose it is

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-14 10:00:00.000000

- `completion_records.kept_because`: 'left' (the learner left the cohort), 'deleted' (the
  account was deleted) or 'withdrawn' (the certificate was withdrawn at the holder's request
  while they were a member). Until now records were kept for the last two only: a record
  whose certificate is withdrawn gets 'withdrawn', every other one 'deleted'. Which came
  first cannot be told for a withdrawn certificate whose holder also deleted the account;
  'withdrawn' says what the certificate's status says anyway.
- `completion_records.user_id`: the holder while the account exists (SET NULL when it is
  deleted), filled from the certificate. A record of someone who is a member of the cohort
  again is shown in their own row of the dashboard, not a second time.
"""

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

RECORDS = sa.table(
    'completion_records',
    sa.column('code', sa.String),
    sa.column('kept_because', sa.String),
    sa.column('user_id', sa.Integer),
)
CERTIFICATES = sa.table(
    'certificates',
    sa.column('code', sa.String),
    sa.column('user_id', sa.Integer),
    sa.column('withdrawn_at', sa.DateTime),
)
# As models.py has it when this was written.
KEPT_BECAUSE = "kept_because IN ('left', 'deleted', 'withdrawn')"
REFLECTED_ALONE = {'reflect_kwargs': {'resolve_fks': False}}


def upgrade() -> None:
    op.add_column('completion_records', sa.Column('kept_because', sa.String(length=20), nullable=True))
    op.add_column('completion_records', sa.Column('user_id', sa.Integer(), nullable=True))
    revisions = sa.select(CERTIFICATES.c.code).where(CERTIFICATES.c.code == RECORDS.c.code)
    withdrawn = revisions.where(CERTIFICATES.c.withdrawn_at.is_not(None)).exists()
    holder = (
        sa.select(sa.func.max(CERTIFICATES.c.user_id))
        .where(CERTIFICATES.c.code == RECORDS.c.code)
        .scalar_subquery()
    )
    op.get_bind().execute(
        RECORDS.update().values(
            kept_because=sa.case((withdrawn, 'withdrawn'), else_='deleted'), user_id=holder
        )
    )
    # completion_records has no index on an expression and no partial one, and nothing refers
    # to it, so SQLite may rebuild it to add the constraints (in place elsewhere). Reflected
    # alone: following its foreign keys would reflect `users`, whose index on an expression
    # SQLite cannot reflect (the rebuild does not need it).
    with op.batch_alter_table('completion_records', schema=None, **REFLECTED_ALONE) as batch_op:
        batch_op.alter_column('kept_because', existing_type=sa.String(length=20), nullable=False)
        batch_op.create_check_constraint(batch_op.f('ck_completion_records_kept_because'), KEPT_BECAUSE)
        batch_op.create_foreign_key(
            batch_op.f('fk_completion_records_user_id_users'),
            'users',
            ['user_id'],
            ['id'],
            ondelete='SET NULL',
        )
        batch_op.create_index(batch_op.f('ix_completion_records_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    # Records kept for learners who left stay: they read as the other records did.
    with op.batch_alter_table('completion_records', schema=None, **REFLECTED_ALONE) as batch_op:
        batch_op.drop_index(batch_op.f('ix_completion_records_user_id'))
        batch_op.drop_constraint(batch_op.f('fk_completion_records_user_id_users'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('ck_completion_records_kept_because'), type_='check')
        batch_op.drop_column('user_id')
        batch_op.drop_column('kept_because')
