"""report rollups: report_call_days, report_missed_calls

Daily call rollups per (organisation, local day, user) and each missed
call's call back, kept by the processing job (mobile_sync/reports/rollup.py).
After upgrading, `flask reports-rebuild` fills them from the stored calls.

Revision ID: c8e5a1f3b6d2
Revises: a4e6c2f8d1b7
Create Date: 2026-12-04 04:00:00

"""
from alembic import op
import sqlalchemy as sa



# revision identifiers, used by Alembic.
revision = 'c8e5a1f3b6d2'
down_revision = 'a4e6c2f8d1b7'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "report_call_days",
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in (
            "incoming", "outgoing", "missed", "rejected", "connected", "talk_seconds", "unique_numbers",
            "in_hours", "hours_counted", "returned")),
        sa.Column("numbers", sa.LargeBinary(), nullable=False),
        sa.Column("callbacks", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"],
                                name=op.f("fk_report_call_days_organization_id_organizations"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_report_call_days_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("organization_id", "day", "user_id", name=op.f("pk_report_call_days")),
    )
    op.create_index("ix_report_call_days_user_day", "report_call_days", ["user_id", "day"])
    op.create_table(
        "report_missed_calls",
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("callback_call_id", sa.Integer(), nullable=True),
        sa.Column("callback_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["call_id"], ["calls.id"],
                                name=op.f("fk_report_missed_calls_call_id_calls"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"],
                                name=op.f("fk_report_missed_calls_organization_id_organizations"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_report_missed_calls_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("call_id", name=op.f("pk_report_missed_calls")),
    )
    op.create_index("ix_report_missed_calls_user_day", "report_missed_calls", ["user_id", "day"])
    op.create_index("ix_report_missed_calls_org_callback", "report_missed_calls", ["organization_id", "callback_at"])


def downgrade():
    op.drop_table("report_missed_calls")
    op.drop_table("report_call_days")
