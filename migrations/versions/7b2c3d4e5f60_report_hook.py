"""report_hook: report_missed_calls loses its foreign key to calls (issue 19)

Each row the processing run's upsert inserted was checked against `calls`
(a look-up of the calls' key a row: half of the upsert's time). Every
deletion removes its missed rows itself instead: a deletion of calls
through the store's hook (the rollups work the deleted span's days out
again), an organisation's deletion through the same hook
(the listener in `call_deletions` sees `delete(Organization)`). No data changes.

Downgrade: rows whose call is gone are deleted before the key comes back.

Revision ID: 7b2c3d4e5f60
Revises: 5c7e9b1d3f64
Create Date: 2026-12-04 20:30:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '7b2c3d4e5f60'
down_revision = '5c7e9b1d3f64'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("report_missed_calls") as batch:
        batch.drop_constraint("fk_report_missed_calls_call_id_calls", type_="foreignkey")


def downgrade():
    op.execute("DELETE FROM report_missed_calls WHERE NOT EXISTS "
               "(SELECT 1 FROM calls WHERE calls.id = report_missed_calls.call_id)")
    with op.batch_alter_table("report_missed_calls") as batch:
        batch.create_foreign_key("fk_report_missed_calls_call_id_calls", "calls", ["call_id"], ["id"],
                                 ondelete="CASCADE")
