"""The admin's `/webhooks`: endpoints (add, edit events, enable or disable,
rotate the secret, test send, remove) and each one's delivery log with
redelivery. Plain forms (no scripts); the same domain functions as the API
(`mobile_sync.webhooks.endpoints`), committed once; a new secret is shown on
the answer to the form that made it, never again."""
from __future__ import annotations

from flask import current_app, flash, g, redirect, render_template, request, url_for
from marshmallow import ValidationError

from mobile_sync.errors import ServiceError
from mobile_sync.webhooks import endpoints
from mobile_sync.webhooks.event_types import EVENT_TYPES
from schemas.webhooks import WebhookCreateSchema, WebhookUpdateSchema
from server.clock import now
from server.extensions import db
from server.webhook_delivery import install_hook
from server.web.page_access import allow_admins

WEBHOOKS = "manage the organisation's webhooks"

STATUS_WORDS = {"pending": "Waiting to retry", "delivered": "Delivered", "failed": "Failed",
                "cancelled": "Not sent (withdrawn)"}


def register(bp) -> None:
    install_hook()
    bp.add_url_rule("/webhooks", "webhooks", webhooks_page, methods=["GET"])
    bp.add_url_rule("/webhooks", "webhook_create", create_webhook, methods=["POST"])
    bp.add_url_rule("/webhooks/<int:webhook_id>", "webhook", webhook_page, methods=["GET"])
    bp.add_url_rule("/webhooks/<int:webhook_id>", "webhook_update", update_webhook, methods=["POST"])
    bp.add_url_rule("/webhooks/<int:webhook_id>/test", "webhook_test", test_webhook, methods=["POST"])
    bp.add_url_rule("/webhooks/<int:webhook_id>/rotate-secret", "webhook_rotate", rotate_webhook, methods=["POST"])
    bp.add_url_rule("/webhooks/<int:webhook_id>/delete", "webhook_delete", delete_webhook, methods=["POST"])
    bp.add_url_rule("/webhooks/<int:webhook_id>/deliveries/<int:delivery_id>/redeliver", "webhook_redeliver",
                    redeliver_webhook, methods=["POST"])


def _url_options() -> dict:
    return {"allow_loopback": bool(current_app.config.get("WEBHOOK_ALLOW_LOOPBACK")),
            "resolve": current_app.extensions.get("webhook_resolver")}


def _page() -> int:
    value = request.args.get("page", "1")
    return min(int(value), 10_000) if value.isdigit() and int(value) > 0 else 1


def _form_errors(messages: dict) -> dict[str, str]:
    errors = {}
    for name, problems in messages.items():
        text = problems[0] if isinstance(problems, list) and problems else "This value is not valid."
        if isinstance(problems, dict):
            text = "Choose event types from the list."
        errors[name if name in ("url", "events", "active") else "form"] = str(text)
    return errors


def _render_list(*, errors=None, values=None, secret=None, status=200):
    items, next_page = endpoints.list_endpoints(db.session, g.web_user.organization_id, limit=50, page=_page())
    db.session.commit()
    return render_template("web/webhooks.html", items=items, next_page=next_page, page=_page(),
                           event_types=EVENT_TYPES, errors=errors or {}, values=values or {}, secret=secret), status


def _render_endpoint(webhook_id: int, *, errors=None, values=None, secret=None, status=200):
    org_id = g.web_user.organization_id
    endpoint = endpoints.get_endpoint(db.session, org_id, webhook_id)
    deliveries, next_page = endpoints.list_deliveries(db.session, org_id, webhook_id, limit=50, page=_page())
    db.session.commit()
    shown = {"url": endpoint.url, "events": list(endpoint.events or []), "active": endpoint.active}
    shown.update(values or {})
    return render_template("web/webhooks_endpoint.html", endpoint=endpoint, deliveries=deliveries,
                           next_page=next_page, page=_page(), event_types=EVENT_TYPES, shown=shown,
                           errors=errors or {}, secret=secret, status_words=STATUS_WORDS), status


def webhooks_page():
    allow_admins(WEBHOOKS)
    return _render_list()


def create_webhook():
    allow_admins(WEBHOOKS)
    values = {"url": request.form.get("url", ""), "events": request.form.getlist("events")}
    try:
        body = WebhookCreateSchema().load(values)
        endpoint, secret = endpoints.create_endpoint(
            db.session, g.web_user.organization_id, url=body["url"], events=body["events"],
            sealing_key=current_app.config["SECRETS_KEY"], now=now(), **_url_options())
    except ValidationError as err:
        db.session.rollback()
        return _render_list(errors=_form_errors(err.messages), values=values, status=422)
    except ServiceError as err:
        db.session.rollback()
        return _render_list(errors=_form_errors(err.fields or {"form": [err.message]}), values=values,
                            status=err.status)
    db.session.commit()
    return _render_endpoint(endpoint.id, secret=secret, status=201)


def webhook_page(webhook_id: int):
    allow_admins(WEBHOOKS)
    return _render_endpoint(webhook_id)


def update_webhook(webhook_id: int):
    allow_admins(WEBHOOKS)
    values = {"url": request.form.get("url", ""), "events": request.form.getlist("events"),
              "active": request.form.get("active") == "true"}
    try:
        changes = WebhookUpdateSchema().load(values)
        endpoints.update_endpoint(db.session, g.web_user.organization_id, webhook_id, changes, now=now(),
                                  **_url_options())
    except ValidationError as err:
        db.session.rollback()
        return _render_endpoint(webhook_id, errors=_form_errors(err.messages), values=values, status=422)
    except ServiceError as err:
        if err.status == 404:
            raise
        db.session.rollback()
        return _render_endpoint(webhook_id, errors=_form_errors(err.fields or {"form": [err.message]}),
                                values=values, status=err.status)
    db.session.commit()
    flash("Saved.", "ok")
    return redirect(url_for("web.webhook", webhook_id=webhook_id))


def test_webhook(webhook_id: int):
    allow_admins(WEBHOOKS)
    endpoints.send_test(db.session, g.web_user.organization_id, webhook_id, now())
    db.session.commit()
    flash("A test event is on its way: its outcome shows in the delivery log below.", "ok")
    return redirect(url_for("web.webhook", webhook_id=webhook_id))


def rotate_webhook(webhook_id: int):
    allow_admins(WEBHOOKS)
    secret = endpoints.rotate_secret(db.session, g.web_user.organization_id, webhook_id,
                                     sealing_key=current_app.config["SECRETS_KEY"], now=now())
    db.session.commit()
    return _render_endpoint(webhook_id, secret=secret)


def delete_webhook(webhook_id: int):
    allow_admins(WEBHOOKS)
    endpoints.delete_endpoint(db.session, g.web_user.organization_id, webhook_id)
    db.session.commit()
    flash("The endpoint is removed, with its delivery log.", "ok")
    return redirect(url_for("web.webhooks"))


def redeliver_webhook(webhook_id: int, delivery_id: int):
    allow_admins(WEBHOOKS)
    endpoints.redeliver(db.session, g.web_user.organization_id, webhook_id, delivery_id, now())
    db.session.commit()
    flash("The delivery is sent again, with the same webhook-id.", "ok")
    return redirect(url_for("web.webhook", webhook_id=webhook_id))
