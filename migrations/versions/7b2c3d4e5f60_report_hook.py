"""report_hook: reserved (4 December, night); empty until its work lands

Revision ID: 7b2c3d4e5f60
Revises: 6a1b2c3d4e5f
Create Date: 2026-12-04 20:30:00

"""


# revision identifiers, used by Alembic.
revision = '7b2c3d4e5f60'
down_revision = '6a1b2c3d4e5f'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
