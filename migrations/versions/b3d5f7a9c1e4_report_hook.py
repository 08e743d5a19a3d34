"""reports: the processing hook (issue 19) (reserved placeholder: no schema change yet)

Revision ID: b3d5f7a9c1e4
Revises: a1c3e5f7b9d2
Create Date: 2026-12-04 13:40:00

"""


# revision identifiers, used by Alembic.
revision = 'b3d5f7a9c1e4'
down_revision = 'a1c3e5f7b9d2'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
