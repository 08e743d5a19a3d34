"""The console's API for the team: pending invites as a list, teammates with
when they were last active, and phones with when they were last seen."""
from __future__ import annotations

from datetime import timedelta

import pytest

from tests.web.conftest import sign_in


def _at(moment) -> str:
    return moment.isoformat()


def _users(admin) -> dict[int, dict]:
    return {u["id"]: u for u in admin.get("/api/v1/users", query_string={"limit": "200"}).json["items"]}


# ------------------------------------------------------------------ invites


def test_an_admin_lists_the_pending_invites_oldest_first(make_org, clock):
    admin = make_org()
    ids = [admin.post("/api/v1/invites", json={"email": f"mate{n}@example.test", "role": role}).json["invite_id"]
           for n, role in enumerate(("rep", "manager", "admin", "rep"))]
    assert admin.delete(f"/api/v1/invites/{ids[3]}").status_code == 204  # withdrawn: not pending
    listed = admin.get("/api/v1/invites")
    assert listed.status_code == 200
    assert listed.json["next_page"] is None
    assert [(i["invite_id"], i["email"], i["role"]) for i in listed.json["items"]] == [
        (ids[0], "mate0@example.test", "rep"), (ids[1], "mate1@example.test", "manager"),
        (ids[2], "mate2@example.test", "admin")]
    first = listed.json["items"][0]
    assert first["expires_at"].endswith("+00:00") and first["expires_at"] > _at(clock.now)

    page = admin.get("/api/v1/invites", query_string={"limit": "2", "page": "2"}).json
    assert [i["invite_id"] for i in page["items"]] == [ids[2]] and page["next_page"] is None


def test_an_expired_or_accepted_invite_is_no_longer_pending(make_org, clock, clean_app):
    admin = make_org()
    admin.post("/api/v1/invites", json={"email": "late@example.test", "role": "rep"})
    clock.advance(hours=clean_app.config["INVITE_TTL_HOURS"] + 1)
    assert admin.get("/api/v1/invites").json["items"] == []


def test_invites_are_the_admins_own_organisations_and_for_admins_only(make_org, make_user):
    admin, other = make_org(), make_org()
    other.post("/api/v1/invites", json={"email": "theirs@example.test", "role": "rep"})
    assert admin.get("/api/v1/invites").json == {"items": [], "next_page": None}
    for role in ("manager", "rep"):
        refused = make_user(admin, role=role).get("/api/v1/invites")
        assert refused.status_code == 403 and refused.json["error"]["code"] == "forbidden", role


@pytest.mark.parametrize("query", [{"email": "x"}, {"limit": "0"}, {"page": "0"}])
def test_a_bad_query_on_invites_is_a_422(make_org, query):
    response = make_org().get("/api/v1/invites", query_string=query)
    assert response.status_code == 422 and set(query) <= set(response.json["error"]["fields"])


# -------------------------------------------------------------- last active


def test_a_teammate_is_last_active_when_their_token_was_last_used_to_within_five_minutes(make_org, make_user,
                                                                                         clock):
    admin = make_org()
    rep = make_user(admin, name="Ravi Rep")
    assert _users(admin)[rep.user_id]["last_active_at"] is None  # never used
    started = clock.now
    assert rep.get("/api/v1/leads").status_code == 200
    assert _users(admin)[rep.user_id]["last_active_at"] == _at(started)
    clock.advance(minutes=4)
    rep.get("/api/v1/leads")
    assert _users(admin)[rep.user_id]["last_active_at"] == _at(started)  # recent enough: not written again
    clock.advance(minutes=2)
    rep.get("/api/v1/leads")
    assert _users(admin)[rep.user_id]["last_active_at"] == _at(clock.now)
    assert admin.get(f"/api/v1/users/{rep.user_id}").json["last_active_at"] == _at(clock.now)
    assert _users(admin)[admin.user_id]["last_active_at"] == _at(clock.now)  # the admin asking is active too


def test_a_phone_in_use_makes_its_user_active_and_its_device_seen(make_org, make_user, make_device, clock):
    admin = make_org()
    rep = make_device(make_user(admin))
    clock.advance(hours=3)
    # The caller-ID look-up only reads (no transaction on PostgreSQL): the time is written all the same.
    assert rep.get("/api/v1/caller-id", device=True, query_string={"number": "+91 98765 43210"}).status_code == 200
    assert _users(admin)[rep.user_id]["last_active_at"] == _at(clock.now)
    [phone] = admin.get("/api/v1/devices", query_string={"user_id": rep.user_id}).json["items"]
    assert phone["last_seen_at"] == _at(clock.now)


def test_the_caller_id_path_writes_nothing_when_the_token_was_used_recently(make_org, make_device, clock,
                                                                           monkeypatch):
    from mobile_sync.store import credentials

    rep = make_device(make_org())
    sent = []
    real = credentials.driver_rows

    def spy(connection, statement, params, **kwargs):
        sent.append(str(statement).split()[0].upper())
        return real(connection, statement, params, **kwargs)

    monkeypatch.setattr(credentials, "driver_rows", spy)
    look_up = lambda: rep.get("/api/v1/caller-id", device=True,  # noqa: E731
                              query_string={"number": "+91 98765 43210"}).status_code
    clock.advance(minutes=10)
    assert look_up() == 200 and sent == ["SELECT", "UPDATE"]
    sent.clear()
    clock.advance(minutes=1)
    assert look_up() == 200 and sent == ["SELECT"]  # the token's own statement, nothing more


def test_a_browser_session_makes_its_user_active(clean_app, make_org, make_user, clock):
    admin = make_org()
    manager = make_user(admin, role="manager", name="Meera Manager")
    browser = clean_app.test_client()
    assert sign_in(browser, manager.email).status_code == 302
    clock.advance(minutes=30)
    assert browser.get("/review").status_code == 200
    assert _users(admin)[manager.user_id]["last_active_at"] == _at(clock.now)
    clock.advance(minutes=1)
    browser.get("/review")
    assert _users(admin)[manager.user_id]["last_active_at"] == _at(clock.now - timedelta(minutes=1))


def test_users_are_the_organisations_own_a_page_at_a_time(make_org, make_user):
    admin, other = make_org(), make_org()
    make_user(other, name="Not Yours")
    mates = [make_user(admin, name=f"Mate {n}").user_id for n in range(3)]
    first = admin.get("/api/v1/users", query_string={"limit": "2"}).json
    second = admin.get("/api/v1/users", query_string={"limit": "2", "page": "2"}).json
    assert [u["id"] for u in first["items"] + second["items"]] == [admin.user_id, *mates]
    assert first["next_page"] == 2 and second["next_page"] is None
    assert admin.get(f"/api/v1/users/{other.user_id}").status_code == 404
    assert admin.get("/api/v1/users", query_string={"role": "rep"}).status_code == 422
