"""An organisation's settings, with the defaults of DESIGN.md."""
from __future__ import annotations

import copy

from mobile_sync.timezones import region_timezone

DEFAULTS = {
    "auto_leads": {
        "enabled": True,
        "call_types": ["incoming", "outgoing", "missed"],
        "min_duration_s": 5,              # answered calls shorter than this are ignored
        "skip_device_contacts": True,     # numbers in the rep's phone book never become leads
        "business_hours": None,           # e.g. {"days": [0,1,2,3,4], "start": "09:00", "end": "18:00"}
        "repeat_caller_threshold": 1,     # calls from a number before it becomes a lead
        "queue_alert_threshold": 20,      # tell managers when this many leads wait for review
        # Calls outside the calling user's office hours: "lead" (as any other
        # call) or "skip" (stored, but no lead or task: skip:outside_office_hours).
        "outside_office_hours": "lead",
    },
    "timezone": "UTC",                    # in effect: the region's (mobile_sync.timezones) until one is set
    "tracking_numbers": [],               # [{number, source, valid_from?, valid_to?, owner_id?}]
    "campaign_devices": {},               # {"<device id>": "<source>"}
    "keep_phone_contacts": False,
    "retention_days": 730,
    "silent_after_hours": 4,              # working hours without an upload before a phone is silent
}


def _merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def effective_settings(org) -> dict:
    """The organisation's settings over the defaults; the time zone, until an
    admin sets one, is the region's most populous."""
    settings = _merge(DEFAULTS, org.settings or {})
    if not (org.settings or {}).get("timezone"):
        settings["timezone"] = region_timezone(org.region)
    return settings
