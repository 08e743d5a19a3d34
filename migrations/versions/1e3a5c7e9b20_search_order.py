"""search_order: reserved for search (placeholder, 4 December evening)

Revision ID: 1e3a5c7e9b20
Revises: d7f9b1c3e5a8
Create Date: 2026-12-04 16:40:00

"""


# revision identifiers, used by Alembic.
revision = '1e3a5c7e9b20'
down_revision = 'd7f9b1c3e5a8'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
