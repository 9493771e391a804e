"""cafés: ride needs introduced to offers (the offer and the two-person thread)

Revision ID: 0051
Revises: 0040
"""
from alembic import op
import sqlalchemy as sa

revision = '0051'
down_revision = '0040'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('cafe_rides', sa.Column('offer_id', sa.Integer(), nullable=True))
    op.add_column('cafe_rides', sa.Column('thread_id', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('cafe_rides') as batch:
        batch.drop_column('thread_id')
        batch.drop_column('offer_id')
