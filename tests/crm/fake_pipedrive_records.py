"""The fake Pipedrive's records and its checks of request shapes: persons
and call logs in memory, each endpoint's validation as Pipedrive's API
reference documents it (see `tests/crm/fake_pipedrive.py`). Not thread-safe
by itself: the server calls it under its lock."""
from __future__ import annotations

import base64
import json
import re
import uuid
from datetime import datetime, timezone

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


class Refused(Exception):
    """An error answer, in Pipedrive's shape."""

    def __init__(self, status: int, error: str, headers: dict | None = None):
        self.status, self.error, self.headers = status, error, headers or {}


def v2_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class PipedriveRecords:
    def __init__(self, require_person: bool = True):
        self.require_person = require_person
        self.persons: dict[int, dict] = {}
        self.call_logs: list[dict] = []
        self._next_person = 1

    def route(self, method: str, path: str, query: dict, raw: bytes):
        """(status, payload) of a request the server let through."""
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
                raise Refused(404, "A resource required for this operation was not found.")
            return 200, {"success": True, "data": found[0]}
        if method == "GET" and path == "/api/v2/persons":
            return self._list_persons(query)
        raise Refused(404, "Unknown method .")

    @staticmethod
    def _json(raw: bytes) -> dict:
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            raise Refused(400, "Malformed JSON") from None
        if not isinstance(body, dict):
            raise Refused(400, "Request body must be a JSON object")
        return body

    # Persons

    def store_person(self, name, phones, emails, updated_at, deleted=False) -> int:
        person_id = self._next_person
        self._next_person += 1
        now = datetime.now(timezone.utc)
        self.persons[person_id] = {"id": person_id, "name": name, "phones": phones, "emails": emails,
                                   "add_time": now, "update_time": updated_at or now, "is_deleted": deleted}
        return person_id

    def delete_person(self, person_id: int, at: datetime | None = None) -> None:
        """Deleted as Pipedrive deletes: flagged, its update_time the deletion's,
        so a list of the persons changed since then carries it, is_deleted."""
        person = self.persons[person_id]
        person["is_deleted"], person["update_time"] = True, at or datetime.now(timezone.utc)

    def merge_persons(self, kept_id: int, merged_id: int, at: datetime | None = None) -> None:
        """`merged_id` merged into `kept_id`: the kept person takes the other's
        numbers and e-mails it lacks, the other is deleted."""
        kept, merged = self.persons[kept_id], self.persons[merged_id]
        for key in ("phones", "emails"):
            held = {entry["value"] for entry in kept[key]}
            kept[key] = kept[key] + [dict(entry, primary=False) for entry in merged[key] if entry["value"] not in held]
        kept["update_time"] = at or datetime.now(timezone.utc)
        self.delete_person(merged_id, at)

    def _search(self, query: dict):
        term = query.get("term")
        exact = query.get("exact_match", "false")
        if exact not in ("true", "false", "1", "0"):
            raise Refused(400, "exact_match must be a boolean")
        exact = exact in ("true", "1")
        if term is None or len(term) < (1 if exact else 2):
            raise Refused(400, "term is required (at least 2 characters, 1 with exact_match)")
        fields = set(query.get("fields", "phone").split(","))
        if not fields <= SEARCH_FIELDS:
            raise Refused(400, "unknown search field")
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
            raise Refused(400, "unknown field")
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise Refused(400, "Name must be given.")
        phones = self._contact_values(body.get("phone"), "phone")
        emails = self._contact_values(body.get("email"), "email")
        person_id = self.store_person(name, phones, emails, None)
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
            raise Refused(400, f"{what} must be a string or an array of objects")
        out = []
        for entry in value:
            if not isinstance(entry, dict) or not isinstance(entry.get("value"), str) \
                    or set(entry) - {"value", "primary", "label"}:
                raise Refused(400, f"each {what} needs a string value (and only primary, label)")
            out.append({"value": entry["value"], "primary": bool(entry.get("primary")),
                        "label": entry.get("label", "")})
        return out

    def _list_persons(self, query: dict):
        if set(query) - V2_PERSONS_PARAMS:
            raise Refused(400, "unknown query parameter")
        limit = self._limit(query, 100, 500)
        since = self._rfc3339(query.get("updated_since"))
        until = self._rfc3339(query.get("updated_until"))
        sort_by = query.get("sort_by", "id")
        if sort_by not in ("id", "update_time") or query.get("sort_direction", "asc") != "asc":
            raise Refused(400, "this fake sorts by id or update_time, ascending only")

        def key(p):  # keyset paging: a person changed while pages are read moves behind the cursor
            return (p["update_time"].timestamp(), p["id"]) if sort_by == "update_time" else (0, p["id"])

        after = (float("-inf"), 0)
        if query.get("cursor"):
            try:
                after = tuple(json.loads(base64.urlsafe_b64decode(query["cursor"]))["after"])
            except (ValueError, KeyError, TypeError):
                raise Refused(400, "invalid cursor") from None
        chosen = [p for p in sorted(self.persons.values(), key=key)
                  if key(p) > after and (since is not None or not p["is_deleted"])
                  and (since is None or p["update_time"] >= since) and (until is None or p["update_time"] < until)]
        page = chosen[:limit]
        next_cursor = None
        if len(chosen) > limit:
            next_cursor = base64.urlsafe_b64encode(json.dumps({"after": list(key(page[-1]))}).encode()).decode()
        data = [{"id": p["id"], "name": p["name"], "first_name": p["name"].split(" ")[0], "owner_id": 1,
                 "org_id": None, "add_time": v2_time(p["add_time"]), "update_time": v2_time(p["update_time"]),
                 "emails": p["emails"], "phones": p["phones"], "is_deleted": p["is_deleted"], "visible_to": 3,
                 "label_ids": [], "picture_id": None} for p in page]
        return 200, {"success": True, "data": data, "additional_data": {"next_cursor": next_cursor}}

    @staticmethod
    def _rfc3339(value):
        if value is None:
            return None
        if not RFC3339.fullmatch(value):
            raise Refused(400, "time must be in RFC3339 format, e.g. 2025-01-01T10:20:00Z")
        return datetime.fromisoformat(value.replace("Z", "+00:00"))

    @staticmethod
    def _limit(query: dict, default: int, maximum: int) -> int:
        raw = query.get("limit", str(default))
        if not raw.isdigit() or not 1 <= int(raw) <= maximum:
            raise Refused(400, f"limit must be an integer from 1 to {maximum}")
        return int(raw)

    # Call logs

    def _create_call_log(self, body: dict):
        if set(body) - CALL_LOG_FIELDS:
            raise Refused(400, "unknown field")
        if body.get("outcome") not in OUTCOMES:
            raise Refused(400, "outcome must be one of " + ", ".join(sorted(OUTCOMES)))
        for key in ("to_phone_number",):
            if not isinstance(body.get(key), str) or not body[key]:
                raise Refused(400, f"{key} is required")
        times = {}
        for key in ("start_time", "end_time"):
            value = body.get(key)
            if not isinstance(value, str) or not PIPEDRIVE_TIME.fullmatch(value):
                raise Refused(400, f"{key} must be UTC, YYYY-MM-DD HH:MM:SS")
            try:
                times[key] = datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
            except ValueError:
                raise Refused(400, f"{key} is not a date") from None
        if times["end_time"] < times["start_time"]:
            raise Refused(400, "end_time is before start_time")
        for key in ("user_id", "activity_id", "person_id", "org_id", "deal_id"):
            if key in body and (not isinstance(body[key], int) or isinstance(body[key], bool)):
                raise Refused(400, f"{key} must be an integer")
        for key in ("subject", "from_phone_number", "note", "lead_id", "duration"):
            if key in body and not isinstance(body[key], str):
                raise Refused(400, f"{key} must be a string")
        if "duration" in body and not body["duration"].isdigit():
            raise Refused(400, "duration is a number of seconds")
        if self.require_person and "person_id" not in body:
            raise Refused(400, "person_id is required (by this fake: our call logs belong to a person)")
        if "person_id" in body and body["person_id"] not in self.persons:
            raise Refused(404, "Person not found")
        log = {**body, "id": uuid.uuid4().hex[:24], "has_recording": False, "company_id": 1}
        self.call_logs.append(log)
        return 200, {"success": True, "data": log}

    def _list_call_logs(self, query: dict):
        limit = self._limit(query, 50, 50)
        raw_start = query.get("start", "0")
        if not raw_start.isdigit():
            raise Refused(400, "start must be an integer")
        start = int(raw_start)
        newest_first = list(reversed(self.call_logs))
        page = newest_first[start:start + limit]
        more = start + limit < len(newest_first)
        pagination = {"start": start, "limit": limit, "more_items_in_collection": more}
        if more:
            pagination["next_start"] = start + limit
        return 200, {"success": True, "data": page, "additional_data": {"pagination": pagination}}
