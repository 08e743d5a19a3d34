"""Reports (issue 19): rollups shaped for 90-day ranges in one read.

report_call_days.gaps (each number's days since the user's previous day
with it: a range's unique numbers per user are a sum), report_org_days (one
row per organisation and day: the calls report by day reads 90 rows), and
report_missed_calls.number (the missed calls a new call may return, found
without the calls table).

Existing rollups: `number` is filled here from the calls; `gaps` and
report_org_days are worked out in Python: run `flask reports-rebuild` after
this upgrade (docs/reports.md, "Upgrading").

Revision ID: e6b3d9f1a4c8
Revises: d4a7c1e9b2f5
Create Date: 2026-12-04 06:45:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = 'e6b3d9f1a4c8'
down_revision = 'd4a7c1e9b2f5'
branch_labels = None
depends_on = None

FIGURES = ("incoming", "outgoing", "missed", "rejected", "connected")


def upgrade():
    with op.batch_alter_table("report_call_days") as batch:
        batch.add_column(sa.Column("gaps", sa.LargeBinary().with_variant(postgresql.ARRAY(sa.Integer()),
                                                                         "postgresql"), nullable=True))
    with op.batch_alter_table("report_missed_calls") as batch:
        batch.add_column(sa.Column("number", sa.BigInteger(), nullable=True))
    op.execute("UPDATE report_missed_calls SET number = (SELECT CAST(substr(calls.e164, 2) AS BIGINT) "
               "FROM calls WHERE calls.id = report_missed_calls.call_id)")
    op.create_index("ix_report_missed_calls_org_number", "report_missed_calls", ["organization_id", "number"])
    op.create_table(
        "report_org_days",
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in FIGURES),
        sa.Column("talk_seconds", sa.BigInteger(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in ("unique_numbers", "in_hours", "hours_counted")),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"],
                                name=op.f("fk_report_org_days_organization_id_organizations"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("organization_id", "day", name=op.f("pk_report_org_days")),
    )


def downgrade():
    op.drop_table("report_org_days")
    op.drop_index("ix_report_missed_calls_org_number", table_name="report_missed_calls")
    with op.batch_alter_table("report_missed_calls") as batch:
        batch.drop_column("number")
    with op.batch_alter_table("report_call_days") as batch:
        batch.drop_column("gaps")
