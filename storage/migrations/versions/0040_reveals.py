"""reveals: identity cards, the private reveal ledger, requests, the café handshake, closed-thread invites

Revision ID: 0040
Revises: 0010
"""
from alembic import op
import sqlalchemy as sa

revision = '0040'
down_revision = '0010'
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'identity_cards',
        sa.Column('member_id', sa.Integer(), sa.ForeignKey('members.id', ondelete='CASCADE'), primary_key=True,
                  autoincrement=False),
        sa.Column('card_enc', sa.LargeBinary(), nullable=False),
        sa.Column('updated_at', TZ, nullable=False),
    )
    op.create_table(
        'reveals',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('group_id', sa.Integer(), nullable=False),
        sa.Column('revealer_member_id', sa.Integer(), sa.ForeignKey('members.id', ondelete='CASCADE'),
                  nullable=False),
        sa.Column('recipient_member_id', sa.Integer(), sa.ForeignKey('members.id', ondelete='CASCADE'),
                  nullable=True),
        sa.Column('scope', sa.String(12), nullable=False),
        sa.Column('via', sa.String(12), nullable=False),
        sa.Column('created_at', TZ, nullable=False),
        sa.Column('withdrawn_at', TZ, nullable=True),
    )
    op.create_index('ix_reveals_revealer', 'reveals', ['revealer_member_id', 'withdrawn_at'])
    op.create_index('ix_reveals_recipient', 'reveals', ['recipient_member_id', 'withdrawn_at'])
    op.create_table(
        'reveal_requests',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('group_id', sa.Integer(), nullable=False),
        sa.Column('requester_member_id', sa.Integer(), sa.ForeignKey('members.id', ondelete='CASCADE'),
                  nullable=False),
        sa.Column('target_member_id', sa.Integer(), sa.ForeignKey('members.id', ondelete='CASCADE'),
                  nullable=False),
        sa.Column('created_at', TZ, nullable=False),
        sa.Column('expires_at', TZ, nullable=False),
        sa.Column('answered_at', TZ, nullable=True),
        sa.Column('outcome', sa.String(12), nullable=True),
    )
    op.create_index('ix_reveal_requests_requester', 'reveal_requests', ['requester_member_id'])
    op.create_index('ix_reveal_requests_target', 'reveal_requests', ['target_member_id'])
    op.create_table(
        'reveal_prefs',
        sa.Column('member_id', sa.Integer(), sa.ForeignKey('members.id', ondelete='CASCADE'), primary_key=True,
                  autoincrement=False),
        sa.Column('requests_off', sa.Boolean(), nullable=False),
        sa.Column('meet_fails_in_row', sa.Integer(), nullable=False),
        sa.Column('meet_window_start', TZ, nullable=True),
        sa.Column('meet_window_fails', sa.Integer(), nullable=False),
        sa.Column('meet_locked', sa.Boolean(), nullable=False),
    )
    op.create_table(
        'meet_codes',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('group_id', sa.Integer(), nullable=False),
        sa.Column('member_id', sa.Integer(), sa.ForeignKey('members.id', ondelete='CASCADE'), nullable=False),
        sa.Column('code_hash', sa.String(64), nullable=False),
        sa.Column('created_at', TZ, nullable=False),
        sa.Column('expires_at', TZ, nullable=False),
        sa.Column('status', sa.String(12), nullable=False),
        sa.Column('partner_member_id', sa.Integer(), sa.ForeignKey('members.id', ondelete='CASCADE'),
                  nullable=True),
        sa.Column('phrase', sa.String(64), nullable=True),
        sa.Column('confirm_by', TZ, nullable=True),
        sa.Column('owner_confirmed', sa.Boolean(), nullable=False),
        sa.Column('partner_confirmed', sa.Boolean(), nullable=False),
    )
    op.create_index('ix_meet_codes_lookup', 'meet_codes', ['group_id', 'code_hash'])
    op.create_table(
        'thread_invites',
        sa.Column('thread_id', sa.Integer(), sa.ForeignKey('threads.id', ondelete='CASCADE'), primary_key=True),
        sa.Column('member_id', sa.Integer(), sa.ForeignKey('members.id', ondelete='CASCADE'), primary_key=True),
        sa.Column('invited_at', TZ, nullable=False),
    )


def downgrade() -> None:
    op.drop_table('thread_invites')
    op.drop_index('ix_meet_codes_lookup', 'meet_codes')
    op.drop_table('meet_codes')
    op.drop_table('reveal_prefs')
    op.drop_index('ix_reveal_requests_target', 'reveal_requests')
    op.drop_index('ix_reveal_requests_requester', 'reveal_requests')
    op.drop_table('reveal_requests')
    op.drop_index('ix_reveals_recipient', 'reveals')
    op.drop_index('ix_reveals_revealer', 'reveals')
    op.drop_table('reveals')
    op.drop_table('identity_cards')
