"""report_missed_calls: ix_report_missed_calls_org_number_open, one probe a number (issue 19)

(organisation, number, coalesce(call back time, 'infinity')): the missed
calls a processing run's calls may return sooner (unreturned, or returned
at or after the earliest of the run's calls with the number) are one range
of it a number, where ix_report_missed_calls_org_number_callback took two
(its NULLs, then the times after); that index goes. Read by
`mobile_sync.store.rollup_missed.
missed_returnable_by`, which declares it.

Revision ID: a1f2e3d4c5b6
Revises: 9e5f6a7b8c93
Create Date: 2026-12-05 02:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a1f2e3d4c5b6'
down_revision = '9e5f6a7b8c93'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_report_missed_calls_org_number_open", "report_missed_calls",
                    ["organization_id", "number",
                     sa.func.coalesce(sa.column("callback_at"), sa.literal_column("'infinity'")).label("returned_at")])
    # Its two-probe predecessor is read by nothing now (SQLite's look-up by
    # organisation and number reads the new index's first two columns).
    op.drop_index("ix_report_missed_calls_org_number_callback", table_name="report_missed_calls")


def downgrade():
    op.create_index("ix_report_missed_calls_org_number_callback", "report_missed_calls",
                    ["organization_id", "number", "callback_at"])
    op.drop_index("ix_report_missed_calls_org_number_open", table_name="report_missed_calls")
