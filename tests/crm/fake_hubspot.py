"""A fake HubSpot (CRM API v3) on 127.0.0.1, started by the tests.

It enforces what the real one does that our client depends on:
- `Authorization: Bearer <token>`, else 401 with HubSpot's error body;
- the request shapes: a contact search with filterGroups/filters of known
  operators, a contact created with `properties` (a phone), a call created
  with `hs_timestamp` (ISO 8601 or epoch ms), a known `hs_call_direction`
  and `hs_call_status`, `hs_call_duration` in milliseconds, and an
  association to an existing contact (associationTypeId 194,
  HUBSPOT_DEFINED), else 400 VALIDATION_ERROR;
- archiving: a contact deleted, or merged into another (`archive`,
  `merge`), leaves the search and is listed by `GET /crm/v3/objects/contacts
  ?archived=true` (by id, `after`, limit ≤ 100) with its `archivedAt`;
- the contact search as the pull depends on it: filters on
  `lastmodifieddate` and `hs_object_id` (GT, GTE, LT, LTE, EQ), one sort,
  ties in no set order (shuffled, the same way for the same search count),
  `after` an offset, and no more than `search_cap` results for one query
  (HubSpot's 10,000: paging past it is a 400);
- a rolling window (10 s, `limit` requests): past it, 429 with
  `Retry-After` and the X-HubSpot-RateLimit-* headers (announced on every
  answer unless `announce_budget` is False).

It keeps contacts and calls in memory; `hold_calls` makes a call creation
record the call and then hang (a worker killed after its POST landed)."""
from __future__ import annotations

import json
import random
import socket
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

OPERATORS = {"EQ", "NEQ", "GT", "GTE", "LT", "LTE", "HAS_PROPERTY", "CONTAINS_TOKEN", "IN"}
DIRECTIONS = {"INBOUND", "OUTBOUND"}
STATUSES = {"BUSY", "CALLING_CRM_USER", "CANCELED", "COMPLETED", "CONNECTING", "FAILED", "IN_PROGRESS",
            "NO_ANSWER", "QUEUED", "RINGING"}


class FakeHubSpot:
    def __init__(self, token: str = "pat-na1-good-token-1234", limit: int = 100, window_s: float = 10.0):
        self.token = token
        self.limit = limit
        self.window_s = window_s
        self.announce_budget = True
        self.contacts: dict[str, dict] = {}
        self.archived: dict[str, dict] = {}  # deleted or merged away: out of the search, on the archived list
        self.fail_archived_lists_after: int | None = None  # archived lists answered before a 503 (then healthy)
        self.archived_lists: list[dict] = []  # query strings of the archived contacts' lists
        self.calls: dict[str, dict] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request let through the auth check
        self.refused: list[int] = []  # statuses of refused requests
        self.hold_calls = threading.Event()  # set: a call creation records, then hangs until `release`
        self.release = threading.Event()
        self.held = threading.Event()  # a call creation is being held
        self.fail_searches_after: int | None = None  # contact searches answered before a 503 (then healthy)
        self.searches: list[dict] = []  # bodies of the contact searches (the pull's pages)
        self.search_cap = 10_000  # results one search query reaches, `after` included (HubSpot's limit)
        self._stamps: list[float] = []
        self._next_id = 1000
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def setup(self):
                super().setup()
                # Headers and body go out in two writes: without this, Nagle and the client's
                # delayed ACK hold every answer ~40 ms.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self):
                fake._handle(self, "GET")

            def do_POST(self):
                fake._handle(self, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    def reset_window(self) -> None:
        with self._lock:
            self._stamps.clear()

    # ------------------------------------------------------------ test data

    def add_contact(self, phone: str, firstname: str = "", lastname: str = "", company: str = "",
                    email: str = "", modified_ms: int | None = None) -> str:
        """`modified_ms`: the contact's modification time (ties); else now, distinct from the others'."""
        with self._lock:
            contact_id = self._new_id()
            self.contacts[contact_id] = {"phone": phone, "firstname": firstname, "lastname": lastname,
                                         "company": company, "email": email,
                                         "lastmodifieddate": modified_ms or _now_ms()}
            time.sleep(0.002)  # distinct modification times
            return contact_id

    def touch(self, contact_id: str, modified_ms: int | None = None, **changes) -> None:
        with self._lock:
            self.contacts[contact_id].update(changes, lastmodifieddate=modified_ms or _now_ms())
        time.sleep(0.002)

    def archive(self, contact_id: str) -> None:
        """Delete the contact as HubSpot does: archived, out of the search."""
        with self._lock:
            props = self.contacts.pop(contact_id)
            self.archived[contact_id] = {**props, "archivedAt": _now_ms()}
        time.sleep(0.002)

    def merge(self, primary_id: str, merged_id: str) -> None:
        """Merge `merged_id` into `primary_id`: the primary keeps its values and
        takes the other's where it has none; the other is archived."""
        with self._lock:
            primary, merged = self.contacts[primary_id], self.contacts.pop(merged_id)
            for key, value in merged.items():
                if key != "lastmodifieddate" and value and not primary.get(key):
                    primary[key] = value
            primary["lastmodifieddate"] = _now_ms()
            self.archived[merged_id] = {**merged, "archivedAt": _now_ms()}
        time.sleep(0.002)

    def calls_of(self, call_id: int) -> list[dict]:
        return [c for c in self.calls.values() if c["properties"]["hs_call_title"] == f"CallSync call #{call_id}"]

    # ---------------------------------------------------------------- HTTP

    def _new_id(self) -> str:
        self._next_id += 1
        return str(self._next_id)

    def _budget(self) -> tuple[bool, int, float]:
        """(allowed, remaining, seconds until the window frees a request)."""
        with self._lock:
            moment = time.monotonic()
            self._stamps = [s for s in self._stamps if s > moment - self.window_s]
            if len(self._stamps) >= self.limit:
                return False, 0, self._stamps[0] + self.window_s - moment
            self._stamps.append(moment)
            return True, self.limit - len(self._stamps), 0.0

    def _handle(self, handler, method: str) -> None:
        length = int(handler.headers.get("content-length") or 0)
        raw = handler.rfile.read(length) if length else b""
        if handler.headers.get("authorization") != f"Bearer {self.token}":
            self.refused.append(401)
            return self._answer(handler, 401, {
                "status": "error", "category": "INVALID_AUTHENTICATION",
                "message": "Authentication credentials not found."})
        allowed, remaining, wait = self._budget()
        budget = {"X-HubSpot-RateLimit-Interval-Milliseconds": str(int(self.window_s * 1000)),
                  "X-HubSpot-RateLimit-Max": str(self.limit), "X-HubSpot-RateLimit-Remaining": str(remaining)}
        if not self.announce_budget:
            budget = {}
        if not allowed:
            self.refused.append(429)
            return self._answer(handler, 429, {
                "status": "error", "errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING",
                "message": "You have reached your ten_secondly_rolling limit."},
                {**budget, "Retry-After": str(max(1, int(wait + 0.999)))})
        path, _, query = handler.path.partition("?")
        self.requests.append((method, path))
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return self._invalid(handler, "Invalid input JSON", budget)
        if method == "GET":
            body = dict(parse_qsl(query, keep_blank_values=True))
        route = {("GET", "/crm/v3/objects/contacts"): self._list_contacts,
                 ("POST", "/crm/v3/objects/contacts/search"): self._search_contacts,
                 ("POST", "/crm/v3/objects/contacts"): self._create_contact,
                 ("POST", "/crm/v3/objects/calls/search"): self._search_calls,
                 ("POST", "/crm/v3/objects/calls"): self._create_call}.get((method, path))
        if route is None:
            return self._answer(handler, 404, {"status": "error", "message": "not found"}, budget)
        try:
            status, answer = route(body)
        except ValueError as err:
            return self._invalid(handler, str(err), budget)
        if route == self._create_call and self.hold_calls.is_set():
            self.held.set()
            self.release.wait(60)
        self._answer(handler, status, answer, budget)

    def _invalid(self, handler, message: str, headers: dict) -> None:
        self._answer(handler, 400, {"status": "error", "category": "VALIDATION_ERROR", "message": message}, headers)

    def _answer(self, handler, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        try:
            handler.send_response(status)
            handler.send_header("content-type", "application/json")
            handler.send_header("content-length", str(len(data)))
            for key, value in (headers or {}).items():
                handler.send_header(key, value)
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:
            pass

    # -------------------------------------------------------------- routes

    def _list_contacts(self, query):
        unknown = set(query) - {"limit", "after", "properties", "archived", "associations", "propertiesWithHistory"}
        if unknown:
            raise ValueError(f"unknown query parameters {sorted(unknown)}")
        limit = query.get("limit", "10")
        if not limit.isdigit() or not 1 <= int(limit) <= 100:
            raise ValueError("limit must be 1 to 100")
        if query.get("archived", "false") not in ("true", "false"):
            raise ValueError("archived must be true or false")
        archived = query.get("archived") == "true"
        if archived:
            self.archived_lists.append(query)
            if self.fail_archived_lists_after is not None:
                if self.fail_archived_lists_after <= 0:
                    self.fail_archived_lists_after = None
                    return 503, {"status": "error", "message": "internal error"}
                self.fail_archived_lists_after -= 1
        with self._lock:
            ids = sorted(self.archived if archived else self.contacts, key=int)
        after = query.get("after")
        if after is not None and not after.isdigit():
            raise ValueError("after is the paging cursor HubSpot gave")
        ids = [i for i in ids if after is None or int(i) > int(after)]
        page = ids[:int(limit)]
        wanted = [p for p in query.get("properties", "").split(",") if p] or None
        answer = {"results": [self._contact(i, wanted) for i in page]}
        if len(ids) > len(page):
            answer["paging"] = {"next": {"after": page[-1], "link": "?after=" + page[-1]}}
        return 200, answer

    def _contact(self, contact_id: str, properties=None) -> dict:
        props = self.contacts.get(contact_id) or self.archived[contact_id]
        wanted = properties or ["firstname", "lastname", "email"]
        stamp = props["lastmodifieddate"]
        iso = _iso(stamp)
        out = {k: (iso if k == "lastmodifieddate" else props.get(k) or None) for k in wanted}
        out["hs_object_id"] = contact_id
        answer = {"id": contact_id, "properties": out, "createdAt": iso, "updatedAt": iso, "archived": False}
        if "archivedAt" in props:
            answer.update(archived=True, archivedAt=_iso(props["archivedAt"]))
        return answer

    def _filters(self, body) -> list[dict]:
        if not isinstance(body, dict):
            raise ValueError("body must be an object")
        unknown = set(body) - {"filterGroups", "properties", "limit", "after", "sorts", "query"}
        if unknown:
            raise ValueError(f"unknown fields {sorted(unknown)}")
        limit = body.get("limit", 10)
        if not isinstance(limit, int) or not 1 <= limit <= 200:
            raise ValueError("limit must be 1 to 200")
        filters = []
        for group in body.get("filterGroups") or []:
            for item in group.get("filters") or []:
                if item.get("operator") not in OPERATORS or not isinstance(item.get("propertyName"), str):
                    raise ValueError("bad filter")
                if not isinstance(item.get("value", ""), str):
                    raise ValueError("filter values are strings")
                filters.append(item)
        return filters

    def _search_contacts(self, body):
        filters = self._filters(body)
        if self.fail_searches_after is not None:
            if self.fail_searches_after <= 0:
                self.fail_searches_after = None
                return 503, {"status": "error", "message": "internal error"}
            self.fail_searches_after -= 1
        self.searches.append(body)
        with self._lock:
            rows = list(self.contacts.items())
        for item in filters:
            name, op, value = item["propertyName"], item["operator"], item.get("value")
            if name == "phone" and op == "EQ":
                rows = [(i, c) for i, c in rows if c["phone"] == value]
            elif name in ("lastmodifieddate", "hs_object_id") and op in _COMPARE and value.isdigit():
                rows = [(i, c) for i, c in rows if _COMPARE[op](_value(i, c, name), int(value))]
            else:
                raise ValueError(f"filter not supported by the fake: {name} {op}")
        sorts = body.get("sorts") or []
        if len(sorts) > 1 or any(s.get("propertyName") not in ("lastmodifieddate", "hs_object_id")
                                 or s.get("direction") not in ("ASCENDING", "DESCENDING") for s in sorts):
            raise ValueError("one sort, on lastmodifieddate or hs_object_id, here")
        shuffle = random.Random(len(self.searches))  # ties: no set order, from one search to the next
        ties = {i: shuffle.random() for i, _ in rows}
        rows.sort(key=lambda r: ties[r[0]])
        for sort in sorts:
            rows.sort(key=lambda r: _value(r[0], r[1], sort["propertyName"]),
                      reverse=sort["direction"] == "DESCENDING")
        after = str(body.get("after") or "0")
        if not after.isdigit():
            raise ValueError("after is the paging cursor HubSpot gave")
        start, limit = int(after), body.get("limit", 10)
        if start >= self.search_cap:  # HubSpot: no more than 10,000 results for one query
            raise ValueError(f"a search returns at most {self.search_cap} results")
        page = rows[start:min(start + limit, self.search_cap)]
        answer = {"total": len(rows), "results": [self._contact(i, body.get("properties")) for i, _ in page]}
        if start + limit < len(rows):
            answer["paging"] = {"next": {"after": str(start + limit), "link": "?after=" + str(start + limit)}}
        return 200, answer

    def _create_contact(self, body):
        props = body.get("properties")
        if not isinstance(props, dict) or not props.get("phone"):
            raise ValueError("properties.phone is required here")
        with self._lock:
            contact_id = self._new_id()
            self.contacts[contact_id] = {"phone": props["phone"], "firstname": props.get("firstname", ""),
                                         "lastname": props.get("lastname", ""), "company": props.get("company", ""),
                                         "email": props.get("email", ""), "lastmodifieddate": _now_ms()}
        return 201, self._contact(contact_id)

    def _search_calls(self, body):
        filters = self._filters(body)
        rows = list(self.calls.items())
        for item in filters:
            if item["propertyName"] != "hs_call_title" or item["operator"] != "EQ":
                raise ValueError("filter not supported by the fake")
            rows = [(i, c) for i, c in rows if c["properties"]["hs_call_title"] == item["value"]]
        return 200, {"total": len(rows), "results": [{"id": i, "properties": {"hs_call_title":
                                                      c["properties"]["hs_call_title"]}} for i, c in rows[:1]]}

    def _create_call(self, body):
        props = body.get("properties")
        if not isinstance(props, dict):
            raise ValueError("properties is required")
        stamp = props.get("hs_timestamp")
        if not stamp:
            raise ValueError("hs_timestamp is required")
        if not str(stamp).isdigit():
            datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))  # ValueError: 400
        if props.get("hs_call_direction") not in DIRECTIONS:
            raise ValueError("hs_call_direction")
        if props.get("hs_call_status") not in STATUSES:
            raise ValueError("hs_call_status")
        if not str(props.get("hs_call_duration", "0")).isdigit():
            raise ValueError("hs_call_duration is milliseconds")
        associations = body.get("associations") or []
        for association in associations:
            to = (association.get("to") or {}).get("id")
            types = association.get("types") or []
            if str(to) not in self.contacts:
                raise ValueError("association to a contact that does not exist")
            if types != [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 194}]:
                raise ValueError("a call-to-contact association is HUBSPOT_DEFINED 194")
        with self._lock:
            call_id = self._new_id()
            self.calls[call_id] = {"properties": dict(props),
                                   "contacts": [str(a["to"]["id"]) for a in associations]}
        return 201, {"id": call_id, "properties": dict(props), "archived": False}


_COMPARE = {"GT": lambda a, b: a > b, "GTE": lambda a, b: a >= b, "LT": lambda a, b: a < b,
            "LTE": lambda a, b: a <= b, "EQ": lambda a, b: a == b}


def _value(contact_id: str, props: dict, name: str) -> int:
    return int(contact_id) if name == "hs_object_id" else props[name]


def _iso(stamp_ms: int) -> str:
    return datetime.fromtimestamp(stamp_ms / 1000, timezone.utc).isoformat(timespec="milliseconds") \
        .replace("+00:00", "Z")


def _now_ms() -> int:
    return int(time.time() * 1000)
