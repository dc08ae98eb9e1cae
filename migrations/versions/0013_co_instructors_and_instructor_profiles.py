"""cohorts: several instructors each; instructor profiles

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08 20:00:00.000000

- `cohort_instructors`: who runs a cohort, a row per instructor (once per cohort), with when
  and by whom they were added. Every cohort's `instructor_id` becomes its first row (added
  by themselves, when the cohort was created). Every access check reads this table.
- `cohorts.instructor_id`: from now on only who created the cohort, a record and not a
  power: nullable, and set to NULL when that account is deleted (it cascaded before), so a
  cohort handed over to other instructors outlives its creator's account. SQLite rebuilds
  `cohorts` for the new foreign key (reflected alone, AUTOINCREMENT kept; env.py turns
  foreign keys off meanwhile).
- `users.instructor_name`, `instructor_number`, `instructor_issuing_body`: an instructor's
  profile (the name to print, and their number with the body that issued it). Nullable
  columns: a plain ADD COLUMN on every database (no batch rebuild of `users`, which on
  SQLite would lose its index on an expression, ix_users_lower_name).

Downgrading gives each cohort one instructor again: its creator if still one of its
instructors, else the one added first; the other co-instructors lose it. A cohort with no
instructor left (their accounts deleted) is deleted, as the cascade before 0013 would have
done with its instructor's account, and printed.
"""

from alembic import op
import sqlalchemy as sa

import learnapp.db


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

# As models.py has them (NAME_MAX, INSTRUCTOR_NUMBER_MAX) when this was written.
NAME_MAX = 120
INSTRUCTOR_NUMBER_MAX = 40
CREATOR_FK = 'fk_cohorts_instructor_id_users'


def upgrade() -> None:
    op.create_table(
        'cohort_instructors',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('cohort_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('added_at', learnapp.db.UTCDateTime(), nullable=False),
        sa.Column('added_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ['added_by_id'], ['users.id'],
            name=op.f('fk_cohort_instructors_added_by_id_users'), ondelete='SET NULL',
        ),
        sa.ForeignKeyConstraint(
            ['cohort_id'], ['cohorts.id'],
            name=op.f('fk_cohort_instructors_cohort_id_cohorts'), ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['user_id'], ['users.id'],
            name=op.f('fk_cohort_instructors_user_id_users'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_cohort_instructors')),
        sa.UniqueConstraint(
            'cohort_id', 'user_id', name=op.f('uq_cohort_instructors_cohort_id_user_id')
        ),
    )
    op.create_index(
        op.f('ix_cohort_instructors_user_id'), 'cohort_instructors', ['user_id'], unique=False
    )
    op.execute(
        'INSERT INTO cohort_instructors (cohort_id, user_id, added_at, added_by_id)'
        ' SELECT id, instructor_id, created_at, instructor_id FROM cohorts ORDER BY id'
    )
    _creator(nullable=True, ondelete='SET NULL')

    op.add_column('users', sa.Column('instructor_name', sa.String(length=NAME_MAX), nullable=True))
    op.add_column(
        'users',
        sa.Column('instructor_number', sa.String(length=INSTRUCTOR_NUMBER_MAX), nullable=True),
    )
    op.add_column(
        'users', sa.Column('instructor_issuing_body', sa.String(length=NAME_MAX), nullable=True)
    )


def downgrade() -> None:
    # SQLite >= 3.35 drops a column in place; nothing refers to these.
    op.drop_column('users', 'instructor_issuing_body')
    op.drop_column('users', 'instructor_number')
    op.drop_column('users', 'instructor_name')

    op.execute(
        'UPDATE cohorts SET instructor_id = ('
        ' SELECT ci.user_id FROM cohort_instructors ci WHERE ci.cohort_id = cohorts.id'
        ' ORDER BY ci.added_at, ci.id LIMIT 1)'
        ' WHERE NOT EXISTS ('
        ' SELECT 1 FROM cohort_instructors ci'
        ' WHERE ci.cohort_id = cohorts.id AND ci.user_id = cohorts.instructor_id)'
    )
    # Before 0013 a cohort went with its instructor's account: one whose every instructor's
    # account is gone is deleted now, as it would have been then, and said so.
    bind = op.get_bind()
    orphans = bind.execute(
        sa.text('SELECT id, name FROM cohorts WHERE instructor_id IS NULL ORDER BY id')
    ).all()
    for cohort_id, name in orphans:
        print(f'cohort {cohort_id} ({name!r}) has no instructor left: deleted, with its members')
    # By hand: SQLite's foreign keys, and so their cascades, are off while migrating.
    orphaned = 'SELECT id FROM cohorts WHERE instructor_id IS NULL'
    for table in ('enrolments', 'completion_records'):
        bind.execute(sa.text(f'DELETE FROM {table} WHERE cohort_id IN ({orphaned})'))
    bind.execute(sa.text('DELETE FROM cohorts WHERE instructor_id IS NULL'))
    _creator(nullable=False, ondelete='CASCADE')
    op.drop_index(op.f('ix_cohort_instructors_user_id'), table_name='cohort_instructors')
    op.drop_table('cohort_instructors')


def _creator(nullable: bool, ondelete: str) -> None:
    """cohorts.instructor_id with its foreign key made anew: on SQLite by rebuilding
    `cohorts`, reflected alone (following its foreign keys would reflect `users`, whose
    index on an expression SQLite cannot reflect) and keeping AUTOINCREMENT (0005)."""
    sqlite = op.get_bind().dialect.name == 'sqlite'
    rebuilt = (
        {
            'recreate': 'always',
            'table_kwargs': {'sqlite_autoincrement': True},
            'reflect_kwargs': {'resolve_fks': False},
        }
        if sqlite
        else {}
    )
    with op.batch_alter_table('cohorts', schema=None, **rebuilt) as batch_op:
        batch_op.drop_constraint(CREATOR_FK, type_='foreignkey')
        batch_op.alter_column('instructor_id', existing_type=sa.Integer(), nullable=nullable)
        batch_op.create_foreign_key(
            CREATOR_FK, 'users', ['instructor_id'], ['id'], ondelete=ondelete
        )
