"""Ingest batches for the reports' benchmarks (`benchmarks.reports_ingest`,
`benchmarks.reports_lead_trigger`): batches of 1,000 calls of one rep
uploaded through the API and processed, alternated with and without the
reports' processing hook (`time_ingest`), in a world seeded by
`benchmarks.reports_seed`."""
from __future__ import annotations

import random
import time
from datetime import datetime, timedelta

from benchmarks.reports_seed import TYPES, _number

# Batches first uploaded and processed, one each side, not counted: see `time_ingest`.
WARMUP = 2


def _lead_triggers(session, action: str) -> None:
    """ENABLE or DISABLE the triggers on leads (the leads report's rollup), in a transaction of its own."""
    from sqlalchemy import text

    session.execute(text(f"ALTER TABLE leads {action} TRIGGER USER"))
    session.commit()


def time_ingest(app, world: dict, batches: int, rng: random.Random, now: datetime) -> dict:
    """Upload then process batches of 1,000 calls, alternating with and
    without the reports' processing hook (rollups and leads' first responses,
    the linked leads' in their activity's fold: without it, processing does
    no report work); rows/s by wall clock and by this process's CPU.

    Each batch is uploaded as a phone uploads it: POST /api/v1/sync/calls
    with its device's token (the Flask test client: no socket, the body
    encoded before the clock starts), the request's processing job not
    queued (the benchmark processes the upload itself, timed apart). The
    request's CPU, the app's and its database backends', is each side's
    "request_app_ns", "request_db_ns" (and its calls "request_rows").
    The first `WARMUP` batches (one each side) meet the cluster's caches
    cold (at 10M the first upload took ~600 ms of database CPU against ~47
    for the others, and the first run's hook its tables' pages from disk)
    and are not counted: a worker processing all day has them warm."""
    import orjson

    import mobile_sync.process_calls as processing
    import mobile_sync.store.record_activity as activity
    from benchmarks.upload_requests import PoolCpu, device_tokens, upload_of
    import server.api.sync as sync_views
    from mobile_sync.process_calls import process_upload
    from mobile_sync.store.models import Lead, SyncUpload
    from server.extensions import db

    hook, rule = processing.after_processing_run, getattr(activity, "_first_response", None)
    # Without the hook, no report work at all: the leads' fold of their call
    # activity keeps their first response as it is, instead of the rule.
    kept = lambda *args: Lead.__table__.c.first_response_at  # noqa: E731
    results = {side: {"rows": 0, "process_wall": 0.0, "process_cpu": 0.0, "total_wall": 0.0, "request_app_ns": 0,
                      "request_db_ns": 0, "request_rows": 0} for side in (True, False)}
    tokens = device_tokens(app, world["org"], world["users"], world["devices"], now)
    app.config["NOW"] = now  # the requests' clock: the world's, as the calls are
    queue = sync_views.queue_call_processing
    # In production the request queues the job (one Redis command); without
    # Redis it would process the upload inline, inside the request.
    sync_views.queue_call_processing = lambda organization_id: True
    client = app.test_client()
    try:
        with app.app_context():
            pool = PoolCpu(db.engine)
            hash_key = app.config["HASH_KEY"]
            for b in range(WARMUP + batches * 2):
                counted = b - WARMUP  # the warm-up batches (one each side, caches cold) are not counted
                with_hook = b % 2 == 0 if counted < 0 or (counted // 2) % 2 == 0 else b % 2 == 1  # ABBA
                index = rng.randrange(len(world["users"]))
                base = now - timedelta(days=rng.randint(0, 6))
                rows = []
                for k in range(1000):
                    when = base - timedelta(seconds=rng.randrange(86400 * 3))
                    kind = rng.choice(TYPES)
                    # Seven in ten calls are with the rep's own clients (call backs happen), the rest new numbers.
                    number = rng.choice(world["books"][index]) if rng.random() < 0.7 else _number(rng)
                    rows.append({"_id": 2 * 10**9 + b * 1000 + k, "number": number,
                                 "date": int(when.timestamp() * 1000),
                                 "duration": rng.randint(1, 300) if kind in (1, 2) else 0, "type": kind,
                                 "presentation": 1, "countryiso": "IN", "name": None, "via_number": "",
                                 "subscription_id": None, "last_modified": int(when.timestamp() * 1000)})
                body = orjson.dumps({"batch_id": f"bench-{b}", "calls": rows})
                headers = {"Authorization": f"Bearer {tokens[world['devices'][index]]}"}
                db.session.close()  # the request's session is its own; nothing of ours checked out
                t0 = time.perf_counter()
                pool.on, pool.db_ns, a0 = True, 0, time.process_time_ns()
                response = client.post("/api/v1/sync/calls", data=body, headers=headers,
                                       content_type="application/json")
                db.session.close()  # the request's connection back in the pool, its CPU counted
                request_app_ns, pool.on = time.process_time_ns() - a0, False
                assert response.status_code == 200, (response.status_code, response.get_data(as_text=True)[:300])
                accepted = response.json["accepted"]
                upload_id = db.session.execute(upload_of(SyncUpload, f"bench-{b}", world["devices"][index])).scalar()
                db.session.commit()
                processing.after_processing_run = hook if with_hook else (lambda *args, **kwargs: 0)
                activity._first_response = rule if with_hook else kept
                if not with_hook:  # the leads report's triggers (store.lead_rollup) off too: no report work
                    _lead_triggers(db.session, "DISABLE")
                t1, c1 = time.perf_counter(), time.process_time()
                process_upload(db.session, upload_id, now, hash_key, alone=True)
                db.session.commit()
                t2, c2 = time.perf_counter(), time.process_time()
                processing.after_processing_run, activity._first_response = hook, rule
                if not with_hook:
                    _lead_triggers(db.session, "ENABLE")
                if counted < 0:
                    continue
                side = results[with_hook]
                side["rows"] += accepted
                side["process_wall"] += t2 - t1
                side["process_cpu"] += c2 - c1
                side["total_wall"] += t2 - t0
                side["request_app_ns"] += request_app_ns
                side["request_db_ns"] += pool.db_ns
                side["request_rows"] += accepted
    finally:
        sync_views.queue_call_processing = queue
        processing.after_processing_run, activity._first_response = hook, rule
        app.config.pop("NOW", None)
    return results
