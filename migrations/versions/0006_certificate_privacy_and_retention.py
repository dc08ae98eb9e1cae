"""certificates: one valid per learner and lesson, public reason and private note, withdrawal;
completion records kept by cohorts

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 10:00:00.000000

- `certificates.revoke_note`: the private note. Every revocation made so far wrote its
  reason as free text, which the public verify page showed: that text moves into the note,
  and the public reason becomes the neutral "Revoked by the issuer". From now on the public
  reason is one of a short list (a CHECK constraint: models.REVOKE_REASONS and WITHDRAWN).
- `certificates.withdrawn_at`, and `pdf` may be NULL: a certificate withdrawn at its holder's
  request keeps no PDF.
- At most one valid certificate per learner and lesson (two partial unique indexes, see
  models.Certificate). Where two claims already made two, the newest stays and each older one
  is revoked ("Issued in error", with a note naming the one that stands); each is printed by
  `flask db upgrade` for an admin to review.
- `completion_records`: what a cohort keeps once an account or a certificate is deleted.
"""

from datetime import UTC, datetime

from alembic import op
import sqlalchemy as sa
import learnapp.db


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

NEUTRAL = 'Revoked by the issuer'
DUPLICATE = 'Issued in error'
# As models.py has them when this was written: a later change to the list migrates itself.
PUBLIC_REASONS = (
    "revoke_reason IN ('Issued in error', 'Requirements not met', 'Revoked by the issuer',"
    " 'Withdrawn at the holder''s request')"
)
UNREVOKED = 'superseded_at IS NULL AND revoked_at IS NULL'
UNREVOKED_FIRST = f'renews_id IS NULL AND {UNREVOKED}'

CERTIFICATES = sa.table(
    'certificates',
    sa.column('id', sa.Integer),
    sa.column('code', sa.String),
    sa.column('user_id', sa.Integer),
    sa.column('lesson', sa.String),
    sa.column('renews_id', sa.Integer),
    sa.column('issued_at', learnapp.db.UTCDateTime()),
    sa.column('superseded_at', learnapp.db.UTCDateTime()),
    sa.column('revoked_at', learnapp.db.UTCDateTime()),
    sa.column('revoke_reason', sa.String),
    sa.column('revoke_note', sa.String),
    sa.column('pdf', sa.LargeBinary),
)


def upgrade() -> None:
    # Added in place (SQLite too), then filled, before the batch that adds the constraints.
    op.add_column('certificates', sa.Column('revoke_note', sa.String(length=500), nullable=True))
    op.add_column(
        'certificates', sa.Column('withdrawn_at', learnapp.db.UTCDateTime(), nullable=True)
    )
    c = CERTIFICATES.c
    op.execute(
        CERTIFICATES.update()
        .where(c.revoked_at.is_not(None))
        .values(revoke_note=c.revoke_reason, revoke_reason=NEUTRAL)
    )
    _revoke_duplicates()

    sqlite = op.get_bind().dialect.name == 'sqlite'
    # As 0005 does: SQLite cannot reflect this index on an expression, and a batch copying a
    # table that refers to `users` would warn about it; made again after the batch.
    if sqlite:
        op.drop_index('ix_users_lower_name', table_name='users')
    with op.batch_alter_table('certificates', schema=None, **_rebuilt(sqlite)) as batch_op:
        batch_op.alter_column('pdf', existing_type=sa.LargeBinary(), nullable=True)
        batch_op.create_check_constraint(batch_op.f('ck_certificates_public_reason'), PUBLIC_REASONS)
        batch_op.create_check_constraint(
            batch_op.f('ck_certificates_note_if_revoked'),
            'revoke_note IS NULL OR revoked_at IS NOT NULL',
        )
        batch_op.create_check_constraint(
            batch_op.f('ck_certificates_withdrawn_revoked'),
            'withdrawn_at IS NULL OR revoked_at IS NOT NULL',
        )
        batch_op.create_check_constraint(
            batch_op.f('ck_certificates_pdf_until_withdrawn'),
            '(pdf IS NULL) = (withdrawn_at IS NOT NULL)',
        )
    if sqlite:
        op.create_index('ix_users_lower_name', 'users', [sa.text('lower(name)'), 'id'], unique=False)
    op.create_index(
        'uq_certificates_one_first',
        'certificates',
        ['user_id', 'lesson'],
        unique=True,
        sqlite_where=sa.text(UNREVOKED_FIRST),
        postgresql_where=sa.text(UNREVOKED_FIRST),
    )
    op.create_index(
        'uq_certificates_one_renewal',
        'certificates',
        ['renews_id'],
        unique=True,
        sqlite_where=sa.text(UNREVOKED),
        postgresql_where=sa.text(UNREVOKED),
    )

    op.create_table('completion_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cohort_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('lesson_title', sa.String(length=300), nullable=False),
    sa.Column('score_percent', sa.Double(), nullable=False),
    sa.Column('joined_at', learnapp.db.UTCDateTime(), nullable=False),
    sa.Column('issued_at', learnapp.db.UTCDateTime(), nullable=False),
    sa.Column('valid_until', learnapp.db.UTCDateTime(), nullable=False),
    sa.Column('revoked_at', learnapp.db.UTCDateTime(), nullable=True),
    sa.Column('recorded_at', learnapp.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['cohort_id'], ['cohorts.id'], name=op.f('fk_completion_records_cohort_id_cohorts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_completion_records')),
    sa.UniqueConstraint('cohort_id', 'code', name=op.f('uq_completion_records_cohort_id_code'))
    )
    op.create_index(op.f('ix_completion_records_valid_until'), 'completion_records', ['valid_until'], unique=False)


def _revoke_duplicates() -> None:
    """Of two or more valid certificates for one learner and lesson (first certificates), or
    for one renewed certificate (renewals), keep the newest and revoke the others."""
    bind = op.get_bind()
    c = CERTIFICATES.c
    current = bind.execute(
        sa.select(c.code, c.user_id, c.lesson, c.renews_id)
        .where(c.superseded_at.is_(None), c.revoked_at.is_(None), c.user_id.is_not(None))
        .order_by(c.issued_at.desc(), c.id.desc())
    ).all()
    stands: dict[tuple, str] = {}  # the group's key -> the newest code in it
    older: dict[str, str] = {}  # a code to revoke -> the code that stands
    for code, user_id, lesson, renews_id in current:
        key = ('first', user_id, lesson) if renews_id is None else ('renewal', renews_id)
        if key in stands:
            older[code] = stands[key]
        else:
            stands[key] = code
    now = datetime.now(UTC)
    for code, kept in older.items():
        print(
            f"certificate {code}: a second valid certificate for the same lesson, revoked"
            f" ('{DUPLICATE}'); {kept} stands (review it)"
        )
        # Every revision, as a revocation does: an older PDF must not still verify.
        bind.execute(
            CERTIFICATES.update()
            .where(c.code == code, c.revoked_at.is_(None))
            .values(
                revoked_at=now,
                revoke_reason=DUPLICATE,
                revoke_note=f'A second valid certificate for this lesson: {kept} stands'
                ' (migration 0006).',
            )
        )


def downgrade() -> None:
    op.drop_index(op.f('ix_completion_records_valid_until'), table_name='completion_records')
    op.drop_table('completion_records')
    op.drop_index('uq_certificates_one_renewal', table_name='certificates')
    op.drop_index('uq_certificates_one_first', table_name='certificates')
    c = CERTIFICATES.c
    # Withdrawn PDFs are gone: an empty one stands in, as the old schema needs one.
    op.execute(CERTIFICATES.update().where(c.pdf.is_(None)).values(pdf=b''))
    sqlite = op.get_bind().dialect.name == 'sqlite'
    if sqlite:
        op.drop_index('ix_users_lower_name', table_name='users')
    with op.batch_alter_table('certificates', schema=None, **_rebuilt(sqlite)) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_certificates_pdf_until_withdrawn'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_certificates_withdrawn_revoked'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_certificates_note_if_revoked'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_certificates_public_reason'), type_='check')
        batch_op.alter_column('pdf', existing_type=sa.LargeBinary(), nullable=False)
    # The note was the reason before: it becomes the reason again where there is one.
    op.execute(
        CERTIFICATES.update().where(c.revoke_note.is_not(None)).values(revoke_reason=c.revoke_note)
    )
    with op.batch_alter_table('certificates', schema=None, **_rebuilt(sqlite)) as batch_op:
        batch_op.drop_column('withdrawn_at')
        batch_op.drop_column('revoke_note')
    if sqlite:
        op.create_index('ix_users_lower_name', 'users', [sa.text('lower(name)'), 'id'], unique=False)


def _rebuilt(sqlite: bool) -> dict:
    """Batch options that rebuild the SQLite table keeping AUTOINCREMENT (0005)."""
    return {'recreate': 'always', 'table_kwargs': {'sqlite_autoincrement': True}} if sqlite else {}
