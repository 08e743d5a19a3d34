"""lists: search and list pages (issue 18) (reserved placeholder: no schema change yet)

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
