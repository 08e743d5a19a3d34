"""A phone is ringing: look the caller up and queue the push of their
context (or "unknown caller") to the right user's phones.

The push's record is committed without waiting for the disk flush
(`queue_push(..., ephemeral_commit=True)`): it is useless once the phone stops
ringing (TTL 30 s), and the flush stood between the ring and the 202 (and so
the push)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from mobile_sync.caller_id import lookup_caller
from mobile_sync.phones import normalize_number, region_for
from mobile_sync.push_payloads import RINGING_TTL_S
from mobile_sync.pushes import queue_push
from mobile_sync.store.models import Organization, User


def _context(result: dict) -> dict:
    return {"number": result["number"], "number_status": result["number_status"], "match": result["match"],
            "candidates": len(result["candidates"])}


def ring_for_user(session, *, org_id: int, org_region: str | None, user_id: int, user_region: str | None,
                  raw_number: str, hash_key: str, now: datetime) -> tuple[str, list[int]]:
    """The rep's own phone rings: push the context to the rep's devices."""
    result = lookup_caller(session, org_id=org_id, org_region=org_region, user_id=user_id, user_region=user_region,
                           raw_number=raw_number, hash_key=hash_key)
    return queue_push(session, organization_id=org_id, user_ids=[user_id], kind="ringing", context=_context(result),
                      e164=result["number"], hash_key=hash_key, now=now, ttl_s=RINGING_TTL_S,
                      ephemeral_commit=True)


def user_for_dialled_number(session, org: Organization, e164: str | None) -> int | None:
    """Whose line was dialled: a colleague's own number, or a tracking number's owner."""
    if not e164:
        return None
    user_id = session.execute(
        select(User.id).where(User.organization_id == org.id, User.phone == e164, User.disabled_at.is_(None))
    ).scalar()
    if user_id:
        return user_id
    for tracking in (org.settings or {}).get("tracking_numbers", []):
        if tracking.get("number") == e164 and tracking.get("owner_id"):
            return tracking["owner_id"]
    return None


def ring_from_telephony(session, *, org: Organization, from_raw: str, to_raw: str, hash_key: str,
                        now: datetime) -> tuple[str | None, list[int]]:
    """A PBX or call-tracking webhook: push to the owner of `to`, else of the caller's record."""
    to = normalize_number(to_raw, region_for(org.region))
    user_id = user_for_dialled_number(session, org, to.e164)
    result = lookup_caller(session, org_id=org.id, org_region=org.region, user_id=user_id, user_region=None,
                           raw_number=from_raw, hash_key=hash_key)
    if user_id is None and result["match"] and result["match"].get("owner_id"):
        user_id = result["match"]["owner_id"]
    if user_id is None:
        return None, []
    return queue_push(session, organization_id=org.id, user_ids=[user_id], kind="ringing", context=_context(result),
                      e164=result["number"], hash_key=hash_key, now=now, ttl_s=RINGING_TTL_S,
                      ephemeral_commit=True)
