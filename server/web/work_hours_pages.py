"""Time zone and office hours in the browser: your own on `/account`, and a
teammate's on `/team/users/<id>/hours` (admins).

The zone decides how every page shows times to that user; office hours are
read in it (mobile_sync.office_hours) by the auto-lead rules and reports.
The form is loaded with the API's own schema and saved by the API's domain
functions (`update_profile`, `update_user`), so both accept the same values.
"""
from __future__ import annotations


from flask import flash, g, redirect, render_template, request, url_for
from marshmallow import EXCLUDE, ValidationError

from mobile_sync import accounts
from mobile_sync.errors import ServiceError, forbidden
from mobile_sync.office_hours import DAY_NAMES, describe_hours
from mobile_sync.org_settings import effective_settings
from mobile_sync.roles import ADMIN
from mobile_sync.timezones import zone_choices
from schemas.accounts import UserUpdateSchema
from server.clock import now
from server.extensions import db
from server.jobs import queue_user_reports_rebuild

HOURS_FIELDS = ("timezone", "office_hours")
HINTS = {
    "timezone": "Choose a time zone from the list.",
    "office_hours": "Pick at least one day, and a start and end time (HH:MM).",
}


def register(bp) -> None:
    bp.add_url_rule("/account/hours", "my_hours", my_hours, methods=["POST"])
    bp.add_url_rule("/team/users/<int:user_id>/hours", "member_hours", member_hours, methods=["GET", "POST"])


def hours_form_context(user, errors: dict | None = None, form: dict | None = None) -> dict:
    """What `_hours_form.html` shows for `user`: the zones to pick from, the
    organisation's zone (the default), and the values in the form."""
    organization_zone = effective_settings(user.organization)["timezone"]
    hours = user.office_hours or {}
    values = form or {
        "timezone": user.timezone or "",
        "hours_set": "yes" if user.office_hours else "no",
        "days": [str(day) for day in hours.get("days", (0, 1, 2, 3, 4))],
        "start": hours.get("start", "09:00"), "end": hours.get("end", "18:00"),
    }
    return {"subject": user, "zones": zone_choices(), "organization_zone": organization_zone,
            "day_names": DAY_NAMES, "hours_text": describe_hours(user.office_hours), "values": values,
            "hours_errors": errors or {}}


def read_hours_form(form) -> tuple[dict, dict]:
    """The posted zone and hours as the API's body, plus the raw values to show again."""
    values = {"timezone": form.get("timezone", "").strip(), "hours_set": form.get("hours_set", "no"),
              "days": form.getlist("days"), "start": form.get("start", "").strip(),
              "end": form.get("end", "").strip()}
    body = {"timezone": values["timezone"] or None, "office_hours": None}
    if values["hours_set"] == "yes":
        body["office_hours"] = {"days": values["days"], "start": values["start"], "end": values["end"]}
    return body, values


def _load(form) -> tuple[dict | None, dict, dict]:
    body, values = read_hours_form(form)
    try:
        return UserUpdateSchema(only=HOURS_FIELDS, unknown=EXCLUDE).load(body), {}, values
    except ValidationError as err:
        messages = err.messages if isinstance(err.messages, dict) else {}
        return None, {name: HINTS.get(name, "Check this field.") for name in messages}, values


def my_hours():
    """Save your own zone and office hours from the account page."""
    body, errors, values = _load(request.form)
    if errors:
        return render_template("web/account.html", errors={}, **hours_form_context(g.web_user, errors, values)), 422
    accounts.update_profile(db.session, g.web_user, body, now())
    db.session.commit()
    queue_user_reports_rebuild(g.web_user.organization_id, g.web_user.id, body)  # the office-hours share
    flash("Your time zone and office hours are saved.", "ok")
    return redirect(url_for("web.account"))


def member_hours(user_id: int):
    """An admin sets a teammate's zone and office hours."""
    if g.web_user.role != ADMIN:
        raise forbidden("Only an admin can change a teammate's time zone and office hours.")
    member = accounts.get_user(db.session, user_id)  # another organisation's user: 404 page
    if request.method == "GET":
        return render_template("web/member_hours.html", **hours_form_context(member))
    body, errors, values = _load(request.form)
    if errors:
        return render_template("web/member_hours.html", **hours_form_context(member, errors, values)), 422
    try:
        accounts.update_user(db.session, g.web_user, member.id, body, now())
    except ServiceError as err:
        db.session.rollback()
        return render_template("web/member_hours.html",
                               **hours_form_context(member, {"form": err.message}, values)), err.status
    db.session.commit()
    queue_user_reports_rebuild(member.organization_id, member.id, body)  # the office-hours share
    flash(f"{member.name}'s time zone and office hours are saved.", "ok")
    return redirect(url_for("web.member_hours", user_id=member.id))
