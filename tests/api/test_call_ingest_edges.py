"""Edges of call-log ingest: values that once reached the database
unchecked, and bodies the whole-body reader leaves to the general path."""
import json

from tests.phone_data import call_row


def test_an_overlong_extension_is_stored_cut_not_a_server_error(make_org, make_user, make_device, clean_app):
    from sqlalchemy import select

    from server.extensions import db
    from mobile_sync.store.models import Call

    rep = make_device(make_user(make_org(region="IN")))
    raw = "+91 98765 43210;ext=12345678901234567890"
    response = rep.post("/api/v1/sync/calls", device=True, json={"batch_id": "x", "calls": [call_row(1, raw)]})
    assert response.status_code == 200 and response.json["accepted"] == 1
    with clean_app.app_context():
        call = db.session.execute(select(Call)).scalar_one()
        assert (call.e164, call.extension, call.raw_number) == ("+919876543210", "1234567890123456", raw)


def test_a_country_code_too_long_in_capitals_is_stored_as_sent_not_a_server_error(make_org, make_user, make_device,
                                                                                   clean_app):
    rep = make_device(make_user(make_org(region="IN")))
    rows = [call_row(1, countryiso="\ufb03"), call_row(2, countryiso="a\u00df"), call_row(3, countryiso="\u00df")]
    response = _upload(rep, {"batch_id": "x", "calls": rows})
    assert response.status_code == 200 and response.json["accepted"] == 3
    assert [c.countryiso for c in _stored(clean_app)] == ["\ufb03", "a\u00df", "SS"]  # SS: South Sudan


def _upload(actor, body: dict, **kw):
    return actor.post("/api/v1/sync/calls", device=True, json=body, **kw)


def _stored(app) -> list:
    from sqlalchemy import select

    from server.extensions import db
    from mobile_sync.store.models import Call

    with app.app_context():
        return db.session.execute(select(Call).order_by(Call.android_id)).scalars().all()


def test_a_body_with_one_bad_row_stores_the_good_rows_and_names_the_bad_one(make_org, make_user, make_device,
                                                                            clean_app):
    rep = make_device(make_user(make_org(region="IN")))
    rows = [call_row(1), call_row(2, name="Asha\x00"), call_row(3, type_=True), call_row(4, " 98765 43210 "),
            {**call_row(5), "duration": 7.0}, call_row(6)]
    response = _upload(rep, {"batch_id": "x", "calls": rows})
    assert response.status_code == 200 and response.json["accepted"] == 3
    assert [(r["index"], r["code"]) for r in response.json["rejected"]] == [
        (1, "invalid_row"), (2, "invalid_row"), (4, "invalid_row")]
    assert "NUL" in response.json["rejected"][0]["message"]
    assert [(c.android_id, c.raw_number, c.e164) for c in _stored(clean_app)] == [
        (1, "098765 43210", "+919876543210"), (4, "98765 43210", "+919876543210"), (6, "098765 43210", "+919876543210")]


def test_a_call_is_stored_the_same_whether_its_body_was_read_whole_or_row_by_row(make_org, make_user, make_device,
                                                                                 clean_app):
    rep = make_device(make_user(make_org(region="IN")))

    def row(i):
        return {**call_row(i, " +44 20 7946 0958;ext=12 ", countryiso="gb", name="  Ms Lee ", via=" 020 7946 0000",
                           date=1_763_622_000_123),
                "subscription_id": " 89 ", "e164": "+10000000000", "number_status": "forged", "new_column": [1]}

    from mobile_sync.call_rows import read_call_batch

    assert read_call_batch(json.dumps({"batch_id": " a ", "calls": [row(1)]}).encode()) is not None
    whole = _upload(rep, {"batch_id": " a ", "calls": [row(1)]})
    by_row = _upload(rep, {"batch_id": "b", "calls": [row(2), {"_id": 3, "date": 1, "type": "x"}]})
    assert whole.json["accepted"] == by_row.json["accepted"] == 1
    columns = ("date_ms", "started_at", "duration_s", "call_type", "presentation", "raw_number", "e164",
               "number_status", "extension", "countryiso", "cached_name", "via_number", "via_e164", "subscription_id",
               "last_modified_ms")
    first, second = ({c: getattr(call, c) for c in columns} for call in _stored(clean_app))
    assert first == second
    assert (first["raw_number"], first["e164"], first["number_status"], first["extension"]) == (
        "+44 20 7946 0958;ext=12", "+442079460958", "ok", "12")
    assert (first["countryiso"], first["cached_name"], first["via_number"], first["subscription_id"]) == (
        "GB", "Ms Lee", "020 7946 0000", "89")
    assert first["via_e164"] == "+442079460000"
    assert first["started_at"].isoformat() == "2025-11-20T07:00:00.123000+00:00"


def test_a_calls_body_is_still_judged_as_json_before_any_row(make_org, make_user, make_device, clean_app):
    rep = make_device(make_user(make_org(region="IN")))
    body = {"batch_id": "x", "calls": [call_row(1)]}
    wrong_type = rep.post("/api/v1/sync/calls", device=True, data=json.dumps(body), content_type="text/plain")
    assert wrong_type.status_code == 415
    for envelope in ({**body, "more": 1}, {**body, "batch_id": "  "}, {"batch_id": "x"}):
        response = _upload(rep, envelope)
        assert response.status_code == 422 and response.json["error"]["code"] == "invalid_fields"
    assert _stored(clean_app) == []
