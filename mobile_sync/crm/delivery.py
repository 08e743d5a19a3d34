"""Sending CRM push items, at least once and never twice to a CRM.

One item at a time: claimed (committed before anything is sent, with a lease
longer than the item's requests can take), sent, its outcome recorded and
committed. An item whose earlier attempt's outcome is unknown (the sender
died, timed out or got a 5xx after its request may have landed) asks the CRM
for a call log carrying our call id before logging again.

At send time: a number erased since is never sent (the item is cancelled),
nor a call from a phone whose call-log consent was withdrawn.

Outcomes: RateLimited → the connection waits (Retry-After or the CRM's
window) and the item is due again then, the attempt not counted;
AuthFailed → the connection is marked and its pushes stop, nothing lost
(saving a good token resumes them); PermanentError → the item failed;
anything else → exponential backoff with jitter (the webhooks' curve) for up
to 3 days."""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mobile_sync.crm.client import AuthFailed, CrmCall, CrmError, PermanentError, RateLimited
from mobile_sync.store.crm_connections import connection_by_id, mark_auth_failed, mark_error, mark_ok, mark_paused
from mobile_sync.store.crm_pushes import call_consented, call_to_push, claim_push, lead_to_push
from mobile_sync.store.models import CrmConnection, CrmPush
from mobile_sync.crm.pipedrive import LOOKUP_PAGES
from mobile_sync.webhooks.delivery import RETRY_WINDOW, backoff_s
from mobile_sync.webhooks.sealing import unseal

# The most requests one item's push may make, the slowest CRM's: Pipedrive's
# look-up of a logged call reads up to LOOKUP_PAGES pages, then the search, the
# person's creation and the call log (PipedriveClient.requests_per_push).
REQUESTS_PER_ITEM = LOOKUP_PAGES + 3


def lease_for(timeout_s: float) -> timedelta:
    """How long a sender holds one item: every request it may make given up
    (a client gives a request up within 2 x timeout_s), and a minute more; a
    shorter lease could let a second sender log the same call while the first
    still waits."""
    return timedelta(seconds=60 + 2 * timeout_s * REQUESTS_PER_ITEM)


@dataclass
class SendResult:
    delivered: int = 0
    retry_at: dict = field(default_factory=dict)  # item id -> when it is due again
    auth_failed: list = field(default_factory=list)  # connection ids


class Clients:
    """A client per connection, built once a batch (the token unsealed in memory only)."""

    def __init__(self, make_client, sealing_key: str):
        self._make = make_client  # (crm, token) -> client
        self._sealing_key = sealing_key
        self._clients: dict[int, object] = {}

    def of(self, connection: CrmConnection):
        if connection.id not in self._clients:
            self._clients[connection.id] = self._make(connection.crm, unseal(self._sealing_key, connection.token))
        return self._clients[connection.id]

    def close(self) -> None:
        for client in self._clients.values():
            close = getattr(client, "close", None)
            if close:
                close()


def send_pushes(session, push_ids: list[int], *, clients: Clients, now, hash_key: str, timeout_s: float,
                rng: random.Random, commit) -> SendResult:
    """Claim and send each item in turn; `now()` gives the time, `commit()` is the caller's."""
    result = SendResult()
    for push_id in push_ids:
        moment = now()
        item = claim_push(session, push_id, moment, lease_for(timeout_s))
        commit()  # the claim stands before anything is sent
        if item is None:
            continue
        _send_one(session, item, clients, moment, hash_key, rng, result)
        session.flush()
        commit()
    return result


def _send_one(session, item: CrmPush, clients: Clients, now: datetime, hash_key: str, rng: random.Random,
              result: SendResult) -> None:
    connection = connection_by_id(session, item.connection_id)
    if connection is None:
        _finish(item, "cancelled", "disconnected")
        return
    if connection.status != "connected":  # waits for a good token: not an attempt
        _release(item, None)
        return
    if connection.paused_until is not None and connection.paused_until > now:  # the CRM's window
        item.last_status_code, item.last_error = 429, "rate_limited"
        _release(item, connection.paused_until)
        result.retry_at[item.id] = connection.paused_until
        return
    try:
        client = clients.of(connection)
        external_id = _deliver(session, item, client, hash_key)
    except RateLimited as err:
        until = now + timedelta(seconds=max(1.0, err.retry_after_s) + rng.random())
        mark_paused(connection, until)
        item.last_status_code, item.last_error = err.status, "rate_limited"
        _release(item, until)
        result.retry_at[item.id] = until
        return
    except AuthFailed as err:
        mark_auth_failed(connection, err.status, now)
        item.last_status_code, item.last_error = err.status, "auth_failed"
        _release(item, None)
        result.auth_failed.append(connection.id)
        return
    except PermanentError as err:
        mark_error(connection, "refused", err.status)
        item.last_status_code = err.status
        _finish(item, "failed", "refused")
        return
    except (CrmError, ValueError) as err:  # ValueError: the token was sealed with another key
        code = "unavailable" if isinstance(err, CrmError) else "token_unreadable"
        status = getattr(err, "status", None)
        mark_error(connection, code, status)
        item.last_status_code, item.last_error = status, code
        _retry(item, now, rng, result)
        return
    if external_id is _WITHDRAWN:
        return
    mark_ok(connection)
    item.status = "delivered"
    item.external_id = external_id
    item.delivered_at = now
    item.claimed_until = None
    item.next_attempt_at = None
    item.last_error = None
    result.delivered += 1


_WITHDRAWN = object()


def _deliver(session, item: CrmPush, client, hash_key: str):
    if item.subject_type == "lead":
        lead = lead_to_push(session, item.organization_id, item.subject_id, hash_key)
        if lead is None or lead.number_e164 is None:
            _finish(item, "cancelled", "erased" if lead is not None else "deleted")
            return _WITHDRAWN
        return client.find_or_create_person(lead.number_e164, _real_name(lead.name))
    call = call_to_push(session, item.organization_id, item.subject_id, hash_key, item.connection_id)
    if call is None or call.number_e164 is None or call.direction is None:
        _finish(item, "cancelled", "deleted" if call is None else "erased" if call.number_e164 is None
                else "not_sent")
        return _WITHDRAWN
    if not call_consented(session, call.device_id):
        _finish(item, "cancelled", "withdrawn")
        return _WITHDRAWN
    if item.attempts > 1:  # an earlier attempt may have logged it: never twice
        found = client.find_logged_call(call.call_id)
        if found is not None:
            return found
    logged = CrmCall(call_id=call.call_id, number_e164=call.number_e164, direction=call.direction,
                     started_at=call.started_at, duration_s=call.duration_s, rep_name=call.rep_name,
                     contact_name=call.contact_name)
    if call.person_id is not None:  # the contact came from this CRM: its person, without a search
        try:
            return client.log_call(call.person_id, logged)
        except PermanentError:  # refused, nothing logged: the person was deleted or merged in the CRM since
            pass
    person_id = client.find_or_create_person(call.number_e164, _real_name(call.contact_name))
    return client.log_call(person_id, logged)


def _real_name(name: str | None) -> str | None:
    """A record's name as the CRM's person's, unless it is only a number (a lead named by its caller's number)."""
    return name if name and any(ch.isalpha() for ch in name) else None


def _finish(item: CrmPush, status: str, error: str | None = None) -> None:
    item.status = status
    item.claimed_until = None
    item.next_attempt_at = None
    if error:
        item.last_error = error


def _release(item: CrmPush, due: datetime | None) -> None:
    """Back to pending without counting the attempt (nothing was sent, or the CRM said wait)."""
    item.attempts -= 1
    item.claimed_until = None
    item.next_attempt_at = due


def _retry(item: CrmPush, now: datetime, rng: random.Random, result: SendResult) -> None:
    due = now + timedelta(seconds=backoff_s(max(1, item.attempts), rng))
    if due > item.created_at + RETRY_WINDOW:
        _finish(item, "failed")
        return
    item.next_attempt_at = due
    item.claimed_until = None
    result.retry_at[item.id] = due
