"""The reports benchmark's fixed reference: each report computed from the
raw calls by one SQL statement over the range, as a report without rollups
would (GROUP BY with count(DISTINCT), a LATERAL probe per missed call or
lead, percentile_cont). Not to be weakened: the rollups' ratios are to these."""
from __future__ import annotations

import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from benchmarks.reports_seed import ZONE


def _p(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


# The same reports from the raw calls: what a report without rollups runs.
RAW_CALLS = """
SELECT user_id, (started_at AT TIME ZONE %(zone)s)::date AS day,
       count(*) FILTER (WHERE call_type = 1) AS incoming, count(*) FILTER (WHERE call_type = 2) AS outgoing,
       count(*) FILTER (WHERE call_type = 3) AS missed, count(*) FILTER (WHERE call_type IN (5, 6)) AS rejected,
       count(*) FILTER (WHERE call_type IN (1, 2) AND duration_s > 0) AS connected,
       coalesce(sum(duration_s) FILTER (WHERE call_type IN (1, 2) AND duration_s > 0), 0) AS talk_seconds,
       count(DISTINCT e164) AS unique_numbers
FROM calls WHERE organization_id = %(org)s AND started_at >= %(start)s AND started_at < %(end)s
  AND processed_at IS NOT NULL
GROUP BY {group}
"""
RAW_MISSED = """
SELECT m.user_id, count(*) AS missed, count(back.started_at) AS returned,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM back.started_at - m.started_at))
FROM calls m
LEFT JOIN LATERAL (
  SELECT c.started_at FROM calls c
  WHERE c.organization_id = m.organization_id AND c.e164 = m.e164 AND c.started_at > m.started_at
    AND (c.call_type = 2 OR (c.call_type = 1 AND c.duration_s > 0))
  ORDER BY c.started_at LIMIT 1) back ON true
WHERE m.organization_id = %(org)s AND m.call_type = 3 AND m.started_at >= %(start)s AND m.started_at < %(end)s
  AND m.processed_at IS NOT NULL
GROUP BY m.user_id
"""
RAW_LEADS = """
SELECT l.source, count(*), count(*) FILTER (WHERE l.status = 'approved'),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM r.first - coalesce(l.first_call_at, l.created_at)))
FROM leads l LEFT JOIN LATERAL (
  SELECT min(c.started_at) AS first FROM calls c WHERE c.organization_id = l.organization_id AND c.e164 = l.phone
    AND c.call_type = 2 AND c.started_at >= coalesce(l.first_call_at, l.created_at)) r ON true
WHERE l.organization_id = %(org)s AND l.created_at >= %(start)s AND l.created_at < %(end)s
GROUP BY l.source
"""


def time_raw(pg, world: dict, first, last, repeat: int) -> dict:
    zone = ZoneInfo(ZONE)
    start = datetime.combine(first, datetime.min.time(), tzinfo=zone)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    params = {"org": world["org"], "start": start, "end": end, "zone": ZONE}
    statements = {
        "calls by user and day": RAW_CALLS.format(group="user_id, day"),
        "calls by user": RAW_CALLS.replace(", (started_at AT TIME ZONE %(zone)s)::date AS day", "").format(
            group="user_id"),
        "calls by day": RAW_CALLS.replace("SELECT user_id, ", "SELECT ").format(group="day"),
        "missed": RAW_MISSED,
        "leads": RAW_LEADS,
    }
    out = {}
    for name, sql in statements.items():
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            rows = pg.execute(sql, params).fetchall()
            times.append(time.perf_counter() - started)
        pg.rollback()
        out[name] = {"p50": _p(times, 0.5), "p99": _p(times, 0.99), "items": len(rows)}
    return out
