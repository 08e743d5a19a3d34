"""Prometheus metrics at GET /metrics: request latency per endpoint, ingest
rows, push outcomes and job queue depth, the figures the load test reports.

Under gunicorn set PROMETHEUS_MULTIPROC_DIR (an empty folder) so every worker
process contributes (prometheus_client's multiprocess mode); without it the
process's own registry is served. A scrape costs the same whatever the size
of the data: counters kept in process, the queue depths (one LLEN each) and
the push table's id range (two index probes), never a COUNT.

Access: with METRICS_TOKEN set, a scrape needs `Authorization: Bearer
<METRICS_TOKEN>`. Without it /metrics is open in development and does not
exist (404) in production (APP_ENV=production).
"""
from __future__ import annotations

import hmac
import os
import time

from flask import Blueprint, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

from server.config import is_production
from server.errors import error_response
from server.extensions import db, redis_connection
from server.queue import QUEUES
from mobile_sync.store.models import PushMessage

bp = Blueprint("metrics", __name__)

REQUEST_SECONDS = Histogram("callsync_request_seconds", "API request latency", ["endpoint", "method", "status"],
                            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
INGEST_ROWS = Counter("callsync_ingest_rows", "Uploaded rows", ["kind", "result"])
PUSH_SENT = Counter("callsync_push_outcomes", "Push delivery outcomes", ["kind", "status"])


# Each bound its own subquery: SQLite reads min() or max() from the index only
# when it is the query's one aggregate (PostgreSQL either way).
_PUSH_ID_RANGE = select(select(func.min(PushMessage.id)).scalar_subquery(),
                        select(func.max(PushMessage.id)).scalar_subquery())


def observe_ingest(kind: str, accepted: int, duplicates: int, rejected: int) -> None:
    for result, value in (("accepted", accepted), ("duplicate", duplicates), ("rejected", rejected)):
        if value:
            INGEST_ROWS.labels(kind, result).inc(value)


class _LiveState:
    """Queue depth and the number of recorded pushes kept, read when scraped,
    each in constant time."""

    def __init__(self, app):
        self.app = app

    def collect(self):
        with self.app.app_context():
            depth = GaugeMetricFamily("callsync_queue_depth", "Jobs waiting per RQ queue", labels=["queue"])
            redis = redis_connection()
            if redis is not None:
                try:
                    for name in QUEUES:
                        depth.add_metric([name], redis.llen(f"rq:queue:{name}"))
                except Exception:  # a scrape must not fail because Redis is down
                    pass
            yield depth
            # Counting the rows by status took 0.5 s a scrape at 3M rows. The
            # id range is two probes of the primary key: an upper bound (ids
            # skipped by rolled-back inserts count), enough to see the table
            # grow or the purge keep it flat. Outcomes: callsync_push_outcomes.
            stored = GaugeMetricFamily("callsync_push_messages_kept",
                                       "Recorded pushes kept, estimated from the id range (max - min + 1)")
            try:
                low, high = db.session.execute(_PUSH_ID_RANGE.execution_options(all_organizations=True)).one()
                stored.add_metric([], 0 if high is None else high - low + 1)
            finally:
                db.session.remove()
            yield stored


def init_metrics(app) -> None:
    app.register_blueprint(bp)

    @app.before_request
    def _start_timer():
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _observe(response):
        started = g.get("metrics_started")
        if started is not None and request.path.startswith("/api/"):
            REQUEST_SECONDS.labels(request.url_rule.rule if request.url_rule else "unmatched", request.method,
                                   str(response.status_code)).observe(time.perf_counter() - started)
        return response

    app.extensions["metrics_live_state"] = _LiveState(app)


def _refusal() -> Response | None:
    """Why this scrape may not read the metrics, or None when it may."""
    token = current_app.config.get("METRICS_TOKEN")
    if not token:
        if is_production(current_app.config):
            return error_response(404, "not_found", "No such resource.")
        return None
    supplied = request.headers.get("Authorization", "").encode()
    if not hmac.compare_digest(supplied, f"Bearer {token}".encode()):
        return error_response(401, "unauthorized", "Send the metrics token as a Bearer token.",
                              headers={"WWW-Authenticate": "Bearer"})
    return None


@bp.get("/metrics")
def metrics():
    """Prometheus text format: with METRICS_TOKEN as a Bearer token; open in
    development when it is not set, absent (404) in production."""
    refusal = _refusal()
    if refusal is not None:
        return refusal
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    live = CollectorRegistry()
    live.register(current_app.extensions["metrics_live_state"])
    body = generate_latest(registry) + generate_latest(live)
    return Response(body, mimetype=CONTENT_TYPE_LATEST)
