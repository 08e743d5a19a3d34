"""The admin's `/settings`: the organisation, auto-lead rules, tracking numbers
and campaign phones, retention, the consent text, the suppression list and
API keys. One page, one form per section, each posting to its own URL.

Views of the pages' blueprint (`register` adds them in server/web/views.py),
so its CSRF check, session login and error pages apply. Each form is loaded
with the API's schema and saved by the API's domain function
(`update_settings`, `create_api_key`, ...), committed once; bad input is the
page again with a message beside the field, and nothing stored.
"""
from __future__ import annotations

from functools import lru_cache

import phonenumbers
from flask import current_app, flash, g, redirect, render_template, request, url_for
from marshmallow import EXCLUDE, ValidationError

from mobile_sync import accounts, suppressions, team
from mobile_sync.consent import DEFAULT_POLICY_TEXT, DEFAULT_POLICY_VERSION, current_policy
from mobile_sync.errors import ServiceError
from mobile_sync.office_hours import DAY_NAMES, describe_hours
from mobile_sync.org_settings import effective_settings
from mobile_sync.settings_update import read_settings, update_settings
from mobile_sync.timezones import region_timezone, zone_choices
from schemas.accounts import ApiKeyCreateSchema
from schemas.settings import SettingsSchema
from server.audit import push_pending_events, record_access
from server.auth import Principal
from server.clock import now
from server.extensions import db
from server.jobs import queue_reports_rebuild
from server.web import settings_forms as forms
from server.web.page_access import allow_admins

SETTINGS = "see and change the organisation's settings"

SECTIONS = {"organization": "Organisation", "auto_leads": "Auto-lead rules", "tracking": "Tracking numbers",
            "campaign": "Campaign phones", "retention": "Retention", "consent": "Consent text",
            "suppressions": "Suppression list", "api_keys": "API keys"}


def register(bp) -> None:
    bp.add_url_rule("/settings", "settings", settings_page)
    bp.add_url_rule("/settings/organization", "settings_organization", save_organization, methods=["POST"])
    bp.add_url_rule("/settings/auto-leads", "settings_auto_leads", save_auto_leads, methods=["POST"])
    bp.add_url_rule("/settings/tracking-numbers", "settings_tracking_add", add_tracking_number, methods=["POST"])
    bp.add_url_rule("/settings/tracking-numbers/remove", "settings_tracking_remove", remove_tracking_number,
                    methods=["POST"])
    bp.add_url_rule("/settings/campaign-devices", "settings_campaign", save_campaign_device, methods=["POST"])
    bp.add_url_rule("/settings/campaign-devices/remove", "settings_campaign_remove", remove_campaign_device,
                    methods=["POST"])
    bp.add_url_rule("/settings/retention", "settings_retention", save_retention, methods=["POST"])
    bp.add_url_rule("/settings/consent", "settings_consent", save_consent, methods=["POST"])
    bp.add_url_rule("/settings/consent/revert", "settings_consent_revert", revert_consent, methods=["POST"])
    bp.add_url_rule("/settings/suppressions/<int:suppression_id>/remove", "settings_suppression_remove",
                    remove_suppression, methods=["POST"])
    bp.add_url_rule("/settings/api-keys", "settings_api_key_create", create_api_key, methods=["POST"])
    bp.add_url_rule("/settings/api-keys/<int:key_id>/revoke", "settings_api_key_revoke", revoke_api_key,
                    methods=["POST"])


@lru_cache(maxsize=1)
def _regions() -> tuple[tuple[str, str], ...]:
    return tuple((code, region_timezone(code)) for code in sorted(phonenumbers.SUPPORTED_REGIONS))


def _page_number() -> int:
    page = request.args.get("page", type=int) or 1
    return page if 1 <= page <= 100_000 else 1


def _render(*, errors: dict | None = None, values: dict | None = None, status: int = 200,
            new_key: dict | None = None):
    """The whole page: every section's form filled with the saved settings, or
    with what was sent (`values`) beside the complaints (`errors`)."""
    user = g.web_user
    org_id = user.organization_id
    listed, next_page = suppressions.list_suppressions(db.session, organization_id=org_id, page=_page_number(),
                                                       hash_key=current_app.config["HASH_KEY"])
    # The list names rejected leads and their numbers: a read of client data, into the access audit.
    record_access(Principal(kind="user", organization_id=org_id, user=user), "suppression.list", "suppression",
                  None, len(listed))
    db.session.commit()
    push_pending_events()
    org = user.organization
    settings = read_settings(db.session, org)
    policy = current_policy(org)
    stored_zone = (org.settings or {}).get("timezone")
    shown = forms.current_values(settings, stored_zone, policy)
    shown.update(values or {})
    users = accounts.list_users(db.session)
    phones = team.phones(db.session, org_id)
    page = render_template(
        "web/settings.html", settings=settings, shown=shown, errors=errors or {}, sections=SECTIONS,
        zone_label=getattr(g.web_tz, "key", None) or "UTC", stored_zone=stored_zone,
        region_zone=region_timezone(org.region), zones=zone_choices(), regions=_regions(),
        call_type_names=forms.CALL_TYPE_NAMES, day_names=DAY_NAMES,
        hours_in_words=describe_hours(settings["auto_leads"].get("business_hours")),
        users=users, user_names={u.id: u.name for u in users}, phones=phones,
        phone_names={str(p["device_id"]): _phone_name(p, users) for p in phones},
        policy=policy, default_text=DEFAULT_POLICY_TEXT, default_version=DEFAULT_POLICY_VERSION,
        overridden=bool((org.settings or {}).get("consent_text") or (org.settings or {}).get("consent_policy_version")),
        suppressions=listed, page=_page_number(), next_page=next_page, api_keys=accounts.list_api_keys(db.session),
        new_key=new_key, saved=request.args.get("saved") if request.method == "GET" else None)
    return page, status


def _phone_name(phone: dict, users) -> str:
    owner = next((u.name for u in users if u.id == phone["user_id"]), "a former teammate")
    return f"{phone.get('model') or 'Phone'} of {owner} (#{phone['device_id']})"


def _refused(section: str, errors: dict[str, str], status: int = 422):
    db.session.rollback()
    return _render(errors={section: errors}, values={section: forms.submitted_values(section, request.form)},
                   status=status)


def _done(section: str, message: str):
    flash(message, "ok")
    return redirect(url_for("web.settings", saved=section, _anchor=section))


def _save(section: str, build, done: str, explain=forms.field_errors, check=None):
    """Load what `build` makes of the form with the API's schema, save it with
    `update_settings`, commit; or the page again with the complaints."""
    allow_admins(SETTINGS)
    try:
        body = build()  # the page's own rules: their messages are meant for people already
    except ValidationError as err:
        return _refused(section, explain(err.messages, own_words=True))
    try:
        changes = SettingsSchema().load(body)
    except ValidationError as err:
        return _refused(section, explain(err.messages))
    organization = g.web_user.organization
    zone = effective_settings(organization)["timezone"]
    try:
        if check is not None:
            check(changes)
        saved = update_settings(db.session, organization, changes)
    except ValidationError as err:
        return _refused(section, explain(err.messages, own_words=True))
    except ServiceError as err:
        return _refused(section, explain(err.fields or {"form": [err.message]}, own_words=True), err.status)
    db.session.commit()
    if saved["timezone"] != zone:  # the reports' day buckets follow the zone
        queue_reports_rebuild(organization.id)
    return _done(section, done)


# --- the page and its sections ----------------------------------------------------

def settings_page():
    allow_admins(SETTINGS)
    return _render()


def save_organization():
    return _save("organization", lambda: forms.organization_body(request.form), "The organisation is saved.")


def save_auto_leads():
    return _save("auto_leads", lambda: forms.auto_leads_body(request.form), "The auto-lead rules are saved.",
                 check=forms.check_auto_leads)


def add_tracking_number():
    allow_admins(SETTINGS)
    existing = forms.stored_tracking(read_settings(db.session, g.web_user.organization))
    row = len(existing)

    def explain(messages, own_words=False):
        errors = {name: message.replace("_", " ")  # the domain's "(short_code)"
                  for name, message in forms.field_errors(messages, own_words=own_words, row=row).items()}
        older = [index + 1 for index in forms.other_rows(messages) if index != row]
        if older:
            errors["form"] = (f"Saved tracking number {', '.join(map(str, older))} is no longer valid "
                              f"({'; '.join(forms.field_errors(messages, own_words=True).values())}): "
                              "remove it, then add it again.")
        return errors or {"form": "Check the new tracking number."}

    def check(changes):
        forms.check_tracking_dates(changes["tracking_numbers"])

    return _save("tracking", lambda: {"tracking_numbers": [*existing, forms.tracking_row(request.form)]},
                 "The tracking number is added.", explain=explain, check=check)


def remove_tracking_number():
    allow_admins(SETTINGS)
    existing = forms.stored_tracking(read_settings(db.session, g.web_user.organization))
    index = request.form.get("index", "")
    number = request.form.get("number", "")
    if not (index.isdigit() and int(index) < len(existing) and existing[int(index)]["number"] == number):
        flash("The tracking numbers changed meanwhile; nothing was removed. Check the list and try again.", "error")
        return redirect(url_for("web.settings", _anchor="tracking"))
    kept = existing[:int(index)] + existing[int(index) + 1:]
    return _save("tracking", lambda: {"tracking_numbers": kept}, f"The tracking number {number} is removed.")


def save_campaign_device():
    allow_admins(SETTINGS)
    phones = {str(p["device_id"]) for p in team.phones(db.session, g.web_user.organization_id)}

    def build():
        device_id = request.form.get("device_id", "")
        if device_id not in phones:
            raise ValidationError({"device_id": [forms.HINTS["device_id"]]})
        return {"campaign_devices": {device_id: request.form.get("source", "")}}

    def explain(messages, own_words=False):
        if "device_id" in messages:
            return {"device_id": forms.HINTS["device_id"]}
        return forms.field_errors(messages, own_words=True) if own_words else {"source": forms.HINTS["source"]}

    return _save("campaign", build, "The phone's campaign source is saved.", explain=explain)


def remove_campaign_device():
    """The phone's calls make leads with the usual source again (sent as null: the key goes)."""
    allow_admins(SETTINGS)
    device_id = request.form.get("device_id", "")
    if not device_id.isdigit():
        flash("That phone has no campaign source; nothing was removed.", "error")
        return redirect(url_for("web.settings", _anchor="campaign"))
    return _save("campaign", lambda: {"campaign_devices": {device_id: None}}, "The phone's campaign source is removed.")


def save_retention():
    return _save("retention", lambda: forms.retention_body(request.form), "Retention is saved.")


def save_consent():
    allow_admins(SETTINGS)
    policy = current_policy(g.web_user.organization)
    return _save("consent", lambda: forms.consent_body(request.form, policy),
                 "The consent text is saved; phones show it from now on.")


def revert_consent():
    return _save("consent", lambda: {"consent_text": None, "consent_policy_version": None},
                 "The consent text is the default again.")


def remove_suppression(suppression_id: int):
    """Take a number off the suppression list (written to the access audit)."""
    allow_admins(SETTINGS)
    user = g.web_user
    suppressions.remove_suppression(db.session, organization_id=user.organization_id,
                                    suppression_id=suppression_id)  # another organisation's: 404 page
    record_access(Principal(kind="user", organization_id=user.organization_id, user=user), "suppression.remove",
                  "suppression", suppression_id)
    db.session.commit()
    push_pending_events()
    return _done("suppressions", "The number is off the suppression list: new calls from it are no longer skipped.")


def create_api_key():
    """Make a key and show it on this answer only: it is stored hashed, never shown again."""
    allow_admins(SETTINGS)
    user = g.web_user
    try:
        body = ApiKeyCreateSchema(unknown=EXCLUDE).load({"name": request.form.get("key_name", "")})
    except ValidationError:
        return _refused("api_keys", {"key_name": forms.HINTS["key_name"]})
    key, clear = accounts.create_api_key(db.session, organization_id=user.organization_id, created_by=user.id,
                                         name=body["name"])
    record_access(Principal(kind="user", organization_id=user.organization_id, user=user), "api_key.create",
                  "api_key", key.id)
    db.session.commit()
    push_pending_events()
    return _render(new_key={"id": key.id, "name": key.name, "key": clear})


def revoke_api_key(key_id: int):
    """Revoke a key (written to the access audit, as the API does)."""
    allow_admins(SETTINGS)
    user = g.web_user
    accounts.revoke_api_key(db.session, key_id, now())  # another organisation's, or revoked already: 404 page
    record_access(Principal(kind="user", organization_id=user.organization_id, user=user), "api_key.revoke",
                  "api_key", key_id)
    db.session.commit()
    push_pending_events()
    return _done("api_keys", "The API key is revoked: requests with it are refused from now on.")
