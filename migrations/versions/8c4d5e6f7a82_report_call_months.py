"""report_call_months: each user's month of report_call_days rows (issue 19)

The calls report per user and day, and per user, read ~4 month rows a user
over a 90-day range instead of ~90 day rows (PostgreSQL; on SQLite the
table exists and stays empty: its reports read the day rows). Kept by the
store from the day rows (`mobile_sync.store.rollup_months`); filled here
from the day rows on PostgreSQL, so no rebuild is needed.

Revision ID: 8c4d5e6f7a82
Revises: 7b2c3d4e5f60
Create Date: 2026-12-04 23:30:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = '8c4d5e6f7a82'
down_revision = '7b2c3d4e5f60'
branch_labels = None
depends_on = None

SUMMED = ("incoming", "outgoing", "missed", "rejected", "connected", "talk_seconds", "in_hours", "hours_counted")
SLOT_FIGURES = ("incoming", "outgoing", "missed", "rejected", "connected", "talk_seconds", "unique_numbers",
                "hours_counted", "in_hours")
_OF_KEY = ("d.organization_id = k.organization_id AND d.user_id = k.user_id AND d.day >= k.month "
           "AND d.day < (k.month + interval '1 month')::date")
# The store's refresh (rollup_months._REFRESH) for every (organisation, user, month) with day rows.
FILL = (
    f"INSERT INTO report_call_months (organization_id, month, user_id, {', '.join(SUMMED)}, day_rows, days, prevs, "
    f"tails) SELECT k.organization_id, k.month, k.user_id, {', '.join('s.' + name for name in SUMMED)}, s.n, s.days, "
    "coalesce((SELECT array_agg(p.prev ORDER BY p.prev) FROM report_call_days AS d "
    "CROSS JOIN LATERAL (SELECT (d.day - DATE '1970-01-01') - gap AS prev FROM unnest(d.gaps) AS gap) AS p "
    f"WHERE {_OF_KEY} AND p.prev < k.month - DATE '1970-01-01'), '{{}}'), "
    "(SELECT array_agg(t.v ORDER BY t.x) FROM (SELECT x.day AS x, ARRAY["
    + ", ".join(f"coalesce(sum(d.{name}), 0)" for name in SUMMED)
    + ", coalesce(sum(d.unique_numbers - coalesce(width_bucket(d.day - x.day::date, d.gaps), 0)), 0), count(d.day)]"
    "::bigint[] AS v "
    "FROM generate_series(k.month::timestamp, ((k.month + interval '1 month')::date - 1)::timestamp, "
    f"interval '1 day') AS x(day) LEFT JOIN report_call_days AS d ON {_OF_KEY} AND d.day >= x.day::date "
    "GROUP BY x.day) AS t) "
    "FROM (SELECT DISTINCT organization_id, user_id, date_trunc('month', day)::date AS month "
    "FROM report_call_days) AS k CROSS JOIN LATERAL (SELECT count(d.day), "
    + ", ".join(f"coalesce(sum(d.{name}), 0)" for name in SUMMED)
    + ", string_agg(CASE WHEN d.day IS NULL THEN '\\x" + "00" * 4 * (1 + len(SLOT_FIGURES))
    + "'::bytea ELSE int4send(d.day - DATE '1970-01-01')"
    + "".join(f" || int4send(d.{name})" for name in SLOT_FIGURES)
    + " END, ''::bytea ORDER BY g.day) AS days "
    "FROM generate_series(k.month::timestamp, ((k.month + interval '1 month')::date - 1)::timestamp, "
    "interval '1 day') AS g(day) LEFT JOIN report_call_days AS d ON d.organization_id = k.organization_id "
    f"AND d.user_id = k.user_id AND d.day = g.day::date) AS s(n, {', '.join(SUMMED)}, days)")


def upgrade():
    op.create_table(
        "report_call_months",
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        *(sa.Column(name, sa.BigInteger() if name == "talk_seconds" else sa.Integer(), nullable=False)
          for name in SUMMED),
        sa.Column("day_rows", sa.Integer(), nullable=False),
        sa.Column("days", sa.LargeBinary(), nullable=False),
        sa.Column("prevs", sa.LargeBinary().with_variant(postgresql.ARRAY(sa.Integer()), "postgresql"),
                  nullable=True),
        sa.Column("tails", sa.LargeBinary().with_variant(postgresql.ARRAY(sa.BigInteger(), dimensions=2),
                                                         "postgresql"), nullable=True),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"],
                                name=op.f("fk_report_call_months_organization_id_organizations"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_report_call_months_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("organization_id", "month", "user_id", name=op.f("pk_report_call_months")),
        postgresql_with={"toast_tuple_target": 8160},  # rows of ~5 KB kept whole: nothing to decompress on reads
    )
    op.create_index("ix_report_call_months_user_month", "report_call_months", ["user_id", "month"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FILL)


def downgrade():
    op.drop_index("ix_report_call_months_user_month", table_name="report_call_months")
    op.drop_table("report_call_months")
