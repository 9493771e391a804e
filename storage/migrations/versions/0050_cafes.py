"""cafés: series, occurrences, RSVPs, reminder bookkeeping, preferences, settings

Revision ID: 0050
Revises: 0061
"""
from alembic import op
import sqlalchemy as sa

revision = '0050'
down_revision = '0061'
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'cafe_series',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('group_id', sa.Integer(), sa.ForeignKey('groups.id', ondelete='CASCADE'), nullable=False),
        sa.Column('community_id', sa.Integer(), sa.ForeignKey('communities.id', ondelete='CASCADE'),
                  nullable=False),
        sa.Column('rule', sa.String(40), nullable=False),
        sa.Column('rrule', sa.String(200), nullable=False),
        sa.Column('local_time', sa.String(5), nullable=False),
        sa.Column('timezone', sa.String(64), nullable=False),
        sa.Column('place', sa.String(200), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_at', TS, nullable=False),
    )
    op.create_table(
        'cafes',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('group_id', sa.Integer(), sa.ForeignKey('groups.id', ondelete='CASCADE'), nullable=False),
        sa.Column('community_id', sa.Integer(), sa.ForeignKey('communities.id', ondelete='CASCADE'),
                  nullable=False),
        sa.Column('series_id', sa.Integer(), sa.ForeignKey('cafe_series.id', ondelete='SET NULL'), nullable=True),
        sa.Column('slot', sa.String(16), nullable=True),
        sa.Column('starts_at', TS, nullable=False),
        sa.Column('timezone', sa.String(64), nullable=False),
        sa.Column('place', sa.String(200), nullable=False),
        sa.Column('topic', sa.Text(), nullable=True),
        sa.Column('topic_thread_id', sa.Integer(), nullable=True),
        sa.Column('status', sa.String(12), nullable=False),
        sa.Column('sequence', sa.Integer(), nullable=False),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('announced_at', TS, nullable=True),
        sa.Column('reminders_from', TS, nullable=False),
        sa.Column('created_at', TS, nullable=False),
        sa.UniqueConstraint('series_id', 'slot'),
    )
    op.create_index('ix_cafes_start', 'cafes', ['status', 'starts_at'])
    op.create_table(
        'cafe_rsvps',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('cafe_id', sa.Integer(), sa.ForeignKey('cafes.id', ondelete='CASCADE'), nullable=False),
        sa.Column('member_id', sa.Integer(), sa.ForeignKey('members.id', ondelete='CASCADE'), nullable=False),
        sa.Column('answer', sa.String(8), nullable=False),
        sa.Column('answered_at', TS, nullable=False),
        sa.UniqueConstraint('cafe_id', 'member_id'),
    )
    op.create_index('ix_cafe_rsvps_cafe_id', 'cafe_rsvps', ['cafe_id'])
    op.create_table(
        'cafe_reminders_sent',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('cafe_id', sa.Integer(), sa.ForeignKey('cafes.id', ondelete='CASCADE'), nullable=False),
        sa.Column('offset_minutes', sa.Integer(), nullable=False),
        sa.Column('person_id', sa.Integer(), sa.ForeignKey('people.id', ondelete='CASCADE'), nullable=False),
        sa.Column('outcome', sa.String(12), nullable=False),
        sa.Column('at', TS, nullable=False),
        sa.UniqueConstraint('cafe_id', 'offset_minutes', 'person_id'),
    )
    op.create_table(
        'cafe_prefs',
        sa.Column('person_id', sa.Integer(), sa.ForeignKey('people.id', ondelete='CASCADE'), primary_key=True),
        sa.Column('reminders', sa.Boolean(), nullable=False),
    )
    op.create_table(
        'cafe_settings',
        sa.Column('group_id', sa.Integer(), sa.ForeignKey('groups.id', ondelete='CASCADE'), primary_key=True),
        sa.Column('offsets', sa.String(100), nullable=False),
        sa.Column('changed_at', TS, nullable=False),
    )
    op.create_table(
        'cafe_rides',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('cafe_id', sa.Integer(), sa.ForeignKey('cafes.id', ondelete='CASCADE'), nullable=False),
        sa.Column('member_id', sa.Integer(), sa.ForeignKey('members.id', ondelete='CASCADE'), nullable=False),
        sa.Column('kind', sa.String(8), nullable=False),
        sa.Column('seats', sa.Integer(), nullable=False),
        sa.Column('matched', sa.Boolean(), nullable=False),
        sa.Column('at', TS, nullable=False),
        sa.UniqueConstraint('cafe_id', 'member_id'),
    )
    op.create_table(
        'cafe_buddies',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('cafe_id', sa.Integer(), sa.ForeignKey('cafes.id', ondelete='CASCADE'), nullable=False),
        sa.Column('member_id', sa.Integer(), sa.ForeignKey('members.id', ondelete='CASCADE'), nullable=False),
        sa.Column('buddy_member_id', sa.Integer(), nullable=True),
        sa.Column('thread_id', sa.Integer(), nullable=True),
        sa.Column('at', TS, nullable=False),
        sa.UniqueConstraint('cafe_id', 'member_id'),
    )


def downgrade() -> None:
    for table in ('cafe_buddies', 'cafe_rides', 'cafe_settings', 'cafe_prefs', 'cafe_reminders_sent', 'cafe_rsvps', 'cafes', 'cafe_series'):
        op.drop_table(table)
