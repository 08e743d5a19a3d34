"""users.timezone and users.office_hours; access_tokens.last_used_at

A user's own zone for the times the pages show them and their office hours
(both NULL: the organisation's zone, no hours set); when each token last
opened a request, for the team page's "last active" and the phones' "last seen".

Revision ID: f2d8a4c6b913
Revises: e7c1b9d4f2a3
Create Date: 2026-12-04 03:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f2d8a4c6b913'
down_revision = 'e7c1b9d4f2a3'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('timezone', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('office_hours', sa.JSON(), nullable=True))
    with op.batch_alter_table('access_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('access_tokens', schema=None) as batch_op:
        batch_op.drop_column('last_used_at')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('office_hours')
        batch_op.drop_column('timezone')
