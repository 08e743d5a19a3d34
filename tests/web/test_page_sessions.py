"""The manager's pages through the Flask test client: signing in and out,
sessions, cookies, roles, the access audit and CSRF."""
from __future__ import annotations

from datetime import datetime, timezone

from tests.web.conftest import csrf_of, sign_in
from tests.web.queue_data import api_lead, rows_on


# --- signing in and out ----------------------------------------------------

def test_pages_need_a_signed_in_manager(client):
    response = client.get("/review?status=approved")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/review?status%3Dapproved"
    assert client.get("/leads/1").status_code == 302
    login = client.get("/login")
    assert login.status_code == 200 and "Sign in" in login.get_data(as_text=True)


def test_manager_signs_in_sees_the_queue_and_signs_out(client, signed_in):
    (_, manager, _, _), ids = signed_in
    page = client.get("/review")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Meera Manager" in html
    assert rows_on(html) == [ids["new"], ids["kiran"], ids["asha"]]  # newest first
    assert client.post("/logout", data={"csrf_token": csrf_of(client, "/review")}).status_code == 302
    assert client.get("/review").status_code == 302
    assert "You are signed out." in client.get("/login").get_data(as_text=True)


def test_sign_in_returns_to_the_page_asked_for_but_never_off_site(client, seeded):
    (_, manager, _, _), ids = seeded
    assert sign_in(client, manager.email, next=f"/leads/{ids['asha']}").headers["Location"] == f"/leads/{ids['asha']}"
    client.post("/logout", data={"csrf_token": csrf_of(client, "/review")})
    for evil in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        assert sign_in(client, manager.email, next=evil).headers["Location"] == "/review"
        client.post("/logout", data={"csrf_token": csrf_of(client, "/review")})


def test_wrong_password_is_refused_and_repeated_failures_are_throttled(client, clean_app, page_team):
    _, manager, _, _ = page_team
    clean_app.config["LOGIN_MAX_FAILURES"] = 2
    first = sign_in(client, manager.email, password="wrong")
    assert first.status_code == 401 and "password is wrong" in first.get_data(as_text=True)
    assert sign_in(client, manager.email, password="wrong").status_code == 401
    throttled = sign_in(client, manager.email)  # even the right password waits now
    assert throttled.status_code == 429 and throttled.headers["Retry-After"]
    assert "Too many failed logins" in throttled.get_data(as_text=True)
    assert client.get("/review").status_code == 302
    # The API shares the same counter: it is the same throttle.
    api = client.post("/api/v1/auth/login", json={"email": manager.email, "password": "x"})
    assert api.status_code == 429


def test_a_rep_is_told_the_pages_are_for_managers(client, page_team):
    _, _, ravi, _ = page_team
    response = sign_in(client, ravi.email)
    html = response.get_data(as_text=True)
    assert response.status_code == 403 and "for managers and admins" in html
    assert client.get("/review").status_code == 302


def test_an_admin_may_review_too(client, seeded):
    (admin, _, _, _), _ = seeded
    assert sign_in(client, admin.email).status_code == 302
    assert client.get("/review").status_code == 200


def test_web_sign_in_hands_out_no_live_bearer_token(client, clean_app, page_team):
    from sqlalchemy import select

    from server.extensions import db
    from mobile_sync.store.models import AccessToken

    _, manager, _, _ = page_team
    sign_in(client, manager.email)
    with clean_app.app_context():
        tokens = db.session.execute(select(AccessToken).where(AccessToken.user_id == manager.user_id,
                                                              AccessToken.device_id.is_(None))
                                    .order_by(AccessToken.id)).scalars().all()
    assert [t.revoked_at is None for t in tokens] == [True, False]  # the fixture's API token, the page's


def test_a_page_cookie_does_not_open_the_api_and_a_token_does_not_open_a_page(clean_app, signed_in):
    (_, manager, _, _), _ = signed_in
    assert manager.client.get("/api/v1/leads").status_code == 401  # the cookie alone
    stranger = clean_app.test_client()
    response = stranger.get("/review", headers={"Authorization": f"Bearer {manager.token}"})
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_a_changed_password_disabled_account_or_lost_role_ends_the_session(client, clean_app, signed_in):
    from mobile_sync.passwords import hash_password
    from server.extensions import db
    from mobile_sync.store.models import User

    (_, manager, _, _), _ = signed_in

    def change(**values):
        with clean_app.app_context():
            user = db.session.get(User, manager.user_id)
            for key, value in values.items():
                setattr(user, key, value)
            db.session.commit()

    change(password_hash=hash_password("a new password entirely"))
    assert client.get("/review").status_code == 302
    assert sign_in(client, manager.email, password="a new password entirely").status_code == 302
    change(role="rep")
    assert client.get("/review").status_code == 302
    change(role="manager")
    assert sign_in(client, manager.email, password="a new password entirely").status_code == 302
    change(disabled_at=datetime(2026, 11, 20, tzinfo=timezone.utc))
    assert client.get("/review").status_code == 302


def test_session_cookie_is_httponly_lax_and_secure_behind_https(client, database_url, tmp_path):
    from tests.conftest import build_test_app

    cookie = client.get("/login").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    https_app = build_test_app(database_url, str(tmp_path), PUBLIC_BASE_URL="https://crm.example.com")
    cookie = https_app.test_client().get("/login").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie


def test_page_reads_go_into_the_access_audit(client, clean_app, signed_in):
    from sqlalchemy import select

    from server.extensions import db
    from mobile_sync.store.models import AccessEvent

    (_, manager, _, _), ids = signed_in
    client.get("/review")
    client.get(f"/leads/{ids['asha']}")
    with clean_app.app_context():
        events = db.session.execute(select(AccessEvent).where(AccessEvent.actor_user_id == manager.user_id)
                                    .order_by(AccessEvent.id)).scalars().all()
    assert [(e.action, e.object_type, e.object_id, e.count) for e in events] == [
        ("lead.list", "lead", None, 3), ("lead.read", "lead", ids["asha"], None)]


def test_pages_are_not_cached_nor_framed(client, signed_in):
    response = client.get("/review")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


# --- CSRF --------------------------------------------------------------------

def test_a_post_without_the_sessions_csrf_token_is_refused(client, clean_app, signed_in):
    (admin, manager, _, _), ids = signed_in
    path = f"/leads/{ids['asha']}/approve"
    missing = client.post(path, data={"next": "/review"})
    assert missing.status_code == 400 and "This form has expired" in missing.get_data(as_text=True)
    assert client.post(path, data={"csrf_token": "forged", "next": "/review"}).status_code == 400
    # Another browser's valid token is not this session's token.
    other = clean_app.test_client()
    assert client.post(path, data={"csrf_token": csrf_of(other, "/login")}).status_code == 400
    assert api_lead(admin, ids["asha"])["status"] == "pending_review"
    assert client.post("/logout").status_code == 400
    assert client.get("/review").status_code == 200  # still signed in


def test_the_sign_in_form_needs_its_csrf_token_too(client, page_team):
    _, manager, _, _ = page_team
    response = client.post("/login", data={"email": manager.email, "password": "correct horse battery staple"})
    assert response.status_code == 400
    assert client.get("/review").status_code == 302


def test_signing_in_replaces_the_anonymous_csrf_token(client, page_team):
    _, manager, _, _ = page_team
    before = csrf_of(client, "/login")
    client.post("/login", data={"csrf_token": before, "email": manager.email,
                                "password": "correct horse battery staple"})
    assert csrf_of(client, "/review") != before
