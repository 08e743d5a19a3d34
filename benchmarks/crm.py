"""CRM push throughput and the push hook's cost on processing, in one run (issue 20).

    flock /tmp/bench.lock .venv/bin/python -m benchmarks.crm                 # SQLite
    flock /tmp/bench.lock .venv/bin/python -m benchmarks.crm --database-url postgresql+psycopg://...

1. A fake HubSpot (tests/crm/fake_hubspot.py) runs in another process, its
   rate limit out of the way. One organisation, a consenting phone, a
   HubSpot connection (every call type): `--pushes` calls uploaded and
   processed, their push items written by the hook (and not sent then).
2. They are sent as the RQ job does (`server.crm_delivery.deliver_crm_pushes`,
   50 ids a job, in this process, no RQ): each item claimed and committed,
   the call read with the consent and erasure checks, the contact searched
   by phone (created once per number), the call logged, the outcome
   committed. Pushes/s by wall clock and per CPU second of this process.
3. The bare reference in the same run: the same HubSpot requests (one
   contact search and one call creation per push) from a plain loop with
   the same HTTP client (requests, one kept-alive session), no database and
   no app code. The ratio is the machinery's cost.
4. Processing with and without the hook's writes: batches of 1,000 new
   calls uploaded and processed, the connection there for one batch and
   gone for the next (ABBA order); rows/s of processing by CPU.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
from datetime import datetime, timedelta, timezone

TOKEN = "pat-na1-bench-token-0000"


def _serve(port_queue) -> None:
    from tests.crm.fake_hubspot import FakeHubSpot

    fake = FakeHubSpot(token=TOKEN, limit=10**9)
    port_queue.put(fake.url.rsplit(":", 1)[1])
    while True:
        time.sleep(3600)


def _build_app(database_url: str | None, data_dir: str, hubspot_url: str):
    import flask_migrate

    from server import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url or f"sqlite:///{data_dir}/bench.db",
                      "DATA_DIR": data_dir, "OUTBOX_DIR": f"{data_dir}/outbox", "SECRET_KEY": "bench",
                      "REDIS_URL": None, "HUBSPOT_API_URL": hubspot_url, "LOG_LEVEL": "WARNING"})
    with app.app_context():
        flask_migrate.upgrade()
    return app


def _rows(rng, base: int, count: int, numbers: int, now: datetime) -> list[dict]:
    rows = []
    for k in range(count):
        when = now - timedelta(seconds=rng.randrange(86400 * 3))
        rows.append({"_id": base + k, "number": f"+9198{rng.randrange(numbers):08d}",
                     "date": int(when.timestamp() * 1000),
                     "duration": rng.randint(1, 300), "type": rng.choice([1, 2, 2, 3]), "presentation": 1,
                     "countryiso": "IN", "name": None, "via_number": "", "subscription_id": None,
                     "last_modified": int(when.timestamp() * 1000)})
    return rows


def seed(app, pushes: int) -> list[int]:
    """The organisation, its phone, its HubSpot connection; `pushes` calls processed into push items."""
    import random

    from mobile_sync.store.crm_connections import save_connection
    from mobile_sync.store.crm_pushes import take_written_pushes
    from mobile_sync.webhooks.sealing import seal
    from server.extensions import db

    client = app.test_client()
    signup = client.post("/api/v1/signup", json={"organization": "Bench Ltd", "region": "IN", "name": "Bea",
                                                 "email": "bea@bench.test", "password": "Bench-Password-2026"})
    assert signup.status_code == 201, signup.json
    headers = {"Authorization": f"Bearer {signup.json['token']}"}
    device = client.post("/api/v1/devices", headers=headers, json={
        "platform": "android", "model": "Bench", "os_version": "14", "app_version": "1.0.0", "fcm_token": "bench"})
    assert device.status_code == 201, device.json
    consent = client.put(f"/api/v1/devices/{device.json['device_id']}/consent",
                         headers={"Authorization": f"Bearer {device.json['device_token']}"},
                         json={"contacts": True, "call_log": True,
                               "policy_version": client.get("/api/v1/consent/policy").json["version"]})
    assert consent.status_code == 200, consent.json
    org_id = signup.json["organization_id"]
    with app.app_context():
        save_connection(db.session, org_id, "hubspot", sealed_token=seal(app.config["SECRETS_KEY"], TOKEN),
                        token_hint="0000", rules={"call_types": ["incoming", "outgoing", "missed", "rejected"]},
                        now=datetime.now(timezone.utc))
        db.session.commit()
    ids = _process(app, random.Random(7), 0, pushes, keep=True)
    with app.app_context():
        take_written_pushes(db.session)
    return ids


def _process(app, rng, base: int, count: int, keep: bool) -> list[int]:
    """`count` new calls uploaded and processed (1,000 an upload); the push ids the hook wrote."""
    from sqlalchemy import select

    from mobile_sync.ingest_calls import ingest_calls
    from mobile_sync.process_calls import process_upload
    from mobile_sync.store.crm_pushes import take_written_pushes
    from mobile_sync.store.models import Device, Organization, User
    from server.extensions import db

    now = datetime.now(timezone.utc)
    written = []
    with app.app_context():
        session = db.session
        device = session.execute(select(Device)).scalars().first()
        user, org = session.get(User, device.user_id), session.get(Organization, device.organization_id)
        for start in range(0, count, 1000):
            rows = _rows(rng, 10**9 + base + start, min(1000, count - start), 200, now)
            result = ingest_calls(session, device=device, user=user, org=org, batch_id=f"b-{base + start}",
                                  rows=rows, now=now, hash_key=app.config["HASH_KEY"])
            session.commit()
            process_upload(session, result.upload_id, now, app.config["HASH_KEY"], alone=True)
            written += take_written_pushes(session)  # sent below (or never), not after this commit
            session.commit()
    return written if keep else []


def deliver(app, ids: list[int], job_size: int = 50) -> tuple[float, float, int]:
    from mobile_sync.store.models import CrmPush
    from server.crm_delivery import deliver_crm_pushes
    from server.extensions import db

    wall, cpu = time.perf_counter(), time.process_time()
    delivered = 0
    with app.app_context():
        for start in range(0, len(ids), job_size):
            delivered += deliver_crm_pushes(ids[start:start + job_size])
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert db.session.query(CrmPush).filter(CrmPush.status == "delivered").count() == delivered
        db.session.commit()
    return wall, cpu, delivered


def bare(url: str, count: int) -> tuple[float, float]:
    """The same requests, one search and one call creation a push, from a plain loop."""
    import requests

    session = requests.Session()
    session.trust_env = False
    headers = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}
    contact = session.post(url + "/crm/v3/objects/contacts", headers=headers,
                           json={"properties": {"phone": "+919999999999"}}).json()["id"]
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(count):
        session.post(url + "/crm/v3/objects/contacts/search", headers=headers, json={
            "filterGroups": [{"filters": [{"propertyName": "phone", "operator": "EQ", "value": "+919999999999"}]}],
            "properties": ["phone"], "limit": 1}).json()
        session.post(url + "/crm/v3/objects/calls", headers=headers, json={
            "properties": {"hs_timestamp": "2026-12-01T09:30:00.000Z", "hs_call_title": f"bare #{i}",
                           "hs_call_direction": "OUTBOUND", "hs_call_status": "COMPLETED",
                           "hs_call_duration": "60000", "hs_call_to_number": "+919999999999"},
            "associations": [{"to": {"id": contact}, "types": [
                {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 194}]}]}).json()
    return time.perf_counter() - wall, time.process_time() - cpu


def ingest_overhead(app, batches: int) -> dict:
    """Processing rows/s with the HubSpot connection there and gone, alternated batch by batch (ABBA)."""
    import random

    from sqlalchemy import select, update

    from mobile_sync.store.models import CrmConnection
    from server.extensions import db

    rng = random.Random(20)
    results = {True: [0, 0.0], False: [0, 0.0]}
    for b in range(batches * 2):
        hooked = b % 2 == 0 if (b // 2) % 2 == 0 else b % 2 == 1
        with app.app_context():
            # "Gone": the connection belongs to no organisation for this batch (the hook finds none).
            connection = db.session.execute(select(CrmConnection).execution_options(all_organizations=True)) \
                .scalars().one()
            db.session.execute(update(CrmConnection).where(CrmConnection.id == connection.id).values(
                call_types=["incoming", "outgoing", "missed", "rejected"] if hooked else []))
            db.session.commit()
        cpu = time.process_time()
        _process(app, rng, 5 * 10**8 + b * 1000, 1000, keep=False)
        results[hooked][0] += 1000
        results[hooked][1] += time.process_time() - cpu
    return {side: rows / cpu for side, (rows, cpu) in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pushes", type=int, default=2000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--ingest-batches", type=int, default=6, help="batches of 1,000 calls per side")
    args = parser.parse_args()
    ports = multiprocessing.Queue()
    server = multiprocessing.Process(target=_serve, args=(ports,), daemon=True)
    server.start()
    url = f"http://127.0.0.1:{ports.get(timeout=30)}"
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            app = _build_app(args.database_url, data_dir, url)
            ids = seed(app, args.pushes)
            wall, cpu, delivered = deliver(app, ids)
            bare_wall, bare_cpu = bare(url, len(ids))
            overhead = ingest_overhead(app, args.ingest_batches)
    finally:
        server.terminate()
    load = os.getloadavg()
    print(f"database: {args.database_url or 'sqlite'}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"pushes delivered: {delivered} of {len(ids)} in {wall:.2f} s wall, {cpu:.2f} s CPU")
    print(f"  {delivered / wall:,.0f} pushes/s by wall clock, {delivered / cpu:,.0f} per worker CPU second")
    print(f"bare loop (same requests, no app): {len(ids) / bare_wall:,.0f}/s wall, "
          f"{len(ids) / bare_cpu:,.0f} per CPU s")
    print(f"  machinery vs bare: {(delivered / wall) / (len(ids) / bare_wall):.2f}x by wall clock, "
          f"{(delivered / cpu) / (len(ids) / bare_cpu):.2f}x per CPU second")
    print(f"processing rows/s per CPU second: {overhead[False]:,.0f} without CRM pushes, "
          f"{overhead[True]:,.0f} with the hook writing one push item a call "
          f"({overhead[True] / overhead[False]:.2f}x)")


if __name__ == "__main__":
    main()
