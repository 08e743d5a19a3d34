"""Faults in the production topology: a worker killed mid-batch, Redis gone.

gunicorn, RQ workers, Redis and PostgreSQL run as real processes on loopback
(`tests.topology`). The phone is `scripts/simulate_phone.py`. Afterwards the
database must show every call stored once and processed once: the outbox
(`sync_uploads`) and the row locks of a processing run (`mobile_sync.process_calls`)
make that so, not RQ.
"""
from __future__ import annotations

import json
import threading
import time
import uuid

import pytest
from rq import Queue
from rq.registry import StartedJobRegistry

from scripts.made_up_phone import make_call_log, make_people
from scripts.simulate_phone import Client, Phone, give_consent, register_device, sign_in
from tests.seed_records import seed_records
from tests.topology import Topology

pytestmark = [pytest.mark.topology, pytest.mark.timeout(150)]

BATCHES = 8
BATCH = 300


@pytest.fixture(scope="module")
def topo():
    with Topology(web_workers=2, web_threads=4, rq_workers=1) as topology:
        yield topology


def wait_until(predicate, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class PhoneFixture:
    """A signed-up organisation with one consenting phone, CRM records seeded
    for part of the people it calls, and its call log cut into batches."""

    def __init__(self, topo: Topology, seed: int):
        self.topo = topo
        self.client = Client(topo.base_url, timeout=30, attempts=1)
        self.phone: Phone = sign_in(self.client, email=f"rep-{uuid.uuid4().hex[:8]}@example.test",
                                    password="fault test password", organization=f"Faults {seed}",
                                    region="IN", name="Rep")
        register_device(self.phone)
        give_consent(self.phone)
        people = make_people(400, seed=seed)
        self.contacts = seed_records(topo.engine(), self.phone.organization_id, people[0::3], "contact")
        self.leads = seed_records(topo.engine(), self.phone.organization_id,
                                  [p for i, p in enumerate(people) if i % 10 == 1 and i % 3], "lead")
        rows = make_call_log(BATCHES * BATCH, people, seed=seed)
        self.batches = [(f"{seed}-{i}", json.dumps({"batch_id": f"{seed}-{i}", "calls": rows[i * BATCH:(i + 1) * BATCH]})
                         .encode()) for i in range(BATCHES)]
        self.total = len(rows)
        self.attempts: dict[str, list] = {batch_id: [] for batch_id, _ in self.batches}
        self.done = 0
        self._lock = threading.Lock()

    @property
    def org(self) -> int:
        return self.phone.organization_id

    def send(self, batch_id: str, body: bytes, tries: int = 10) -> None:
        """As the app: the same batch (same batch_id) until the server takes it."""
        for _ in range(tries):
            try:
                status, result = self.client.request("POST", "/api/v1/sync/calls", raw=body,
                                                     token=self.phone.device_token, retry=False)
            except Exception as err:  # the app keeps the batch and tries again
                status, result = getattr(err, "status", 0), getattr(err, "body", None)
            with self._lock:
                self.attempts[batch_id].append((status, result))
            if status == 200:
                break
            time.sleep(0.3)
        with self._lock:
            self.done += 1

    def upload_in_background(self, threads: int = 4, pause: float = 0.0) -> threading.Thread:
        queue = list(self.batches)
        lock = threading.Lock()

        def run():
            while True:
                with lock:
                    if not queue:
                        return
                    batch_id, body = queue.pop(0)
                self.send(batch_id, body)
                time.sleep(pause)

        workers = [threading.Thread(target=run, daemon=True) for _ in range(threads)]
        for w in workers:
            w.start()

        def join_all():
            for w in workers:
                w.join(60)

        joiner = threading.Thread(target=join_all, daemon=True)
        joiner.start()
        return joiner

    def processed_uploads(self) -> int:
        return self.topo.scalar("SELECT count(*) FROM sync_uploads WHERE organization_id = :o "
                                "AND processed_at IS NOT NULL", o=self.org)

    def pending_uploads(self) -> int:
        return self.topo.scalar("SELECT count(*) FROM sync_uploads WHERE organization_id = :o "
                                "AND processed_at IS NULL", o=self.org)


def worker_backend(topo: Topology, name: str = "worker-0"):
    """The worker's PostgreSQL session: (state, wait_event_type, in a transaction)."""
    rows = topo.sql("SELECT state, wait_event_type, xact_start IS NOT NULL FROM pg_stat_activity "
                    "WHERE application_name = :name ORDER BY backend_start DESC", name=name)
    return tuple(rows[0]) if rows else None


def assert_every_call_stored_and_processed_once(topo: Topology, phone: PhoneFixture) -> None:
    org = phone.org
    # Every batch was finally taken whole, and no attempt left half a batch behind:
    # had one, its retry would have reported duplicates.
    for batch_id, attempts in phone.attempts.items():
        assert attempts and attempts[-1][0] == 200, (batch_id, attempts)
        assert sum(r["accepted"] for s, r in attempts if s == 200) == BATCH, (batch_id, attempts)
        assert sum(r["duplicates"] for s, r in attempts if s == 200) == 0, (batch_id, attempts)
    calls, identities, processed, outcomes = topo.sql(
        "SELECT count(*), count(DISTINCT (device_id, android_id, date_ms)), count(processed_at), count(outcome) "
        "FROM calls WHERE organization_id = :o", o=org)[0]
    assert calls == identities == phone.total, "every call stored exactly once"
    assert processed == outcomes == phone.total, "every call processed"
    uploads = topo.sql("SELECT count(*), count(processed_at), coalesce(sum(accepted), 0), min(attempts), "
                       "max(attempts) FROM sync_uploads WHERE organization_id = :o AND kind = 'calls'", o=org)[0]
    assert uploads[0] == uploads[1] == BATCHES, "every upload processed"
    assert uploads[2] == phone.total
    assert (uploads[3], uploads[4]) == (1, 1), "each upload's processing committed exactly once"
    # Matching: what the seeded phone index says; unknown numbers became one lead each.
    by_outcome = dict(topo.sql("SELECT outcome, count(*) FROM calls WHERE organization_id = :o GROUP BY outcome",
                               o=org))
    for numbers, outcome in ((phone.contacts, "matched_contact"), (phone.leads, "matched_lead")):
        wrong = topo.sql("SELECT outcome, record_type, count(*) FROM calls WHERE organization_id = :o "
                         "AND e164 = ANY(:n) AND outcome <> :outcome GROUP BY 1, 2", o=org, n=list(numbers),
                         outcome=outcome)
        assert wrong == [] and by_outcome.get(outcome, 0) > 0, (outcome, wrong, by_outcome)
    assert by_outcome.get("matched_contact") == topo.scalar(
        "SELECT count(*) FROM calls WHERE organization_id = :o AND e164 = ANY(:n)", o=org, n=list(phone.contacts))
    assert topo.sql("SELECT phone FROM leads WHERE organization_id = :o GROUP BY phone HAVING count(*) > 1",
                    o=org) == [], "one lead per number"
    # Counters: a call attached twice would count twice.
    wrong = topo.sql(
        "SELECT l.id, l.calls_count, count(c.id) FROM leads l LEFT JOIN calls c ON c.record_type = 'lead' "
        "AND c.record_id = l.id WHERE l.organization_id = :o GROUP BY l.id, l.calls_count "
        "HAVING l.calls_count <> count(c.id)", o=org)
    assert wrong == [], "lead call counters equal the calls linked to each lead"
    stale = topo.sql(
        "SELECT r.id FROM contacts r JOIN calls c ON c.record_type = 'contact' AND c.record_id = r.id "
        "WHERE r.organization_id = :o GROUP BY r.id, r.last_call_at HAVING r.last_call_at IS DISTINCT FROM "
        "max(c.started_at)", o=org)
    assert stale == [], "each matched contact's last call is its newest call"


def drain(topo: Topology, phone: PhoneFixture, timeout: float = 60.0) -> None:
    """Sweep the outbox (what `flask scheduler` does every minute) until every
    upload is processed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if phone.pending_uploads() == 0:
            return
        if topo.queued_jobs() == 0:
            topo.sweep_outbox(min_age=0)
        time.sleep(0.5)
    raise AssertionError(f"{phone.pending_uploads()} uploads still unprocessed after {timeout}s:\n{topo.logs()}")


def test_worker_killed_mid_batch_loses_nothing_and_processes_nothing_twice(topo):
    topo.ensure_workers()
    phone = PhoneFixture(topo, seed=11)
    # Hold the seeded leads' rows: the worker's first job blocks inside its
    # transaction, with the upload locked and its contact updates written.
    locker = topo.engine().connect()
    locker.exec_driver_sql(f"SELECT id FROM leads WHERE organization_id = {phone.org} FOR UPDATE").all()
    uploading = phone.upload_in_background(threads=4)
    wait_until(lambda: (worker_backend(topo) or (None, None, False))[1] == "Lock", 30,
               "the worker to block inside its first job")
    assert worker_backend(topo)[2] is True  # mid-transaction
    topo.kill_worker(0)
    locker.rollback()
    locker.close()
    abandoned = StartedJobRegistry(queue=Queue("default", connection=topo.redis_client())).get_job_ids()
    assert len(abandoned) == 1, "the worker died with its job started and unfinished"
    # The killed transaction left nothing: no upload processed, no counter moved.
    assert phone.processed_uploads() == 0
    assert topo.scalar("SELECT coalesce(sum(calls_count), 0) FROM leads WHERE organization_id = :o", o=phone.org) == 0
    assert topo.scalar("SELECT count(*) FROM contacts WHERE organization_id = :o AND last_call_at IS NOT NULL",
                       o=phone.org) == 0

    # The killed session ends once PostgreSQL notices its client is gone.
    wait_until(lambda: worker_backend(topo) is None, 15, "the killed worker's session to end")

    # A second kill, at whatever moment the worker is inside a transaction.
    topo.restart_worker(0)
    wait_until(lambda: phone.processed_uploads() >= 2 or phone.done == BATCHES, 30, "processing to resume")
    killed_again = False
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (phone.done == BATCHES and phone.pending_uploads() == 0):
        backend = worker_backend(topo)
        if backend and backend[2] and backend[0] != "idle":
            topo.kill_worker(0)
            killed_again = True
            break
    topo.restart_worker(0)
    uploading.join(60)
    assert phone.done == BATCHES
    drain(topo, phone)
    assert_every_call_stored_and_processed_once(topo, phone)
    assert killed_again, "the second kill found the worker inside a transaction"


def test_redis_stopped_during_uploads_then_restarted_processes_every_call_once(topo):
    topo.ensure_workers()
    phone = PhoneFixture(topo, seed=12)
    uploading = phone.upload_in_background(threads=2, pause=0.1)
    wait_until(lambda: phone.done >= 2, 30, "the first uploads")
    topo.stop_redis()
    during = phone.done
    wait_until(lambda: phone.done >= during + 4 or phone.done == BATCHES, 30, "uploads while Redis is down")
    uploaded_while_down = phone.done - during
    topo.start_redis()
    uploading.join(60)
    assert phone.done == BATCHES
    assert uploaded_while_down >= 4
    statuses = [status for attempts in phone.attempts.values() for status, _ in attempts]
    assert set(statuses) == {200}, f"every upload accepted while Redis was away: {statuses}"
    restarted = topo.ensure_workers()  # what a supervisor does if a worker gave up on Redis
    topo.wait_healthy(20)
    drain(topo, phone)
    assert_every_call_stored_and_processed_once(topo, phone)
    print(f"uploads while Redis was down: {uploaded_while_down}; workers restarted after it: {restarted}")
