"""users: confirmed addresses, and an address change that waits for its confirmation

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-12 12:00:00.000000

- `users.email_confirmed_at`: when a link mailed to the address was followed (NULL: not
  yet). Mail other than account mail (reminders) goes only to confirmed addresses
  (accounts.may_mail).
- `users.pending_email`: an address asked for and not yet confirmed; the account keeps
  logging in with, and being mailed at, `email` until the link sent there is followed.

Existing accounts are counted as confirmed, at the moment of this upgrade. Their addresses
were never confirmed, but they are the addresses these people have been logging in with and
getting their password resets at; leaving them unconfirmed would stop reminders to every
existing learner, silently, until each one happened to visit their account page. New
accounts confirm theirs. `flask db upgrade` prints how many accounts this counted and the
moment it stored, by which an admin can find them later (docs/deployment.md).
"""

from datetime import UTC, datetime

from alembic import op
import sqlalchemy as sa
import learnapp.db


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

USERS = sa.table(
    'users',
    sa.column('id', sa.Integer),
    sa.column('email_confirmed_at', learnapp.db.UTCDateTime()),
)


def upgrade() -> None:
    # Added in place (SQLite too): nullable columns need no rebuild of `users`.
    op.add_column(
        'users', sa.Column('email_confirmed_at', learnapp.db.UTCDateTime(), nullable=True)
    )
    op.add_column('users', sa.Column('pending_email', sa.String(length=254), nullable=True))
    now = datetime.now(UTC)
    counted = op.get_bind().execute(USERS.update().values(email_confirmed_at=now)).rowcount
    if counted:
        print(
            f"{counted} existing accounts are counted as having confirmed their e-mail"
            f" address (email_confirmed_at = {now.isoformat()})"
        )


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == 'sqlite'
    # As 0005 does: SQLite cannot reflect this index on an expression, so a batch copying
    # `users` would leave it out; made again after the batch.
    if sqlite:
        op.drop_index('ix_users_lower_name', table_name='users')
    with op.batch_alter_table('users', schema=None, **_rebuilt(sqlite)) as batch_op:
        batch_op.drop_column('pending_email')
        batch_op.drop_column('email_confirmed_at')
    if sqlite:
        op.create_index('ix_users_lower_name', 'users', [sa.text('lower(name)'), 'id'], unique=False)


def _rebuilt(sqlite: bool) -> dict:
    """Batch options that rebuild the SQLite table keeping AUTOINCREMENT (0005)."""
    return {'recreate': 'always', 'table_kwargs': {'sqlite_autoincrement': True}} if sqlite else {}
