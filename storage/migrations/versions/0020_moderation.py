"""moderation: the consultant's queue, sanctions, consultant settings, linked accounts,
invite limits

Revision ID: 0020
Revises: 0050
"""
from alembic import op
import sqlalchemy as sa

revision = '0020'
down_revision = '0050'
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'mod_queue',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('group_id', sa.Integer(), sa.ForeignKey('groups.id', ondelete='CASCADE'), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('post_id', sa.Integer(), nullable=True),
        sa.Column('report_id', sa.Integer(), nullable=True),
        sa.Column('subject_member_id', sa.Integer(), nullable=True),
        sa.Column('body', sa.Text(), nullable=True),
        sa.Column('created_at', TZ, nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('closed_at', TZ, nullable=True),
        sa.Column('closed_by_member_id', sa.Integer(), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
    )
    op.create_index('ix_mod_queue_open', 'mod_queue', ['group_id', 'status', 'id'])
    op.create_table(
        'sanctions',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('group_id', sa.Integer(), sa.ForeignKey('groups.id', ondelete='CASCADE'), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=True),
        sa.Column('member_id', sa.Integer(), nullable=True),
        sa.Column('kind', sa.String(length=12), nullable=False),
        sa.Column('level', sa.Integer(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('created_at', TZ, nullable=False),
        sa.Column('until', TZ, nullable=True),
        sa.Column('lifted_at', TZ, nullable=True),
        sa.Column('actor_member_id', sa.Integer(), nullable=True),
    )
    op.create_index('ix_sanctions_person', 'sanctions', ['person_id', 'group_id'])
    op.create_table(
        'consultant_prefs',
        sa.Column('member_id', sa.Integer(), sa.ForeignKey('members.id', ondelete='CASCADE'), primary_key=True),
        sa.Column('alerts', sa.String(length=8), nullable=False),
        sa.Column('source', sa.String(length=12), nullable=False),
        sa.Column('last_summary_at', TZ, nullable=True),
    )
    op.create_table(
        'link_codes',
        sa.Column('code', sa.String(length=16), primary_key=True),
        sa.Column('person_id', sa.Integer(), sa.ForeignKey('people.id', ondelete='CASCADE'), nullable=False),
        sa.Column('created_at', TZ, nullable=False),
        sa.Column('expires_at', TZ, nullable=False),
        sa.Column('used', sa.Boolean(), nullable=False),
    )
    op.create_table(
        'delivery_choice',
        sa.Column('person_id', sa.Integer(), sa.ForeignKey('people.id', ondelete='CASCADE'), primary_key=True),
        sa.Column('account_id', sa.Integer(), sa.ForeignKey('accounts.id', ondelete='CASCADE'), nullable=False),
    )
    with op.batch_alter_table('invite_codes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('max_uses', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('expires_at', TZ, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('invite_codes', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
        batch_op.drop_column('max_uses')
    for table in ('delivery_choice', 'link_codes', 'consultant_prefs', 'sanctions', 'mod_queue'):
        op.drop_table(table)
