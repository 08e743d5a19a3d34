"""An organisation's CRM connections as admins manage them (API and page):
the token checked with one request before it is saved sealed, the rules,
the status shown, a pull asked for. Each function flushes, never commits."""
from __future__ import annotations

from datetime import datetime

from mobile_sync.crm.client import AuthFailed, CrmError
from mobile_sync.crm.registry import CRMS, NAMES, label
from mobile_sync.errors import ServiceError, invalid, not_found
from mobile_sync.store.crm_connections import (
    delete_connection, find_connection, get_connection, request_pull, save_connection, update_rules,
)
from mobile_sync.store.crm_pushes import push_counts, resume_connection_pushes
from mobile_sync.webhooks.sealing import seal

DEFAULT_RULES = {"call_types": ["incoming", "outgoing", "missed"], "min_duration_s": 0, "push_leads": True,
                 "pull_every_h": 0}


def known_crm(crm: str) -> str:
    if crm not in CRMS:
        raise not_found("integration")
    return crm


def describe(session, organization_id: int, crm: str, now: datetime) -> dict:
    """What an admin sees of one CRM: connected or not, rules, status; never the token."""
    connection = find_connection(session, organization_id, crm)
    if connection is None:
        return {"crm": crm, "label": label(crm), "connected": False, "status": None, "token_hint": None,
                "call_types": [], "pull_running": False, "pushes": {}}
    return {
        "crm": crm, "label": label(crm), "connected": True, "status": connection.status,
        "token_hint": connection.token_hint, "call_types": list(connection.call_types or []),
        "min_duration_s": connection.min_duration_s, "push_leads": connection.push_leads,
        "pull_every_h": connection.pull_every_h, "auth_failed_at": connection.auth_failed_at,
        "last_error": connection.last_error, "last_status_code": connection.last_status_code,
        "paused_until": connection.paused_until if connection.paused_until and connection.paused_until > now
        else None,
        "last_pulled_at": connection.last_pulled_at, "last_pull_count": connection.last_pull_count,
        "last_pull_removed": connection.last_pull_removed,
        "pull_running": bool(connection.pull_claimed_until and connection.pull_claimed_until > now),
        "pushes": push_counts(session, organization_id, connection.id),
    }


def describe_all(session, organization_id: int, now: datetime) -> list[dict]:
    return [describe(session, organization_id, crm, now) for crm in NAMES]


def check_token(make_client, crm: str, token: str) -> None:
    """One cheap request with the token: a refusal or an unreachable CRM is a 422 and nothing is saved."""
    client = make_client(crm, token)
    try:
        client.check()
    except AuthFailed:
        raise invalid({"token": [f"{label(crm)} refused this token: check it was copied whole and has the "
                                 "scopes docs/integrations.md lists."]},
                      f"{label(crm)} refused the token; nothing was saved.") from None
    except CrmError as err:
        raise ServiceError(422, "crm_unreachable", f"{label(crm)} could not be reached to check the token "
                           f"({'status ' + str(err.status) if err.status else 'no answer'}); nothing was saved. "
                           "Try again.") from None
    finally:
        close = getattr(client, "close", None)
        if close:
            close()


def connect(session, organization_id: int, crm: str, body: dict, *, make_client, sealing_key: str,
            now: datetime) -> tuple[dict, bool]:
    """Save the token (checked first) and rules; pushes that waited for a good token are due again."""
    known_crm(crm)
    token = body["token"]
    check_token(make_client, crm, token)
    existing = find_connection(session, organization_id, crm)
    rules = {k: body[k] for k in DEFAULT_RULES if k in body}
    if existing is None:
        rules = {**DEFAULT_RULES, **rules}
    if "call_types" in rules:
        rules["call_types"] = sorted(set(rules["call_types"]))
    connection, created = save_connection(session, organization_id, crm, sealed_token=seal(sealing_key, token),
                                          token_hint=token[-4:], rules=rules, now=now)
    if not created:
        resume_connection_pushes(session, connection, now)
    return describe(session, organization_id, crm, now), created


def change_rules(session, organization_id: int, crm: str, body: dict, now: datetime) -> dict:
    known_crm(crm)
    rules = dict(body)
    if "call_types" in rules:
        rules["call_types"] = sorted(set(rules["call_types"]))
    update_rules(session, organization_id, crm, rules, now)
    return describe(session, organization_id, crm, now)


def disconnect(session, organization_id: int, crm: str) -> None:
    delete_connection(session, organization_id, known_crm(crm))


def ask_pull(session, organization_id: int, crm: str, now: datetime) -> int:
    """Note a pull asked for; the caller queues it after the commit. 409 while one runs or the token is refused."""
    connection = get_connection(session, organization_id, known_crm(crm))
    if connection.status != "connected":
        raise ServiceError(409, "integration_auth_failed",
                           f"{label(crm)} refused the saved token: save a new one before pulling.")
    if connection.pull_claimed_until is not None and connection.pull_claimed_until > now:
        raise ServiceError(409, "pull_running", "A pull of this CRM is running; it imports everything changed.")
    request_pull(session, organization_id, crm, now)
    return connection.id


def connection_id(session, organization_id: int, crm: str) -> int:
    return get_connection(session, organization_id, known_crm(crm)).id
