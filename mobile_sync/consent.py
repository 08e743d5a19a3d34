"""Consent per device and scope, against a versioned disclosure policy."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from mobile_sync.errors import ServiceError
from mobile_sync.store.consent_state import has_consent
from mobile_sync.store.locks import lock_consent_change
from mobile_sync.store.models import ConsentEvent, ConsentState, Device, Organization
from mobile_sync.store.models.devices import CONSENT_SCOPES

DEFAULT_POLICY_VERSION = "2026-11-01"
DEFAULT_POLICY_TEXT = (
    "CallSync helps your team recognise customers when they call.\n\n"
    "If you allow it, this app uploads to your organisation's CallSync account:\n"
    "- your call log (numbers, times, durations, call types and cached names), to log calls with "
    "customers and to turn calls from unknown numbers into leads for review;\n"
    "- your phone's contact list, reduced by default to a keyed fingerprint of each number, so that "
    "personal contacts are never made into leads.\n\n"
    "Your organisation is responsible for this data. You can withdraw either permission at any time "
    "in the app's settings: uploading stops and what this phone uploaded under that permission is "
    "deleted. Without these permissions you can still enter leads by hand."
)

# Called with (session, device_id, now) when a scope is revoked; the sync modules
# register the deletion of what the device uploaded under that scope.
REVOCATION_HANDLERS: dict[str, list] = {scope: [] for scope in CONSENT_SCOPES}


def on_revocation(scope: str):
    def register(fn):
        REVOCATION_HANDLERS[scope].append(fn)
        return fn
    return register


def current_policy(org: Organization | None) -> dict:
    settings = (org.settings or {}) if org else {}
    return {
        "version": settings.get("consent_policy_version") or DEFAULT_POLICY_VERSION,
        "text": settings.get("consent_text") or DEFAULT_POLICY_TEXT,
    }


def consent_state(session, device_id: int) -> dict:
    rows = session.execute(select(ConsentState).where(ConsentState.device_id == device_id)).scalars()
    state = {scope: {"granted": False, "policy_version": None, "updated_at": None} for scope in CONSENT_SCOPES}
    for row in rows:
        state[row.scope] = {"granted": row.granted, "policy_version": row.policy_version, "updated_at": row.updated_at}
    return {"device_id": device_id, **state}


def require_consent(session, device_id: int, scope: str) -> None:
    if not has_consent(session, device_id, scope):
        raise ServiceError(403, "consent_required",
                           f"This phone has not consented to uploading its {scope.replace('_', ' ')}.")


def set_consent(session, *, device: Device, org: Organization, choices: dict, policy_version: str,
                now: datetime) -> dict:
    """Record the phone's choice per scope. A grant must quote the current
    policy version; turning a scope off deletes what the device uploaded under it."""
    policy = current_policy(org)
    if any(choices.values()) and policy_version != policy["version"]:
        raise ServiceError(409, "policy_version_mismatch",
                           f"Consent must be given to the current policy (version {policy['version']}).",
                           fields={"policy_version": [f"Current version is {policy['version']}."]})
    # The upload in flight commits first; the next one reads this choice.
    lock_consent_change(session, device.id)
    existing = {row.scope: row for row in session.execute(
        select(ConsentState).where(ConsentState.device_id == device.id)).scalars()}
    for scope in CONSENT_SCOPES:
        granted = choices[scope]
        row = existing.get(scope)
        if row is not None and row.granted == granted and (not granted or row.policy_version == policy_version):
            continue
        if row is None:
            row = ConsentState(organization_id=device.organization_id, device_id=device.id, scope=scope)
            session.add(row)
        was_granted = bool(row.granted)
        row.granted, row.policy_version, row.updated_at = granted, policy_version, now
        session.add(ConsentEvent(organization_id=device.organization_id, device_id=device.id, user_id=device.user_id,
                                 scope=scope, granted=granted, policy_version=policy_version, created_at=now))
        if was_granted and not granted:
            for handler in REVOCATION_HANDLERS[scope]:
                handler(session, device.id, now)
    session.flush()
    return consent_state(session, device.id)
