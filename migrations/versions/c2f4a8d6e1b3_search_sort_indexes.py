"""Search (issue 18): indexes that bound a broad prefix's sorted page.

Placeholder reserved for its issue's work: no change yet.

Revision ID: c2f4a8d6e1b3
Revises: b7d2e9a4c1f3
Create Date: 2026-12-04 06:45:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c2f4a8d6e1b3'
down_revision = 'b7d2e9a4c1f3'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
