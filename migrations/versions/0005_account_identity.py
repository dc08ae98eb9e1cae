"""account identity: ids never reused, a session token per account, e-mail skeletons

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 20:00:00.000000

- SQLite: `users`, `cohorts`, `quiz_attempts` and `certificates` are rebuilt with
  AUTOINCREMENT, so that a deleted row's id is never handed to a new one (their ids reach
  cookies, URLs and certificates). PostgreSQL's sequences never reuse ids: nothing to do.
  An id above every remaining one that was deleted before this migration can still be
  given once; the session token below is what keeps its cookies from opening anything.
- `users.session_token`: a random value per account, now part of the session identity.
  Every account gets a new one, so everyone is logged out once by this upgrade.
- `users.email`: rewritten in its normalised form (learnapp.emails.normalise_email: NFKC,
  lower case, email-validator's form), unless another account already holds that form.
- `users.email_skeleton`: what the address looks like (learnapp.emails.email_skeleton),
  unique. Where accounts that already exist have look-alike addresses, the oldest keeps the
  skeleton and each later one stores it suffixed with `#<its id>`, so that uniqueness holds
  and nobody is locked out. Each such account, and each whose address could not take its
  normalised form, is printed by `flask db upgrade` for an admin to review (docs/deployment.md
  says how to list them again later).
"""

import secrets

from alembic import op
import sqlalchemy as sa

from learnapp.emails import email_skeleton, normalise_email


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

NEVER_REUSED = ('users', 'cohorts', 'quiz_attempts', 'certificates')
USERS = sa.table(
    'users',
    sa.column('id', sa.Integer),
    sa.column('email', sa.String),
    sa.column('created_at', sa.DateTime),
    sa.column('session_token', sa.String),
    sa.column('email_skeleton', sa.String),
)


def upgrade() -> None:
    # Not in a batch (SQLite adds a column in place): a batch would reflect `users`.
    op.add_column('users', sa.Column('session_token', sa.String(length=32), nullable=True))
    op.add_column('users', sa.Column('email_skeleton', sa.String(length=100), nullable=True))
    _fill_users()
    sqlite = op.get_bind().dialect.name == 'sqlite'
    # SQLite cannot reflect this index on an expression (0003): a batch that copies `users`
    # or a table referring to it would warn and leave it out, so it is dropped here and made
    # again after them all.
    if sqlite:
        op.drop_index('ix_users_lower_name', table_name='users')
    with op.batch_alter_table('users', schema=None, **_rebuilt(sqlite, True)) as batch_op:
        batch_op.alter_column('session_token', existing_type=sa.String(length=32), nullable=False)
        batch_op.alter_column('email_skeleton', existing_type=sa.String(length=100), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_users_email_skeleton'), ['email_skeleton'])
    if sqlite:
        for table in NEVER_REUSED[1:]:
            with op.batch_alter_table(table, schema=None, **_rebuilt(sqlite, True)):
                pass
        op.create_index('ix_users_lower_name', 'users', [sa.text('lower(name)'), 'id'], unique=False)


def _rebuilt(sqlite: bool, autoincrement: bool) -> dict:
    """Batch options that rebuild a SQLite table with or without AUTOINCREMENT (env.py turns
    foreign keys off meanwhile, as Alembic's batch documentation requires)."""
    if not sqlite:
        return {}
    return {'recreate': 'always', 'table_kwargs': {'sqlite_autoincrement': autoincrement}}


def _fill_users() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(USERS.c.id, USERS.c.email).order_by(USERS.c.created_at, USERS.c.id)
    ).all()
    emails = {email for _id, email in rows}
    skeletons: dict[str, int] = {}  # skeleton -> the oldest account that has it
    updates = []
    for user_id, email in rows:
        normalised = normalise_email(email)
        if normalised != email and normalised not in emails:
            emails.discard(email)
            emails.add(normalised)
            email = normalised
        elif normalised != email:
            print(
                f"account {user_id} <{email}>: its normalised address <{normalised}> belongs"
                " to another account, so it keeps the address as stored, which no login can"
                " type any more (review it: disable or delete it)"
            )
        skeleton = email_skeleton(email)
        if skeleton in skeletons:
            print(
                f"account {user_id} <{email}> looks like the address of the older account"
                f" {skeletons[skeleton]}: both are kept (review them)"
            )
            skeleton = f"{skeleton}#{user_id}"
        else:
            skeletons[skeleton] = user_id
        updates.append(
            {
                'user_id': user_id,
                'new_email': email,
                'new_skeleton': skeleton,
                'new_token': secrets.token_urlsafe(12),
            }
        )
    if updates:
        bind.execute(
            USERS.update()
            .where(USERS.c.id == sa.bindparam('user_id'))
            .values(
                email=sa.bindparam('new_email'),
                email_skeleton=sa.bindparam('new_skeleton'),
                session_token=sa.bindparam('new_token'),
            ),
            updates,
        )


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == 'sqlite'
    if sqlite:
        op.drop_index('ix_users_lower_name', table_name='users')
        for table in NEVER_REUSED[1:]:
            with op.batch_alter_table(table, schema=None, **_rebuilt(sqlite, False)):
                pass
    with op.batch_alter_table('users', schema=None, **_rebuilt(sqlite, False)) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_users_email_skeleton'), type_='unique')
        batch_op.drop_column('email_skeleton')
        batch_op.drop_column('session_token')
    if sqlite:
        op.create_index('ix_users_lower_name', 'users', [sa.text('lower(name)'), 'id'], unique=False)
