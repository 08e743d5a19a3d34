"""Reports (issue 19): rollups shaped for 90-day ranges in one read.

Placeholder reserved for its issue's work: no change yet.

Revision ID: e6b3d9f1a4c8
Revises: d4a7c1e9b2f5
Create Date: 2026-12-04 06:45:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e6b3d9f1a4c8'
down_revision = 'd4a7c1e9b2f5'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
