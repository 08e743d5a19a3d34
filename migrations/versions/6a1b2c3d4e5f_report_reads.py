"""report_reads: no schema change (reserved for the report reads on 4 December night and not needed: the missed calls report is summed per user in PostgreSQL over report_call_days, the users' totals are planned for their range, the leads report reads ix_leads_report as before)

Revision ID: 6a1b2c3d4e5f
Revises: 5c7e9b1d3f64
Create Date: 2026-12-04 20:30:00

"""


# revision identifiers, used by Alembic.
revision = '6a1b2c3d4e5f'
down_revision = '5c7e9b1d3f64'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
