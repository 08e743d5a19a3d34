"""Integrations (issue 20): HubSpot and Pipedrive connectors.

Placeholder reserved for its issue's work: no change yet.

Revision ID: f8c5e2a7b1d9
Revises: e6b3d9f1a4c8
Create Date: 2026-12-04 06:45:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f8c5e2a7b1d9'
down_revision = 'e6b3d9f1a4c8'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
