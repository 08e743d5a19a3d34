"""The HubSpot client (CRM API v3, a private app's access token as Bearer).

- A person is a contact, found by phone (`POST /crm/v3/objects/contacts/search`,
  `phone EQ <E.164>`) or created (`POST /crm/v3/objects/contacts`).
- A call is a call engagement (`POST /crm/v3/objects/calls`) associated with
  the contact (associationTypeId 194, HUBSPOT_DEFINED). Its title carries our
  call id ("CallSync call #<id>"), so `find_logged_call` can search for it
  (`POST /crm/v3/objects/calls/search`, `hs_call_title EQ`).
- The pull searches contacts by modification time, oldest change first, 100
  a page, by keyset rather than by HubSpot's `after` offset: a contact that
  changes between two pages moves behind the cursor instead of shifting the
  pages under it, and no query pages past the 10,000 results HubSpot's
  search returns for one query (a 400 beyond). Each page asks again for
  `lastmodifieddate GTE <the latest time read>` (GT `since` on a first
  page) and leaves out the contacts already read at exactly that time, whose
  ids the cursor keeps (`modified:<ms>:<id>,...`; `modified:<ms>` when all
  of them were read). The search sorts on one property and relies on no
  order among ties: when more than MAX_TIED contacts share one time it reads
  that millisecond by id (`tied:<ms>:<last id>`: `lastmodifieddate` equal,
  `hs_object_id GT`, sorted by id), then goes on after it. A cursor of the
  old offset paging (digits) starts the search again at `since`: pages are
  idempotent, so reading again is safe. The search never returns an
  archived contact (deleted, or merged into another), so the pull then lists
  the archived ones (`GET /crm/v3/objects/contacts?archived=true`, by id, 100
  a page, cursor `archived:<after>`) and reports those archived at or after
  `since` (all of them on a first pull) as deleted. HubSpot filters that list
  by nothing, so each pull reads all of it (HubSpot keeps an archived contact
  90 days); the filter spares the links' look-ups, and the pages count
  against the pull's pages per run like the search's.
- Rate limits: HubSpot counts requests in a rolling 10-second window and
  says what is left in `X-HubSpot-RateLimit-Remaining` (window length in
  `X-HubSpot-RateLimit-Interval-Milliseconds`). When it reaches 0 the client
  waits out the window (up to MAX_WAIT_S in place, else RateLimited); a 429
  is RateLimited after `Retry-After`, or the window.

Nothing personal or secret goes into an exception's text: a status, a code.
"""
from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import requests

from mobile_sync.crm.client import (
    AuthFailed, CrmCall, CrmError, CrmPerson, PeoplePage, PermanentError, RateLimited, TransientError,
)

MAX_BODY = 1_000_000  # bytes of an answer read at most
WINDOW_S = 10.0  # HubSpot's rolling window when it does not say
MAX_WAIT_S = 2.0  # waited in place for the window; longer: RateLimited, the item is retried later
PAGE = 100
ARCHIVED = "archived:"  # the pull's cursor while it lists the archived contacts
MODIFIED = "modified:"  # the search's cursor: modified:<ms>[:<ids read at ms>]
TIED = "tied:"  # the contacts modified at one millisecond, by id: tied:<ms>:<last id read>
MAX_TIED = 20  # ids read at one millisecond the cursor keeps; more: that millisecond is read by id
TITLE = "CallSync call #{}"
ASSOCIATION_CALL_TO_CONTACT = 194
_DIRECTIONS = {"incoming": "INBOUND", "missed": "INBOUND", "rejected": "INBOUND", "outgoing": "OUTBOUND"}
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_PERSON_PROPERTIES = ["firstname", "lastname", "company", "email", "phone", "mobilephone", "lastmodifieddate"]


def call_status(call: CrmCall) -> str:
    """HubSpot's `hs_call_status` for one of our calls."""
    if call.direction == "rejected":
        return "BUSY"
    if call.direction == "missed" or call.duration_s <= 0:
        return "NO_ANSWER"
    return "COMPLETED"


class HubSpotClient:
    name = "hubspot"

    def __init__(self, base_url: str, token: str, timeout_s: float = 15.0, sleep=time.sleep):
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.timeout_s = timeout_s
        self._sleep = sleep
        self._session = requests.Session()
        self._session.trust_env = False  # no proxy settings or .netrc from the environment
        self._blocked_until = 0.0  # monotonic: the window is spent until then

    def close(self) -> None:
        self._session.close()

    # ------------------------------------------------------------------ HTTP

    def _request(self, method: str, path: str, body: dict | None = None, params: dict | None = None) -> dict:
        wait = self._blocked_until - time.monotonic()
        if wait > 0:
            if wait > MAX_WAIT_S:
                raise RateLimited(wait)
            self._sleep(wait)
        headers = {"authorization": f"Bearer {self._token}", "accept": "application/json"}
        data = None
        if body is not None:
            headers["content-type"] = "application/json"
            data = json.dumps(body, separators=(",", ":")).encode()
        try:
            response = self._session.request(method, self.base_url + path, data=data, params=params,
                                             headers=headers, timeout=(min(5.0, self.timeout_s), self.timeout_s),
                                             allow_redirects=False, stream=True)
        except requests.Timeout:
            raise TransientError("timeout") from None
        except requests.RequestException as err:
            raise TransientError(f"connection failed ({type(err).__name__})") from None
        try:
            raw = response.raw.read(MAX_BODY + 1, decode_content=True) or b""
        except Exception as err:  # a body cut off, a read timeout
            raise TransientError(f"answer unreadable ({type(err).__name__})", response.status_code) from None
        finally:
            response.close()
        self._note_budget(response.headers)
        status = response.status_code
        if status == 429:
            raise RateLimited(self._retry_after(response.headers))
        if status in (401, 403):
            raise AuthFailed("HubSpot refused the token", status)
        if status >= 500 or status in (408,):
            raise TransientError(f"HubSpot answered {status}", status)
        if status >= 300:
            raise PermanentError(f"HubSpot answered {status}", status)
        if len(raw) > MAX_BODY:
            raise TransientError("answer too large", status)
        try:
            return json.loads(raw) if raw else {}
        except ValueError:
            raise TransientError("answer is not JSON", status) from None

    def _note_budget(self, headers) -> None:
        remaining = _number(headers.get("X-HubSpot-RateLimit-Remaining"))
        if remaining is not None and remaining <= 0:
            self._blocked_until = time.monotonic() + self._window(headers)

    def _window(self, headers) -> float:
        interval = _number(headers.get("X-HubSpot-RateLimit-Interval-Milliseconds"))
        return interval / 1000 if interval else WINDOW_S

    def _retry_after(self, headers) -> float:
        after = _number(headers.get("Retry-After"))
        wait = after if after is not None and after >= 0 else self._window(headers)
        self._blocked_until = time.monotonic() + wait
        return wait

    # ------------------------------------------------------------- protocol

    def check(self) -> None:
        self._request("GET", "/crm/v3/objects/contacts", params={"limit": 1, "archived": "false"})

    def find_or_create_person(self, number_e164: str, name: str | None) -> str:
        found = self._request("POST", "/crm/v3/objects/contacts/search", {
            "filterGroups": [{"filters": [{"propertyName": "phone", "operator": "EQ", "value": number_e164}]}],
            "properties": ["phone"], "limit": 1})
        for result in found.get("results") or []:
            return str(result["id"])
        properties = {"phone": number_e164}
        first, _, last = (name or "").strip().partition(" ")
        if first:
            properties["firstname"] = first
        if last:
            properties["lastname"] = last
        created = self._request("POST", "/crm/v3/objects/contacts", {"properties": properties})
        return _id(created)

    def find_logged_call(self, call_id: int) -> str | None:
        found = self._request("POST", "/crm/v3/objects/calls/search", {
            "filterGroups": [{"filters": [{"propertyName": "hs_call_title", "operator": "EQ",
                                           "value": TITLE.format(call_id)}]}],
            "properties": ["hs_call_title"], "limit": 1})
        for result in found.get("results") or []:
            return str(result["id"])
        return None

    def log_call(self, person_id: str, call: CrmCall) -> str:
        inbound = _DIRECTIONS.get(call.direction, "INBOUND") == "INBOUND"
        properties = {
            "hs_timestamp": _iso(call.started_at),
            "hs_call_title": TITLE.format(call.call_id),
            "hs_call_direction": "INBOUND" if inbound else "OUTBOUND",
            "hs_call_status": call_status(call),
            "hs_call_duration": str(max(0, call.duration_s) * 1000),
            ("hs_call_from_number" if inbound else "hs_call_to_number"): call.number_e164,
        }
        body = f"{call.direction.capitalize()} call"
        if call.rep_name:
            body += f" ({call.rep_name})"
        properties["hs_call_body"] = body
        created = self._request("POST", "/crm/v3/objects/calls", {
            "properties": properties,
            "associations": [{"to": {"id": str(person_id)}, "types": [
                {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": ASSOCIATION_CALL_TO_CONTACT}]}]})
        return _id(created)

    def people_updated_since(self, since: datetime | None, cursor: str | None) -> PeoplePage:
        if cursor and cursor.startswith(ARCHIVED):
            return self._archived_since(since, cursor[len(ARCHIVED):] or None)
        if cursor and cursor.startswith(TIED):
            stamp, _, after = cursor[len(TIED):].partition(":")
            if stamp.isdigit() and (not after or after.isdigit()):
                return self._tied_page(int(stamp), after or None)
        if cursor and cursor.startswith(MODIFIED):
            stamp, _, ids = cursor[len(MODIFIED):].partition(":")
            read = set(ids.split(",")) if ids else set()
            if stamp.isdigit() and len(read) <= MAX_TIED and all(i.isdigit() for i in read):
                return self._modified_page(int(stamp), read)
        # A first page, an old offset cursor stored before keyset paging, or a
        # cursor not understood: from `since` (a page read again changes nothing).
        return self._modified_page(_ms(since) if since is not None else None, set())

    def _modified_page(self, bound: int | None, read: set[str]) -> PeoplePage:
        """The contacts modified after `bound`, and those at `bound` not in `read`."""
        limit = PAGE + len(read)  # the ids read come again: a page still brings PAGE others
        body: dict = {"properties": _PERSON_PROPERTIES, "limit": limit,
                      "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]}
        if bound is not None:
            body["filterGroups"] = [{"filters": [{"propertyName": "lastmodifieddate",
                                                  "operator": "GTE" if read else "GT", "value": str(bound)}]}]
        results = self._request("POST", "/crm/v3/objects/contacts/search", body).get("results") or []
        stamps = [(str(result.get("id")), _modified_ms(result)) for result in results]
        people = [_person(result) for result, (key, stamp) in zip(results, stamps)
                  if not (stamp == bound and key in read)]
        if len(results) < limit:
            # The changes read; the pull goes on with the archivals. A first pull
            # too: a person it linked may have been archived while it ran.
            return PeoplePage(people=people, cursor=ARCHIVED)
        last = max((stamp for _, stamp in stamps if stamp is not None), default=None)
        if last is None:
            raise TransientError("HubSpot's contacts have no lastmodifieddate")
        at_last = {key for key, stamp in stamps if stamp == last} | (read if last == bound else set())
        if len(at_last) > MAX_TIED:
            return PeoplePage(people=people, cursor=f"{TIED}{last}:")
        return PeoplePage(people=people, cursor=f"{MODIFIED}{last}:{','.join(sorted(at_last, key=_id_order))}")

    def _tied_page(self, stamp: int, after: str | None) -> PeoplePage:
        """The contacts modified at the millisecond `stamp`, by id after `after`."""
        filters = [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(stamp)},
                   {"propertyName": "lastmodifieddate", "operator": "LTE", "value": str(stamp)}]
        if after:
            filters.append({"propertyName": "hs_object_id", "operator": "GT", "value": after})
        results = self._request("POST", "/crm/v3/objects/contacts/search", {
            "properties": _PERSON_PROPERTIES, "limit": PAGE, "filterGroups": [{"filters": filters}],
            "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]}).get("results") or []
        people = [_person(result) for result in results]
        if len(results) < PAGE:  # that millisecond read: on with the changes after it
            return PeoplePage(people=people, cursor=f"{MODIFIED}{stamp}")
        last = max((str(result.get("id")) for result in results), key=_id_order)
        return PeoplePage(people=people, cursor=f"{TIED}{stamp}:{last}")

    def _archived_since(self, since: datetime | None, after: str | None) -> PeoplePage:
        """A page of the archived contacts; those archived at or after `since`
        are deleted people (an archival at `since` may not have been read)."""
        params = {"archived": "true", "limit": PAGE, "properties": ",".join(_PERSON_PROPERTIES)}
        if after:
            params["after"] = after
        page = self._request("GET", "/crm/v3/objects/contacts", params=params)
        deleted = []
        for result in page.get("results") or []:
            archived_at = _parse_time(result.get("archivedAt"))
            if result.get("id") is not None and (since is None or archived_at is None or archived_at >= since):
                deleted.append(_person(result))
        after = ((page.get("paging") or {}).get("next") or {}).get("after")
        return PeoplePage(people=[], cursor=ARCHIVED + str(after) if after else None, deleted=deleted)


def _person(result: dict) -> CrmPerson:
    props = result.get("properties") or {}
    name = " ".join(p for p in (props.get("firstname"), props.get("lastname")) if p) or None
    phones = [p for p in (props.get("phone"), props.get("mobilephone")) if p]
    return CrmPerson(external_id=str(result.get("id")), name=name, company=props.get("company") or None,
                     email=props.get("email") or None, phones=phones,
                     updated_at=_parse_time(props.get("lastmodifieddate") or result.get("updatedAt")))


def _modified_ms(result: dict) -> int | None:
    """A search result's modification time in epoch milliseconds, as the filters take it."""
    props = result.get("properties") or {}
    moment = _parse_time(props.get("lastmodifieddate") or result.get("updatedAt"))
    return _ms(moment) if moment is not None else None


def _ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _id_order(value: str):
    return (0, int(value), "") if value.isdigit() else (1, 0, value)


def _id(answer: dict) -> str:
    value = answer.get("id")
    if value is None:
        raise CrmError("HubSpot's answer has no id")
    return str(value)


def _iso(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_time(value) -> datetime | None:
    if not value:
        return None
    try:
        if str(value).isdigit():
            return datetime.fromtimestamp(int(value) / 1000, timezone.utc)
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _number(value) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
