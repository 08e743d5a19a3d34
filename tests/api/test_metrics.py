"""GET /metrics shows what an operator needs: latency, ingest rows, pushes;
in production only to the holder of METRICS_TOKEN, and at a cost that does
not grow with the data."""
import re

from tests.phone_data import call_row


def push_rows(app) -> int:
    from sqlalchemy import func, select

    from server.extensions import db
    from mobile_sync.store.models import PushMessage

    with app.app_context():
        return db.session.execute(select(func.count()).select_from(PushMessage)
                                  .execution_options(all_organizations=True)).scalar_one()


def test_metrics_report_requests_ingest_and_pushes(make_org, make_user, make_device, client, clean_app):
    rep = make_device(make_user(make_org(region="IN")))
    rep.post("/api/v1/sync/calls", device=True, json={"batch_id": "m", "calls": [call_row(1), call_row(1)]})
    rep.post("/api/v1/calls/ringing", device=True, json={"number": "+91 98765 43210"})
    text = client.get("/metrics").data.decode()
    assert 'callsync_request_seconds_count{endpoint="/api/v1/sync/calls",method="POST",status="200"}' in text
    assert 'callsync_ingest_rows_total{kind="calls",result="accepted"}' in text
    assert 'callsync_push_outcomes_total{kind="ringing",status="sink"}' in text
    kept = re.search(r"^callsync_push_messages_kept ([0-9.e+]+)$", text, re.M)
    assert kept and float(kept.group(1)) == push_rows(clean_app) > 0
    labels = " ".join(re.findall(r"\{[^}]*\}", text))  # values are floats: digits there mean nothing
    assert "98765" not in labels and "+91" not in labels


def test_metrics_can_require_a_token(client, clean_app):
    clean_app.config["METRICS_TOKEN"] = "s3cret"
    refused = client.get("/metrics")
    assert refused.status_code == 401 and refused.json["error"]["code"] == "unauthorized"
    assert refused.headers["WWW-Authenticate"] == "Bearer"
    assert client.get("/metrics", headers={"Authorization": "Bearer s3cre"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_in_production_metrics_do_not_exist_without_a_token(client, clean_app):
    clean_app.config["APP_ENV"] = "production"
    response = client.get("/metrics")
    assert response.status_code == 404 and response.json["error"]["code"] == "not_found"
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404


def test_in_production_metrics_need_their_token(client, clean_app):
    clean_app.config.update({"APP_ENV": "production", "METRICS_TOKEN": "prod-metrics-token"})
    assert client.get("/metrics").status_code == 401
    ok = client.get("/metrics", headers={"Authorization": "Bearer prod-metrics-token"})
    assert ok.status_code == 200 and b"callsync_push_messages_kept" in ok.data


def test_a_scrape_counts_no_rows(make_org, make_user, make_device, client, clean_app):
    """Counting the push table took 0.5 s a scrape at 3M rows: a scrape reads
    no more than the ends of its primary key."""
    from sqlalchemy import event

    from server.extensions import db

    rep = make_device(make_user(make_org(region="IN")))
    for _ in range(3):
        rep.post("/api/v1/calls/ringing", device=True, json={"number": "+91 98765 43210"})
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(statement.lower())

    with clean_app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        text = client.get("/metrics").data.decode()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert "callsync_push_messages_kept 3.0" in text
    assert statements and not [s for s in statements if "count(" in s or "group by" in s]
