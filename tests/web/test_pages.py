"""The manager's pages through the Flask test client: sign-in and sessions,
CSRF, roles, the queue's filters, every review action, tenant isolation and
escaping."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from tests.api.test_caller_id import add_contact
from tests.phone_data import call_row
from tests.web.conftest import csrf_of, sign_in, upload_calls

ASHA, KIRAN, NEW = "+91 98765 43210", "+91 91234 56789", "+91 90000 12345"


def lead_ids(client, admin) -> dict[str, int]:
    """Lead ids by E.164 number, through the API."""
    items = admin.get("/api/v1/leads").json["items"]
    return {item["phone"]: item["id"] for item in items}


def api_lead(admin, lead_id: int) -> dict:
    response = admin.get(f"/api/v1/leads/{lead_id}")
    assert response.status_code == 200, response.json
    return response.json


def rows_on(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr id="lead-(\d+)"', html)]


def post_action(client, path: str, back: str = "/review", **data):
    return client.post(path, data={"csrf_token": csrf_of(client, back), "next": back, **data})


@pytest.fixture
def seeded(client, page_team, clock):
    """Three auto-created leads: two from Ravi's calls (one a day earlier), one from Sita's."""
    admin, manager, ravi, sita = page_team
    clock.set(datetime(2026, 11, 19, 9, 0, tzinfo=timezone.utc))
    upload_calls(ravi, [call_row(1, ASHA, name="Asha Rao"), call_row(2, ASHA, type_=3, duration=0)])
    clock.set(datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc))
    upload_calls(ravi, [call_row(3, KIRAN, name="Kiran Kumar")], batch="b2")
    upload_calls(sita, [call_row(4, NEW)], batch="b3")
    ids = lead_ids(client, admin)
    return page_team, {"asha": ids["+919876543210"], "kiran": ids["+919123456789"], "new": ids["+919000012345"]}


@pytest.fixture
def signed_in(client, seeded):
    (admin, manager, ravi, sita), ids = seeded
    response = sign_in(client, manager.email)
    assert response.status_code == 302 and response.headers["Location"] == "/review"
    return (admin, manager, ravi, sita), ids


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


# --- the queue and its filters ----------------------------------------------

def test_rows_show_name_formatted_phone_source_owner_created_and_calls(client, signed_in):
    _, ids = signed_in
    html = client.get("/review").get_data(as_text=True)
    row = html.split(f'id="lead-{ids["asha"]}"')[1].split("</tr>")[0]
    assert "Asha Rao" in row and "+91 98765 43210" in row and "phone_call" in row and "Ravi Rep" in row
    assert "19 Nov 2026, 14:30" in row  # 09:00 UTC, in the IN organisation's zone (Asia/Kolkata)
    assert '<td data-label="Calls" class="num">2</td>' in row


def test_filters_by_status_owner_source_and_date(client, clean_app, signed_in):
    (admin, _, ravi, sita), ids = signed_in
    assert admin.post(f"/api/v1/leads/{ids['kiran']}/approve").status_code == 200
    assert admin.patch(f"/api/v1/leads/{ids['new']}", json={"source": "Expo 2026"}).status_code == 200

    def shown(query):
        response = client.get("/review" + query)
        assert response.status_code == 200
        return set(rows_on(response.get_data(as_text=True)))

    assert shown("") == {ids["asha"], ids["new"]}  # pending review by default
    assert shown("?status=approved") == {ids["kiran"]}
    assert shown("?status=all") == set(ids.values())
    assert shown(f"?status=all&owner_id={ravi.user_id}") == {ids["asha"], ids["kiran"]}
    assert shown(f"?owner_id={sita.user_id}") == {ids["new"]}
    assert shown("?status=all&source=Expo+2026") == {ids["new"]}
    assert shown("?status=all&since=2026-11-20") == {ids["kiran"], ids["new"]}
    assert shown("?status=all&since=2026-11-21") == set()
    # The form keeps what was chosen.
    html = client.get(f"/review?status=approved&owner_id={ravi.user_id}&since=2026-11-20").get_data(as_text=True)
    assert '<option value="approved" selected>' in html
    assert f'<option value="{ravi.user_id}" selected>' in html and 'value="2026-11-20"' in html


def test_the_created_since_date_is_read_in_the_organisations_time_zone(client, signed_in):
    (admin, _, _, _), ids = signed_in
    # Kiran's lead was made at 09:00 UTC on 20 Nov, which is 20 Nov in Kolkata but Asha's
    # (09:00 UTC on 19 Nov) is not; in Auckland (UTC+13) 20 Nov begins at 11:00 UTC on the 19th.
    assert admin.patch("/api/v1/settings", json={"timezone": "Pacific/Auckland"}).status_code == 200
    html = client.get("/review?status=all&since=2026-11-20").get_data(as_text=True)
    assert set(rows_on(html)) == {ids["kiran"], ids["new"]}
    html = client.get("/review?status=all&since=2026-11-19").get_data(as_text=True)
    assert set(rows_on(html)) == set(ids.values())
    assert "19 Nov 2026, 22:00" in html  # Asha's 09:00 UTC, shown in Auckland time


def test_a_filter_that_is_not_understood_is_dropped_with_a_notice(client, signed_in):
    _, ids = signed_in
    response = client.get("/review?status=bogus&since=yesterday&owner_id=x")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "Ignored a filter" in html
    assert set(rows_on(html)) == {ids["asha"], ids["kiran"], ids["new"]}


def test_the_queue_pages_by_fifty(client, page_team):
    admin, manager, ravi, _ = page_team
    upload_calls(ravi, [call_row(i, f"+91 90000 {10000 + i}") for i in range(1, 53)])
    sign_in(client, manager.email)
    first = client.get("/review?owner_id=%d" % ravi.user_id).get_data(as_text=True)
    assert len(rows_on(first)) == 50
    assert f'href="/review?page=2&amp;owner_id={ravi.user_id}"' in first and "Newer" not in first
    second = client.get(f"/review?page=2&owner_id={ravi.user_id}").get_data(as_text=True)
    assert len(rows_on(second)) == 2 and "Newer" in second and "Older" not in second
    assert not set(rows_on(first)) & set(rows_on(second))


# --- the actions ------------------------------------------------------------

def test_approve_from_the_queue(client, signed_in):
    (admin, _, _, _), ids = signed_in
    response = post_action(client, f"/leads/{ids['asha']}/approve")
    assert response.status_code == 302 and response.headers["Location"] == "/review"
    html = client.get("/review").get_data(as_text=True)
    assert f"Lead #{ids['asha']} approved." in html
    assert ids["asha"] not in rows_on(html)  # left the pending queue
    assert api_lead(admin, ids["asha"])["status"] == "approved"


def test_reject_as_spam_from_the_queue(client, signed_in):
    (admin, _, _, _), ids = signed_in
    response = post_action(client, f"/leads/{ids['asha']}/reject", reason="spam")
    assert response.status_code == 302
    assert f"Lead #{ids['asha']} rejected (spam)." in client.get("/review").get_data(as_text=True)
    lead = api_lead(admin, ids["asha"])
    assert (lead["status"], lead["reject_reason"]) == ("rejected", "spam")
    html = client.get("/review?status=rejected").get_data(as_text=True)
    assert rows_on(html) == [ids["asha"]] and "(spam)" in html


def test_reject_needs_a_known_reason(client, signed_in):
    (admin, _, _, _), ids = signed_in
    post_action(client, f"/leads/{ids['asha']}/reject", reason="boring")
    assert "please check reason" in client.get("/review").get_data(as_text=True)
    assert api_lead(admin, ids["asha"])["status"] == "pending_review"


def test_merge_into_a_contact_moves_the_calls(client, clean_app, signed_in):
    (admin, _, _, _), ids = signed_in
    contact_id = add_contact(clean_app, admin.organization_id, "Asha Rao (customer)", "+91 99999 00000")
    response = post_action(client, f"/leads/{ids['asha']}/merge", into_type="contact", into_id=str(contact_id))
    assert response.status_code == 302
    html = client.get("/review?status=merged").get_data(as_text=True)
    assert f"Lead #{ids['asha']} merged into contact #{contact_id}." in html
    assert f"Merged into contact #{contact_id}" in html
    lead = api_lead(admin, ids["asha"])
    assert (lead["status"], lead["merged_into_type"], lead["merged_into_id"]) == ("merged", "contact", contact_id)
    assert lead["calls"] == []
    caller = admin.get("/api/v1/caller-id", query_string={"number": ASHA}).json
    assert (caller["match"]["record_type"], caller["match"]["record_id"]) == ("contact", contact_id)


def test_merge_into_another_lead(client, signed_in):
    (admin, _, _, _), ids = signed_in
    post_action(client, f"/leads/{ids['asha']}/merge", into_type="lead", into_id=str(ids["kiran"]))
    assert api_lead(admin, ids["asha"])["status"] == "merged"
    target = api_lead(admin, ids["kiran"])
    assert target["calls_count"] == 3 and len(target["calls"]) == 3


def test_merge_into_a_record_that_does_not_exist_says_so_and_changes_nothing(client, signed_in):
    (admin, _, _, _), ids = signed_in
    response = post_action(client, f"/leads/{ids['asha']}/merge", into_type="contact", into_id="999999")
    assert response.status_code == 302
    assert f"Lead #{ids['asha']}: No such contact." in client.get("/review").get_data(as_text=True)
    assert api_lead(admin, ids["asha"])["status"] == "pending_review"


def test_reassign_to_another_rep(client, signed_in):
    (admin, _, _, sita), ids = signed_in
    post_action(client, f"/leads/{ids['asha']}/assign", user_id=str(sita.user_id))
    assert f"Lead #{ids['asha']} reassigned." in client.get("/review").get_data(as_text=True)
    assert api_lead(admin, ids["asha"])["owner_id"] == sita.user_id
    html = client.get(f"/review?owner_id={sita.user_id}").get_data(as_text=True)
    assert ids["asha"] in rows_on(html)


def test_reassign_to_someone_of_another_organisation_is_refused(client, make_org, signed_in):
    (admin, _, _, _), ids = signed_in
    outsider = make_org()
    post_action(client, f"/leads/{ids['asha']}/assign", user_id=str(outsider.user_id))
    assert f"Lead #{ids['asha']}: No such user in your organisation." in client.get("/review").get_data(as_text=True)
    assert api_lead(admin, ids["asha"])["owner_id"] != outsider.user_id


def test_the_lead_page_shows_calls_and_notes_and_takes_a_note(client, signed_in):
    (admin, _, _, _), ids = signed_in
    path = f"/leads/{ids['asha']}"
    html = client.get(path).get_data(as_text=True)
    assert "Asha Rao" in html and "+91 98765 43210" in html
    assert "incoming" in html and "missed" in html and "1:15" in html and "lead created" in html
    assert "No notes yet." in html
    response = post_action(client, f"{path}/notes", back=path, text="Wants a quote for 40 units")
    assert response.status_code == 302 and response.headers["Location"] == path
    html = client.get(path).get_data(as_text=True)
    assert "Wants a quote for 40 units" in html and "Meera Manager" in html
    assert [n["text"] for n in api_lead(admin, ids["asha"])["notes"]] == ["Wants a quote for 40 units"]


def test_actions_on_the_lead_page_come_back_to_it(client, signed_in):
    (admin, _, _, _), ids = signed_in
    path = f"/leads/{ids['kiran']}"
    assert post_action(client, f"{path}/approve", back=path).headers["Location"] == path
    html = client.get(path).get_data(as_text=True)
    assert f"Lead #{ids['kiran']} approved." in html and 'data-status="approved"' in html


def test_an_empty_note_is_not_added(client, signed_in):
    (admin, _, _, _), ids = signed_in
    path = f"/leads/{ids['asha']}"
    post_action(client, f"{path}/notes", back=path, text="   ")
    assert "please check text" in client.get(path).get_data(as_text=True)
    assert api_lead(admin, ids["asha"])["notes"] == []


# --- tenants and escaping ---------------------------------------------------

def test_another_organisations_lead_is_a_404_page(client, make_org, make_user, make_device, signed_in):
    (admin, _, _, _), ids = signed_in
    other_admin = make_org(region="IN")
    other_rep = make_device(make_user(other_admin, name="Other Rep"))
    upload_calls(other_rep, [call_row(9, "+91 95555 55555", name="Their Customer")], batch="o1")
    theirs = other_admin.get("/api/v1/leads").json["items"][0]["id"]

    page = client.get(f"/leads/{theirs}")
    html = page.get_data(as_text=True)
    assert page.status_code == 404 and "Not found" in html and "Their Customer" not in html
    assert page.mimetype == "text/html"
    for action, data in (("approve", {}), ("reject", {"reason": "spam"}), ("assign", {"user_id": "1"}),
                         ("notes", {"text": "hello"})):
        assert post_action(client, f"/leads/{theirs}/{action}", **data).status_code == 404
    assert other_admin.get(f"/api/v1/leads/{theirs}").json["status"] == "pending_review"
    assert theirs not in rows_on(client.get("/review?status=all").get_data(as_text=True))
    # Nor can one of ours be merged into theirs.
    post_action(client, f"/leads/{ids['asha']}/merge", into_type="lead", into_id=str(theirs))
    assert api_lead(admin, ids["asha"])["status"] == "pending_review"


def test_an_unknown_lead_is_a_404_page(client, signed_in):
    response = client.get("/leads/987654")
    assert response.status_code == 404 and response.mimetype == "text/html"


def test_user_text_is_escaped(client, signed_in):
    (admin, _, ravi, _), ids = signed_in
    evil = "<script>alert('x')</script>"
    upload_calls(ravi, [call_row(20, "+91 93333 33333", name=evil)], batch="evil")
    lead_id = lead_ids(client, admin)["+919333333333"]
    post_action(client, f"/leads/{lead_id}/notes", back=f"/leads/{lead_id}", text='<img src=x onerror="alert(1)">')
    for path in ("/review", f"/leads/{lead_id}"):
        html = client.get(path).get_data(as_text=True)
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
        assert "<script>" not in html and "<img src=x" not in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in client.get(f"/leads/{lead_id}").get_data(as_text=True)



def test_push_sink_page_shows_what_would_have_been_sent(client, signed_in, make_org, make_device):
    """Without FCM credentials the new-lead pushes of the seeded calls are in the sink, shown to
    the organisation's managers, with no personal data in them."""
    page = client.get("/push-sink")
    assert page.status_code == 200
    html = page.data.decode()
    assert html.lower().count("new lead") >= 3 and "sink" in html
    assert "98765" not in html and "Asha" not in html
    stranger = make_device(make_org(region="IN"))
    stranger.post("/api/v1/calls/ringing", device=True, json={"number": "+91 98765 43210"})
    assert client.get("/push-sink").data.decode().lower().count("ringing") == 0


def test_the_queue_downloads_what_its_filters_show_as_csv(client, signed_in):
    import csv
    import io

    html = client.get("/review?status=all&q=asha").get_data(as_text=True)
    assert 'href="/leads/export.csv?status=all&amp;q=asha"' in html
    rows = list(csv.DictReader(io.StringIO(client.get("/leads/export.csv?status=all&q=asha").get_data(as_text=True))))
    assert [row["name"] for row in rows] == ["Asha Rao"]
    assert '<a href="/calls">Calls</a>' in html
