"""Load and fault run against the production topology on loopback.

gunicorn (several workers), 2 RQ workers, Redis, PostgreSQL and a scriptable
fake FCM (`tests/topology.py`, `tests/fake_fcm.py`), every process on
127.0.0.1. N simulated phones (threads, one device token each) do what the
app does for D seconds: upload call-log batches of mixed sizes (about a tenth
of the rows repeated from earlier batches; a failed batch is sent again with
the same batch_id on a 5xx, a connection error or a 429, honouring
Retry-After, and kept queued if it still fails), upload the phone book, ring
(POST /api/v1/calls/ringing) and look callers up; two managers list leads and
approve, reject or reassign them.

    .venv/bin/python benchmarks/load.py [--phones 50] [--seconds 60] [--faults] [--quick] [--json FILE]

--quick is what the test suite runs (tests/e2e/test_load_faults.py): 10
phones for 20 s, or 35 s with --faults.

--faults, during the load: an FCM storm of 503s with Retry-After, an RQ worker
killed with SIGKILL (inside a job) and started again, some devices' tokens
turned UNREGISTERED, Redis stopped and started on the same port, a 429 storm,
PostgreSQL stopped and started. A supervisor thread starts any RQ worker that
exits, as a process supervisor does. Afterwards `flask sweep-outbox` runs.

Reported: throughput, p50/p99 per endpoint, errors by status, and invariants
checked in the database once the queues drain (a bounded wait): every call a
phone got accepted stored exactly once and processed, every upload processed,
no job left queued or started, every ringing push recorded once per device
and sent once (the fake FCM's own log), /metrics agreeing with the database;
with --faults also: dead tokens removed and nothing sent to them afterwards,
FCM retries spaced by at least Retry-After. Exit status 1 when one fails.
Everything is bounded in time: the load, the drain, every request (timeout).
"""
from __future__ import annotations

import argparse
import email
import json
import os
import random
import re
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.simulate_phone import make_call_log, make_people, make_phone_book  # noqa: E402
from tests.fake_fcm import ERRORS, FakeFcm  # noqa: E402

PASSWORD = "load test password 1"
QUEUES = ("push", "default", "maintenance")
RETRYABLE = {0, 429, 500, 502, 503, 504}
# (low, high) rows of a new call-log batch and how often: mostly the few calls
# since the last sync, sometimes a day's worth, now and then a long backlog.
BATCH_SIZES = (((1, 5), 45), ((6, 50), 30), ((51, 300), 18), ((301, 900), 7))
REPEAT_SHARE = 0.10


# ----------------------------------------------------------------------------------------------
# The fake FCM, with per-device answers and a log of every answer.
# ----------------------------------------------------------------------------------------------
class LoadFcm(FakeFcm):
    """`FakeFcm` whose `dead` tokens always get UNREGISTERED (the scripted
    storm is left for the others), logging token, push id, status and
    Retry-After of every request with its arrival and answer times."""

    def __init__(self, project: str = "load-project"):
        self.dead: set[str] = set()
        self.answers: list[dict] = []
        self._tls = threading.local()
        super().__init__(project)

    def _record(self, handler, body):
        message = body.get("message") or {}
        data = message.get("data") or {}
        self._tls.meta = {"arrived": time.time(), "token": message.get("token") or message.get("fid"),
                          "push_id": data.get("push_id"), "kind": data.get("kind"),
                          "shape": f"{handler.path} message keys {sorted(message)}, data keys {sorted(data)}"}
        super()._record(handler, body)

    def _next(self):
        meta = dict(self._tls.meta)
        with self._lock:
            if meta["token"] in self.dead:
                item = "UNREGISTERED"
            else:
                item = self._script.popleft() if self._script else "ok"
            self._count += 1
            count = self._count
        name, retry_after = item if isinstance(item, tuple) else (item, None)
        if name == "ok":
            status, payload, headers = 200, {"name": f"projects/{self.project}/messages/{count}"}, {}
        else:
            status, grpc_status, code = ERRORS[name]
            payload = {"error": {"code": status, "status": grpc_status, "message": f"fake {name}", "details": [
                {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}]}}
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        meta.update(status=status, retry_after=retry_after, answered=time.time())
        with self._lock:
            self.answers.append(meta)
        return status, payload, headers


# ----------------------------------------------------------------------------------------------
# HTTP: one attempt per call, every attempt timed and counted.
# ----------------------------------------------------------------------------------------------
class Stats:
    def __init__(self):
        self._lock = threading.Lock()
        self.latency: dict[tuple, list] = defaultdict(list)   # (method, rule) -> [(seconds, status)]
        self.phase = "setup"

    def add(self, method: str, rule: str, status: int, seconds: float) -> None:
        if self.phase != "load":
            return
        with self._lock:
            self.latency[(method, rule)].append((seconds, status))

    def answered(self) -> Counter:
        """(method, rule) -> requests that got an HTTP answer (what the server counted)."""
        with self._lock:
            return Counter({key: sum(1 for _, s in rows if s) for key, rows in self.latency.items()})


class Http:
    """JSON over a fresh loopback connection per request (a phone's radio
    drops idle connections too); retries are the caller's."""

    def __init__(self, base_url: str, stats: Stats, timeout: float = 60.0):
        host, port = base_url.split("//", 1)[1].split(":")
        self.host, self.port, self.stats, self.timeout = host, int(port), stats, timeout

    def once(self, method: str, path: str, rule: str, body=None, token: str | None = None,
             raw: bytes | None = None) -> tuple[int, object, dict]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        headers = {"Accept": "application/json", "Connection": "close", "User-Agent": "callsync-load/1.0"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        started = time.perf_counter()
        conn = HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            status, answer_headers = response.status, {k.lower(): v for k, v in response.getheaders()}
        except OSError:  # refused, reset, timed out: no answer
            status, payload, answer_headers = 0, b"", {}
        finally:
            conn.close()
        self.stats.add(method, rule, status, time.perf_counter() - started)
        try:
            parsed = json.loads(payload) if payload else None
        except ValueError:
            parsed = None
        return status, parsed, answer_headers

    def call(self, method: str, path: str, rule: str, body=None, token=None, raw=None, *, attempts: int = 7,
             budget_s: float = 45.0, stop_at: float | None = None) -> tuple[int, object, int]:
        """As the app: again on a connection error, a 5xx or a 429, after
        Retry-After when given, else exponential back-off with jitter; give up
        after `attempts` or `budget_s`. Returns (status, body, attempts made)."""
        started, delay = time.monotonic(), 0.25
        for attempt in range(1, attempts + 1):
            status, payload, headers = self.once(method, path, rule, body, token, raw)
            if status not in RETRYABLE:
                return status, payload, attempt
            wait = delay * random.uniform(0.7, 1.3)
            if status == 429 and headers.get("retry-after"):
                try:
                    wait = max(wait, float(headers["retry-after"]))
                except ValueError:
                    pass
            limit = started + budget_s
            if stop_at is not None:
                limit = min(limit, stop_at)
            if attempt == attempts or time.monotonic() + wait > limit:
                return status, payload, attempt
            time.sleep(wait)
            delay = min(delay * 2, 8.0)
        return status, payload, attempts


# ----------------------------------------------------------------------------------------------
# The simulated phone and the managers.
# ----------------------------------------------------------------------------------------------
@dataclass
class Batch:
    batch_id: str
    body: bytes
    rows: list


@dataclass
class PhoneTotals:
    accepted_ids: set = field(default_factory=set)      # (_id, date) of rows in batches answered 200
    attempted_ids: set = field(default_factory=set)     # of every row ever sent
    accepted: int = 0                                   # the server's own `accepted` counts, summed
    duplicates: int = 0
    rejected: int = 0
    batches_ok: int = 0
    batches_retried: int = 0                            # batches that needed more than one attempt
    given_up: int = 0                                   # attempts abandoned, batch kept queued
    rings: list = field(default_factory=list)           # (push_id, devices, wall time)
    rings_failed: int = 0
    lookups: int = 0


class SimPhone:
    def __init__(self, index: int, http: Http, *, user_id: int, device_id: int, device_token: str,
                 fcm_token: str, people: list, seed: int, think_s: float):
        self.index, self.http = index, http
        self.user_id, self.device_id, self.device_token, self.fcm_token = user_id, device_id, device_token, fcm_token
        self.people = people
        self.rng = random.Random(seed)
        self.seed, self.think_s = seed, think_s
        self.log: list = []
        self.next_row = 0
        self.next_android_id = 1
        self.chunk = 0
        self.sent_rows: list = []
        self.pending: list[Batch] = []
        self.totals = PhoneTotals()
        self.lock = threading.Lock()

    # -- call log ---------------------------------------------------------------------------
    def _take(self, count: int) -> list:
        while len(self.log) - self.next_row < count:
            self.chunk += 1
            end_ms = int(time.time() * 1000) - 30 * 86_400_000 + self.chunk * 86_400_000
            rows = make_call_log(1000, self.people, seed=self.seed * 1000 + self.chunk,
                                 first_id=self.next_android_id, end_ms=end_ms, days=1)
            self.next_android_id += len(rows)
            self.log.extend(rows)
        rows = self.log[self.next_row:self.next_row + count]
        self.next_row += count
        return rows

    def _new_batch(self, initial: bool = False) -> Batch:
        if initial:
            size = self.rng.randint(200, 800)
        else:
            (low, high), = self.rng.choices([r for r, _ in BATCH_SIZES], weights=[w for _, w in BATCH_SIZES])
            size = self.rng.randint(low, high)
        repeats = int(size * REPEAT_SHARE) + (1 if self.rng.random() < (size * REPEAT_SHARE) % 1 else 0)
        repeats = min(repeats, len(self.sent_rows))
        new = self._take(size)
        rows = (self.rng.sample(self.sent_rows, repeats) if repeats else []) + new
        self.sent_rows.extend(new)
        batch_id = str(uuid.uuid4())
        return Batch(batch_id, json.dumps({"batch_id": batch_id, "calls": rows}).encode(), rows)

    def _send(self, batch: Batch, stop_at: float | None) -> bool:
        status, body, attempts = self.http.call("POST", "/api/v1/sync/calls", "/api/v1/sync/calls",
                                                raw=batch.body, token=self.device_token, stop_at=stop_at)
        with self.lock:
            self.totals.attempted_ids.update((r["_id"], r["date"]) for r in batch.rows)
            if attempts > 1:
                self.totals.batches_retried += 1
            if status != 200:
                self.totals.given_up += 1
                return False
            rejected = {r["index"] for r in body.get("rejected", [])}
            self.totals.accepted_ids.update((r["_id"], r["date"]) for i, r in enumerate(batch.rows)
                                            if i not in rejected)
            self.totals.accepted += body["accepted"]
            self.totals.duplicates += body["duplicates"]
            self.totals.rejected += len(rejected)
            self.totals.batches_ok += 1
        return True

    def upload_calls(self, stop_at: float | None = None, initial: bool = False) -> None:
        """Send what is queued (oldest first), then the calls since the last sync."""
        self.pending.append(self._new_batch(initial))
        while self.pending:
            if not self._send(self.pending[0], stop_at):
                return  # kept queued for the next sync
            self.pending.pop(0)

    def flush(self, stop_at: float) -> None:
        while self.pending and time.monotonic() < stop_at:
            if self._send(self.pending[0], stop_at):
                self.pending.pop(0)
            else:
                time.sleep(1.0)

    # -- the rest of the app ----------------------------------------------------------------
    def upload_phone_book(self, updated_only: bool = False) -> None:
        book = make_phone_book(self.people, seed=self.seed)
        if updated_only:
            book = self.rng.sample(book, min(len(book), self.rng.randint(1, 5)))
            for row in book:
                row["last_updated"] = int(time.time() * 1000)
        self.http.call("POST", "/api/v1/sync/contacts", "/api/v1/sync/contacts",
                       {"batch_id": str(uuid.uuid4()), "contacts": book}, token=self.device_token)

    def _some_number(self) -> str:
        if self.rng.random() < 0.15:
            return f"+91 9{self.rng.randrange(10**8, 10**9)}"   # someone never seen before
        return self.rng.choice(self.rng.choice(self.people).formats)[0]

    def ring(self, number: str | None = None) -> None:
        status, body, _ = self.http.call("POST", "/api/v1/calls/ringing", "/api/v1/calls/ringing",
                                         {"number": number or self._some_number()}, token=self.device_token,
                                         attempts=4, budget_s=10)
        with self.lock:
            if status == 202:
                self.totals.rings.append((body["push_id"], body["devices"], time.time()))
            else:
                self.totals.rings_failed += 1

    def look_up(self) -> None:
        self.http.call("GET", f"/api/v1/caller-id?number={quote(self._some_number())}", "/api/v1/caller-id",
                       token=self.device_token, attempts=3, budget_s=10)
        self.totals.lookups += 1

    def run(self, load_end: float, flush_end: float) -> None:
        self.upload_phone_book()
        self.upload_calls(stop_at=load_end, initial=True)
        actions = [(self.upload_calls, 40), (self.look_up, 30), (self.ring, 12),
                   (lambda: self.upload_phone_book(updated_only=True), 5),
                   (lambda: self.http.call("GET", "/api/v1/sync/state", "/api/v1/sync/state",
                                           token=self.device_token, attempts=2), 5)]
        while time.monotonic() < load_end:
            time.sleep(min(self.rng.expovariate(1 / self.think_s), max(0.0, load_end - time.monotonic())))
            if time.monotonic() >= load_end:
                break
            action, = self.rng.choices([a for a, _ in actions], weights=[w for _, w in actions])
            if action == self.upload_calls:
                self.upload_calls(stop_at=load_end)
            else:
                action()
        self.flush(flush_end)


class Manager:
    """Reviews the queue in the browser's way through the API."""

    def __init__(self, http: Http, token: str, rep_ids: list[int], seed: int, think_s: float):
        self.http, self.token, self.rep_ids = http, token, rep_ids
        self.rng, self.think_s = random.Random(seed), think_s
        self.decisions: Counter = Counter()

    def run(self, load_end: float) -> None:
        while time.monotonic() < load_end:
            page = self.rng.randint(1, 2)
            status, body, _ = self.http.call("GET", f"/api/v1/leads?status=pending_review&page={page}",
                                             "/api/v1/leads", token=self.token, attempts=3, budget_s=10)
            items = body.get("items", []) if status == 200 and isinstance(body, dict) else []
            for lead in self.rng.sample(items, min(len(items), 3)):
                if time.monotonic() >= load_end:
                    break
                if self.rng.random() < 0.3:
                    self.http.call("GET", f"/api/v1/leads/{lead['id']}", "/api/v1/leads/<int:lead_id>",
                                   token=self.token, attempts=3, budget_s=10)
                roll = self.rng.random()
                if roll < 0.5:
                    action, body = "approve", None
                elif roll < 0.75:
                    action, body = "reject", {"reason": self.rng.choice(["personal", "spam", "not_a_lead"])}
                else:
                    action, body = "assign", {"user_id": self.rng.choice(self.rep_ids)}
                status, _, _ = self.http.call("POST", f"/api/v1/leads/{lead['id']}/{action}",
                                              f"/api/v1/leads/<int:lead_id>/{action}", body, token=self.token,
                                              attempts=3, budget_s=10)
                self.decisions[(action, status)] += 1
            time.sleep(min(self.rng.expovariate(1 / self.think_s), max(0.0, load_end - time.monotonic())))


# ----------------------------------------------------------------------------------------------
# Setting up an organisation: an admin, managers and reps invited by e-mail, one phone each.
# ----------------------------------------------------------------------------------------------
def _expect(status: int, body, what: str, wanted=(200, 201)):
    if status not in wanted:
        raise RuntimeError(f"{what}: HTTP {status} {json.dumps(body)[:300]}")
    return body


def _invite_token(outbox: Path, address: str, timeout: float = 30.0) -> str:
    """The token in the invitation e-mail written to the outbox folder."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in outbox.glob("*.eml"):
            message = email.message_from_bytes(path.read_bytes())
            if message["To"] == address:
                text = message.get_payload(decode=True).decode()
                return text.split("#token=", 1)[1].split()[0]
        time.sleep(0.1)
    raise RuntimeError(f"no invitation e-mail for {address} within {timeout}s")


def set_up(topo, http: Http, opts, people: list, log) -> dict:
    from tests.seed_records import seed_records

    run_tag = uuid.uuid4().hex[:8]
    status, body, _ = http.call("POST", "/api/v1/signup", "/api/v1/signup", {
        "organization": f"Load {run_tag}", "region": "IN", "name": "Admin",
        "email": f"admin-{run_tag}@example.test", "password": PASSWORD})
    admin = _expect(status, body, "signup")
    org = admin["organization_id"]
    # A paying customer's limits: the run is about the pipeline, not the trial's record cap.
    topo.execute("UPDATE organizations SET plan = 'business' WHERE id = :o", {"o": org})
    seed_records(topo.engine(), org, people[0::5], "contact")
    outbox = Path(topo.env()["DATA_DIR"]) / "outbox"

    def invite(role: str, index: int) -> dict:
        address = f"{role}-{index}-{run_tag}@example.test"
        s, b, _ = http.call("POST", "/api/v1/invites", "/api/v1/invites", {"email": address, "role": role},
                            token=admin["token"])
        _expect(s, b, "invite")
        s, b, _ = http.call("POST", "/api/v1/invites/accept", "/api/v1/invites/accept",
                            {"token": _invite_token(outbox, address), "name": f"{role} {index}", "password": PASSWORD})
        return _expect(s, b, "accept invite")

    def new_phone(index: int) -> SimPhone:
        user = invite("rep", index)
        fcm_token = f"load-fcm-{index}-{uuid.uuid4().hex}"
        s, b, _ = http.call("POST", "/api/v1/devices", "/api/v1/devices", {
            "platform": "android", "model": "Pixel 8", "os_version": "14", "app_version": "1.0.0",
            "fcm_token": fcm_token}, token=user["token"])
        device = _expect(s, b, "register device")
        s, policy, _ = http.call("GET", "/api/v1/consent/policy", "/api/v1/consent/policy")
        version = _expect(s, policy, "policy")["version"]
        s, b, _ = http.call("PUT", f"/api/v1/devices/{device['device_id']}/consent",
                            "/api/v1/devices/<int:device_id>/consent",
                            {"contacts": True, "call_log": True, "policy_version": version},
                            token=device["device_token"])
        _expect(s, b, "consent")
        # Reps share part of their customers (several reps call the same shop),
        # so leads for one number are created concurrently from several phones.
        rng = random.Random(opts.seed * 7919 + index)
        shared = rng.sample(people[:300], 60)
        own = people[300 + index * 40:300 + (index + 1) * 40] or rng.sample(people, 40)
        return SimPhone(index, http, user_id=user["user_id"], device_id=device["device_id"],
                        device_token=device["device_token"], fcm_token=fcm_token, people=shared + own,
                        seed=opts.seed * 100 + index, think_s=opts.think)

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=6) as pool:
        phones = list(pool.map(new_phone, range(opts.phones)))
        managers = list(pool.map(lambda i: invite("manager", i), range(opts.managers)))
    log(f"organisation {org}: {len(phones)} reps with a phone each, {len(managers)} managers, "
        f"{len(people[0::5])} CRM contacts seeded")
    return {"org": org, "phones": phones, "managers": managers}


# ----------------------------------------------------------------------------------------------
# Faults.
# ----------------------------------------------------------------------------------------------
class FaultDriver:
    """Runs the fault schedule during the load and supervises the RQ workers."""

    def __init__(self, topo, fcm: LoadFcm, phones: list[SimPhone], seconds: float, log):
        self.topo, self.fcm, self.phones, self.seconds, self.log = topo, fcm, phones, seconds, log
        self.events: list[tuple[float, str]] = []
        self.worker_restarts: list[tuple[float, int, str]] = []
        self.dead_phones: list[SimPhone] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._paused = threading.Event()
        self.started = 0.0

    def note(self, text: str) -> None:
        at = time.monotonic() - self.started
        self.events.append((round(at, 1), text))
        self.log(f"  [{at:5.1f}s] {text}")

    def supervise(self) -> None:
        """What a process supervisor does: start again a worker that exited."""
        while not self._stop.wait(0.5):
            if self._paused.is_set():
                continue
            for index, proc in enumerate(self.topo.workers):
                if not proc.alive():
                    code = proc.popen.poll() if proc.popen else None
                    tail = proc.tail(3).replace("\n", " | ")[-300:]
                    try:
                        proc.start()
                        self.worker_restarts.append((round(time.monotonic() - self.started, 1), index, tail))
                        self.note(f"supervisor: worker-{index} had exited (code {code}); started again")
                    except Exception as err:  # reported; the drain will show what it cost
                        self.errors.append(f"restarting worker-{index}: {err}")

    def _at(self, fraction: float) -> bool:
        """Sleep until `fraction` of the load has passed; False if stopped."""
        wait = self.started + fraction * self.seconds - time.monotonic()
        return not self._stop.wait(max(0.0, wait))

    def _worker_in_transaction(self, name: str) -> bool:
        rows = self.topo.sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = :n "
                             "AND xact_start IS NOT NULL AND state <> 'idle'", n=name)
        return bool(rows and rows[0][0])

    def run(self) -> None:
        self.started = time.monotonic()
        threading.Thread(target=self.supervise, daemon=True, name="supervisor").start()
        try:
            self._schedule()
        except Exception as err:  # a fault that could not be made is a failed run, not a crash
            self.errors.append(f"fault schedule: {type(err).__name__}: {err}")
            self.note(f"fault schedule stopped: {err}")

    def _schedule(self) -> None:
        if not self._at(0.10):
            return
        self.fcm.script(*[("UNAVAILABLE", 1)] * 6)
        self.note("FCM storm: the next 6 sends get 503 with Retry-After: 1")
        if not self._at(0.20):
            return
        self._paused.set()
        deadline, inside = time.monotonic() + 5, False
        while time.monotonic() < deadline and not inside:
            inside = self._worker_in_transaction("worker-0")
            if not inside:
                time.sleep(0.01)
        self.topo.kill_worker(0)
        self.note(f"worker-0 killed with SIGKILL ({'inside a transaction' if inside else 'while idle'})")
        time.sleep(1.0)
        self.topo.restart_worker(0, timeout=60)
        self._paused.clear()
        self.note("worker-0 started again")
        if not self._at(0.30):
            return
        count = max(1, len(self.phones) // 10)
        self.dead_phones = self.phones[-count:]
        with self.fcm._lock:
            self.fcm.dead.update(p.fcm_token for p in self.dead_phones)
        self.note(f"FCM: the tokens of {count} devices are now UNREGISTERED")
        for phone in self.dead_phones:  # their phones ring: the push finds the token gone
            threading.Thread(target=phone.ring, daemon=True).start()
        if not self._at(0.40):
            return
        self._paused.set()
        self.topo.stop_redis()
        self.note("Redis stopped")
        time.sleep(2.0)
        self.topo.start_redis()
        self._paused.clear()
        self.note("Redis started again on the same port (empty: no persistence)")
        if not self._at(0.58):
            return
        self.fcm.script(*[("QUOTA_EXCEEDED", 2)] * 3)
        self.note("FCM storm: the next 3 sends get 429 with Retry-After: 2")
        # The database fails over while those pushes wait out their Retry-After:
        # their retries reach FCM while PostgreSQL is down.
        time.sleep(0.5)
        self.topo.postgres.stop()
        self.note("PostgreSQL stopped (fast shutdown)")
        time.sleep(2.0)
        self.topo.postgres.start()
        self.note("PostgreSQL started again on the same port")
        if not self._at(0.80):
            return
        self.fcm.script(*[("UNAVAILABLE", 1), ("QUOTA_EXCEEDED", 1)] * 3)
        self.note("FCM storm: 6 more 503/429 with Retry-After: 1")

    def stop(self) -> None:
        self._stop.set()


# ----------------------------------------------------------------------------------------------
# Draining and checking.
# ----------------------------------------------------------------------------------------------
def _registries(topo) -> dict:
    from rq import Queue
    from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

    redis = topo.redis_client()
    out = {"queued": 0, "started": [], "failed": [], "scheduled": 0}
    for name in QUEUES:
        queue = Queue(name, connection=redis)
        out["queued"] += queue.count
        out["started"] += [(name, job_id) for job_id in StartedJobRegistry(queue=queue).get_job_ids()]
        out["failed"] += [(name, job_id) for job_id in FailedJobRegistry(queue=queue).get_job_ids()]
        out["scheduled"] += ScheduledJobRegistry(queue=queue).count
    return out


def _job_story(topo, job_id: str) -> str:
    from rq.job import Job

    try:
        job = Job.fetch(job_id, connection=topo.redis_client())
    except Exception as err:
        return f"{job_id}: {type(err).__name__}"
    result = job.latest_result()
    text = (result.exc_string if result is not None else None) or ""
    return f"{job.func_name}{tuple(job.args)}: {_exception_line(text)}"


def _exception_line(text: str) -> str:
    """The last `package.Error: message` line of a traceback."""
    found = re.findall(r"^((?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception|Found|Detected)\b.*)$(\n\(.*)?",
                       text, re.M)
    if not found:
        return (text.strip().splitlines() or ["?"])[-1][:220]
    line, cause = found[-1]
    if "autoflush" in line and cause:
        line = f"{line.split(': ', 1)[0]}: (in an autoflush) {cause.strip()}"
    return line[:220]


# Job failures that the injected faults explain: the database or Redis was
# away, or the worker was killed. Anything else is a bug, faults or not.
FAULT_ERRORS = re.compile(r"connection failed|terminating connection|server closed the connection|"
                          r"consuming input failed|the connection is closed|AbandonedJobError|"
                          r"redis\.exceptions\.ConnectionError|Connection refused|AdminShutdown")


def _wait_idle(topo, org: int, deadline: float, *, sweep: bool) -> dict:
    """Poll until nothing is left to do, nothing has moved for a while, or the
    deadline; with `sweep`, run the outbox sweep whenever the queues are idle
    and uploads are still unprocessed (until sweeping stops helping)."""
    sweeps, swept, last_change, state = 0, 0, time.monotonic(), None
    pending_at_sweeps: list[int] = []
    while True:
        pending = topo.scalar("SELECT count(*) FROM sync_uploads WHERE organization_id = :o "
                              "AND processed_at IS NULL", o=org)
        queued_pushes = topo.scalar("SELECT count(*) FROM push_messages WHERE organization_id = :o "
                                    "AND status = 'queued'", o=org)
        try:
            jobs = _registries(topo)
        except Exception:  # Redis still coming back
            jobs = {"queued": -1, "started": [("?", "?")], "scheduled": 0}
        new_state = (pending, queued_pushes, jobs["queued"], len(jobs["started"]), jobs["scheduled"])
        if new_state != state:
            state, last_change = new_state, time.monotonic()
        if state == (0, 0, 0, 0, 0):
            break
        idle = jobs["queued"] == 0 and jobs["scheduled"] == 0
        useless = len(pending_at_sweeps) >= 3 and pending >= pending_at_sweeps[-3]
        if sweep and idle and pending and not useless and time.monotonic() - last_change > 1.0:
            swept += topo.sweep_outbox(min_age=0)
            sweeps += 1
            pending_at_sweeps.append(pending)
            last_change = time.monotonic()
        # Queues idle and nothing moving: what is left will not move by itself.
        if idle and time.monotonic() - last_change > (8 if not jobs["started"] else 20):
            break
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    return {"state": state, "sweeps": sweeps, "swept": swept}


def drain(topo, org: int, *, faults: bool, timeout: float, log) -> dict:
    """Wait (bounded) for the queues; with faults, sweep the outbox as the
    scheduler would. Then one more `flask sweep-outbox` (in the normal run it
    must find nothing) and wait again for what it queued."""
    started, deadline = time.monotonic(), time.monotonic() + timeout
    first = _wait_idle(topo, org, deadline, sweep=faults)
    seconds = time.monotonic() - started
    state = first["state"]
    log(f"drained in {seconds:.1f}s: pending uploads {state[0]}, queued pushes {state[1]}, jobs queued "
        f"{state[2]}, started {state[3]}, scheduled {state[4]}; sweeps: {first['sweeps']} ({first['swept']} uploads)")
    final_sweep = topo.sweep_outbox(min_age=0)
    if final_sweep:
        again = _wait_idle(topo, org, max(deadline, time.monotonic() + 60), sweep=False)
        log(f"the final sweep queued {final_sweep} uploads; then: {again['state']}")
    return {"seconds": seconds, "sweeps": first["sweeps"], "swept": first["swept"], "final_sweep": final_sweep}


def scrape_metrics(base_url: str) -> dict:
    """{(sample name, sorted labels): value} of GET /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    conn = HTTPConnection(base_url.split("//")[1].split(":")[0], int(base_url.rsplit(":", 1)[1]), timeout=30)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _metric_sum(metrics: dict, name: str, **labels) -> float:
    return sum(v for (n, lab), v in metrics.items() if n == name and all(dict(lab).get(k) == w
                                                                         for k, w in labels.items()))


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def check_invariants(topo, fcm: LoadFcm, org: int, phones: list[SimPhone], stats: Stats, metrics0: dict,
                     metrics1: dict, drained: dict, *, faults: bool, driver: FaultDriver | None,
                     load_started: float = 0.0) -> tuple[list, dict]:
    checks: list[Check] = []
    facts: dict = {}

    def check(name: str, ok: bool, detail: str) -> None:
        checks.append(Check(name, bool(ok), detail))

    # -- calls ------------------------------------------------------------------------------
    stored: dict[int, set] = defaultdict(set)
    per_device = {row[0]: row[1:] for row in topo.sql(
        "SELECT device_id, count(*), count(DISTINCT (android_id, date_ms)), count(processed_at), count(outcome) "
        "FROM calls WHERE organization_id = :o GROUP BY device_id", o=org)}
    for device_id, android_id, date_ms in topo.sql(
            "SELECT device_id, android_id, date_ms FROM calls WHERE organization_id = :o", o=org):
        stored[device_id].add((android_id, date_ms))
    lost, phantom, duplicated, unprocessed, unconfirmed_stored, count_mismatch = [], [], [], [], 0, []
    for phone in phones:
        t = phone.totals
        have = stored.get(phone.device_id, set())
        total, distinct, processed, outcomes = per_device.get(phone.device_id, (0, 0, 0, 0))
        if total != distinct:
            duplicated.append((phone.index, total - distinct))
        missing = t.accepted_ids - have
        if missing:
            lost.append((phone.index, len(missing), sorted(missing)[:3]))
        extra = have - t.accepted_ids
        if extra - t.attempted_ids:
            phantom.append((phone.index, len(extra - t.attempted_ids)))
        unconfirmed_stored += len(extra & t.attempted_ids)
        if processed != total or outcomes != total:
            unprocessed.append((phone.index, total - processed))
        if not faults and t.accepted != len(have):
            count_mismatch.append((phone.index, t.accepted, len(have)))
    calls_total = sum(len(s) for s in stored.values())
    accepted_total = sum(len(p.totals.accepted_ids) for p in phones)
    still_queued = sum(len(p.pending) for p in phones)
    facts.update(calls_stored=calls_total, calls_accepted_by_phones=accepted_total,
                 batches_still_queued_on_phones=still_queued)
    check("every call a phone got accepted is stored (0 lost)", not lost,
          f"{accepted_total:,} accepted row identities, {calls_total:,} stored; lost: {lost or 0}")
    check("every call stored exactly once (0 duplicates)", not duplicated and not phantom,
          f"count = distinct (_id, date) on every device; duplicates {duplicated or 0}, rows no phone sent "
          f"{phantom or 0}" + (f"; {unconfirmed_stored} stored from batches whose answer was lost (the phone "
                               f"still holds them)" if unconfirmed_stored else ""))
    if not faults:
        check("the server's `accepted` counts equal the calls stored", not count_mismatch,
              f"(phone, sum of accepted, stored): {count_mismatch[:5] or 'all equal'}")
    check("the phones hold no batch unsent at the end", still_queued == 0,
          f"{still_queued} batches still queued on the phones after the final flush")
    uploads = topo.sql("SELECT count(*), count(processed_at), coalesce(sum(accepted), 0), min(attempts), "
                       "max(attempts) FROM sync_uploads WHERE organization_id = :o AND kind = 'calls'", o=org)[0]
    check("every upload processed (sync_uploads.processed_at set)", uploads[0] == uploads[1],
          f"{uploads[1]:,} of {uploads[0]:,} uploads processed; attempts per upload {uploads[3]}..{uploads[4]}")
    check("every call processed (calls.processed_at and outcome set)", not unprocessed,
          f"unprocessed per phone: {unprocessed or 0}")
    check("upload accepted counts add up to the calls stored", uploads[2] == calls_total,
          f"sum(sync_uploads.accepted) {uploads[2]:,}, calls {calls_total:,}")
    if not faults:
        check("no upload needed the outbox sweep", drained["final_sweep"] == 0 and drained["swept"] == 0,
              f"the sweep after the drain queued {drained['final_sweep']} uploads")
    leads_twice = topo.sql("SELECT phone, count(*) FROM leads WHERE organization_id = :o GROUP BY phone "
                           "HAVING count(*) > 1", o=org)
    check("one lead per number", not leads_twice, f"numbers with several leads: {leads_twice[:5] or 0}")
    counters = topo.sql(
        "SELECT l.id, l.calls_count, count(c.id) FROM leads l LEFT JOIN calls c ON c.record_type = 'lead' "
        "AND c.record_id = l.id WHERE l.organization_id = :o GROUP BY l.id, l.calls_count "
        "HAVING l.calls_count <> count(c.id)", o=org)
    check("each lead's calls_count equals its calls", not counters, f"(lead, calls_count, calls): {counters[:5] or 0}")

    # -- jobs -------------------------------------------------------------------------------
    jobs = _registries(topo)
    stuck = [f"{q}: {_job_story(topo, j)}" for q, j in jobs["started"]]
    check("0 stuck jobs (queues, started and scheduled registries empty)",
          jobs["queued"] == 0 and not stuck and jobs["scheduled"] == 0,
          f"queued {jobs['queued']}, scheduled {jobs['scheduled']}, started {len(stuck)}"
          + "".join(f"\n        started: {s}" for s in stuck[:5]))
    facts["failed_jobs"] = [f"{q}: {_job_story(topo, j)}" for q, j in jobs["failed"]]
    unexplained = [j for j in facts["failed_jobs"] if not (faults and FAULT_ERRORS.search(j))]
    check("0 failed jobs" + (" besides those the faults explain (database or Redis away)" if faults else ""),
          not unexplained, f"{len(jobs['failed'])} in the failed registries, {len(unexplained)} not explained by "
          f"a fault" + "".join(f"\n        failed: {s}" for s in unexplained[:6]))
    open_twice = topo.sql("SELECT record_type, record_id, count(*) FROM tasks WHERE organization_id = :o "
                          "AND status = 'open' GROUP BY 1, 2 HAVING count(*) > 1", o=org)
    twins = []
    for record_type, record_id, _ in open_twice[:3]:
        twins += topo.sql(
            "SELECT t.id, t.record_type, t.record_id, t.call_id, c.upload_id, c.device_id, t.created_at "
            "FROM tasks t LEFT JOIN calls c ON c.id = t.call_id WHERE t.organization_id = :o AND t.status = 'open' "
            "AND t.record_type = :t AND t.record_id = :r ORDER BY t.id", o=org, t=record_type, r=record_id)
    check("one open call-back task per record", not open_twice,
          f"(record type, id, open tasks): {open_twice[:5] or 0}"
          + "".join(f"\n        task {t[0]} {t[1]} {t[2]}: call {t[3]} of upload {t[4]} (device {t[5]}), "
                    f"created {t[6]:%H:%M:%S.%f}" for t in twins))

    # -- pushes -----------------------------------------------------------------------------
    token_device = {p.fcm_token: p.device_id for p in phones}
    answers = list(fcm.answers)
    by_message: dict[tuple, list] = defaultdict(list)
    for answer in answers:
        by_message[(answer["push_id"], token_device.get(answer["token"]))].append(answer)
    for seq in by_message.values():
        seq.sort(key=lambda a: a["arrived"])
    rows = topo.sql("SELECT id, push_id, device_id, kind, status, attempts, error, "
                    "extract(epoch FROM created_at), extract(epoch FROM expires_at) "
                    "FROM push_messages WHERE organization_id = :o", o=org)
    facts["push_statuses"] = {f"{k} {s}": n for (k, s), n in sorted(Counter((r[3], r[4]) for r in rows).items())}
    by_push_id = defaultdict(list)
    for row in rows:
        by_push_id[row[1]].append(row)
    rings = [(p, push_id, devices, at) for p in phones for push_id, devices, at in p.totals.rings]
    ring_rows_wrong, ring_not_sent, stuck_pushes = [], Counter(), []
    for phone, push_id, devices, _ in rings:
        mine = by_push_id.get(push_id, [])
        if len(mine) != devices or any(r[2] != phone.device_id for r in mine) or (not faults and devices != 1):
            ring_rows_wrong.append((phone.index, push_id[:8], devices, len(mine)))
        for r in mine:
            if r[4] != "sent":
                ring_not_sent[r[4]] += 1
    for row in rows:
        if row[4] in ("queued", "sending"):
            stuck_pushes.append(row)
    sent_twice, attempts_wrong, sent_not_logged, unknown_requests, delivered_not_sent = [], [], [], [], []
    row_keys = {(r[1], r[2]) for r in rows}
    for row in rows:
        seq = by_message.get((row[1], row[2]), [])
        oks = sum(1 for a in seq if a["status"] == 200)
        if oks > 1:
            sent_twice.append((row[0], oks))
        if row[4] == "sent" and oks != 1:
            sent_not_logged.append((row[0], oks))
        if oks and row[4] != "sent":
            delivered_not_sent.append((row[0], row[3], row[4], row[6], row[5],
                                       [(a["status"], round(a["arrived"] - load_started, 1)) for a in seq]))
        if row[4] not in ("queued", "sending") and len(seq) != row[5]:
            attempts_wrong.append((row[0], row[3], row[4], row[6], row[5],
                                   [(a["status"], round(a["arrived"] - load_started, 1)) for a in seq]))
    for key, seq in by_message.items():
        if key not in row_keys:
            unknown_requests.append((key[0], key[1], len(seq), seq[0]["shape"], seq[0]["token"] in token_device,
                                     round(seq[0]["arrived"] - load_started, 1)))
    facts.update(rings=len(rings), rings_failed=sum(p.totals.rings_failed for p in phones),
                 push_messages=len(rows), fcm_requests=len(answers),
                 fcm_statuses=dict(Counter(a["status"] for a in answers)))
    check("one push_messages row per device per ring", not ring_rows_wrong,
          f"{len(rings):,} rings answered 202; (phone, push, devices answered, rows): "
          f"{ring_rows_wrong[:5] or 'all 1:1'}")
    if faults:
        # A worker SIGKILLed between FCM's 200 and writing it down leaves the push
        # 'sending': delivery is at most once, so it is not sent again. Such pushes
        # (FCM's answer within 1.5 s before a kill) are reported, not failed.
        kills = [at for at, text in (driver.events if driver else []) if "killed with SIGKILL" in text]
        in_kill_window = {r[0] for r in rows for a in by_message.get((r[1], r[2]), [])
                          if a["status"] == 200 and any(0 <= k - (a["arrived"] - load_started) <= 1.5 for k in kills)}
        # Claimed ('sending') but never recorded, with a worker SIGKILLed during the
        # run: the sender died around the send (at most once: not resent).
        if kills:
            in_kill_window |= {r[0] for r in stuck_pushes if r[4] == "sending"}
        facts["pushes_lost_to_a_kill_after_fcm_answered"] = sorted(in_kill_window)
        stuck_pushes = [r for r in stuck_pushes if r[0] not in in_kill_window]
        # A request cut off by the kill reaches the fake without a usable body.
        unknown_requests[:] = [u for u in unknown_requests
                               if not any(0 <= k - u[5] <= 1.5 for k in kills)]
        delivered_not_sent[:] = [d for d in delivered_not_sent if d[0] not in in_kill_window]
        delivered = [r for r in stuck_pushes if any(a["status"] == 200 for a in by_message.get((r[1], r[2]), []))]
        check("no push left queued or sending (every push reached a final status)", not stuck_pushes,
              f"{len(stuck_pushes)} push_messages still 'queued'/'sending' after the drain, {len(delivered)} of them "
              f"delivered by FCM all the same (200 in the fake's log)"
              + "".join(f"\n        #{r[0]} {r[3]} device {r[2]} created at {float(r[7]) - load_started:+.1f}s "
                        f"into the load, status {r[4]}; FCM requests for it: "
                        f"{[a['status'] for a in by_message.get((r[1], r[2]), [])]}" for r in stuck_pushes[:8]))
        odd = {s: n for s, n in ring_not_sent.items() if s not in ("sent", "expired", "token_removed", "failed",
                                                                   "queued", "sending")}
        check("ringing pushes end sent, expired, token removed or failed (no token)", not odd,
              f"ringing pushes not sent, by status: {dict(ring_not_sent) or 0} ('queued': see above)")
    else:
        check("every ringing push sent (status sent)", not ring_not_sent,
              f"ringing pushes not sent, by status: {dict(ring_not_sent) or 0}")
        not_sent = Counter(r[4] for r in rows if r[4] != "sent" or r[5] != 1)
        check("every push sent at the first attempt", not not_sent, f"otherwise: {dict(not_sent) or 0}")
    check("the fake FCM got exactly one request per push message (per attempt)",
          not sent_twice and not attempts_wrong and not sent_not_logged and not unknown_requests,
          f"{len(answers):,} requests for {len(rows):,} messages; delivered twice {sent_twice[:5] or 0}; "
          f"'sent' without exactly one 200 {sent_not_logged[:5] or 0}; requests for no recorded message "
          f"{unknown_requests[:5] or 0}; attempts recorded != requests: {len(attempts_wrong)}"
          + "".join(f"\n        #{a[0]} {a[1]}: recorded {a[2]} ({a[3]}) after {a[4]} attempts; FCM got "
                    f"(status, s into the load): {a[5]}" for a in attempts_wrong[:6]))
    check("every push FCM accepted is recorded as sent", not delivered_not_sent,
          f"{len(delivered_not_sent)} messages FCM answered 200 for are recorded otherwise"
          + "".join(f"\n        #{a[0]} {a[1]}: recorded {a[2]} ({a[3]}), attempts {a[4]}; FCM got (status, s into "
                    f"the load): {a[5]}" for a in delivered_not_sent[:6]))
    late = [(r[0], r[3]) for r in rows for a in by_message.get((r[1], r[2]), []) if a["arrived"] > float(r[8])]
    facts["sends_after_ttl"] = len(late)

    # -- faults: dead tokens, Retry-After ---------------------------------------------------
    if faults and driver is not None:
        dead = {p.fcm_token: p for p in driver.dead_phones}
        tokens_left, after_gone, gone_at = [], [], {}
        for token, phone in dead.items():
            gone = [a for a in answers if a["token"] == token and a["status"] == 404]
            if not gone:
                continue
            gone_at[token] = min(a["answered"] for a in gone)
        for token, phone in dead.items():
            value = topo.scalar("SELECT fcm_token FROM devices WHERE id = :d", d=phone.device_id)
            if token in gone_at and value is not None:
                tokens_left.append(phone.device_id)
            if token in gone_at:
                later = [a for a in answers if a["token"] == token and a["arrived"] > gone_at[token] + 1.0]
                after_gone += [(phone.device_id, a["kind"], a["push_id"][:8], round(a["arrived"] - gone_at[token], 2))
                               for a in later]
        check("UNREGISTERED devices' tokens removed (devices.fcm_token NULL)",
              len(gone_at) == len(dead) and not tokens_left,
              f"{len(dead)} devices made UNREGISTERED, {len(gone_at)} of them told so by FCM; tokens still set: "
              f"{tokens_left or 0}")
        check("no push sent to a removed token afterwards", not after_gone,
              f"requests more than 1 s after the first UNREGISTERED answer: {after_gone[:5] or 0}")
        too_soon, spaced, slack = [], 0, []
        for (push_id, device_id), seq in by_message.items():
            for prev, nxt in zip(seq, seq[1:]):
                if prev["retry_after"] is None:
                    continue
                gap = nxt["arrived"] - prev["answered"]
                spaced += 1
                slack.append(gap - prev["retry_after"])
                if gap < prev["retry_after"] - 0.05:
                    too_soon.append((push_id[:8], device_id, prev["status"], prev["retry_after"], round(gap, 3)))
        retried_with_ra = sum(1 for a in answers if a["retry_after"] is not None)
        spacing = (f"{retried_with_ra} answers carried Retry-After, {spaced} were retried, smallest margin "
                   f"{min(slack):.2f}s" if slack else f"{retried_with_ra} answers carried Retry-After, none retried")
        check("FCM retries spaced by at least Retry-After", not too_soon and spaced > 0,
              spacing + (f"; too soon (push, device, status, Retry-After, gap): {too_soon[:5]}" if too_soon else ""))
        check("every fault was made", not driver.errors and len(driver.events) >= 8,
              f"{len(driver.events)} events; errors: {driver.errors or 0}")

    # -- /metrics ---------------------------------------------------------------------------
    answered = stats.answered()
    mismatched = []
    for (method, rule), count in sorted(answered.items()):
        served = (_metric_sum(metrics1, "callsync_request_seconds_count", endpoint=rule, method=method)
                  - _metric_sum(metrics0, "callsync_request_seconds_count", endpoint=rule, method=method))
        if round(served) != count:
            mismatched.append((f"{method} {rule}", count, round(served)))
    ingest = (_metric_sum(metrics1, "callsync_ingest_rows_total", kind="calls", result="accepted")
              - _metric_sum(metrics0, "callsync_ingest_rows_total", kind="calls", result="accepted"))
    db_status = Counter(r[4] for r in rows)
    gauge = {status: _metric_sum(metrics1, "callsync_push_messages", status=status)
             for status in set(db_status) | {dict(lab).get("status") for (n, lab) in metrics1
                                               if n == "callsync_push_messages"}}
    # The gauge counts every organisation's pushes; this run's organisation is the only one.
    outcomes_sent = _metric_sum(metrics1, "callsync_push_outcomes_total", status="sent")
    depth = _metric_sum(metrics1, "callsync_queue_depth")
    problems = []
    if mismatched:
        problems.append(f"requests (endpoint, answered to the phones, counted by /metrics): {mismatched[:6]}")
    if round(ingest) != calls_total:
        problems.append(f"ingest accepted rows {ingest:,.0f} != calls stored {calls_total:,}")
    if any(round(gauge[s]) != db_status.get(s, 0) for s in gauge):
        problems.append(f"push gauge {gauge} != database {dict(db_status)}")
    if round(outcomes_sent) != db_status.get("sent", 0):
        problems.append(f"push outcome 'sent' counter {outcomes_sent:,.0f} != database {db_status.get('sent', 0)}")
    if depth:
        problems.append(f"queue depth {depth}")
    check("/metrics agrees with the counts", not problems,
          "; ".join(problems) if problems else
          f"requests per endpoint, {calls_total:,} ingest rows, {len(rows):,} push outcomes, queue depth 0")
    return checks, facts


# ----------------------------------------------------------------------------------------------
# The run.
# ----------------------------------------------------------------------------------------------
@dataclass
class Options:
    phones: int = 50
    seconds: float = 60.0
    faults: bool = False
    managers: int = 2
    think: float = 1.0
    web_workers: int = 3
    web_threads: int = 4
    rq_workers: int = 2
    drain_timeout: float = 180.0
    flush_seconds: float = 30.0
    seed: int = 1
    quiet: bool = False
    keep_logs: bool = False


@dataclass
class Report:
    options: Options
    checks: list = field(default_factory=list)
    facts: dict = field(default_factory=dict)
    endpoints: list = field(default_factory=list)
    errors: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    events: list = field(default_factory=list)
    logs: str = ""
    text: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def failures(self) -> list:
        return [c for c in self.checks if not c.ok]


def service_log_excerpt(topo, lines: int = 25) -> str:
    """The last lines of each service log that are not access-log lines."""
    parts = []
    for proc in [topo.web, *topo.workers]:
        if proc is None:
            continue
        try:
            text = proc.log_path.read_text(errors="replace").splitlines()
        except OSError:
            continue
        kept = [line for line in text if not line.startswith('127.0.0.1 "')]
        parts.append(f"--- {proc.name} ({len(kept)} lines besides the access log) ---\n" + "\n".join(kept[-lines:]))
    return "\n".join(parts)


LOG_PATTERNS = {
    "could not queue send_push": "could not queue send_push",
    "could not queue process_call_upload": "could not queue process_call_upload",
    "deadlock detected": "DeadlockDetected",
    "MultipleResultsFound": "MultipleResultsFound",
    "unhandled OperationalError (web)": "unhandled OperationalError",
    "worker quit on a Redis error": "Error 111 connecting",
}


def log_evidence(topo) -> dict:
    """How often the service logs say what the invariants point at."""
    counts: Counter = Counter()
    for proc in [topo.web, *topo.workers]:
        try:
            text = proc.log_path.read_text(errors="replace")
        except (OSError, AttributeError):
            continue
        for label, needle in LOG_PATTERNS.items():
            counts[f"{label} [{proc.name}]"] += text.count(needle)
    return {k: v for k, v in sorted(counts.items()) if v}


def _percentile(sorted_values: list, q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def summarise(stats: Stats, seconds: float) -> tuple[list, dict, dict]:
    endpoints, errors, totals = [], Counter(), Counter()
    for (method, rule), samples in sorted(stats.latency.items(), key=lambda kv: -len(kv[1])):
        times = sorted(s for s, status in samples if status)
        statuses = Counter(status for _, status in samples)
        bad = {s: n for s, n in statuses.items() if s == 0 or s >= 500 or s == 429}
        for s, n in statuses.items():
            if s == 0 or s >= 400:
                errors[s] += n
        totals["requests"] += len(samples)
        endpoints.append({"endpoint": f"{method} {rule}", "requests": len(samples),
                          "per_s": len(samples) / seconds if seconds else 0.0,
                          "p50_ms": _percentile(times, 0.50) * 1000, "p99_ms": _percentile(times, 0.99) * 1000,
                          "max_ms": (times[-1] * 1000) if times else float("nan"),
                          "statuses": dict(sorted(statuses.items())), "errors": sum(bad.values())})
    return endpoints, dict(sorted(errors.items())), dict(totals)


def render(report: Report) -> str:
    o, f, t = report.options, report.facts, report.timings
    lines = [f"\n== load run: {o.phones} phones + {o.managers} managers for {o.seconds:.0f}s, gunicorn "
             f"{o.web_workers}x{o.web_threads}, {o.rq_workers} RQ workers, faults {'ON' if o.faults else 'off'} =="]
    load_s = t.get("load", o.seconds) or 1
    requests = sum(e["requests"] for e in report.endpoints)
    lines.append(f"throughput: {requests:,} requests in {load_s:.1f}s = {requests / load_s:,.1f} req/s; "
                 f"{f.get('calls_accepted_by_phones', 0):,} call rows accepted "
                 f"({f.get('calls_accepted_by_phones', 0) / load_s:,.0f} rows/s); {f.get('rings', 0):,} rings; "
                 f"{f.get('push_messages', 0):,} pushes, {f.get('fcm_requests', 0):,} FCM requests")
    lines.append(f"{'endpoint':<46}{'requests':>9}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}  statuses")
    for e in report.endpoints:
        lines.append(f"{e['endpoint']:<46}{e['requests']:>9,}{e['per_s']:>8.1f}{e['p50_ms']:>9.1f}"
                     f"{e['p99_ms']:>9.1f}{e['max_ms']:>9.1f}  {e['statuses']}")
    lines.append(f"errors by status (0 = no answer): {report.errors or 'none'}")
    phones = f.get("phone_totals", {})
    if phones:
        lines.append(f"phones: {phones['batches_ok']:,} batches accepted ({phones['batches_retried']:,} needed a "
                     f"retry, {phones['given_up']:,} attempts given up and kept queued), "
                     f"accepted {phones['accepted']:,}, duplicates {phones['duplicates']:,}, "
                     f"rejected {phones['rejected']:,}")
    if f.get("manager_decisions"):
        lines.append(f"managers: {f['manager_decisions']}")
    lines.append(f"pushes by (kind, status): {f.get('push_statuses')}; FCM answers by status: {f.get('fcm_statuses')};"
                 f" sends after the message's TTL: {f.get('sends_after_ttl', 0)}")
    if report.events:
        lines.append("faults:")
        lines += [f"  {at:6.1f}s  {text}" for at, text in report.events]
        lines.append(f"  worker restarts by the supervisor: {f.get('worker_restarts') or 0}")
    if f.get("failed_jobs"):
        lines.append(f"failed jobs ({len(f['failed_jobs'])}) by error, as evidence:")
        lines += [f"  {n:4} x {kind}" for kind, n in sorted(f["failed_job_kinds"].items(), key=lambda kv: -kv[1])]
    if f.get("log_evidence"):
        lines.append(f"service logs: {f['log_evidence']}")
    lines.append("invariants:")
    for c in report.checks:
        lines.append(f"  [{'ok' if c.ok else 'FAIL'}] {c.name}: {c.detail}")
    lines.append("timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in t.items())
                 + f"; machine load average (1/5/15 min) before {f.get('load_average_before')}, "
                   f"after {f.get('load_average_after')} on {os.cpu_count()} cores")
    lines.append("RESULT: " + ("all invariants hold" if report.ok else f"{len(report.failures)} invariant(s) FAILED"))
    return "\n".join(lines)


def run(opts: Options, log=print) -> Report:
    from tests.topology import Topology

    say = (lambda *_: None) if opts.quiet else log
    report = Report(opts)
    t0 = time.monotonic()
    fcm = LoadFcm()
    topo = Topology(web_workers=opts.web_workers, web_threads=opts.web_threads, rq_workers=opts.rq_workers,
                    env={"FCM_CREDENTIALS": "token:load-test", "FCM_PROJECT_ID": fcm.project, "FCM_URL": fcm.url,
                         "FCM_HTTP_TIMEOUT": "10"}, start_timeout=120, keep_logs=opts.keep_logs)
    prometheus_dir = topo.dir / "prometheus"
    prometheus_dir.mkdir()
    topo.extra_env["PROMETHEUS_MULTIPROC_DIR"] = str(prometheus_dir)
    try:
        topo.__enter__()
        report.timings["start"] = time.monotonic() - t0
        report.facts["load_average_before"] = [round(x, 1) for x in os.getloadavg()]
        stats = Stats()
        http = Http(topo.base_url, stats)
        people = make_people(300 + 40 * opts.phones, seed=opts.seed)
        t1 = time.monotonic()
        world = set_up(topo, http, opts, people, say)
        report.timings["setup"] = time.monotonic() - t1
        org, phones = world["org"], world["phones"]
        rep_ids = [p.user_id for p in phones]
        managers = [Manager(http, m["token"], rep_ids, opts.seed * 31 + i, think_s=opts.think)
                    for i, m in enumerate(world["managers"])]
        metrics0 = scrape_metrics(topo.base_url)
        fcm.reset()
        fcm.answers.clear()

        driver = FaultDriver(topo, fcm, phones, opts.seconds, say) if opts.faults else None
        stats.phase = "load"
        load_start, load_started = time.monotonic(), time.time()
        load_end = load_start + opts.seconds
        flush_end = load_end + opts.flush_seconds
        threads = [threading.Thread(target=p.run, args=(load_end, flush_end), daemon=True, name=f"phone-{p.index}")
                   for p in phones]
        threads += [threading.Thread(target=m.run, args=(load_end,), daemon=True, name=f"manager-{i}")
                    for i, m in enumerate(managers)]
        say(f"load: {len(phones)} phones and {len(managers)} managers for {opts.seconds:.0f}s"
            + (" with faults" if opts.faults else ""))
        for thread in threads:
            thread.start()
        fault_thread = None
        if driver:
            fault_thread = threading.Thread(target=driver.run, daemon=True, name="faults")
            fault_thread.start()
        for thread in threads:
            thread.join(max(1.0, flush_end + 90 - time.monotonic()))
        stuck_threads = [t.name for t in threads if t.is_alive()]
        report.timings["load"] = opts.seconds
        report.timings["load+flush"] = time.monotonic() - load_start
        stats.phase = "done"
        if driver:
            driver.stop()
            fault_thread.join(30)
            report.events = driver.events
            topo.ensure_workers(60)
            topo.wait_healthy(60)
        t2 = time.monotonic()
        drained = drain(topo, org, faults=opts.faults, timeout=opts.drain_timeout, log=say)
        report.timings["drain"] = time.monotonic() - t2
        t3 = time.monotonic()
        metrics1 = scrape_metrics(topo.base_url)
        checks, facts = check_invariants(topo, fcm, org, phones, stats, metrics0, metrics1, drained,
                                         faults=opts.faults, driver=driver, load_started=load_started)
        facts["log_evidence"] = log_evidence(topo)
        facts["failed_job_kinds"] = dict(Counter(j.split(": ", 2)[-1][:120] for j in facts["failed_jobs"]))
        if stuck_threads:
            checks.append(Check("every simulated client finished in time", False, f"still running: {stuck_threads}"))
        report.timings["checks"] = time.monotonic() - t3
        facts["load_average_before"] = report.facts.get("load_average_before")
        facts["load_average_after"] = [round(x, 1) for x in os.getloadavg()]
        report.checks, report.facts = checks, facts
        totals = Counter()
        for p in phones:
            for key in ("accepted", "duplicates", "rejected", "batches_ok", "batches_retried", "given_up"):
                totals[key] += getattr(p.totals, key)
        facts["phone_totals"] = dict(totals)
        facts["manager_decisions"] = dict(sum((m.decisions for m in managers), Counter()))
        facts["manager_decisions"] = {f"{a} {s}": n for (a, s), n in sorted(facts["manager_decisions"].items())}
        if driver:
            facts["worker_restarts"] = driver.worker_restarts
        report.endpoints, report.errors, _ = summarise(stats, opts.seconds)
        if not report.ok:
            report.logs = service_log_excerpt(topo)
    finally:
        topo.close()
        fcm.close()
        report.timings["total"] = time.monotonic() - t0
    report.text = render(report)
    if opts.keep_logs:
        report.text += f"\nservice logs kept in {topo.dir}"
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phones", type=int, help="simulated phones (default 50; --quick 10)")
    parser.add_argument("--seconds", type=float, help="length of the load (default 60; --quick 20, 35 with --faults)")
    parser.add_argument("--faults", action="store_true", help="kill a worker, restart Redis and PostgreSQL, FCM storms")
    parser.add_argument("--quick", action="store_true", help="a short run (what the test suite runs)")
    parser.add_argument("--managers", type=int, default=2)
    parser.add_argument("--think", type=float, default=1.0, help="mean seconds between a phone's actions")
    parser.add_argument("--web-workers", type=int, default=3)
    parser.add_argument("--web-threads", type=int, default=4)
    parser.add_argument("--rq-workers", type=int, default=2)
    parser.add_argument("--drain-timeout", type=float, help="seconds to wait for the queues (default 180; --quick 90)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the report as JSON")
    parser.add_argument("--keep-logs", action="store_true", help="keep the services' logs (the path is printed)")
    args = parser.parse_args(argv)
    quick = args.quick
    opts = Options(phones=args.phones or (10 if quick else 50),
                   seconds=args.seconds or ((35 if args.faults else 20) if quick else 60),
                   faults=args.faults, managers=args.managers, think=args.think, web_workers=args.web_workers,
                   web_threads=args.web_threads, rq_workers=args.rq_workers,
                   drain_timeout=args.drain_timeout or (90 if quick else 180), seed=args.seed,
                   keep_logs=args.keep_logs)
    try:
        report = run(opts)
    except BaseException as err:  # tests.servers skips (raises) when a server is missing
        if isinstance(err, KeyboardInterrupt):
            raise
        print(f"the run could not be made: {type(err).__name__}: {err}", file=sys.stderr)
        return 2
    print(report.text)
    if not report.ok and report.logs:
        print("\nlast lines of the service logs:\n" + report.logs)
    if args.json:
        args.json.write_text(json.dumps({
            "options": opts.__dict__, "ok": report.ok, "timings": report.timings, "endpoints": report.endpoints,
            "errors": {str(k): v for k, v in report.errors.items()}, "events": report.events,
            "checks": [c.__dict__ for c in report.checks],
            "facts": json.loads(json.dumps(report.facts, default=str))}, indent=2))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
