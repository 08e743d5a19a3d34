"""crm_person_links.pulled_numbers: the numbers the CRM gave a person at the last pull

Keyed hashes, so that a number removed in the CRM is taken off its contact at
the next pull while a number a rep added in CallSync is kept. Links made
before hold none: their numbers are recorded at their next pull.

Revision ID: 5c7e9b1d3f64
Revises: 4b6d8fa02e53
Create Date: 2026-12-04 16:50:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5c7e9b1d3f64'
down_revision = '4b6d8fa02e53'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('crm_person_links', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pulled_numbers', sa.JSON(), nullable=False, server_default='[]'))


def downgrade():
    with op.batch_alter_table('crm_person_links', schema=None) as batch_op:
        batch_op.drop_column('pulled_numbers')
