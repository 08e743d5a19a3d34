"""The leads report's rollup on PostgreSQL (`report_lead_days`): per
organisation, UTC day of creation and source, the leads created, their
statuses now and the responded ones' delays, kept by triggers on `leads`.

No writer of leads can forget it: processing, review decisions, merges,
erasure, consent withdrawal, purges, an organisation's deletion (its
cascade) all write `leads`, and three statement-level triggers (AFTER
INSERT, UPDATE, DELETE, with their transition tables) note the
(organisation, day) buckets the statement touched in
`report_lead_days_pending`, with the transaction's id. An UPDATE notes
the buckets of the rows whose report columns changed only (organisation,
creation, source, status, first call, first response); the owner, the name,
the counters do not count (the read with an owner filter reads the leads).

At the commit, a deferred constraint trigger on the notes hands the
transaction's buckets to one function, `report_lead_days_refresh`, which
works each out again from the leads (the index `ix_leads_report`, a range of
one day each): recomputed, never added to, so it cannot drift; once per
bucket and transaction, however many statements touched it. Until its
commit, the writing transaction itself reads its buckets as they were.

Two transactions that touch one bucket are served one after the other: the
function takes a transaction-scoped advisory lock per bucket's month (in
order) before it reads, so the second reads the leads the first committed
(READ COMMITTED: each statement its own snapshot). Taken at the commit,
after every other lock the transaction waits for, the locks cannot deadlock
with the lead rows' (a review decision holding a lead that a processing run
wants). A month, not a day: a rebuild of ten years holds 120 locks, not
3,650 (PostgreSQL's shared lock table holds max_locks_per_transaction x
max_connections, 6,400 by default). The key is the two-integer form
(-organisation, year x 12 + month), which never meets `store.locks`' keys.

SQLite keeps no rollup (the table exists, empty): the report reads the
leads there. The migration (9e5f6a7b8c93) holds a copy of this text as it
was then."""
from __future__ import annotations

from sqlalchemy import text

from mobile_sync.store.dialect import on_postgresql
from mobile_sync.store.lead_figures import DELAY_SECONDS, STATUSES

_DAY = "(created_at AT TIME ZONE 'UTC')::date"
# A bucket's figures, over its leads (the report's rule: a merged lead has no
# response of its own); the delays sorted (packed as the read takes them,
# `lead_figures`), so a range's are sorted runs.
_FIGURES = ("count(*), " + ", ".join(f"count(*) FILTER (WHERE status = '{s}')" for s in STATUSES)
            + f", string_agg(int8send({DELAY_SECONDS}), ''::bytea ORDER BY {DELAY_SECONDS})"
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


def install_triggers(connection) -> None:
    """On PostgreSQL, once both tables exist (just made, empty): the
    functions and the triggers, and the rows from the leads. Elsewhere
    nothing."""
    if not on_postgresql(connection) or not connection.exec_driver_sql(
            "SELECT to_regclass('report_lead_days') IS NOT NULL AND "
            "to_regclass('report_lead_days_pending') IS NOT NULL").scalar():
        return
    for statement in (REFRESH_FUNCTION, TOUCHED_FUNCTION, SETTLE_FUNCTION, *TRIGGERS, FILL):
        connection.exec_driver_sql(statement)


_REBUILD = text("SELECT report_lead_days_refresh(array_agg(org), array_agg(day)) FROM ("
                "SELECT organization_id, day FROM report_lead_days WHERE organization_id = :org UNION "
                f"SELECT organization_id, {_DAY} FROM leads WHERE organization_id = :org) AS b(org, day)")


def rebuild_lead_days(session, organization_id: int) -> None:
    """Work the organisation's buckets out again from its leads (each day
    it has leads or rows on), now: `flask reports-rebuild`. A lock a day,
    held to the commit. Nothing on SQLite."""
    if on_postgresql(session):
        session.execute(_REBUILD, {"org": organization_id})
