"""GET /metrics shows what an operator needs: latency, ingest rows, pushes."""
import re

from tests.phone_data import call_row


def test_metrics_report_requests_ingest_and_pushes(make_org, make_user, make_device, client):
    rep = make_device(make_user(make_org(region="IN")))
    rep.post("/api/v1/sync/calls", device=True, json={"batch_id": "m", "calls": [call_row(1), call_row(1)]})
    rep.post("/api/v1/calls/ringing", device=True, json={"number": "+91 98765 43210"})
    text = client.get("/metrics").data.decode()
    assert 'callsync_request_seconds_count{endpoint="/api/v1/sync/calls",method="POST",status="200"}' in text
    assert 'callsync_ingest_rows_total{kind="calls",result="accepted"}' in text
    assert 'callsync_push_outcomes_total{kind="ringing",status="sink"}' in text
    assert 'callsync_push_messages{status="sink"}' in text
    labels = " ".join(re.findall(r"\{[^}]*\}", text))  # values are floats: digits there mean nothing
    assert "98765" not in labels and "+91" not in labels


def test_metrics_can_require_a_token(client, clean_app):
    clean_app.config["METRICS_TOKEN"] = "s3cret"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer s3cret"}).status_code == 200
