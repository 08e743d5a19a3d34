"""report_lead_days: the leads report's rollup, kept by triggers on leads (issue 19)

Per organisation, UTC day of creation and source: the leads created, how
many of each status, and the responded ones' delays to their first response
(whole seconds, sorted, packed as big-endian 64-bit integers). On PostgreSQL
three statement-level triggers on `leads` (AFTER INSERT, UPDATE, DELETE,
with transition tables) note the touched (organisation, day) buckets in
`report_lead_days_pending`, and a deferred constraint trigger on the notes
works them out again from the leads at the commit; the table is filled here
from the leads (`mobile_sync.store.lead_rollup`, of which this is a copy as
it is now). On SQLite the tables exist and stay empty.

Revision ID: 9e5f6a7b8c93
Revises: 8c4d5e6f7a82
Create Date: 2026-12-04 23:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '9e5f6a7b8c93'
down_revision = "8c4d5e6f7a82"
branch_labels = None
depends_on = None

# A copy of mobile_sync/store/lead_rollup.py's statements (and of the delay and the statuses of
# mobile_sync/store/lead_figures.py) as they are at this revision.
_DELAY = "trunc(date_part('epoch', first_response_at - coalesce(first_call_at, created_at)))::bigint"
STATUSES = ("approved", "rejected", "merged", "pending_review")
_DAY = "(created_at AT TIME ZONE 'UTC')::date"
# A bucket's figures, over its leads (the report's rule: a merged lead has no
# response of its own); the delays sorted (packed as the read takes them,
# `lead_figures`), so a range's are sorted runs.
_FIGURES = ("count(*), " + ", ".join(f"count(*) FILTER (WHERE status = '{s}')" for s in STATUSES)
            + f", string_agg(int8send({_DELAY}), ''::bytea ORDER BY {_DELAY})"
            " FILTER (WHERE first_response_at IS NOT NULL AND status <> 'merged')")
_COLUMNS = "organization_id, day, source, created, approved, rejected, merged, pending, delays"

# A bucket at a time, in order (its lock, then its rows by the primary key,
# then its leads: one range of the index). As one statement over all the
# buckets it was planned for ~200 of them: a hash join of every lead of the
# organisation (26 s for 730 days at 10M calls), a scan of the table to
# delete, and JIT (12 ms a call); no JIT for these small reads.
REFRESH_FUNCTION = f"""
CREATE OR REPLACE FUNCTION report_lead_days_refresh(orgs integer[], days date[]) RETURNS void
LANGUAGE plpgsql SET jit = off AS $fn$
DECLARE
  b record;
BEGIN
  FOR b IN SELECT DISTINCT org, day FROM unnest(orgs, days) AS u(org, day) ORDER BY org, day LOOP
    PERFORM pg_advisory_xact_lock(-b.org, (date_part('year', b.day) * 12 + date_part('month', b.day))::integer);
    DELETE FROM report_lead_days WHERE organization_id = b.org AND day = b.day;
    INSERT INTO report_lead_days ({_COLUMNS})
    SELECT b.org, b.day, source, {_FIGURES} FROM leads
      WHERE organization_id = b.org AND created_at >= b.day::timestamp AT TIME ZONE 'UTC'
        AND created_at < (b.day + 1)::timestamp AT TIME ZONE 'UTC'
      GROUP BY source;
  END LOOP;
END
$fn$"""

# One function for the three triggers: notes the buckets of the rows inserted,
# deleted, or updated in a column the report reads (before and after: the
# rows of either transition table not in the other; a join of the two by id
# kept a nested loop planned for one row, 77 ms for a run's 772 leads).
_REPORT_COLUMNS = ("organization_id", "created_at", "source", "status", "first_call_at", "first_response_at")
_ROW = ", ".join(("id",) + _REPORT_COLUMNS)
TOUCHED_FUNCTION = f"""
CREATE OR REPLACE FUNCTION report_lead_days_touched() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO report_lead_days_pending (tx, organization_id, day)
    SELECT DISTINCT txid_current(), organization_id, {_DAY} FROM new_rows;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO report_lead_days_pending (tx, organization_id, day)
    SELECT DISTINCT txid_current(), organization_id, {_DAY} FROM old_rows;
  ELSE
    INSERT INTO report_lead_days_pending (tx, organization_id, day)
    SELECT DISTINCT txid_current(), organization_id, {_DAY} FROM (
      (SELECT {_ROW} FROM old_rows EXCEPT SELECT {_ROW} FROM new_rows) UNION ALL
      (SELECT {_ROW} FROM new_rows EXCEPT SELECT {_ROW} FROM old_rows)) AS changed;
  END IF;
  RETURN NULL;
END
$fn$"""

# At the commit (the first of the transaction's notes to fire takes them
# all; the others find none left).
SETTLE_FUNCTION = """
CREATE OR REPLACE FUNCTION report_lead_days_settle() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
  orgs integer[];
  days date[];
BEGIN
  WITH settled AS (DELETE FROM report_lead_days_pending WHERE tx = txid_current() RETURNING organization_id, day)
  SELECT array_agg(organization_id), array_agg(day) INTO orgs, days FROM settled;
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
                          ("DELETE", "OLD TABLE AS old_rows"))) + (
    "DROP TRIGGER IF EXISTS report_lead_days_settle ON report_lead_days_pending",
    "CREATE CONSTRAINT TRIGGER report_lead_days_settle AFTER INSERT ON report_lead_days_pending "
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION report_lead_days_settle()")

# Every organisation's buckets from its leads (the table new and empty, no
# writer yet: no locks needed).
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
        sa.Column('delays', sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'],
                                name=op.f('fk_report_lead_days_organization_id_organizations'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('organization_id', 'day', 'source', name=op.f('pk_report_lead_days')),
    )
    op.create_table(
        'report_lead_days_pending',
        sa.Column('tx', sa.BigInteger(), nullable=False),
        sa.Column('organization_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
    )
    op.create_index('ix_report_lead_days_pending_tx', 'report_lead_days_pending', ['tx'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        for statement in (REFRESH_FUNCTION, TOUCHED_FUNCTION, SETTLE_FUNCTION, *TRIGGERS, FILL):
            op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        for event in ('insert', 'update', 'delete'):
            op.execute(f"DROP TRIGGER IF EXISTS report_lead_days_{event} ON leads")
        op.execute("DROP TRIGGER IF EXISTS report_lead_days_settle ON report_lead_days_pending")
        op.execute("DROP FUNCTION IF EXISTS report_lead_days_settle()")
        op.execute("DROP FUNCTION IF EXISTS report_lead_days_touched()")
        op.execute("DROP FUNCTION IF EXISTS report_lead_days_refresh(integer[], date[])")
    op.drop_index('ix_report_lead_days_pending_tx', table_name='report_lead_days_pending')
    op.drop_table('report_lead_days_pending')
    op.drop_table('report_lead_days')
