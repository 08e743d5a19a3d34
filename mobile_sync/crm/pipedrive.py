"""Pipedrive's client: persons searched or created by phone, calls written as
call logs, persons read back for the pull, against Pipedrive's documented API.

- Auth: the organisation's API token in the `x-api-token` header, never in a
  URL (URLs end up in access logs and in exception texts).
- Calls: `POST /v1/callLogs`, attached to the person, with our call id in the
  note (`[callsync:<id>]`). `find_logged_call` reads `GET /v1/callLogs` (the
  token's user's call logs, 50 a page, the documented maximum) for at most
  `lookup_pages` pages: bounded, at most 10 requests by default. Pipedrive
  documents no order for that list; a call log beyond the pages read is not
  found, and logging the call again would then duplicate it (the note's
  marker lets an admin find such a twin).
- Pull: `GET /api/v2/persons?updated_since=<RFC 3339>` (the epoch on a first
  pull), oldest change first (`sort_by=update_time`), cursor paged; a
  person deleted (or merged into another) since then comes back with
  `is_deleted` and is reported as deleted.
- Rate limits: a 429 is `RateLimited` with the server's wait (`Retry-After`,
  else `x-ratelimit-reset`, else to the next UTC midnight when
  `x-daily-requests-left` is 0). After an answer whose `x-ratelimit-remaining`
  is 0, or whose `x-daily-requests-left` is 0 (writes), the next request is
  not sent: it raises `RateLimited` for the rest of the window.
- Bounded: connect and read timeouts (`timeout_s` each), the whole exchange
  given up `2 * timeout_s` after it began (checked as the body is read), at most
  `max_body_bytes` of it read, no redirect followed (the token header would go
  with it). Error texts carry the method, the path and the status: never the
  token, a query string (the searched number) or Pipedrive's own error text
  (it may quote the data sent)."""
from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta, timezone
from html import escape

import requests
import urllib3

from mobile_sync.crm.client import (AuthFailed, CrmCall, CrmPerson, PeoplePage, PermanentError, RateLimited,
                                    TransientError)
from mobile_sync.webhooks.transport import retry_after_seconds

DEFAULT_BASE_URL = "https://api.pipedrive.com"
MAX_BODY_BYTES = 4 * 1024 * 1024  # a page of 500 persons with custom fields stays well under it
CALL_LOG_PAGE = 50  # GET /v1/callLogs: "The upper limit is 50"
LOOKUP_PAGES = 10
PULL_PAGE = 100
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)  # a first pull's "updated since"
BURST_WINDOW_S = 2.0  # Pipedrive's burst window, when a 429 names no wait
_CHUNK = 64 * 1024

# Our call's direction → Pipedrive's call log outcome (connected, no_answer,
# left_message, left_voicemail, wrong_number, busy).
_SUBJECTS = {"incoming": "Incoming call", "outgoing": "Outgoing call", "missed": "Missed call",
             "rejected": "Rejected call"}


def call_marker(call_id: int) -> str:
    """What a call log's note carries so that our call can be found again."""
    return f"[callsync:{int(call_id)}]"


def call_outcome(direction: str, duration_s: int) -> str:
    """Pipedrive's outcome for one of our calls: a missed call or an unanswered
    one is no_answer, a rejected call busy, any other with talk time connected."""
    if direction == "rejected":
        return "busy"
    if direction == "missed" or duration_s <= 0:
        return "no_answer"
    return "connected"


def pipedrive_time(moment: datetime) -> str:
    """UTC, "YYYY-MM-DD HH:MM:SS", as POST /v1/callLogs wants it (naive = UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _rfc3339(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value) -> datetime | None:
    """Pipedrive's times: RFC 3339 in API v2, "YYYY-MM-DD HH:MM:SS" (UTC) in v1."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _digits(number: str) -> str:
    return re.sub(r"\D", "", number or "")


def _seconds_to_utc_midnight(now: datetime) -> float:
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1.0, (tomorrow - now).total_seconds())


def _dict(value) -> dict:
    """Pipedrive's answer read defensively: an unexpected shape reads as empty."""
    return value if isinstance(value, dict) else {}


def _list(value) -> list:
    return value if isinstance(value, list) else []


def _header_number(headers, name: str) -> float | None:
    try:
        return float(headers.get(name))
    except (TypeError, ValueError):
        return None


class PipedriveClient:
    """One organisation's Pipedrive, through its API token."""

    name = "pipedrive"

    def __init__(self, base_url: str, token: str, timeout_s: float = 10.0, *,
                 max_body_bytes: int = MAX_BODY_BYTES, lookup_pages: int = LOOKUP_PAGES,
                 page_size: int = PULL_PAGE, session: requests.Session | None = None):
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.timeout_s = timeout_s
        self.max_body_bytes = max_body_bytes
        self.lookup_pages = lookup_pages
        self.page_size = page_size
        self._token = token
        self._session = session or requests.Session()
        self._wait_until = 0.0  # monotonic: the burst window says wait
        self._writes_wait_until = 0.0  # monotonic: the day's POST/PUT allowance is spent

    def __repr__(self) -> str:
        return f"PipedriveClient({self.base_url!r})"

    @property
    def requests_per_push(self) -> int:
        """The most requests one call's push may make (the lookup's pages, the
        search, the person's creation, the call log), each answered or given up
        within `2 * timeout_s`: what a sender's lease must cover."""
        return self.lookup_pages + 3

    def close(self) -> None:
        self._session.close()

    # The protocol

    def check(self) -> None:
        self._request("GET", "/v1/users/me")

    def find_or_create_person(self, number_e164: str, name: str | None) -> str:
        found = self._request("GET", "/v1/persons/search", params={
            "term": number_e164, "fields": "phone", "exact_match": "true", "limit": 10})
        items = _dict(found.get("data")).get("items") or []
        wanted = _digits(number_e164)
        candidates = [_dict(entry.get("item")) for entry in _list(items) if isinstance(entry, dict)]
        candidates = [item for item in candidates if item.get("id") is not None]
        # exact_match already matched the number; prefer the person whose stored
        # number is ours digit for digit, should the search be looser than that.
        for item in candidates:
            if any(_digits(str(phone)) == wanted for phone in _list(item.get("phones"))):
                return str(item["id"])
        if candidates:
            return str(candidates[0]["id"])
        created = self._request("POST", "/v1/persons", write=True, payload={
            "name": name or number_e164,
            "phone": [{"value": number_e164, "primary": True, "label": "mobile"}],
        })
        return str(self._data_id(created, "POST /v1/persons"))

    def find_logged_call(self, call_id: int) -> str | None:
        marker = call_marker(call_id)
        start = 0
        for _ in range(self.lookup_pages):
            page = self._request("GET", "/v1/callLogs", params={"start": start, "limit": CALL_LOG_PAGE})
            for log in _list(page.get("data")):
                if isinstance(log, dict) and log.get("id") and marker in str(log.get("note") or ""):
                    return str(log["id"])
            pagination = _dict(_dict(page.get("additional_data")).get("pagination"))
            if not pagination.get("more_items_in_collection"):
                return None
            next_start = pagination.get("next_start")
            start = next_start if isinstance(next_start, int) and next_start > start else start + CALL_LOG_PAGE
        return None

    def log_call(self, person_id: str, call: CrmCall) -> str:
        try:
            person = int(person_id)
        except (TypeError, ValueError):
            raise PermanentError("Pipedrive person ids are numbers") from None
        duration = max(0, int(call.duration_s or 0))
        outgoing = call.direction == "outgoing"
        body = {
            "person_id": person,
            "outcome": call_outcome(call.direction, duration),
            # "The number called" is required: ours is the contact's number on an
            # outgoing call; on the others it called us and is the from number,
            # and the rep's number is not ours to send, so it stands in as well.
            "to_phone_number": call.number_e164,
            "start_time": pipedrive_time(call.started_at),
            "end_time": pipedrive_time(call.started_at + timedelta(seconds=duration)),
            "duration": str(duration),
            "subject": self._subject(call),
            "note": f"<p>{escape(self._note(call))}</p>",
        }
        if not outgoing:
            body["from_phone_number"] = call.number_e164
        created = self._request("POST", "/v1/callLogs", write=True, payload=body)
        return str(self._data_id(created, "POST /v1/callLogs"))

    def people_updated_since(self, since: datetime | None, cursor: str | None) -> PeoplePage:
        # Oldest change first: a person changed (or deleted) while the pages are
        # read moves behind the cursor and is read again, so the latest change
        # read is a safe "updated since" for the next pull; by id, it was not.
        # A first pull asks since the epoch rather than for all persons: only a
        # list of changes carries the deleted ones, and a person it links may
        # be deleted while it runs.
        params = {"limit": self.page_size, "sort_by": "update_time", "sort_direction": "asc",
                  "updated_since": _rfc3339(since or EPOCH)}
        if cursor:
            params["cursor"] = cursor
        page = self._request("GET", "/api/v2/persons", params=params)
        people, deleted = [], []
        for item in _list(page.get("data")):
            if isinstance(item, dict) and item.get("id") is not None:
                # API v2 says is_deleted; v1's shape says active_flag false.
                gone = item.get("is_deleted") is True or item.get("active_flag") is False
                (deleted if gone else people).append(self._person(item))
        next_cursor = _dict(page.get("additional_data")).get("next_cursor")
        return PeoplePage(people=people, cursor=str(next_cursor) if next_cursor else None, deleted=deleted)

    # Records

    @staticmethod
    def _subject(call: CrmCall) -> str:
        subject = _SUBJECTS.get(call.direction, "Call")
        return f"{subject} ({call.rep_name})" if call.rep_name else subject

    @staticmethod
    def _note(call: CrmCall) -> str:
        return f"Logged by CallSync {call_marker(call.call_id)}"

    @staticmethod
    def _person(item: dict) -> CrmPerson:
        def values(entries):
            entries = [entry for entry in _list(entries) if isinstance(entry, dict) and entry.get("value")]
            entries.sort(key=lambda entry: not entry.get("primary"))  # the primary one first
            return [str(entry["value"]) for entry in entries]

        emails = values(item.get("emails"))
        # API v2 gives the organisation's id only (org_id): its name would cost
        # a request per person, so the company is left to CallSync's records.
        return CrmPerson(external_id=str(item["id"]), name=str(item.get("name") or "") or None, company=None,
                         email=emails[0] if emails else None, phones=values(item.get("phones")),
                         updated_at=_parse_time(item.get("update_time")))

    @staticmethod
    def _data_id(answer: dict, what: str):
        data = answer.get("data")
        if not isinstance(data, dict) or data.get("id") in (None, ""):
            raise TransientError(f"Pipedrive {what} answered without an id")
        return data["id"]

    # HTTP

    def _request(self, method: str, path: str, *, params: dict | None = None, payload: dict | None = None,
                 write: bool = False) -> dict:
        what = f"{method} {path}"
        now = time.monotonic()
        deadline = now + 2 * self.timeout_s  # connect, headers and body: all of it
        wait = max(self._wait_until, self._writes_wait_until if write else 0.0) - now
        if wait > 0:
            raise RateLimited(wait, status=None)
        try:
            response = self._session.request(
                method, self.base_url + path, params=params, json=payload, stream=True, allow_redirects=False,
                timeout=(self.timeout_s, self.timeout_s),
                headers={"x-api-token": self._token, "Accept": "application/json"})
        except requests.Timeout:
            raise TransientError(f"Pipedrive {what}: no answer within {self.timeout_s:g} s") from None
        except requests.RequestException as err:
            raise TransientError(f"Pipedrive {what}: {type(err).__name__}") from None
        try:
            body = self._read(response, what, deadline)
        finally:
            response.close()
        status = response.status_code
        self._note_budget(response.headers)
        if status == 429:
            raise RateLimited(self._retry_after(response.headers), status=429)
        if status in (401, 403):
            raise AuthFailed(f"Pipedrive {what} answered {status}: the API token is wrong or revoked", status)
        if status >= 500:
            raise TransientError(f"Pipedrive {what} answered {status}", status)
        if 300 <= status < 400:
            raise PermanentError(f"Pipedrive {what} answered a redirect ({status}), not followed", status)
        if status >= 400 or status < 200:
            raise PermanentError(f"Pipedrive {what} answered {status}", status)
        try:
            answer = json.loads(body.decode("utf-8"))
        except ValueError:
            raise TransientError(f"Pipedrive {what} answered {status} without JSON", status) from None
        if not isinstance(answer, dict) or answer.get("success") is False:
            raise PermanentError(f"Pipedrive {what} answered {status} without success", status)
        return answer

    def _read(self, response: requests.Response, what: str, deadline: float) -> bytes:
        """The answer's body: at most max_body_bytes, read before the deadline."""
        declared = _header_number(response.headers, "Content-Length")
        if declared is not None and declared > self.max_body_bytes:
            raise TransientError(f"Pipedrive {what}: an answer over {self.max_body_bytes} bytes, not read")
        chunks, size = [], 0
        try:
            # read1: what the socket has, each wait bounded by the read timeout,
            # so that an answer dripped byte by byte meets the deadline.
            while chunk := response.raw.read1(_CHUNK, decode_content=True):
                size += len(chunk)
                if size > self.max_body_bytes:
                    raise TransientError(f"Pipedrive {what}: an answer over {self.max_body_bytes} bytes, not read")
                if time.monotonic() > deadline:
                    raise TransientError(f"Pipedrive {what}: the answer took over {2 * self.timeout_s:g} s")
                chunks.append(chunk)
        except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as err:
            raise TransientError(f"Pipedrive {what}: answer cut ({type(err).__name__})") from None
        return b"".join(chunks)

    def _note_budget(self, headers) -> None:
        now = time.monotonic()
        remaining = _header_number(headers, "x-ratelimit-remaining")
        if remaining is not None and remaining <= 0:
            reset = _header_number(headers, "x-ratelimit-reset")
            self._wait_until = now + (reset if reset is not None and reset > 0 else BURST_WINDOW_S)
        daily_left = _header_number(headers, "x-daily-requests-left")
        if daily_left is not None and daily_left <= 0:
            self._writes_wait_until = now + _seconds_to_utc_midnight(datetime.now(timezone.utc))

    @staticmethod
    def _retry_after(headers) -> float:
        retry_after = retry_after_seconds(headers.get("Retry-After"), time.time())
        if retry_after is not None:
            return retry_after
        daily_left = _header_number(headers, "x-daily-requests-left")
        if daily_left is not None and daily_left <= 0:
            return _seconds_to_utc_midnight(datetime.now(timezone.utc))
        reset = _header_number(headers, "x-ratelimit-reset")
        return reset if reset is not None and reset > 0 else BURST_WINDOW_S
