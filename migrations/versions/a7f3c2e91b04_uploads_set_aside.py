"""sync_uploads: failures and set-aside (an upload that keeps failing processing)

Revision ID: a7f3c2e91b04
Revises: 5d2e7c41a9b0
Create Date: 2026-12-03 21:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a7f3c2e91b04'
down_revision = '5d2e7c41a9b0'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('sync_uploads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failures', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('last_error', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('set_aside_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('sync_uploads', schema=None) as batch_op:
        batch_op.drop_column('set_aside_at')
        batch_op.drop_column('last_error')
        batch_op.drop_column('failures')
