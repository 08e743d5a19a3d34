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
  `GET /api/v2/persons` (updated_since in RFC 3339, cursor, limit ≤ 500);
- stricter than Pipedrive on one point: a call log without a `person_id` is
  refused (`require_person`), since ours always belong to a person;
- the burst window: `burst` requests per `window_s` for the token, with
  `x-ratelimit-limit/-remaining/-reset` on every answer and a 429 (with
  `Retry-After` unless `retry_after_header` is off) beyond; the day's
  allowance of writes (`daily_writes`, POST/PUT): `x-daily-requests-left`,
  and a 429 once spent.

`script(*items)` makes the next requests misbehave, one item each: an HTTP
status (e.g. 500, 403), ("lost", status): the request is carried out but
answered with that status, ("rate_limited", seconds): a 429 with
`Retry-After`, ("hang", seconds), ("huge", bytes) with its length
or ("huge_unsized", bytes) without, ("drip", seconds) a byte at a time,
("redirect", url).
Every request is recorded (method, path with its query, headers, body)."""
from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections import deque
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

OUTCOMES = {"connected", "no_answer", "left_message", "left_voicemail", "wrong_number", "busy"}
CALL_LOG_FIELDS = {"user_id", "activity_id", "subject", "duration", "outcome", "from_phone_number",
                   "to_phone_number", "start_time", "end_time", "person_id", "org_id", "deal_id", "lead_id", "note"}
PERSON_FIELDS = {"name", "owner_id", "org_id", "email", "phone", "label", "label_ids", "visible_to",
                 "marketing_status", "add_time"}
SEARCH_FIELDS = {"custom_fields", "email", "notes", "phone", "name"}
V2_PERSONS_PARAMS = {"filter_id", "ids", "owner_id", "org_id", "updated_since", "updated_until", "sort_by",
                     "sort_direction", "include_fields", "custom_fields", "limit", "cursor"}
PIPEDRIVE_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
CUSTOM_FIELD_KEY = re.compile(r"[0-9a-f]{40}")


class _Refused(Exception):
    def __init__(self, status: int, error: str, headers: dict | None = None):
        self.status, self.error, self.headers = status, error, headers or {}


def _v2_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakePipedrive:
    def __init__(self, token: str = "pd-test-token-0123456789", *, burst: int | None = None,
                 window_s: float = 2.0, retry_after_header: bool = True, daily_writes: int | None = None,
                 require_person: bool = True):
        self.token = token
        self.burst, self.window_s, self.retry_after_header = burst, window_s, retry_after_header
        self.daily_writes = daily_writes
        self.require_person = require_person
        self.persons: dict[int, dict] = {}
        self.call_logs: list[dict] = []
        self.requests: list[dict] = []
        self.statuses: list[int] = []  # every answer's status, in order
        self._script: deque = deque()
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._next_person = 1
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
            return self._store_person(name, [{"value": p, "primary": i == 0, "label": "work"}
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
                raise _Refused(400, "the API token belongs in the x-api-token header")
            if handler.headers.get("x-api-token") != self.token:
                raise _Refused(401, "unauthorized access")
            with self._lock:
                limits = self._spend(method)
                status, payload = self._route(method, parts.path, query, raw)
            if lost is not None:  # done, but the answer says otherwise
                status, payload = lost, {"success": False, "error": f"scripted {lost}", "data": None}
            self._send(handler, status, payload, limits)
        except _Refused as refused:
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
                raise _Refused(429, "Request over limit", headers)
            self._window_used += 1
            headers = {"x-ratelimit-limit": str(self.burst),
                       "x-ratelimit-remaining": str(self.burst - self._window_used), "x-ratelimit-reset": str(reset)}
        if self.daily_writes is not None and method in ("POST", "PUT"):
            if self.daily_writes <= 0:
                raise _Refused(429, "Daily limit exceeded", {**headers, "x-daily-requests-left": "0"})
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

    def _route(self, method: str, path: str, query: dict, raw: bytes):
        if method == "GET" and path == "/v1/users/me":
            return 200, {"success": True, "data": {"id": 1, "name": "Fake Admin", "company_id": 1}}
        if method == "GET" and path == "/v1/persons/search":
            return self._search(query)
        if method == "POST" and path == "/v1/persons":
            return self._create_person(self._json(raw))
        if method == "POST" and path == "/v1/callLogs":
            return self._create_call_log(self._json(raw))
        if method == "GET" and path == "/v1/callLogs":
            return self._list_call_logs(query)
        if method == "GET" and path.startswith("/v1/callLogs/"):
            found = [log for log in self.call_logs if log["id"] == path.rsplit("/", 1)[1]]
            if not found:
                raise _Refused(404, "A resource required for this operation was not found.")
            return 200, {"success": True, "data": found[0]}
        if method == "GET" and path == "/api/v2/persons":
            return self._list_persons(query)
        raise _Refused(404, "Unknown method .")

    @staticmethod
    def _json(raw: bytes) -> dict:
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            raise _Refused(400, "Malformed JSON") from None
        if not isinstance(body, dict):
            raise _Refused(400, "Request body must be a JSON object")
        return body

    # Persons

    def _store_person(self, name, phones, emails, updated_at, deleted=False) -> int:
        person_id = self._next_person
        self._next_person += 1
        now = datetime.now(timezone.utc)
        self.persons[person_id] = {"id": person_id, "name": name, "phones": phones, "emails": emails,
                                   "add_time": now, "update_time": updated_at or now, "is_deleted": deleted}
        return person_id

    def _search(self, query: dict):
        term = query.get("term")
        exact = query.get("exact_match", "false")
        if exact not in ("true", "false", "1", "0"):
            raise _Refused(400, "exact_match must be a boolean")
        exact = exact in ("true", "1")
        if term is None or len(term) < (1 if exact else 2):
            raise _Refused(400, "term is required (at least 2 characters, 1 with exact_match)")
        fields = set(query.get("fields", "phone").split(","))
        if not fields <= SEARCH_FIELDS:
            raise _Refused(400, "unknown search field")
        limit = self._limit(query, 100, 500)
        items = []
        for person in self.persons.values():
            if person["is_deleted"] or "phone" not in fields:
                continue
            values = [phone["value"] for phone in person["phones"]]
            hit = any(v.lower() == term.lower() for v in values) if exact else \
                any(term.lower() in v.lower() for v in values)
            if hit:
                items.append({"result_score": 1.0, "item": {
                    "id": person["id"], "type": "person", "name": person["name"], "phones": values,
                    "emails": [e["value"] for e in person["emails"]], "visible_to": 3, "owner": {"id": 1},
                    "organization": None, "custom_fields": [], "notes": []}})
        return 200, {"success": True, "data": {"items": items[:limit]},
                     "additional_data": {"pagination": {"start": 0, "limit": limit,
                                                        "more_items_in_collection": len(items) > limit}}}

    def _create_person(self, body: dict):
        unknown = [key for key in body if key not in PERSON_FIELDS and not CUSTOM_FIELD_KEY.fullmatch(key)]
        if unknown:
            raise _Refused(400, "unknown field")
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise _Refused(400, "Name must be given.")
        phones = self._contact_values(body.get("phone"), "phone")
        emails = self._contact_values(body.get("email"), "email")
        person_id = self._store_person(name, phones, emails, None)
        person = self.persons[person_id]
        return 201, {"success": True, "data": {
            "id": person_id, "name": name, "phone": phones, "email": emails, "active_flag": True,
            "add_time": person["add_time"].strftime("%Y-%m-%d %H:%M:%S"),
            "update_time": person["update_time"].strftime("%Y-%m-%d %H:%M:%S")}}

    @staticmethod
    def _contact_values(value, what: str) -> list[dict]:
        if value is None:
            return []
        if isinstance(value, str):
            return [{"value": value, "primary": True, "label": ""}]
        if not isinstance(value, list):
            raise _Refused(400, f"{what} must be a string or an array of objects")
        out = []
        for entry in value:
            if not isinstance(entry, dict) or not isinstance(entry.get("value"), str) \
                    or set(entry) - {"value", "primary", "label"}:
                raise _Refused(400, f"each {what} needs a string value (and only primary, label)")
            out.append({"value": entry["value"], "primary": bool(entry.get("primary")),
                        "label": entry.get("label", "")})
        return out

    def _list_persons(self, query: dict):
        if set(query) - V2_PERSONS_PARAMS:
            raise _Refused(400, "unknown query parameter")
        limit = self._limit(query, 100, 500)
        since = self._rfc3339(query.get("updated_since"))
        until = self._rfc3339(query.get("updated_until"))
        if query.get("sort_by", "id") != "id" or query.get("sort_direction", "asc") != "asc":
            raise _Refused(400, "this fake sorts by id ascending only")
        after = 0
        if query.get("cursor"):
            try:
                after = int(json.loads(base64.urlsafe_b64decode(query["cursor"]))["after_id"])
            except (ValueError, KeyError, TypeError):
                raise _Refused(400, "invalid cursor") from None
        chosen = [p for p in sorted(self.persons.values(), key=lambda p: p["id"])
                  if p["id"] > after and not p["is_deleted"]
                  and (since is None or p["update_time"] >= since) and (until is None or p["update_time"] < until)]
        page = chosen[:limit]
        next_cursor = None
        if len(chosen) > limit:
            next_cursor = base64.urlsafe_b64encode(json.dumps({"after_id": page[-1]["id"]}).encode()).decode()
        data = [{"id": p["id"], "name": p["name"], "first_name": p["name"].split(" ")[0], "owner_id": 1,
                 "org_id": None, "add_time": _v2_time(p["add_time"]), "update_time": _v2_time(p["update_time"]),
                 "emails": p["emails"], "phones": p["phones"], "is_deleted": False, "visible_to": 3,
                 "label_ids": [], "picture_id": None} for p in page]
        return 200, {"success": True, "data": data, "additional_data": {"next_cursor": next_cursor}}

    @staticmethod
    def _rfc3339(value):
        if value is None:
            return None
        if not RFC3339.fullmatch(value):
            raise _Refused(400, "time must be in RFC3339 format, e.g. 2025-01-01T10:20:00Z")
        return datetime.fromisoformat(value.replace("Z", "+00:00"))

    @staticmethod
    def _limit(query: dict, default: int, maximum: int) -> int:
        raw = query.get("limit", str(default))
        if not raw.isdigit() or not 1 <= int(raw) <= maximum:
            raise _Refused(400, f"limit must be an integer from 1 to {maximum}")
        return int(raw)

    # Call logs

    def _create_call_log(self, body: dict):
        if set(body) - CALL_LOG_FIELDS:
            raise _Refused(400, "unknown field")
        if body.get("outcome") not in OUTCOMES:
            raise _Refused(400, "outcome must be one of " + ", ".join(sorted(OUTCOMES)))
        for key in ("to_phone_number",):
            if not isinstance(body.get(key), str) or not body[key]:
                raise _Refused(400, f"{key} is required")
        times = {}
        for key in ("start_time", "end_time"):
            value = body.get(key)
            if not isinstance(value, str) or not PIPEDRIVE_TIME.fullmatch(value):
                raise _Refused(400, f"{key} must be UTC, YYYY-MM-DD HH:MM:SS")
            try:
                times[key] = datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
            except ValueError:
                raise _Refused(400, f"{key} is not a date") from None
        if times["end_time"] < times["start_time"]:
            raise _Refused(400, "end_time is before start_time")
        for key in ("user_id", "activity_id", "person_id", "org_id", "deal_id"):
            if key in body and (not isinstance(body[key], int) or isinstance(body[key], bool)):
                raise _Refused(400, f"{key} must be an integer")
        for key in ("subject", "from_phone_number", "note", "lead_id", "duration"):
            if key in body and not isinstance(body[key], str):
                raise _Refused(400, f"{key} must be a string")
        if "duration" in body and not body["duration"].isdigit():
            raise _Refused(400, "duration is a number of seconds")
        if self.require_person and "person_id" not in body:
            raise _Refused(400, "person_id is required (by this fake: our call logs belong to a person)")
        if "person_id" in body and body["person_id"] not in self.persons:
            raise _Refused(404, "Person not found")
        log = {**body, "id": uuid.uuid4().hex[:24], "has_recording": False, "company_id": 1}
        self.call_logs.append(log)
        return 200, {"success": True, "data": log}

    def _list_call_logs(self, query: dict):
        limit = self._limit(query, 50, 50)
        raw_start = query.get("start", "0")
        if not raw_start.isdigit():
            raise _Refused(400, "start must be an integer")
        start = int(raw_start)
        newest_first = list(reversed(self.call_logs))
        page = newest_first[start:start + limit]
        more = start + limit < len(newest_first)
        pagination = {"start": start, "limit": limit, "more_items_in_collection": more}
        if more:
            pagination["next_start"] = start + limit
        return 200, {"success": True, "data": page, "additional_data": {"pagination": pagination}}
