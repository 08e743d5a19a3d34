"""What the /settings forms send, turned into the API's settings body (which
`schemas.settings.SettingsSchema` then loads), what each form shows, and the
schema's complaints as one plain sentence per field.

Plain HTML forms: an unticked checkbox sends nothing, so a missing box is
"off"; an empty optional field is None; the choice "the region's default"
is an empty time zone (None, which reverts to the region's zone).
"""
from __future__ import annotations

from marshmallow import ValidationError

from mobile_sync.call_types import LEAD_RULE_TYPES
from mobile_sync.consent import DEFAULT_POLICY_TEXT, DEFAULT_POLICY_VERSION

ON = "true"
CALL_TYPE_NAMES = {
    "incoming": "Incoming (answered)", "outgoing": "Outgoing", "missed": "Missed", "voicemail": "Voicemail",
    "rejected": "Rejected by the rep", "answered_externally": "Answered on another device",
}
HINTS = {
    "name": "Enter the organisation's name (up to 200 characters).",
    "region": "Choose a region: a two-letter code such as IN or GB.",
    "timezone": "Choose a time zone from the list, such as Asia/Kolkata.",
    "call_types": f"Choose among: {', '.join(LEAD_RULE_TYPES)}.",
    "min_duration_s": "Enter whole seconds, from 0 to 3600.",
    "days": "Choose at least one working day.",
    "start": "Use HH:MM on the 24-hour clock, such as 09:00.",
    "end": "Use HH:MM on the 24-hour clock, such as 18:00.",
    "repeat_caller_threshold": "Enter a whole number of calls, from 1 to 100.",
    "queue_alert_threshold": "Enter a whole number of leads, from 1 to 100000.",
    "number": "Enter a phone number, such as +91 80 4000 1234.",
    "source": "Enter a source of 1 to 100 characters, such as “Newspaper ad”.",
    "valid_from": "Use a date such as 2026-12-01, or leave it empty.",
    "valid_to": "Use a date such as 2026-12-31, or leave it empty.",
    "owner_id": "Choose a teammate, or nobody.",
    "device_id": "Choose one of your organisation's phones.",
    "retention_days": "Enter a number of days from 30 to 3650 (ten years).",
    "consent_text": "The text may be up to 20,000 characters.",
    "consent_policy_version": "Enter a version of 1 to 32 characters, such as 2026-12-01.",
    "key_name": "Enter a name of 1 to 100 characters, such as “Office PBX”.",
}


def _optional(form, name: str):
    value = form.get(name, "").strip()
    return value or None


# --- form → the API's body ---------------------------------------------------

def organization_body(form) -> dict:
    return {"name": form.get("name", ""), "region": form.get("region", ""), "timezone": _optional(form, "timezone")}


def auto_leads_body(form) -> dict:
    hours = None
    if form.get("business_hours") == "set":
        hours = {"days": form.getlist("days"), "start": form.get("start", ""), "end": form.get("end", "")}
    return {"auto_leads": {
        "enabled": form.get("enabled") == ON, "call_types": form.getlist("call_types"),
        "min_duration_s": form.get("min_duration_s", ""), "skip_device_contacts": form.get("skip_device_contacts") == ON,
        "business_hours": hours, "repeat_caller_threshold": form.get("repeat_caller_threshold", ""),
        "queue_alert_threshold": form.get("queue_alert_threshold", "")}}


def check_auto_leads(body: dict) -> None:
    """A rule the schema leaves open: office hours need a working day."""
    hours = body["auto_leads"].get("business_hours")
    if hours is not None and not hours["days"]:
        raise ValidationError({"auto_leads": {"business_hours": {"days": [HINTS["days"]]}}})


def tracking_row(form) -> dict:
    return {"number": form.get("number", ""), "source": form.get("source", ""),
            "valid_from": _optional(form, "valid_from"), "valid_to": _optional(form, "valid_to"),
            "owner_id": _optional(form, "owner_id")}


def stored_tracking(settings: dict) -> list[dict]:
    """The stored tracking numbers as the schema takes them back."""
    return [{key: row.get(key) for key in ("number", "source", "valid_from", "valid_to", "owner_id")}
            for row in settings.get("tracking_numbers") or []]


def check_tracking_dates(rows: list[dict]) -> None:
    problems = {index: {"valid_to": ["The last day must be on or after the first day."]} for index, row in enumerate(rows)
                if row.get("valid_from") and row.get("valid_to") and row["valid_to"] < row["valid_from"]}
    if problems:
        raise ValidationError({"tracking_numbers": problems})


def retention_body(form) -> dict:
    return {"retention_days": form.get("retention_days", ""),
            "keep_phone_contacts": form.get("keep_phone_contacts") == ON}


def consent_body(form, policy: dict) -> dict:
    """The override; the default text (or none) and the default version are stored as no override.
    A changed text must come with a new version: each phone's consent records the version it agreed to."""
    text = form.get("consent_text", "").replace("\r\n", "\n").strip()
    version = form.get("consent_policy_version", "").strip()
    if text and text != policy["text"] and version == policy["version"]:
        raise ValidationError({"consent_policy_version": [
            "The text changed: give it a new version, so each phone's consent says which text it agreed to."]})
    return {"consent_text": None if text in ("", DEFAULT_POLICY_TEXT) else text,
            "consent_policy_version": None if version in ("", DEFAULT_POLICY_VERSION) else version}


# --- what each form shows ----------------------------------------------------

def current_values(settings: dict, stored_timezone: str | None, policy: dict) -> dict:
    """Every form filled with the saved settings (the add forms empty)."""
    rules = settings["auto_leads"]
    hours = rules.get("business_hours") or {}
    return {
        "organization": {"name": settings["name"], "region": settings["region"], "timezone": stored_timezone or ""},
        "auto_leads": {"enabled": rules["enabled"], "call_types": list(rules["call_types"]),
                       "min_duration_s": rules["min_duration_s"], "skip_device_contacts": rules["skip_device_contacts"],
                       "business_hours": "set" if rules.get("business_hours") else "any",
                       "days": list(hours.get("days", (0, 1, 2, 3, 4))), "start": hours.get("start", "09:00"),
                       "end": hours.get("end", "18:00"), "repeat_caller_threshold": rules["repeat_caller_threshold"],
                       "queue_alert_threshold": rules["queue_alert_threshold"]},
        "tracking": {"number": "", "source": "", "valid_from": "", "valid_to": "", "owner_id": ""},
        "campaign": {"device_id": "", "source": ""},
        "retention": {"retention_days": settings["retention_days"],
                      "keep_phone_contacts": settings["keep_phone_contacts"]},
        "consent": {"consent_text": policy["text"], "consent_policy_version": policy["version"]},
        "api_keys": {"key_name": ""},
    }


def submitted_values(section: str, form) -> dict:
    """What was sent, to show again beside the complaints."""
    values = {name: form.get(name, "") for name in form}
    if section == "auto_leads":
        values.update(call_types=form.getlist("call_types"), enabled=form.get("enabled") == ON,
                      skip_device_contacts=form.get("skip_device_contacts") == ON,
                      days=[int(d) for d in form.getlist("days") if d.isdigit()],
                      business_hours="set" if form.get("business_hours") == "set" else "any")
    if section == "retention":
        values["keep_phone_contacts"] = form.get("keep_phone_contacts") == ON
    return values


# --- complaints → one sentence per field ----------------------------------------

def _leaves(messages, path=()):
    if isinstance(messages, dict):
        for key, value in messages.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(messages, list) and messages and all(isinstance(m, str) for m in messages):
        yield path, messages[0]
    elif isinstance(messages, str):
        yield path, messages


def field_errors(messages, *, own_words: bool = False, row: int | None = None) -> dict[str, str]:
    """{field: sentence} from marshmallow's (or the domain's) nested messages.
    A row's messages (tracking numbers) count only with `row` given: that row's.
    `own_words`: the messages are the domain's, already meant for people."""
    out: dict[str, str] = {}
    for path, message in _leaves(messages):
        indexes = [int(p) for p in path if isinstance(p, int) or (isinstance(p, str) and p.isdigit())]
        names = [p for p in path if isinstance(p, str) and not p.isdigit()]
        if row is not None and indexes[:1] != [row]:
            continue
        name = names[-1] if names else "form"
        if name in ("_schema", "auto_leads", "business_hours", "tracking_numbers") and names:
            name = "form"
        if name not in out:
            out[name] = message if own_words or name not in HINTS else HINTS[name]
    return out


def other_rows(messages) -> list[int]:
    """The rows (0-based) of tracking numbers a complaint is about."""
    rows = messages.get("tracking_numbers", {}) if isinstance(messages, dict) else {}
    return sorted(int(k) for k in rows if isinstance(k, int) or str(k).isdigit()) if isinstance(rows, dict) else []
