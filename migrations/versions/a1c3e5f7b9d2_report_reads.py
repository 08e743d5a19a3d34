"""reports: reads and a leads rollup (issue 19) (reserved placeholder: no schema change yet)

Revision ID: a1c3e5f7b9d2
Revises: f8c5e2a7b1d9
Create Date: 2026-12-04 13:40:00

"""


# revision identifiers, used by Alembic.
revision = 'a1c3e5f7b9d2'
down_revision = 'f8c5e2a7b1d9'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
