"""index certificates.renews_id: the verify page looks up renewals on every request

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 18:30:00.000000
"""

from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('certificates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_certificates_renews_id'), ['renews_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('certificates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_certificates_renews_id'))
