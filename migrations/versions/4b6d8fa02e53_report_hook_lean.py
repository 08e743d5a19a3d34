"""report_hook_lean: reserved for the rollup hook (placeholder, 4 December evening)

Revision ID: 4b6d8fa02e53
Revises: 3a5c7e9b1d42
Create Date: 2026-12-04 16:40:00

"""


# revision identifiers, used by Alembic.
revision = '4b6d8fa02e53'
down_revision = '3a5c7e9b1d42'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
