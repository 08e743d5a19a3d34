"""The simulated clients of the load run: HTTP with every attempt timed and
counted (`Stats`, `Http`), the phones (`SimPhone`, its `Batch`es and
`PhoneTotals`), the managers reviewing leads (`Manager`), and `set_up`, which
signs up an organisation with its reps, managers and one phone per rep."""
from __future__ import annotations

import email
import json
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import quote, unquote

from scripts.made_up_phone import make_call_log, make_phone_book

PASSWORD = "load test password 1"
RETRYABLE = {0, 429, 500, 502, 503, 504}
# (low, high) rows of a new call-log batch and how often: mostly the few calls
# since the last sync, sometimes a day's worth, now and then a long backlog.
BATCH_SIZES = (((1, 5), 45), ((6, 50), 30), ((51, 300), 18), ((301, 900), 7))
REPEAT_SHARE = 0.10


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
                return unquote(text.split("?token=", 1)[1].split()[0])  # the link: /invite?token=...
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
