"""lists: no schema change (reserved for the list pages on 4 December and not needed: their statements use the existing indexes)

Revision ID: c5e7a9b1d3f6
Revises: b3d5f7a9c1e4
Create Date: 2026-12-04 13:40:00

"""


# revision identifiers, used by Alembic.
revision = 'c5e7a9b1d3f6'
down_revision = 'b3d5f7a9c1e4'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
