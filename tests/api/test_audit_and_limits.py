"""The access audit records reads of client data (ids, never data) and the
daily request limit answers 429 with a correct Retry-After, then resets."""
from datetime import datetime, timezone

from tests.api.test_caller_id import add_contact
from tests.phone_data import call_row


def test_caller_id_lookups_and_lead_reads_are_audited_without_data(make_org, make_user, make_device, clean_app):
    admin = make_org(region="IN")
    rep = make_device(make_user(admin))
    contact_id = add_contact(clean_app, admin.organization_id, "Asha Rao", "+91 98765 43210")
    rep.get("/api/v1/caller-id", device=True, query_string={"number": "+91 98765 43210"})
    rep.post("/api/v1/sync/calls", device=True, json={"batch_id": "b", "calls": [call_row(1, "+91 91234 56789")]})
    lead_id = rep.get("/api/v1/leads").json["items"][0]["id"]
    rep.get(f"/api/v1/leads/{lead_id}")
    events = admin.get("/api/v1/audit").json["items"]
    seen = [(e["action"], e["object_type"], e["object_id"], e["actor_user_id"]) for e in reversed(events)]
    assert ("caller_id.lookup", "contact", contact_id, rep.user_id) in seen
    assert ("lead.list", "lead", None, rep.user_id) in seen
    assert ("lead.read", "lead", lead_id, rep.user_id) in seen
    device_event = next(e for e in events if e["action"] == "caller_id.lookup")
    assert device_event["device_id"] == rep.device_id and device_event["actor_type"] == "device"
    assert "98765" not in str(events) and "Asha" not in str(events)
    assert rep.get("/api/v1/audit").status_code == 403


def test_audit_goes_through_redis_in_production_mode(make_org, make_user, make_device, clean_app, redis_server):
    import redis

    clean_app.config["REDIS_URL"] = redis_server.url
    clean_app.extensions.pop("redis_client", None)
    connection = redis.Redis.from_url(redis_server.url)
    connection.flushdb()
    try:
        admin = make_org(region="IN")
        add_contact(clean_app, admin.organization_id, "Asha Rao", "+91 98765 43210")
        admin.get("/api/v1/caller-id", query_string={"number": "+91 98765 43210"})
        pending = connection.lrange("audit:pending", 0, -1)
        assert len(pending) == 1 and b"98765" not in pending[0]
        events = admin.get("/api/v1/audit").json["items"]  # flushes first
        assert [e["action"] for e in events] == ["caller_id.lookup"]
        assert connection.llen("audit:pending") == 0
    finally:
        clean_app.extensions.pop("redis_client", None)


def test_daily_limit_answers_429_with_retry_after_and_resets(make_org, clean_app, clock):
    from server.extensions import db
    from mobile_sync.store.models import Organization

    admin = make_org(region="IN")
    with clean_app.app_context():
        org = db.session.get(Organization, admin.organization_id)
        org.settings = {"daily_request_limit": 3}
        db.session.commit()
    clock.set(datetime(2026, 11, 20, 23, 59, 0, tzinfo=timezone.utc))
    assert [admin.get("/api/v1/me").status_code for _ in range(3)] == [200, 200, 200]
    response = admin.get("/api/v1/me")
    assert response.status_code == 429 and response.json["error"]["code"] == "daily_limit_reached"
    assert 60 <= int(response.headers["Retry-After"]) <= 61
    clock.set(datetime(2026, 11, 21, 0, 0, 1, tzinfo=timezone.utc))
    assert admin.get("/api/v1/me").status_code == 200


def test_daily_limit_with_redis_counters(make_org, clean_app, clock, redis_server):
    import redis

    from server.extensions import db
    from mobile_sync.store.models import Organization

    clean_app.config["REDIS_URL"] = redis_server.url
    clean_app.extensions.pop("redis_client", None)
    redis.Redis.from_url(redis_server.url).flushdb()
    try:
        admin = make_org(region="IN")
        with clean_app.app_context():
            org = db.session.get(Organization, admin.organization_id)
            org.settings = {"daily_request_limit": 2}
            db.session.commit()
        assert [admin.get("/api/v1/me").status_code for _ in range(3)] == [200, 200, 429]
    finally:
        clean_app.extensions.pop("redis_client", None)
