"""search_indexes: reserved (4 December, night); empty until its work lands

Revision ID: 8c3d4e5f6071
Revises: 7b2c3d4e5f60
Create Date: 2026-12-04 20:30:00

"""


# revision identifiers, used by Alembic.
revision = '8c3d4e5f6071'
down_revision = '7b2c3d4e5f60'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
