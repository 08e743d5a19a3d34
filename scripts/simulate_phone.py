#!/usr/bin/env python3
"""Behave like the Android app against a CallSync server.

Signs up (or logs in), registers a phone, reads the consent disclosure and
consents, uploads a realistic call log (CallLog.Calls rows: Indian and UK
numbers in the formats phones store, withheld numbers, short codes, missed,
incoming and outgoing calls, cached names) in 1,000-row batches and the phone
book through /api/v1/sync/contacts. A failed batch (network error, 5xx, 429)
is sent again with the same batch_id, honouring Retry-After, as the app does.

    scripts/run &                                   # serves on 127.0.0.1:8000
    .venv/bin/python scripts/simulate_phone.py --calls 5000 --ring "+91 98765 43210"

Standard library only, so it runs on any Python 3.9+.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script, it still finds its data
from scripts.made_up_phone import make_call_log, make_people, make_phone_book  # noqa: E402

BATCH = 1000
PASSWORD = "simulated phone password"

# --------------------------------------------------------------------------------------------
# HTTP, the way the app talks: JSON, bearer token, retries with the same batch_id.
# --------------------------------------------------------------------------------------------
class ApiError(Exception):
    def __init__(self, status: int, body: dict | None, method: str, path: str):
        self.status, self.body = status, body or {}
        outcome = f"{status} {self.code}".strip() if status else "no answer (network error)"
        super().__init__(f"{method} {path} -> {outcome}")

    @property
    def code(self) -> str:
        error = self.body.get("error") if isinstance(self.body, dict) else None
        return error.get("code", "") if isinstance(error, dict) else ""


class Client:
    """A small JSON client with the app's retry policy."""

    def __init__(self, base_url: str, *, timeout: float = 30.0, attempts: int = 8, max_wait_s: float = 60.0,
                 log=None):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.attempts = attempts
        self.max_wait_s = max_wait_s
        self.token: str | None = None
        self.retries = 0
        self.log = log or (lambda message: None)

    def _once(self, method: str, path: str, data: bytes | None, token: str | None):
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        request.add_header("User-Agent", "callsync-simulated-phone/1.0")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
                return response.status, (json.loads(raw) if raw else None), dict(response.headers)
        except urllib.error.HTTPError as err:
            raw = err.read()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            return err.code, body, dict(err.headers or {})

    def request(self, method: str, path: str, body=None, *, token: str | None = None, retry: bool = True,
                raw: bytes | None = None):
        """Send; on a network error, a 5xx or a 429 try again (same body) with
        exponential back-off, or after Retry-After when the server says so."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        token = token if token is not None else self.token
        delay, waited = 0.5, 0.0
        for attempt in range(1, self.attempts + 1):
            try:
                status, payload, headers = self._once(method, path, data, token)
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as err:
                status, payload, headers, problem = 0, None, {}, type(err).__name__
            else:
                problem = f"HTTP {status}"
                if status < 500 and status != 429:
                    if status >= 400:
                        raise ApiError(status, payload, method, path)
                    return status, payload
            if not retry or attempt == self.attempts or waited >= self.max_wait_s:
                raise ApiError(status, payload, method, path)
            wait = _retry_after(headers) if status == 429 else None
            wait = wait if wait is not None else delay * random.uniform(0.8, 1.2)
            wait = min(wait, self.max_wait_s - waited)
            self.retries += 1
            self.log(f"  {method} {path}: {problem}; trying again in {wait:.1f}s (attempt {attempt + 1})")
            time.sleep(max(wait, 0))
            waited += wait
            delay = min(delay * 2, 10.0)
        raise AssertionError("unreachable")


def _retry_after(headers: dict) -> float | None:
    value = {k.lower(): v for k, v in headers.items()}.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


# --------------------------------------------------------------------------------------------
# What the app does.
# --------------------------------------------------------------------------------------------
@dataclass
class Phone:
    client: Client
    user_token: str = ""
    organization_id: int | None = None
    device_id: int | None = None
    device_token: str = ""
    signed_up: bool = False


def sign_in(client: Client, *, email: str, password: str, organization: str, region: str, name: str) -> Phone:
    """Log in; sign up (a new organisation) when the account does not exist yet."""
    try:
        _, body = client.request("POST", "/api/v1/auth/login", {"email": email, "password": password})
        return Phone(client, body["token"], body["user"]["organization_id"])
    except ApiError as err:
        if err.status != 401:
            raise
    _, body = client.request("POST", "/api/v1/signup", {"organization": organization, "region": region,
                                                       "name": name, "email": email, "password": password})
    return Phone(client, body["token"], body["organization_id"], signed_up=True)


def register_device(phone: Phone, *, model: str = "Pixel 8", os_version: str = "14") -> None:
    body = {"platform": "android", "model": model, "os_version": os_version, "app_version": "1.0.0",
            "fcm_token": f"simulated-fcm-{uuid.uuid4().hex}"}
    _, created = phone.client.request("POST", "/api/v1/devices", body, token=phone.user_token)
    phone.device_id, phone.device_token = created["device_id"], created["device_token"]


def give_consent(phone: Phone, *, contacts: bool = True, call_log: bool = True) -> str:
    """Read the disclosure the app shows, then record the rep's choice."""
    _, policy = phone.client.request("GET", "/api/v1/consent/policy")
    phone.client.request("PUT", f"/api/v1/devices/{phone.device_id}/consent",
                         {"contacts": contacts, "call_log": call_log, "policy_version": policy["version"]},
                         token=phone.device_token)
    return policy["version"]


@dataclass
class UploadTotals:
    rows: int = 0
    batches: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: dict = field(default_factory=dict)
    failed_batches: list = field(default_factory=list)
    seconds: float = 0.0
    cursor: str | None = None

    def add(self, body: dict) -> None:
        self.accepted += body.get("accepted", 0)
        self.duplicates += body.get("duplicates", 0)
        for row in body.get("rejected", []):
            self.rejected[row.get("code", "?")] = self.rejected.get(row.get("code", "?"), 0) + 1
        self.cursor = body.get("cursor", self.cursor)


def upload(phone: Phone, kind: str, rows: list[dict], *, batch_size: int = BATCH, deleted=None) -> UploadTotals:
    """Send rows in batches; each batch keeps its batch_id across retries."""
    path, key = ("/api/v1/sync/calls", "calls") if kind == "calls" else ("/api/v1/sync/contacts", "contacts")
    totals = UploadTotals(rows=len(rows))
    started = time.monotonic()
    chunks = [rows[i:i + batch_size] for i in range(0, len(rows), batch_size)] or ([[]] if deleted else [])
    for index, chunk in enumerate(chunks):
        body = {"batch_id": str(uuid.uuid4()), key: chunk}
        if kind == "contacts" and deleted and index == len(chunks) - 1:
            body["deleted"] = deleted
        try:
            _, result = phone.client.request("POST", path, body, token=phone.device_token)
        except ApiError as err:
            # The app keeps the batch queued and tries again later: nothing is lost.
            totals.failed_batches.append((index, err.status, err.code))
            if err.code in ("consent_required", "record_limit_reached"):
                break
            continue
        totals.batches += 1
        totals.add(result)
    totals.seconds = time.monotonic() - started
    return totals


def ring(phone: Phone, number: str) -> str:
    """POST /api/v1/calls/ringing, if this server has it."""
    try:
        status, body = phone.client.request("POST", "/api/v1/calls/ringing", {"number": number},
                                            token=phone.device_token)
    except ApiError as err:
        if err.status in (404, 405) and err.code in ("not_found", "method_not_allowed", ""):
            return "this server has no /api/v1/calls/ringing yet (skipped)"
        return f"{err.status} {err.code}"
    return f"{status} push_id={body.get('push_id') if isinstance(body, dict) else body}"


def _describe(kind: str, totals: UploadTotals) -> str:
    rate = totals.rows / totals.seconds if totals.seconds else 0
    rejected = sum(totals.rejected.values())
    detail = f" ({', '.join(f'{k}: {v}' for k, v in sorted(totals.rejected.items()))})" if rejected else ""
    line = (f"{kind}: {totals.rows:,} rows in {totals.batches} batches: accepted {totals.accepted:,}, "
            f"duplicates {totals.duplicates:,}, rejected {rejected:,}{detail}; "
            f"{totals.seconds:.1f}s ({rate:,.0f} rows/s)")
    if totals.failed_batches:
        line += f"; {len(totals.failed_batches)} batches kept for later: {totals.failed_batches[:3]}"
    return line


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="the server (default: %(default)s)")
    parser.add_argument("--email", help="account to log in as; signed up when new (default: a fresh one)")
    parser.add_argument("--password", default=PASSWORD)
    parser.add_argument("--organization", default="Simulated Traders", help="name used when signing up")
    parser.add_argument("--region", default="IN", help="organisation region when signing up (default: IN)")
    parser.add_argument("--name", default="Simulated Rep")
    parser.add_argument("--calls", type=int, default=2500, help="call-log rows to upload (default: %(default)s)")
    parser.add_argument("--people", type=int, default=400, help="distinct people in the call log")
    parser.add_argument("--days", type=int, default=180, help="days of call history")
    parser.add_argument("--batch-size", type=int, default=BATCH)
    parser.add_argument("--no-contacts", action="store_true", help="do not upload the phone book")
    parser.add_argument("--no-consent", action="store_true", help="decline consent (uploads are then refused)")
    parser.add_argument("--ring", metavar="NUMBER", help="then report an incoming call from NUMBER")
    parser.add_argument("--seed", type=int, default=1, help="same seed, same phone data")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per HTTP request")
    parser.add_argument("--quiet", action="store_true", help="do not print retries")
    args = parser.parse_args(argv)

    client = Client(args.base_url, timeout=args.timeout, log=None if args.quiet else print)
    email = args.email or f"rep-{uuid.uuid4().hex[:10]}@example.com"
    try:
        phone = sign_in(client, email=email, password=args.password, organization=args.organization,
                        region=args.region, name=args.name)
        print(f"{'signed up' if phone.signed_up else 'logged in'} as {email} "
              f"(organisation {phone.organization_id}) at {client.base_url}")
        register_device(phone)
        version = give_consent(phone, contacts=not args.no_consent, call_log=not args.no_consent)
        print(f"device {phone.device_id} registered; consent {'declined' if args.no_consent else 'given'} "
              f"(policy {version})")
        people = make_people(args.people, seed=args.seed)
        if not args.no_contacts:
            book = make_phone_book(people, seed=args.seed)
            print(_describe("phone book", upload(phone, "contacts", book, batch_size=args.batch_size)))
        calls = make_call_log(args.calls, people, seed=args.seed, days=args.days)
        print(_describe("call log", upload(phone, "calls", calls, batch_size=args.batch_size)))
        if args.ring:
            print(f"ringing {args.ring}: {ring(phone, args.ring)}")
    except ApiError as err:
        print(f"failed: {err} {json.dumps(err.body)[:300]}", file=sys.stderr)
        return 1
    if client.retries:
        print(f"{client.retries} requests were retried")
    return 0


if __name__ == "__main__":
    sys.exit(main())
