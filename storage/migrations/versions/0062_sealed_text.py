"""text people typed sealed under member keys: thread titles, drafts, reports, queue items, cards

Revision ID: 0062
Revises: 0051

Existing rows keep their plain text (or, for cards, the data-key seal) until the retention
job re-seals them under the member's key (handlers/privacy.py seal_plain_text): a migration
has no access to the key store.
"""
from alembic import op
import sqlalchemy as sa

revision = '0062'
down_revision = '0051'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('threads', schema=None) as batch_op:
        batch_op.alter_column('title', existing_type=sa.String(length=120), nullable=True)
        batch_op.add_column(sa.Column('title_enc', sa.LargeBinary(), nullable=True))
    with op.batch_alter_table('drafts', schema=None) as batch_op:
        batch_op.alter_column('body', existing_type=sa.Text(), nullable=True)
        batch_op.add_column(sa.Column('body_enc', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('title_enc', sa.LargeBinary(), nullable=True))
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reason_enc', sa.LargeBinary(), nullable=True))
    with op.batch_alter_table('mod_queue', schema=None) as batch_op:
        batch_op.add_column(sa.Column('body_enc', sa.LargeBinary(), nullable=True))
    with op.batch_alter_table('identity_cards', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sealed_by', sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('identity_cards', schema=None) as batch_op:
        batch_op.drop_column('sealed_by')
    with op.batch_alter_table('mod_queue', schema=None) as batch_op:
        batch_op.drop_column('body_enc')
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_column('reason_enc')
    with op.batch_alter_table('drafts', schema=None) as batch_op:
        batch_op.drop_column('title_enc')
        batch_op.drop_column('body_enc')
        batch_op.alter_column('body', existing_type=sa.Text(), nullable=False)
    with op.batch_alter_table('threads', schema=None) as batch_op:
        batch_op.drop_column('title_enc')
        batch_op.alter_column('title', existing_type=sa.String(length=120), nullable=False)
