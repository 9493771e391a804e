"""outbox heads: each recipient's oldest unfinished row per lane is flagged, so a claim reads
only heads through a small partial index (cost per batch, not per backlog)

Revision ID: 0070
Revises: 0062
"""
from alembic import op
import sqlalchemy as sa

revision = '0070'
down_revision = '0062'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('head', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute("UPDATE outbox SET head = TRUE WHERE id IN (SELECT min(id) FROM outbox "
               "WHERE status IN ('pending', 'sending', 'held') GROUP BY account_id, lane)")
    op.drop_index('ix_outbox_due', table_name='outbox')    # the claim reads heads now
    op.create_index('ix_outbox_heads', 'outbox', ['lane', 'status', 'id'],
                    sqlite_where=sa.text('head'), postgresql_where=sa.text('head'))
    op.create_index('ix_outbox_head_account', 'outbox', ['account_id', 'lane'],
                    sqlite_where=sa.text('head'), postgresql_where=sa.text('head'))


def downgrade() -> None:
    op.drop_index('ix_outbox_head_account', table_name='outbox')
    op.drop_index('ix_outbox_heads', table_name='outbox')
    op.create_index('ix_outbox_due', 'outbox', ['status', 'lane', 'not_before', 'id'])
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('head')
