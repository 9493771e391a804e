"""per-member unread state (members.unread_from, thread_state.unseen) instead of probing
delivery records, which retention now deletes; indexes that let /threads count one page

Revision ID: 0080
Revises: 0030

The backfill keeps every existing unread count. For each member, ``unread_from`` becomes the
post just before the first one delivered to them in full (so no older post was ever delivered
to them: those stay unread until read, as before), or the newest post if none was. Newer posts
they got no full copy of are counted in ``thread_state.unseen`` (rows added where needed).
"""
from alembic import op
import sqlalchemy as sa

revision = '0080'
down_revision = '0030'
branch_labels = None
depends_on = None

# "full" is a reserved word in PostgreSQL, hence the quotes.
NOT_SEEN = """NOT EXISTS (SELECT 1 FROM deliveries d JOIN accounts a ON a.id = d.account_id
                          WHERE d.post_id = p.id AND d."full" = TRUE AND a.person_id = m.person_id)"""


def upgrade() -> None:
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unread_from', sa.Integer(), nullable=False, server_default=sa.text('0')))
    with op.batch_alter_table('thread_state', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unseen', sa.Integer(), nullable=False, server_default=sa.text('0')))
    op.execute("""
        UPDATE members SET unread_from = COALESCE(
            (SELECT min(d.post_id) - 1 FROM deliveries d
               JOIN accounts a ON a.id = d.account_id
               JOIN posts p ON p.id = d.post_id
               JOIN threads t ON t.id = p.thread_id
              WHERE d."full" = TRUE AND a.person_id = members.person_id AND t.group_id = members.group_id),
            (SELECT COALESCE(max(id), 0) FROM posts))
        WHERE person_id IS NOT NULL""")
    op.execute(f"""
        UPDATE thread_state SET unseen = (
            SELECT count(*) FROM posts p JOIN members m ON m.id = thread_state.member_id
             WHERE p.thread_id = thread_state.thread_id AND p.status = 'published'
               AND p.author_member_id <> m.id AND m.person_id IS NOT NULL
               AND p.id > thread_state.last_read_post_id AND p.id > m.unread_from AND {NOT_SEEN})""")
    op.execute(f"""
        INSERT INTO thread_state (member_id, thread_id, last_read_post_id, unseen)
        SELECT m.id, p.thread_id, 0, count(*) FROM members m
          JOIN threads t ON t.group_id = m.group_id
          JOIN posts p ON p.thread_id = t.id
         WHERE m.person_id IS NOT NULL AND p.status = 'published' AND p.author_member_id <> m.id
           AND p.id > m.unread_from AND {NOT_SEEN}
           AND NOT EXISTS (SELECT 1 FROM thread_state s WHERE s.member_id = m.id AND s.thread_id = t.id)
         GROUP BY m.id, p.thread_id""")
    op.create_index('ix_posts_thread_status', 'posts', ['thread_id', 'status', 'id', 'author_member_id'])
    op.create_index('ix_threads_group_order', 'threads', ['group_id', 'pinned', 'last_activity_at', 'id'])


def downgrade() -> None:
    op.drop_index('ix_threads_group_order', table_name='threads')
    op.drop_index('ix_posts_thread_status', table_name='posts')
    with op.batch_alter_table('thread_state', schema=None) as batch_op:
        batch_op.drop_column('unseen')
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_column('unread_from')
