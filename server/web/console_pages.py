"""The team console: `/team` (teammates, roles, access, invitations) and
`/devices` (every registered phone, its consent and push state, revoking it).

Views of the pages' blueprint (`register` adds them in server/web/views.py),
so its CSRF check, session login and error pages apply. Admins act; a
manager sees both pages read-only. Each action calls the API's domain
function, commits once, then sends any e-mail.
"""
from __future__ import annotations

from flask import current_app, flash, g, redirect, render_template, request, url_for
from marshmallow import EXCLUDE, ValidationError

from mobile_sync import accounts, devices, invites, sync_health, team
from mobile_sync.errors import ServiceError
from mobile_sync.org_settings import effective_settings
from mobile_sync.roles import ADMIN, ROLES
from schemas.accounts import InviteCreateSchema, UserUpdateSchema
from server.clock import now
from server.extensions import db
from server.mail import send_email
from server.web.page_access import allow_admins, allow_reviewers

FIELD_HINTS = {
    "email": "Enter an e-mail address, such as name@example.com.",
    "role": f"Choose a role: {', '.join(ROLES)}.",
}
ROLE_NOTES = {
    "admin": "everything, including the team, settings and phones",
    "manager": "reviews leads and sees the team and phones",
    "rep": "uses the phone app only",
}


def register(bp) -> None:
    bp.add_url_rule("/team", "team", team_page)
    bp.add_url_rule("/team/invites", "invite_teammate", invite_teammate, methods=["POST"])
    bp.add_url_rule("/team/invites/<int:invite_id>/resend", "resend_invite", resend_invite, methods=["POST"])
    bp.add_url_rule("/team/invites/<int:invite_id>/withdraw", "withdraw_invite", withdraw_invite,
                    methods=["POST"])
    bp.add_url_rule("/team/users/<int:user_id>/role", "change_role", change_role, methods=["POST"])
    bp.add_url_rule("/team/users/<int:user_id>/access", "change_access", change_access, methods=["POST"])
    bp.add_url_rule("/devices", "devices", devices_page)
    bp.add_url_rule("/devices/<int:device_id>/revoke", "revoke_device", revoke_device, methods=["GET", "POST"])


def _zone_label() -> str:
    return getattr(g.web_tz, "key", None) or "UTC"


# --- the team ---------------------------------------------------------------

def team_page():
    """Teammates with role, access, phones and latest sign-in; pending invitations; the invite form."""
    allow_reviewers()
    return _render_team({}, {"email": "", "role": "rep"})


def _render_team(errors: dict, form: dict, status: int = 200):
    organization_id = g.web_user.organization_id
    page = render_template("web/team.html", members=team.team_members(db.session, organization_id),
                           pending=team.pending_invites(db.session, organization_id, now()), errors=errors,
                           form=form, roles=ROLES, role_notes=ROLE_NOTES, can_edit=g.web_user.role == ADMIN,
                           zone_label=_zone_label())
    return page, status


def invite_teammate():
    """Invite a teammate with a role; the e-mail goes out once the invite is committed."""
    allow_admins("change the team or its phones")
    form = {"email": request.form.get("email", "").strip(), "role": request.form.get("role", "")}
    try:
        body = InviteCreateSchema(unknown=EXCLUDE).load(form)
    except ValidationError as err:
        fields = err.messages if isinstance(err.messages, dict) else {}
        return _render_team({name: FIELD_HINTS.get(name, "Check this field.") for name in fields}, form, 422)
    try:
        created = invites.create_invite(db.session, inviter=g.web_user, email=body["email"], role=body["role"],
                                        now=now(), ttl_hours=current_app.config["INVITE_TTL_HOURS"])
    except ServiceError as err:
        db.session.rollback()
        return _render_team({"email" if err.code == "email_taken" else "form": err.message}, form, err.status)
    db.session.commit()
    _send_invite(created, body["email"])
    return redirect(url_for("web.team"))


def _send_invite(created: invites.NewInvite, email: str) -> None:
    """E-mail the committed invite's link, record how it went, and say so."""
    cfg = current_app.config
    subject, text = invites.render_invite_email(
        organization_name=g.web_user.organization.name, inviter_name=g.web_user.name,
        link=f"{cfg['PUBLIC_BASE_URL'].rstrip('/')}/invite?token={created.token}",
        expires_at=created.invite.expires_at, address_has_account=created.address_has_account)
    created.invite.delivery = send_email(cfg, to=email, subject=subject, body=text, purpose="invite")
    db.session.commit()
    if created.invite.delivery == "failed":
        flash(f"The invitation to {email} is saved, but the e-mail could not be sent. Try “Resend” later.",
              "error")
    else:
        flash(f"Invitation sent to {email} as {created.invite.role}.", "ok")


def resend_invite(invite_id: int):
    """A new link for a pending invitation; the old link stops working."""
    allow_admins("change the team or its phones")
    created = team.resend_invite(db.session, inviter=g.web_user, invite_id=invite_id, now=now(),
                                 ttl_hours=current_app.config["INVITE_TTL_HOURS"])
    email = created.invite.email
    db.session.commit()
    _send_invite(created, email)
    return redirect(url_for("web.team"))


def withdraw_invite(invite_id: int):
    """Withdraw an invitation: its link stops working and the address is forgotten."""
    allow_admins("change the team or its phones")
    invites.withdraw_invite(db.session, invite_id, now())
    db.session.commit()
    flash("The invitation is withdrawn; its link no longer works.", "ok")
    return redirect(url_for("web.team"))


def _update_user(user_id: int, form: dict, done: str):
    """Change a teammate through the API's schema and domain function; the
    outcome, or why not, as a message on the team page."""
    allow_admins("change the team or its phones")
    user = accounts.get_user(db.session, user_id)  # another organisation's user: 404 page
    try:
        body = UserUpdateSchema(only=tuple(form), unknown=EXCLUDE).load(form)
        accounts.update_user(db.session, g.web_user, user.id, body, now())
        db.session.commit()
    except ValidationError as err:
        db.session.rollback()
        fields = err.messages if isinstance(err.messages, dict) else {}
        flash(f"{user.name}: " + " ".join(FIELD_HINTS.get(name, "Check this field.") for name in fields), "error")
    except ServiceError as err:
        db.session.rollback()
        flash(f"{user.name}: {err.message}", "error")
    else:
        flash(done.format(name=user.name, role=user.role), "ok")
    return redirect(url_for("web.team"))


def change_role(user_id: int):
    return _update_user(user_id, {"role": request.form.get("role", "")}, "{name} is now {role}.")


def change_access(user_id: int):
    disabled = request.form.get("disabled", "")
    done = "{name} is disabled and signed out everywhere." if disabled == "true" else "{name} can sign in again."
    return _update_user(user_id, {"disabled": disabled}, done)


# --- the phones -------------------------------------------------------------

def devices_page():
    """Every registered phone: owner, model, app, consent, uploads, push address, health."""
    allow_reviewers()
    owners = {user.id: user for user in accounts.list_users(db.session)}
    phones = team.phones(db.session, g.web_user.organization_id)
    sync_health.add_silence(db.session, g.web_user.organization, phones, now())
    return render_template("web/devices.html", phones=phones, owners=owners,
                           silent_after_hours=effective_settings(g.web_user.organization)["silent_after_hours"], can_edit=g.web_user.role == ADMIN, zone_label=_zone_label())


def revoke_device(device_id: int):
    """GET: what revoking the phone does, and the button; POST: revoke it."""
    allow_admins("change the team or its phones")
    device = devices.owned_device(db.session, device_id, user=g.web_user, allow_admin=True)
    owner = accounts.get_user(db.session, device.user_id)
    if request.method == "GET":
        return render_template("web/revoke_device.html", device=device, owner=owner)
    devices.revoke_device(db.session, device, now())
    db.session.commit()
    flash(f"{device.model or 'The phone'} of {owner.name} is revoked: it is signed out and gets no more pushes.",
          "ok")
    return redirect(url_for("web.devices"))
