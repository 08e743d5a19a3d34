"""contact_import_speed: reserved for contact files (placeholder, 4 December evening)

Revision ID: 2f4b6d8fa031
Revises: 1e3a5c7e9b20
Create Date: 2026-12-04 16:40:00

"""


# revision identifiers, used by Alembic.
revision = '2f4b6d8fa031'
down_revision = '1e3a5c7e9b20'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
