"""Webhook delivery throughput, in one run (issue 20).

    .venv/bin/python -m benchmarks.webhooks              # 10,000 call.logged deliveries, SQLite
    .venv/bin/python -m benchmarks.webhooks --count 2000 --database-url postgresql+psycopg://...

1. Seeds one organisation with a consenting phone, `--count` processed
   uploads of `--calls` calls each and an endpoint subscribed to
   `call.logged` on a receiver in another process (HTTP/1.1 keep-alive,
   answers 204), then writes one `call.logged` event per upload through
   the hook (`emit`).
2. Sends them as the RQ job does (`server.webhook_delivery.deliver_webhooks`,
   100 ids a job, in this process, no RQ): claim committed, payload built
   from the calls with the consent and erasure checks, signed, POSTed,
   outcome recorded. Deliveries/s by wall clock and per CPU second of this
   process (the worker core; the receiver runs in its own process).
3. Ingest with and without webhooks: batches of 1,000 new calls uploaded
   (`ingest_calls`) and processed (`process_upload`, which emits the run's
   `lead.created` and `call.logged`), the endpoint on for one batch and off
   for the next (ABBA order); rows/s of processing by CPU. Sending is the
   workers' (step 2), so it is not counted here.
4. The bare reference in the same run: a plain loop of the same number of
   signed POSTs of a body of the same size, with the same HTTP client
   (http.client, one kept-alive connection), no database and no app code.
   The ratio of the two rates is the cost of the machinery.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import multiprocessing
import os
import tempfile
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(204)
        self.send_header("content-length", "0")
        self.end_headers()


def _serve(port_queue) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    port_queue.put(server.server_address[1])
    server.serve_forever()


def _build_app(database_url: str | None, data_dir: str):
    import flask_migrate

    from server import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url or f"sqlite:///{data_dir}/bench.db",
                      "DATA_DIR": data_dir, "OUTBOX_DIR": f"{data_dir}/outbox", "SECRET_KEY": "bench",
                      "REDIS_URL": None, "WEBHOOK_ALLOW_LOOPBACK": True, "LOG_LEVEL": "WARNING"})
    with app.app_context():
        flask_migrate.upgrade()
    return app


def seed(app, *, count: int, calls: int, url: str) -> tuple[list[int], int]:
    """The organisation, its phone, `count` uploads of `calls` calls, the endpoint and the events."""
    from sqlalchemy import insert

    from mobile_sync.store.models import (Call, ConsentState, Device, Organization, SyncUpload, User)
    from mobile_sync.webhooks.endpoints import create_endpoint
    from mobile_sync.webhooks.events import emit, take_written_deliveries
    from server.extensions import db

    now = datetime.now(timezone.utc)
    with app.app_context():
        session = db.session
        org = Organization(name="Bench Traders", region="IN", plan="business", settings={})
        session.add(org)
        session.flush()
        user = User(organization_id=org.id, name="Ravi Rep", email="ravi@bench.test", password_hash="x", role="rep")
        session.add(user)
        session.flush()
        device = Device(organization_id=org.id, user_id=user.id, platform="android", model="Pixel 8")
        session.add(device)
        session.flush()
        session.add(ConsentState(organization_id=org.id, device_id=device.id, scope="call_log", granted=True, policy_version="v",
                                 updated_at=now))
        session.execute(insert(SyncUpload), [
            {"organization_id": org.id, "device_id": device.id, "user_id": user.id, "kind": "calls",
             "batch_id": f"b{i}", "accepted": calls, "created_at": now, "processed_at": now} for i in range(count)])
        session.flush()
        upload_ids = sorted(session.scalars(SyncUpload.__table__.select().with_only_columns(SyncUpload.id)).all())
        rows = []
        for n, upload_id in enumerate(upload_ids):
            for k in range(calls):
                serial = n * calls + k
                started = now - timedelta(minutes=serial)
                rows.append({"organization_id": org.id, "device_id": device.id, "user_id": user.id,
                             "upload_id": upload_id, "android_id": serial, "date_ms": int(started.timestamp() * 1000),
                             "started_at": started, "duration_s": 60, "call_type": 2, "presentation": 1,
                             "raw_number": f"98765{serial:05d}", "e164": f"+9198765{serial:05d}",
                             "number_status": "ok", "created_at": now, "processed_at": now,
                             "record_type": "lead", "record_id": serial + 1, "outcome": "lead_updated"})
        for start in range(0, len(rows), 5000):
            session.execute(insert(Call), rows[start:start + 5000])
        endpoint, _secret = create_endpoint(session, org.id, url=url, events=["call.logged"],
                                            sealing_key=app.config["SECRETS_KEY"], allow_loopback=True, now=now)
        session.commit()
        delivery_ids = []
        for start in range(0, len(upload_ids), 1000):
            for upload_id in upload_ids[start:start + 1000]:
                delivery_ids += emit(session, org.id, "call.logged",
                                     {"upload_id": upload_id, "device_id": device.id, "user_id": user.id}, now)
            take_written_deliveries(session)  # timed below, not sent by the commit's hook
            session.commit()
        return delivery_ids, endpoint.id


def deliver(app, delivery_ids: list[int], job_size: int = 100) -> tuple[float, float, int]:
    from server.extensions import db
    from server.webhook_delivery import deliver_webhooks

    delivered = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(delivery_ids), job_size):
        with app.app_context():  # as the worker: one app context per job
            delivered += deliver_webhooks(delivery_ids[start:start + job_size])
            db.session.remove()
    return time.perf_counter() - wall, time.process_time() - cpu, delivered


def ingest_overhead(app, endpoint_id: int, batches: int) -> dict:
    """Processing rows/s with the endpoint on and off, alternated batch by batch."""
    import random

    from sqlalchemy import select, update

    from mobile_sync.ingest_calls import ingest_calls
    from mobile_sync.process_calls import process_upload
    from mobile_sync.store.models import Device, Organization, User, WebhookEndpoint
    from mobile_sync.webhooks.events import take_written_deliveries
    from server.extensions import db

    rng = random.Random(20)
    now = datetime.now(timezone.utc)
    results = {True: [0, 0.0], False: [0, 0.0]}
    with app.app_context():
        session = db.session
        device = session.execute(select(Device)).scalars().first()
        user, org = session.get(User, device.user_id), session.get(Organization, device.organization_id)
        for b in range(batches * 2):
            hooked = b % 2 == 0 if (b // 2) % 2 == 0 else b % 2 == 1
            session.execute(update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id).values(active=hooked))
            session.commit()
            rows = []
            for k in range(1000):
                when = now - timedelta(seconds=rng.randrange(86400 * 3))
                number = f"+91{rng.choice('6789')}{rng.randrange(10**9):09d}"
                rows.append({"_id": 10**9 + b * 1000 + k, "number": number, "date": int(when.timestamp() * 1000),
                             "duration": rng.randint(1, 300), "type": rng.choice([1, 2, 2, 3]), "presentation": 1,
                             "countryiso": "IN", "name": None, "via_number": "", "subscription_id": None,
                             "last_modified": int(when.timestamp() * 1000)})
            result = ingest_calls(session, device=device, user=user, org=org, batch_id=f"ingest-{b}", rows=rows,
                                  now=now, hash_key=app.config["HASH_KEY"])
            session.commit()
            cpu = time.process_time()
            process_upload(session, result.upload_id, now, app.config["HASH_KEY"], alone=True)
            take_written_deliveries(session)  # sent by the workers, not timed here
            session.commit()
            results[hooked][0] += result.accepted
            results[hooked][1] += time.process_time() - cpu
    return {side: rows / cpu for side, (rows, cpu) in results.items()}


def bare(port: int, count: int, body_size: int) -> tuple[float, float]:
    """Signed POSTs in a plain loop: the same client, the same kind of body, nothing else."""
    key = os.urandom(32)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    padding = "x" * max(0, body_size - 80)
    wall, cpu = time.perf_counter(), time.process_time()
    for n in range(count):
        body = json.dumps({"type": "call.logged", "timestamp": "2026-12-04T00:00:00Z",
                           "data": {"upload_id": n, "pad": padding}}, separators=(",", ":")).encode()
        msg_id, stamp = f"msg_{n}", int(time.time())
        signature = base64.b64encode(hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest())
        conn.request("POST", "/in", body=body, headers={
            "content-type": "application/json", "webhook-id": msg_id, "webhook-timestamp": str(stamp),
            "webhook-signature": "v1," + signature.decode()})
        response = conn.getresponse()
        response.read(65536)
        assert response.status == 204
    conn.close()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=3, help="calls per upload (per event)")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--ingest-batches", type=int, default=10, help="batches of 1,000 calls per side")
    args = parser.parse_args()

    ports = multiprocessing.Queue()
    receiver = multiprocessing.Process(target=_serve, args=(ports,), daemon=True)
    receiver.start()
    port = ports.get(timeout=10)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as data_dir:
            app = _build_app(args.database_url, data_dir)
            started = time.perf_counter()
            delivery_ids, endpoint_id = seed(app, count=args.count, calls=args.calls, url=f"http://127.0.0.1:{port}/in")
            print(f"seeded {args.count:,} uploads of {args.calls} calls and {len(delivery_ids):,} call.logged "
                  f"events in {time.perf_counter() - started:.1f} s ({app.config['SQLALCHEMY_DATABASE_URI'].split(':')[0]})")
            wall, cpu, delivered = deliver(app, delivery_ids)
            assert delivered == len(delivery_ids), (delivered, len(delivery_ids))
            body_size = 80 + 230 * args.calls  # about one call.logged body
            bare_wall, bare_cpu = bare(port, len(delivery_ids), body_size)
            ingest = ingest_overhead(app, endpoint_id, args.ingest_batches)
    finally:
        receiver.terminate()
        receiver.join(5)
    n = len(delivery_ids)
    print(f"webhooks: {n:,} deliveries in {wall:.2f} s wall, {cpu:.2f} s CPU of the worker: "
          f"{n / wall:,.0f}/s wall, {n / cpu:,.0f}/s per worker core")
    print(f"bare loop: {n:,} signed POSTs in {bare_wall:.2f} s wall, {bare_cpu:.2f} s CPU: "
          f"{n / bare_wall:,.0f}/s wall, {n / bare_cpu:,.0f}/s per core")
    print(f"ratio (webhooks / bare): {bare_wall / wall:.2f} by wall clock, {bare_cpu / cpu:.2f} per core")
    print(f"processing, rows/s per core: {ingest[False]:,.0f} without webhooks, {ingest[True]:,.0f} with an "
          f"endpoint for call.logged ({ingest[True] / ingest[False] - 1:+.1%})")


if __name__ == "__main__":
    main()
