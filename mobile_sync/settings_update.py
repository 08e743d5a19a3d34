"""Reading and changing an organisation's settings."""
from __future__ import annotations

from datetime import date

from mobile_sync.errors import invalid
from mobile_sync.org_settings import effective_settings
from mobile_sync.phones import normalize_number, region_for
from mobile_sync.plans import plan_limit, record_count
from mobile_sync.store.models import Organization, User

STORED = ("timezone", "auto_leads", "tracking_numbers", "campaign_devices", "keep_phone_contacts", "retention_days",
          "consent_text", "consent_policy_version", "silent_after_hours")


def read_settings(session, org: Organization) -> dict:
    settings = effective_settings(org)
    shown = {key: settings.get(key) for key in STORED}
    # Tracking numbers keep their dates as ISO text in the JSON column; the API shows them as dates.
    shown["tracking_numbers"] = [{**tracking, "valid_from": _day(tracking.get("valid_from")),
                                  "valid_to": _day(tracking.get("valid_to"))}
                                 for tracking in shown.get("tracking_numbers") or []]
    return {"name": org.name, "region": org.region, "plan": org.plan, "trial_ends_at": org.trial_ends_at,
            "record_limit": plan_limit(org, "record_limit"), "records": record_count(session, org.id), **shown}


def _day(value) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else value


def update_settings(session, org: Organization, changes: dict) -> dict:
    if "name" in changes:
        org.name = changes["name"]
    if "region" in changes:
        org.region = changes["region"]
    stored = dict(org.settings or {})
    if "tracking_numbers" in changes:
        numbers, problems = [], {}
        for index, tracking in enumerate(changes["tracking_numbers"]):
            number = normalize_number(tracking["number"], region_for(org.region))
            if not number.matchable:
                problems[str(index)] = {"number": [f"Not a usable phone number ({number.status})."]}
                continue
            if tracking.get("owner_id") and session.get(User, tracking["owner_id"]) is None:
                problems[str(index)] = {"owner_id": ["No such user in your organisation."]}
                continue
            numbers.append({**tracking, "number": number.e164,
                            "valid_from": tracking.get("valid_from") and tracking["valid_from"].isoformat(),
                            "valid_to": tracking.get("valid_to") and tracking["valid_to"].isoformat()})
        if problems:
            raise invalid({"tracking_numbers": problems})
        changes = {**changes, "tracking_numbers": numbers}
    if "timezone" in changes and changes["timezone"] is None:
        # Null: the key goes, so the zone follows the region again (a later change of region too).
        stored.pop("timezone", None)
        changes = {key: value for key, value in changes.items() if key != "timezone"}
    for key in STORED:
        if key in changes:
            if isinstance(changes[key], dict) and isinstance(stored.get(key), dict):
                # A merge, as JSON Merge Patch: a key sent as null goes (a campaign phone's source removed).
                merged = {**stored[key], **changes[key]}
                stored[key] = {name: value for name, value in merged.items() if value is not None}
            else:
                stored[key] = changes[key]
    org.settings = stored
    session.flush()
    return read_settings(session, org)
