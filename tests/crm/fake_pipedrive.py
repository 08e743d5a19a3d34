"""A fake Pipedrive on 127.0.0.1, for the real `PipedriveClient`.

What it holds to, from Pipedrive's API reference:
- every request carries the `x-api-token` header (401 otherwise, in
  Pipedrive's error shape); a token in the URL is refused here (400), so that
  a client sending one fails loudly;
- `GET /v1/persons/search` (term, fields, exact_match, limit ≤ 500),
  `POST /v1/persons` (name required; phone a string or [{value, primary, label}]),
  `POST /v1/callLogs` (outcome among the six, to_phone_number, start_time and
  end_time as UTC "YYYY-MM-DD HH:MM:SS", duration a string of seconds, known
  fields only), `GET /v1/callLogs` (start, limit ≤ 50, newest first: Pipedrive
  documents no order), `GET /v1/callLogs/<id>`, `GET /v1/users/me`,
  `GET /api/v2/persons` (updated_since in RFC 3339, cursor, limit ≤ 500;
  with updated_since, the persons deleted or merged away since, `is_deleted`);
- stricter than Pipedrive on one point: a call log without a `person_id` is
  refused (`require_person`), since ours always belong to a person;
- the burst window: `burst` requests per `window_s` for the token, with
  `x-ratelimit-limit/-remaining/-reset` on every answer and a 429 (with
  `Retry-After` unless `retry_after_header` is off) beyond; the day's
  allowance of writes (`daily_writes`, POST/PUT): `x-daily-requests-left`,
  and a 429 once spent.

The records and the request shapes' checks are in
`tests/crm/fake_pipedrive_records.py`; this module is the server: the token,
the budget, the scripted faults.

`script(*items)` makes the next requests misbehave, one item each: an HTTP
status (e.g. 500, 403), ("lost", status): the request is carried out but
answered with that status, ("rate_limited", seconds): a 429 with
`Retry-After`, ("hang", seconds), ("huge", bytes) with its length
or ("huge_unsized", bytes) without, ("drip", seconds) a byte at a time,
("redirect", url).
Every request is recorded (method, path with its query, headers, body)."""
from __future__ import annotations

import json
import threading
import time
from collections import deque
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests.crm.fake_pipedrive_records import PipedriveRecords, Refused


class FakePipedrive:
    def __init__(self, token: str = "pd-test-token-0123456789", *, burst: int | None = None,
                 window_s: float = 2.0, retry_after_header: bool = True, daily_writes: int | None = None,
                 require_person: bool = True):
        self.token = token
        self.burst, self.window_s, self.retry_after_header = burst, window_s, retry_after_header
        self.daily_writes = daily_writes
        self.records = PipedriveRecords(require_person)
        self.requests: list[dict] = []
        self.statuses: list[int] = []  # every answer's status, in order
        self._script: deque = deque()
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._window_start = time.monotonic()
        self._window_used = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def do_GET(self):
                fake._handle(self, "GET")

            def do_POST(self):
                fake._handle(self, "POST")

            def do_PUT(self):
                fake._handle(self, "PUT")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def persons(self) -> dict[int, dict]:
        return self.records.persons

    @property
    def call_logs(self) -> list[dict]:
        return self.records.call_logs

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # Test controls

    def script(self, *items) -> None:
        with self._lock:
            self._script.extend(items)

    def add_person(self, name: str, phones: list[str] = (), emails: list[str] = (),
                   updated_at: datetime | None = None, deleted: bool = False) -> int:
        """A person already in the CRM (as someone typed them in Pipedrive)."""
        with self._lock:
            return self.records.store_person(name, [{"value": p, "primary": i == 0, "label": "work"}
                                             for i, p in enumerate(phones)],
                                      [{"value": e, "primary": i == 0, "label": "work"}
                                       for i, e in enumerate(emails)], updated_at, deleted)

    def reset_window(self) -> None:
        """A new burst window starts now."""
        with self._lock:
            self._window_start, self._window_used = time.monotonic(), 0

    def touch_person(self, person_id: int, updated_at: datetime) -> None:
        with self._lock:
            self.persons[person_id]["update_time"] = updated_at

    def delete_person(self, person_id: int, at: datetime | None = None) -> None:
        with self._lock:
            self.records.delete_person(person_id, at)

    def merge_persons(self, kept_id: int, merged_id: int, at: datetime | None = None) -> None:
        with self._lock:
            self.records.merge_persons(kept_id, merged_id, at)

    def requests_to(self, method: str, path: str) -> list[dict]:
        with self._lock:
            return [r for r in self.requests if r["method"] == method and urlsplit(r["path"]).path == path]

    def close(self) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()

    # Serving

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        parts = urlsplit(handler.path)
        query = {key: values[-1] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
        with self._lock:
            self.requests.append({"at": time.monotonic(), "method": method, "path": handler.path,
                                  "headers": dict(handler.headers), "body": raw})
            item = self._script.popleft() if self._script else None
        lost = None
        if isinstance(item, tuple) and item[0] == "lost":
            item, lost = None, item[1]
        if item is not None and self._misbehave(handler, item):
            return
        try:
            if "api_token" in query:
                raise Refused(400, "the API token belongs in the x-api-token header")
            if handler.headers.get("x-api-token") != self.token:
                raise Refused(401, "unauthorized access")
            with self._lock:
                limits = self._spend(method)
                status, payload = self.records.route(method, parts.path, query, raw)
            if lost is not None:  # done, but the answer says otherwise
                status, payload = lost, {"success": False, "error": f"scripted {lost}", "data": None}
            self._send(handler, status, payload, limits)
        except Refused as refused:
            payload = {"success": False, "error": refused.error, "error_info":
                       "Please check developers.pipedrive.com for more information about Pipedrive API.",
                       "data": None, "additional_data": None}
            if refused.status == 401:
                payload["errorCode"] = 401
            self._send(handler, refused.status, payload, refused.headers)

    def _misbehave(self, handler, item) -> bool:
        if isinstance(item, int):
            self._send(handler, item, {"success": False, "error": f"scripted {item}", "data": None}, {})
            return True
        kind, value = item
        if kind == "rate_limited":
            self._send(handler, 429, {"success": False, "error": "Request over limit", "data": None},
                       {"Retry-After": str(value), "x-ratelimit-remaining": "0", "x-ratelimit-reset": str(value)})
            return True
        if kind == "hang":
            self._release.wait(value)  # answers nothing until the client gave up (or the fake closes)
            handler.close_connection = True
            return True
        if kind in ("huge", "huge_unsized"):
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            if kind == "huge":
                handler.send_header("Content-Length", str(value))
            else:  # no length: the body runs until the connection closes
                handler.send_header("Connection", "close")
            handler.end_headers()
            block = b" " * 65536
            try:
                for sent in range(0, value, len(block)):
                    handler.wfile.write(block[:min(len(block), value - sent)])
            except OSError:
                pass  # the client stopped reading, as it should
            handler.close_connection = True
            return True
        if kind == "drip":  # a byte every 0.1 s, for `value` seconds at most
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", "100000")
            handler.end_headers()
            try:
                for _ in range(int(value * 10)):
                    handler.wfile.write(b" ")
                    handler.wfile.flush()
                    if self._release.wait(0.1):
                        break
            except OSError:
                pass
            handler.close_connection = True
            return True
        if kind == "redirect":
            handler.send_response(302)
            handler.send_header("Location", value)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return True
        raise ValueError(f"unknown script item {item!r}")

    def _spend(self, method: str) -> dict:
        """Counts the request against the burst window and the day's writes;
        raises the 429 when over. Returns the rate-limit headers."""
        headers = {}
        if self.burst is not None:
            now = time.monotonic()
            if now - self._window_start >= self.window_s:
                self._window_start, self._window_used = now, 0
            reset = max(1, round(self.window_s - (now - self._window_start)))
            if self._window_used >= self.burst:
                headers = {"x-ratelimit-limit": str(self.burst), "x-ratelimit-remaining": "0",
                           "x-ratelimit-reset": str(reset)}
                if self.retry_after_header:
                    headers["Retry-After"] = str(reset)
                raise Refused(429, "Request over limit", headers)
            self._window_used += 1
            headers = {"x-ratelimit-limit": str(self.burst),
                       "x-ratelimit-remaining": str(self.burst - self._window_used), "x-ratelimit-reset": str(reset)}
        if self.daily_writes is not None and method in ("POST", "PUT"):
            if self.daily_writes <= 0:
                raise Refused(429, "Daily limit exceeded", {**headers, "x-daily-requests-left": "0"})
            self.daily_writes -= 1
            headers["x-daily-requests-left"] = str(self.daily_writes)
        return headers

    def _send(self, handler, status: int, payload, headers: dict) -> None:
        with self._lock:
            self.statuses.append(status)
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(data)
