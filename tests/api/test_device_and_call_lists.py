"""GET /devices and GET /calls: who sees what, the fields, the time range."""
import pytest

from tests.phone_data import call_row


def upload(actor, rows, batch="b1"):
    response = actor.post("/api/v1/sync/calls", device=True, json={"batch_id": batch, "calls": rows})
    assert response.status_code == 200 and not response.json["rejected"], response.json
    return response


@pytest.fixture
def team(make_org, make_user, make_device):
    admin = make_org(region="IN")
    manager = make_user(admin, "manager")
    rep = make_device(make_user(admin, "rep"))
    other_rep = make_device(make_user(admin, "rep"))
    stranger = make_device(make_org(region="IN"))  # another organisation's admin and phone
    return {"admin": admin, "manager": manager, "rep": rep, "other_rep": other_rep, "stranger": stranger}


# ------------------------------------------------------------------ devices


def test_managers_and_admins_see_every_phone_of_their_organisation_and_no_other(team):
    mine = {team["rep"].device_id, team["other_rep"].device_id}
    for who in ("admin", "manager"):
        items = team[who].get("/api/v1/devices").json["items"]
        assert {d["device_id"] for d in items} == mine, who


def test_a_rep_sees_only_their_own_phones(team):
    rep = team["rep"]
    assert [d["device_id"] for d in rep.get("/api/v1/devices").json["items"]] == [rep.device_id]
    other = rep.get("/api/v1/devices", query_string={"user_id": team["other_rep"].user_id}).json
    assert other == {"items": [], "next_page": None}


def test_user_id_filters_and_another_organisations_user_gives_nothing(team):
    admin = team["admin"]
    only = admin.get("/api/v1/devices", query_string={"user_id": team["other_rep"].user_id}).json["items"]
    assert [d["device_id"] for d in only] == [team["other_rep"].device_id]
    stranger = admin.get("/api/v1/devices", query_string={"user_id": team["stranger"].user_id})
    assert stranger.status_code == 200 and stranger.json["items"] == []


def test_a_phone_is_listed_with_its_consent_uploads_and_push_state(team, client):
    rep = team["rep"]
    before = team["admin"].get("/api/v1/devices", query_string={"user_id": rep.user_id}).json["items"][0]
    assert before["last_upload_at"] is None and before["health"] is None
    upload(rep, [call_row(1)])
    item = team["admin"].get("/api/v1/devices", query_string={"user_id": rep.user_id}).json["items"][0]
    version = client.get("/api/v1/consent/policy").json["version"]
    assert item == {
        "device_id": rep.device_id, "user_id": rep.user_id, "model": "Pixel 8", "app_version": "1.0.0",
        "consent": {"contacts": True, "call_log": True, "policy_version": version},
        "last_upload_at": item["last_upload_at"], "last_seen_at": item["last_seen_at"],
        "push": "token", "sealed": False, "health": None, "health_reported_at": None, "phone_account_ids": [],
        "silent": False, "silent_since": None}
    assert item["last_upload_at"].endswith("+00:00") and item["last_seen_at"] >= item["last_upload_at"]


def test_push_shows_an_installation_id_a_missing_address_and_a_sealing_key(team, make_device):
    admin = team["admin"]
    make_device(admin, consent=False, fcm_token=None, fcm_fid="fid-1", push_public_key="CQ" + "A" * 41 + "=")
    by_user = admin.get("/api/v1/devices", query_string={"user_id": admin.user_id}).json["items"]
    assert [(d["push"], d["sealed"], d["consent"]["call_log"]) for d in by_user] == [("fid", True, False)]
    team["rep"].patch(f"/api/v1/devices/{team['rep'].device_id}", device=True, json={"fcm_token": None})
    rep_item = admin.get("/api/v1/devices", query_string={"user_id": team["rep"].user_id}).json["items"][0]
    assert rep_item["push"] is None


def test_a_revoked_phone_is_not_listed(team):
    rep = team["rep"]
    assert rep.delete(f"/api/v1/devices/{rep.device_id}").status_code == 204
    assert rep.get("/api/v1/devices").json["items"] == []


def test_listing_phones_takes_a_fixed_number_of_statements(team, make_device, clean_app):
    from sqlalchemy import event

    from server.extensions import db

    admin = team["admin"]
    for _ in range(4):
        make_device(admin)

    def count(limit):
        statements = []
        with clean_app.app_context():
            engine = db.engine
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            response = admin.get("/api/v1/devices", query_string={"limit": limit})
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        assert response.status_code == 200
        return len(statements)

    assert count(1) == count(6)


# ------------------------------------------------------------------ calls


def test_managers_see_the_organisations_calls_newest_first_and_reps_their_own(team):
    upload(team["rep"], [call_row(1, "+91 98765 43210"), call_row(2, "+44 20 7946 0958", countryiso="GB")])
    upload(team["other_rep"], [call_row(3, "+91 98765 43211", type_=2)])
    upload(team["stranger"], [call_row(4, "+91 98765 43212")])
    for who in ("admin", "manager"):
        items = team[who].get("/api/v1/calls").json["items"]
        assert [c["number"] for c in items] == ["+919876543211", "+442079460958", "+919876543210"], who
    rep_items = team["rep"].get("/api/v1/calls").json["items"]
    assert {c["user_id"] for c in rep_items} == {team["rep"].user_id} and len(rep_items) == 2
    assert team["rep"].get("/api/v1/calls", query_string={"user_id": team["other_rep"].user_id}).json["items"] == []
    stranger = team["admin"].get("/api/v1/calls", query_string={"user_id": team["stranger"].user_id}).json
    assert stranger["items"] == []


def test_a_call_has_its_number_type_time_and_the_record_it_is_linked_to(team):
    rep = team["rep"]
    lead = rep.post("/api/v1/leads", json={"name": "Asha", "phone": "+91 98765 43210"}).json
    upload(rep, [call_row(1, "+91 98765 43210", type_=3, duration=0), call_row(2, "", presentation=2)])
    items = team["manager"].get("/api/v1/calls").json["items"]
    withheld, missed = items
    assert missed == {"id": missed["id"], "user_id": rep.user_id, "device_id": rep.device_id,
                      "number": "+919876543210", "type": "missed", "duration_s": 0,
                      "started_at": "2025-11-20T07:01:00+00:00", "record_type": "lead", "record_id": lead["id"],
                      "outcome": missed["outcome"]}
    assert withheld["number"] is None and withheld["record_type"] is None


def test_from_and_to_take_dates_in_the_organisations_time_zone_and_times(team):
    rep = team["rep"]
    # 2025-11-20 07:00 UTC + n minutes; the organisation (IN) is at +05:30.
    upload(rep, [call_row(n, f"+91 98765 4321{n}") for n in range(1, 4)])
    manager = team["manager"]

    def numbers(**query):
        response = manager.get("/api/v1/calls", query_string=query)
        assert response.status_code == 200, response.json
        return [c["number"][-1] for c in response.json["items"]]

    assert numbers(**{"from": "2025-11-20", "to": "2025-11-20"}) == ["3", "2", "1"]
    assert numbers(**{"from": "2025-11-21"}) == []
    assert numbers(to="2025-11-19") == []
    assert numbers(**{"from": "2025-11-20T07:02:00Z"}) == ["3", "2"]
    assert numbers(to="2025-11-20T12:32:00+05:30") == ["2", "1"]
    assert numbers(**{"from": "2025-11-20T12:32:00"}) == ["3", "2"]  # no offset: the organisation's time


@pytest.mark.parametrize("query", [{"from": "2025-11-21", "to": "2025-11-20"},
                                   {"from": "2025-11-20T10:00:00Z", "to": "2025-11-20T09:59:59Z"},
                                   {"from": "2025-11-21T00:00:00+05:30", "to": "2025-11-20"}])
def test_a_reversed_range_is_422(team, query):
    response = team["manager"].get("/api/v1/calls", query_string=query)
    assert response.status_code == 422 and "to" in response.json["error"]["fields"]


@pytest.mark.parametrize("value", ["yesterday", "2025-13-01", "0001-01-01", "9999-12-31T23:59:59-23:59"])
def test_a_time_that_is_not_one_is_422(team, value):
    response = team["manager"].get("/api/v1/calls", query_string={"from": value})
    assert response.status_code == 422 and "from" in response.json["error"]["fields"]


def test_the_call_log_page_reads_the_organisation_and_start_time_index(team, clean_app):
    from zoneinfo import ZoneInfo

    from mobile_sync.call_log import calls_query
    from server.extensions import db

    upload(team["rep"], [call_row(n, f"+91 98765 4321{n}") for n in range(1, 4)])
    query = calls_query(organization_id=team["admin"].organization_id, tz=ZoneInfo("Asia/Kolkata"),
                        from_=None, to=None).limit(51)
    with clean_app.app_context():
        with db.engine.connect() as conn:
            sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SET enable_seqscan = off")
                plan = "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + sql))
            else:
                plan = "\n".join(str(row[-1]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
            conn.rollback()
    assert "ix_calls_org_started" in plan, plan
