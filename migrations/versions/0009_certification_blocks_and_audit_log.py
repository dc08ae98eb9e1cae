"""certification blocks, certificate audit log, corrected names, course minutes

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 16:31:20.807137

- `certification_blocks`: set by a revocation, lifted (with a public reason) by an instructor
  or admin who manages the revoked certificate; while one is in force the learner gets no new
  certificate for the lesson.
- `certificate_events`: the audit log of every revoke, reinstate, block, unblock, reissue and
  withdrawal, with who acted, the public reason and the private note. Earlier revocations
  are not back-filled: their reason, note and author stay on the certificate rows.
- `users.certificate_name`: a name an instructor corrected, offered for later certificates.
- `certificates.course_minutes`: the lesson's length at issue (NULL for earlier ones, whose
  PDFs printed no duration).
"""

from alembic import op
import sqlalchemy as sa
import learnapp.db


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('certificate_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('at', learnapp.db.UTCDateTime(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_name', sa.String(length=120), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('detail', sa.String(length=250), nullable=True),
    sa.CheckConstraint("action IN ('revoke', 'reinstate', 'block', 'unblock', 'reissue', 'withdraw')", name=op.f('ck_certificate_events_action')),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_certificate_events_actor_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_certificate_events')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('certificate_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_certificate_events_code'), ['code'], unique=False)

    op.create_table('certification_blocks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('lesson', sa.String(length=100), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('blocked_at', learnapp.db.UTCDateTime(), nullable=False),
    sa.Column('blocked_by_id', sa.Integer(), nullable=True),
    sa.Column('lifted_at', learnapp.db.UTCDateTime(), nullable=True),
    sa.Column('lifted_by_id', sa.Integer(), nullable=True),
    sa.Column('lift_reason', sa.String(length=500), nullable=True),
    sa.CheckConstraint("lift_reason IS NULL OR lift_reason IN ('Requirements now met', 'Blocked in error', 'Lifted by the issuer')", name=op.f('ck_certification_blocks_public_lift_reason')),
    sa.CheckConstraint('(lifted_at IS NULL) = (lift_reason IS NULL)', name=op.f('ck_certification_blocks_lifted_with_reason')),
    sa.ForeignKeyConstraint(['blocked_by_id'], ['users.id'], name=op.f('fk_certification_blocks_blocked_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['lifted_by_id'], ['users.id'], name=op.f('fk_certification_blocks_lifted_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_certification_blocks_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_certification_blocks')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('certification_blocks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_certification_blocks_code'), ['code'], unique=False)
        batch_op.create_index('uq_certification_blocks_in_force', ['user_id', 'lesson'], unique=True, sqlite_where=sa.text('lifted_at IS NULL'), postgresql_where=sa.text('lifted_at IS NULL'))

    # Added in place (SQLite too): nullable columns need no rebuild, which would lose the
    # expression index on users and the partial indexes on certificates.
    op.add_column('certificates', sa.Column('course_minutes', sa.Integer(), nullable=True))
    op.add_column('users', sa.Column('certificate_name', sa.String(length=120), nullable=True))



def downgrade() -> None:
    # In place too: SQLite (3.35 and later) drops a column no index or constraint names.
    op.drop_column('users', 'certificate_name')
    op.drop_column('certificates', 'course_minutes')

    with op.batch_alter_table('certification_blocks', schema=None) as batch_op:
        batch_op.drop_index('uq_certification_blocks_in_force', sqlite_where=sa.text('lifted_at IS NULL'), postgresql_where=sa.text('lifted_at IS NULL'))
        batch_op.drop_index(batch_op.f('ix_certification_blocks_code'))

    op.drop_table('certification_blocks')
    with op.batch_alter_table('certificate_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_certificate_events_code'))

    op.drop_table('certificate_events')
