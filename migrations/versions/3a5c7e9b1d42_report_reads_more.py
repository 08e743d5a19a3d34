"""report_reads_more: no schema change (reserved for the report reads on 4 December evening and not needed: the calls report per user and day and the leads report read the existing covering indexes ix_report_call_days_items and ix_leads_report)

Revision ID: 3a5c7e9b1d42
Revises: 2f4b6d8fa031
Create Date: 2026-12-04 16:40:00

"""


# revision identifiers, used by Alembic.
revision = '3a5c7e9b1d42'
down_revision = '2f4b6d8fa031'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
