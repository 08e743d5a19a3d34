"""Retention and the end of service purge exactly what is due: time is
injected with the clock fixture, never slept."""
from datetime import timedelta

from sqlalchemy import func, select

from tests.phone_data import call_row


def count(app, model, **filters):
    from server.extensions import db

    with app.app_context():
        query = select(func.count()).select_from(model)
        for key, value in filters.items():
            query = query.where(getattr(model, key) == value)
        return db.session.execute(query).scalar_one()


def run_retention(app):
    from server.jobs import run_retention as job

    with app.app_context():
        return job()


def test_calls_older_than_the_retention_are_purged_and_nothing_else(make_org, make_user, make_device, clean_app,
                                                                    clock):
    from mobile_sync.store.models import Call

    admin = make_org(region="IN")
    assert admin.patch("/api/v1/settings", json={"retention_days": 30}).status_code == 200
    rep = make_device(make_user(admin))
    day = 86_400_000
    now_ms = int(clock.now.timestamp() * 1000)
    rows = [call_row(1, date=now_ms - 31 * day), call_row(2, date=now_ms - 29 * day), call_row(3, date=now_ms - day)]
    rep.post("/api/v1/sync/calls", device=True, json={"batch_id": "b", "calls": rows})
    other = make_device(make_user(make_org(region="IN")))  # default retention: 730 days
    other.post("/api/v1/sync/calls", device=True, json={"batch_id": "b", "calls": rows})
    result = run_retention(clean_app)
    assert result["purged_calls"] == 1
    assert count(clean_app, Call, organization_id=rep.organization_id) == 2
    assert count(clean_app, Call, organization_id=other.organization_id) == 3


def test_trial_data_is_deleted_90_days_after_the_trial_with_a_warning_first(make_org, make_device, clean_app, clock,
                                                                           tmp_path):
    from mobile_sync.store.models import Call, Organization, User

    clean_app.config["OUTBOX_DIR"] = str(tmp_path)
    trial = make_device(make_org(region="IN"))
    paying = make_org(region="IN")
    from server.extensions import db

    with clean_app.app_context():
        org = db.session.get(Organization, paying.organization_id)
        org.plan = "team"
        db.session.commit()
        trial_end = db.session.get(Organization, trial.organization_id).trial_ends_at
    clock.set(trial_end + timedelta(days=82))
    assert run_retention(clean_app) == {"purged_calls": 0, "warned": 0, "deleted_organizations": 0}
    clock.set(trial_end + timedelta(days=84))
    assert run_retention(clean_app)["warned"] == 1
    assert len(list(tmp_path.glob("*.eml"))) == 1
    assert run_retention(clean_app)["warned"] == 0  # once
    clock.set(trial_end + timedelta(days=90, seconds=1))
    assert run_retention(clean_app)["deleted_organizations"] == 1
    assert count(clean_app, Organization, id=trial.organization_id) == 0
    assert count(clean_app, User, organization_id=trial.organization_id) == 0
    assert count(clean_app, Call, organization_id=trial.organization_id) == 0
    assert count(clean_app, Organization, id=paying.organization_id) == 1


def test_closing_an_organisation_keeps_export_then_deletes_after_grace(make_org, make_user, clean_app, clock):
    from mobile_sync.store.models import Organization

    admin = make_org(name="Acme Exports", region="IN")
    rep = make_user(admin)
    assert admin.delete("/api/v1/organization", json={"confirm": "wrong"}).status_code == 422
    assert rep.delete("/api/v1/organization", json={"confirm": "Acme Exports"}).status_code == 403
    response = admin.delete("/api/v1/organization", json={"confirm": "Acme Exports"})
    assert response.status_code == 202
    assert response.json["closing_at"].startswith((clock.now + timedelta(days=30)).date().isoformat())
    assert rep.get("/api/v1/leads").json["error"]["code"] == "organization_closing"
    assert admin.get("/api/v1/organization").status_code == 200
    clock.advance(days=29)
    run_retention(clean_app)
    assert count(clean_app, Organization, id=admin.organization_id) == 1
    clock.advance(days=1, seconds=1)
    run_retention(clean_app)
    assert count(clean_app, Organization, id=admin.organization_id) == 0


def test_closing_can_be_cancelled(make_org, clean_app):
    admin = make_org(name="Acme", region="IN")
    admin.delete("/api/v1/organization", json={"confirm": "Acme"})
    response = admin.post("/api/v1/organization/cancel-closing")
    assert response.status_code == 200 and response.json["closing_at"] is None
    assert admin.get("/api/v1/leads").status_code == 200
