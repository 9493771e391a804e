"""hardening: draft kinds and titles; look-alike pseudonym keys (UTS #39 skeletons); join attempts

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
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.alter_column('pseudonym_key', type_=sa.String(128), existing_type=sa.String(32))
    _rekey_pseudonyms()
    op.create_table(
        'join_attempts',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('person_id', sa.Integer(), sa.ForeignKey('people.id', ondelete='CASCADE'), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index('ix_join_attempts_person', 'join_attempts', ['person_id', 'at'])


def _rekey_pseudonyms() -> None:
    """Existing names get their look-alike key. Where two existing names in a group already
    look alike, the later one gets a key of its own (nobody is renamed behind their back);
    the check applies to every new name from now on. Keys are cleared first, so that no new
    key meets an old one on the way."""
    from storage.repo import pseudonym_key

    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, group_id, pseudonym FROM members "
                                "WHERE pseudonym IS NOT NULL ORDER BY id")).all()
    conn.execute(sa.text("UPDATE members SET pseudonym_key = NULL"))
    taken: set[tuple[int, str]] = set()
    for member_id, group_id, pseudonym in rows:
        key = pseudonym_key(pseudonym)
        if (group_id, key) in taken:
            key = f"{key[:100]}#{member_id}"
        taken.add((group_id, key))
        conn.execute(sa.text("UPDATE members SET pseudonym_key = :k WHERE id = :i"), {"k": key, "i": member_id})


def downgrade() -> None:
    op.drop_index('ix_join_attempts_person', table_name='join_attempts')
    op.drop_table('join_attempts')
    with op.batch_alter_table('drafts', schema=None) as batch_op:
        batch_op.drop_column('title')
        batch_op.drop_column('kind')
