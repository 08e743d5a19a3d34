"""Contact files in (issue 18): imports run in the background, with their progress.

Placeholder reserved for its issue's work: no change yet.

Revision ID: d4a7c1e9b2f5
Revises: c2f4a8d6e1b3
Create Date: 2026-12-04 06:45:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd4a7c1e9b2f5'
down_revision = 'c2f4a8d6e1b3'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
