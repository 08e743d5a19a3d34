"""The admin's `/integrations`: connect or disconnect HubSpot and Pipedrive
(the token checked, then shown only by its last 4 characters), the rules,
the status, "Pull now", and each CRM's push log. Plain forms (no scripts);
the same domain functions as the API (`mobile_sync.crm.connections`)."""
from __future__ import annotations

from flask import current_app, flash, g, redirect, render_template, request, url_for
from marshmallow import ValidationError

from mobile_sync.crm import connections
from mobile_sync.crm.registry import label
from mobile_sync.errors import ServiceError
from mobile_sync.store.crm_pushes import PUSHED_TYPES, list_pushes
from schemas.integrations import IntegrationSaveSchema, IntegrationUpdateSchema
from server.clock import now
from server.crm_delivery import install_hook, make_client, queue_pull_after_commit
from server.extensions import db
from server.web.page_access import allow_admins

INTEGRATIONS = "manage the organisation's integrations"

STATUS_WORDS = {"pending": "Waiting", "delivered": "Logged", "failed": "Failed", "cancelled": "Not sent"}
ERROR_WORDS = {"rate_limited": "the CRM asked to wait (rate limit)", "auth_failed": "the token was refused",
               "unavailable": "the CRM did not answer", "refused": "the CRM refused it",
               "erased": "the number was erased", "withdrawn": "the phone's consent was withdrawn",
               "deleted": "deleted since", "disconnected": "disconnected", "not_sent": "a call type not sent",
               "import_failed": "the import failed", "token_unreadable": "the token cannot be read: save it again"}


def register(bp) -> None:
    install_hook()
    bp.add_url_rule("/integrations", "integrations", integrations_page, methods=["GET"])
    bp.add_url_rule("/integrations/<crm>/connect", "integration_connect", connect, methods=["POST"])
    bp.add_url_rule("/integrations/<crm>/rules", "integration_rules", save_rules, methods=["POST"])
    bp.add_url_rule("/integrations/<crm>/pull", "integration_pull", pull_now, methods=["POST"])
    bp.add_url_rule("/integrations/<crm>/disconnect", "integration_disconnect", disconnect, methods=["POST"])
    bp.add_url_rule("/integrations/<crm>/pushes", "integration_pushes", pushes_page, methods=["GET"])


def _page() -> int:
    value = request.args.get("page", "1")
    return min(int(value), 10_000) if value.isdigit() and int(value) > 0 else 1


def _rules_from_form() -> dict:
    values = {"call_types": request.form.getlist("call_types"), "push_leads": request.form.get("push_leads") == "true"}
    for name in ("min_duration_s", "pull_every_h"):
        raw = request.form.get(name, "").strip()
        if raw:  # left empty: unchanged (or the default)
            values[name] = int(raw) if raw.lstrip("-").isdigit() and len(raw) < 10 else raw
    return values


def _errors(messages: dict) -> dict[str, str]:
    out = {}
    for name, problems in messages.items():
        text = problems[0] if isinstance(problems, list) and problems else "This value is not valid."
        if isinstance(problems, dict):
            text = "Choose call types from the list."
        out[name if name in ("token", "call_types", "min_duration_s", "pull_every_h") else "form"] = str(text)
    return out


def _render(*, errors=None, values=None, status=200):
    org_id = g.web_user.organization_id
    moment = now()
    items = connections.describe_all(db.session, org_id, moment)
    db.session.commit()
    return render_template("web/integrations.html", items=items, pushed_types=PUSHED_TYPES, errors=errors or {},
                           values=values or {}, error_words=ERROR_WORDS,
                           defaults=connections.DEFAULT_RULES), status


def integrations_page():
    allow_admins(INTEGRATIONS)
    return _render()


def connect(crm: str):
    allow_admins(INTEGRATIONS)
    connections.known_crm(crm)
    values = {"token": request.form.get("token", ""), **_rules_from_form()}
    try:
        body = IntegrationSaveSchema().load(values)
        connections.connect(db.session, g.web_user.organization_id, crm, body, make_client=make_client,
                            sealing_key=current_app.config["SECRETS_KEY"], now=now())
    except ValidationError as err:
        db.session.rollback()
        return _render(errors={crm: _errors(err.messages)}, values={crm: values}, status=422)
    except ServiceError as err:
        db.session.rollback()
        return _render(errors={crm: _errors(err.fields or {"form": [err.message]})}, values={crm: values},
                       status=err.status)
    db.session.commit()
    flash(f"{label(crm)} is connected: the token works, and calls are logged there from now on.", "ok")
    return redirect(url_for("web.integrations"))


def save_rules(crm: str):
    allow_admins(INTEGRATIONS)
    connections.known_crm(crm)
    values = _rules_from_form()
    try:
        body = IntegrationUpdateSchema().load(values)
        connections.change_rules(db.session, g.web_user.organization_id, crm, body, now())
    except ValidationError as err:
        db.session.rollback()
        return _render(errors={crm: _errors(err.messages)}, values={crm: values}, status=422)
    db.session.commit()
    flash(f"{label(crm)}: rules saved.", "ok")
    return redirect(url_for("web.integrations"))


def pull_now(crm: str):
    allow_admins(INTEGRATIONS)
    try:
        connection_id = connections.ask_pull(db.session, g.web_user.organization_id, crm, now())
    except ServiceError as err:
        if err.status == 404:
            raise
        db.session.rollback()
        flash(err.message, "error")
        return redirect(url_for("web.integrations"))
    queue_pull_after_commit(db.session, connection_id)
    db.session.commit()
    flash(f"{label(crm)}: the pull is on its way; its people appear in Contacts as it goes.", "ok")
    return redirect(url_for("web.integrations"))


def disconnect(crm: str):
    allow_admins(INTEGRATIONS)
    connections.disconnect(db.session, g.web_user.organization_id, crm)
    db.session.commit()
    flash(f"{label(crm)} is disconnected: its token and push log are removed, and nothing more is sent.", "ok")
    return redirect(url_for("web.integrations"))


def pushes_page(crm: str):
    allow_admins(INTEGRATIONS)
    org_id = g.web_user.organization_id
    connection_id = connections.connection_id(db.session, org_id, crm)
    items, next_page = list_pushes(db.session, org_id, connection_id, 50, _page())
    db.session.commit()
    return render_template("web/integrations_pushes.html", crm=crm, crm_label=label(crm), items=items,
                           next_page=next_page, page=_page(), status_words=STATUS_WORDS, error_words=ERROR_WORDS)
