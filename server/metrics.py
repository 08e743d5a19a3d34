"""Prometheus metrics at GET /metrics: request latency per endpoint, ingest
rows, push outcomes and job queue depth, the figures the load test reports.

Under gunicorn set PROMETHEUS_MULTIPROC_DIR (an empty folder) so every worker
process contributes (prometheus_client's multiprocess mode); without it the
process's own registry is served. Queue depth and push outcomes are read at
scrape time from Redis and the database.
"""
from __future__ import annotations

import os
import time

from flask import Blueprint, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

bp = Blueprint("metrics", __name__)

REQUEST_SECONDS = Histogram("callsync_request_seconds", "API request latency", ["endpoint", "method", "status"],
                            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
INGEST_ROWS = Counter("callsync_ingest_rows", "Uploaded rows", ["kind", "result"])
PUSH_SENT = Counter("callsync_push_outcomes", "Push delivery outcomes", ["kind", "status"])


def observe_ingest(kind: str, accepted: int, duplicates: int, rejected: int) -> None:
    for result, value in (("accepted", accepted), ("duplicate", duplicates), ("rejected", rejected)):
        if value:
            INGEST_ROWS.labels(kind, result).inc(value)


class _LiveState:
    """Queue depth and stored push outcomes, read when scraped."""

    def __init__(self, app):
        self.app = app

    def collect(self):
        from server.extensions import db, redis_connection
        from server.models import PushMessage
        from server.queue import QUEUES

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
            stored = GaugeMetricFamily("callsync_push_messages", "Recorded pushes by status", labels=["status"])
            try:
                rows = db.session.execute(select(PushMessage.status, func.count()).group_by(PushMessage.status)
                                          .execution_options(all_organizations=True)).all()
                for status, count in rows:
                    stored.add_metric([status], count)
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


@bp.get("/metrics")
def metrics():
    """Prometheus text format. Protect with METRICS_TOKEN in production."""
    token = current_app.config.get("METRICS_TOKEN")
    if token and request.headers.get("Authorization") != f"Bearer {token}":
        return Response("unauthorized\n", status=401, mimetype="text/plain")
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
