"""report_lead_days: the leads report's rollup, kept by triggers on leads (issue 19)

Per organisation, UTC day of creation and source: the leads created, how
many of each status, and the responded ones' delays to their first response
(whole seconds, sorted). On PostgreSQL three statement-level triggers on
`leads` (AFTER INSERT, UPDATE, DELETE, with transition tables) work the
touched (organisation, day) buckets out again from the leads, and the table
is filled here from them (`mobile_sync.store.lead_rollup`, of which this is a
copy as it is now). On SQLite the table exists and stays empty.

Revision ID: 9e5f6a7b8c93
Revises: 7b2c3d4e5f60
Create Date: 2026-12-04 23:10:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = '9e5f6a7b8c93'
down_revision = '7b2c3d4e5f60'
branch_labels = None
depends_on = None

_DELAY = "trunc(date_part('epoch', first_response_at - coalesce(first_call_at, created_at)))::bigint"
_DAY = "(created_at AT TIME ZONE 'UTC')::date"
_FIGURES = ("count(*), count(*) FILTER (WHERE status = 'approved'), count(*) FILTER (WHERE status = 'rejected'), "
            "count(*) FILTER (WHERE status = 'merged'), count(*) FILTER (WHERE status = 'pending_review'), "
            f"array_agg({_DELAY} ORDER BY {_DELAY}) FILTER (WHERE first_response_at IS NOT NULL AND status <> 'merged')")
_COLUMNS = "organization_id, day, source, created, approved, rejected, merged, pending, delays"

REFRESH_FUNCTION = f"""
CREATE OR REPLACE FUNCTION report_lead_days_refresh(orgs integer[], days date[]) RETURNS void
LANGUAGE plpgsql SET jit = off AS $fn$
DECLARE
  b record;
BEGIN
  FOR b IN SELECT DISTINCT org, day FROM unnest(orgs, days) AS u(org, day) ORDER BY org, day LOOP
    PERFORM pg_advisory_xact_lock(-b.org, b.day - DATE '2000-01-01');
    DELETE FROM report_lead_days WHERE organization_id = b.org AND day = b.day;
    INSERT INTO report_lead_days ({_COLUMNS})
    SELECT b.org, b.day, source, {_FIGURES} FROM leads
      WHERE organization_id = b.org AND created_at >= b.day::timestamp AT TIME ZONE 'UTC'
        AND created_at < (b.day + 1)::timestamp AT TIME ZONE 'UTC'
      GROUP BY source;
  END LOOP;
END
$fn$"""

_COLUMNS_COMPARED = ("organization_id", "created_at", "source", "status", "first_call_at", "first_response_at")
_ROW = ", ".join(("id",) + _COLUMNS_COMPARED)
TOUCHED_FUNCTION = f"""
CREATE OR REPLACE FUNCTION report_lead_days_touched() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
  orgs integer[];
  days date[];
BEGIN
  IF TG_OP = 'INSERT' THEN
    SELECT array_agg(organization_id), array_agg({_DAY}) INTO orgs, days FROM new_rows;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT array_agg(organization_id), array_agg({_DAY}) INTO orgs, days FROM old_rows;
  ELSE
    SELECT array_agg(organization_id), array_agg({_DAY}) INTO orgs, days FROM (
      (SELECT {_ROW} FROM old_rows EXCEPT SELECT {_ROW} FROM new_rows) UNION ALL
      (SELECT {_ROW} FROM new_rows EXCEPT SELECT {_ROW} FROM old_rows)) AS changed;
  END IF;
  IF orgs IS NOT NULL THEN
    PERFORM report_lead_days_refresh(orgs, days);
  END IF;
  RETURN NULL;
END
$fn$"""

TRIGGERS = tuple(
    f"CREATE OR REPLACE TRIGGER report_lead_days_{event.lower()} AFTER {event} ON leads "
    f"REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION report_lead_days_touched()"
    for event, tables in (("INSERT", "NEW TABLE AS new_rows"), ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
                          ("DELETE", "OLD TABLE AS old_rows")))

FILL = (f"INSERT INTO report_lead_days ({_COLUMNS}) SELECT organization_id, {_DAY}, source, {_FIGURES} "
        f"FROM leads GROUP BY organization_id, {_DAY}, source")


def upgrade():
    op.create_table(
        'report_lead_days',
        sa.Column('organization_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('source', sa.String(length=100), nullable=False),
        sa.Column('created', sa.Integer(), nullable=False),
        sa.Column('approved', sa.Integer(), nullable=False),
        sa.Column('rejected', sa.Integer(), nullable=False),
        sa.Column('merged', sa.Integer(), nullable=False),
        sa.Column('pending', sa.Integer(), nullable=False),
        sa.Column('delays', sa.LargeBinary().with_variant(postgresql.ARRAY(sa.BigInteger()), 'postgresql'),
                  nullable=True),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'],
                                name=op.f('fk_report_lead_days_organization_id_organizations'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('organization_id', 'day', 'source', name=op.f('pk_report_lead_days')),
    )
    if op.get_bind().dialect.name == 'postgresql':
        for statement in (REFRESH_FUNCTION, TOUCHED_FUNCTION, *TRIGGERS, FILL):
            op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        for event in ('insert', 'update', 'delete'):
            op.execute(f"DROP TRIGGER IF EXISTS report_lead_days_{event} ON leads")
        op.execute("DROP FUNCTION IF EXISTS report_lead_days_touched()")
        op.execute("DROP FUNCTION IF EXISTS report_lead_days_refresh(integer[], date[])")
    op.drop_table('report_lead_days')
