"""scale: an edit or delete of a post is marked on the post and queued for its copies by the
outbox worker (storage/post_changes.py), not by the handler

Revision ID: 0090
Revises: 0084
"""
from alembic import op
import sqlalchemy as sa

revision = '0090'
down_revision = '0084'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pending_change', sa.String(8), nullable=True))
    op.create_index('ix_posts_pending_change', 'posts', ['id'], unique=False,
                    sqlite_where=sa.text('pending_change IS NOT NULL'),
                    postgresql_where=sa.text('pending_change IS NOT NULL'))


def downgrade() -> None:
    op.drop_index('ix_posts_pending_change', table_name='posts')
    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.drop_column('pending_change')
