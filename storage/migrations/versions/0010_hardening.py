"""hardening: draft kinds and titles

Revision ID: 0010
Revises: 0020
"""
from alembic import op
import sqlalchemy as sa

revision = '0010'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('drafts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(16), nullable=False, server_default='kept'))
        batch_op.add_column(sa.Column('title', sa.String(120), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('drafts', schema=None) as batch_op:
        batch_op.drop_column('title')
        batch_op.drop_column('kind')
