"""safety: texts waiting for the author's answer to the disclosure question

Revision ID: 0030
Revises: 0070
"""
from alembic import op
import sqlalchemy as sa

revision = '0030'
down_revision = '0070'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'disclosure_pending',
        sa.Column('draft_id', sa.Integer(), sa.ForeignKey('drafts.id', ondelete='CASCADE'), primary_key=True,
                  autoincrement=False),
        sa.Column('member_id', sa.Integer(), sa.ForeignKey('members.id', ondelete='CASCADE'), nullable=False),
        sa.Column('edit_post_id', sa.Integer(), nullable=True),
        sa.Column('awaiting_fix', sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column('crisis_answered', sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index('ix_disclosure_pending_member', 'disclosure_pending', ['member_id'])


def downgrade() -> None:
    op.drop_index('ix_disclosure_pending_member', table_name='disclosure_pending')
    op.drop_table('disclosure_pending')
