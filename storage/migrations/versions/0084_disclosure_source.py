"""safety: the platform message a waiting text came from, so that editing that message on the
platform is the author's correction

Revision ID: 0084
Revises: 0080
"""
from alembic import op
import sqlalchemy as sa

revision = '0084'
down_revision = '0080'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('disclosure_pending', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source_account_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('source_message_id', sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('disclosure_pending', schema=None) as batch_op:
        batch_op.drop_column('source_message_id')
        batch_op.drop_column('source_account_id')
