"""Edges of call-log ingest that once reached the database unchecked."""
from tests.phone_data import call_row


def test_an_overlong_extension_is_stored_cut_not_a_server_error(make_org, make_user, make_device, clean_app):
    from sqlalchemy import select

    from server.extensions import db
    from server.models import Call

    rep = make_device(make_user(make_org(region="IN")))
    raw = "+91 98765 43210;ext=12345678901234567890"
    response = rep.post("/api/v1/sync/calls", device=True, json={"batch_id": "x", "calls": [call_row(1, raw)]})
    assert response.status_code == 200 and response.json["accepted"] == 1
    with clean_app.app_context():
        call = db.session.execute(select(Call)).scalar_one()
        assert (call.e164, call.extension, call.raw_number) == ("+919876543210", "1234567890123456", raw)
