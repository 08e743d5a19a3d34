"""devices: the FCM installation ID (fcm_fid)

Revision ID: 5d2e7c41a9b0
Revises: 4fb036b12f97
Create Date: 2026-12-03 08:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5d2e7c41a9b0'
down_revision = '4fb036b12f97'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fcm_fid', sa.String(length=255), nullable=True))


def downgrade():
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.drop_column('fcm_fid')
