"""reports: the processing hook (issue 19): indexes that answer its look-ups, fewer checks on report_missed_calls

- calls: ix_calls_org_e164 (organisation, number) becomes
  ix_calls_org_e164_started (organisation, number, start): the first call
  after a missed call with its number (what returns it) is found at the
  start of an index range instead of by reading and sorting every call
  with that number. Every use of the old index is a prefix of the new one.
- report_missed_calls: ix_report_missed_calls_org_number (organisation,
  number) becomes ..._org_number_callback (organisation, number, call back
  time): the missed calls a run's calls may return sooner (unreturned, or
  returned after the run's first call) are two index ranges a number; the
  many returned long before are no longer read.
- report_missed_calls loses its foreign keys to organizations and users:
  the one to calls (ON DELETE CASCADE) already takes a row with its
  organisation or user, and each key checked cost the processing run's
  upsert a look-up a row.

No data changes: nothing to rebuild.

Revision ID: b3d5f7a9c1e4
Revises: a1c3e5f7b9d2
Create Date: 2026-12-04 13:40:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'b3d5f7a9c1e4'
down_revision = 'a1c3e5f7b9d2'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("report_missed_calls") as batch:
        batch.drop_constraint("fk_report_missed_calls_organization_id_organizations", type_="foreignkey")
        batch.drop_constraint("fk_report_missed_calls_user_id_users", type_="foreignkey")
    op.drop_index("ix_report_missed_calls_org_number", table_name="report_missed_calls")
    op.create_index("ix_report_missed_calls_org_number_callback", "report_missed_calls",
                    ["organization_id", "number", "callback_at"])
    op.drop_index("ix_calls_org_e164", table_name="calls")
    op.create_index("ix_calls_org_e164_started", "calls", ["organization_id", "e164", "started_at"])


def downgrade():
    op.drop_index("ix_calls_org_e164_started", table_name="calls")
    op.create_index("ix_calls_org_e164", "calls", ["organization_id", "e164"])
    op.drop_index("ix_report_missed_calls_org_number_callback", table_name="report_missed_calls")
    op.create_index("ix_report_missed_calls_org_number", "report_missed_calls", ["organization_id", "number"])
    with op.batch_alter_table("report_missed_calls") as batch:
        batch.create_foreign_key("fk_report_missed_calls_organization_id_organizations", "organizations",
                                 ["organization_id"], ["id"], ondelete="CASCADE")
        batch.create_foreign_key("fk_report_missed_calls_user_id_users", "users", ["user_id"], ["id"],
                                 ondelete="CASCADE")
