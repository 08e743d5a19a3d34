"""The team console through Flask's test client: /team and /devices. An
admin invites, resends, withdraws, changes roles and access, and revokes
phones; a manager only looks; another organisation's ids are 404 pages;
bad input is a message on the form, never a 500."""
from __future__ import annotations

from tests.api.test_invites import LINK, outbox_messages
from tests.web.conftest import csrf_of, sign_in
from tests.web.test_account_pages import page_text


def signed_in(app, actor):
    browser = app.test_client()
    assert sign_in(browser, actor.email).status_code == 302
    return browser


def post(browser, path, **data):
    return browser.post(path, data={"csrf_token": csrf_of(browser, "/team"), **data})


def invite_ids(app, address):
    from mobile_sync.store.models import Invite
    from server.extensions import db

    with app.app_context():
        return [row.id for row in db.session.query(Invite).filter(Invite.email == address).order_by(Invite.id)]


def _row(page: str, kind: str, id_: int) -> str:
    """The table row of one teammate or phone, as text."""
    start = page.index(f'<tr id="{kind}-{id_}">')
    return page[start:page.index("</tr>", start)]


def test_the_team_page_lists_teammates_with_role_phones_and_sign_in_in_the_organisations_zone(
        clean_app, page_team, clock):
    admin, manager, ravi, sita = page_team
    page = page_text(signed_in(clean_app, admin).get("/team"))
    for name in ("Admin Person", "Meera Manager", "Ravi Rep", "Sita Rep"):
        assert name in page
    assert "Last active (Asia/Kolkata)" in page
    # The admin is active now, through this page's session (09:00 UTC); the manager never used a token.
    assert "20 Nov 2026, 14:30 IST" in _row(page, "user", admin.user_id)
    assert "never" in _row(page, "user", manager.user_id)
    assert '<a href="/devices">1</a>' in page  # Ravi's phone
    assert '<label for="f-email">E-mail address</label>' in page and '<label for="f-role">Role</label>' in page
    assert "Change role" in page and "Disable<span class=\"visually-hidden\"> Ravi Rep</span>" in page
    assert '<a href="/team">Team</a>' in page and '<a href="/devices">Devices</a>' in page


def test_an_admin_invites_resends_and_withdraws_by_the_page(clean_app, page_team):
    admin = page_team[0]
    browser = signed_in(clean_app, admin)
    done = post(browser, "/team/invites", email="nina@example.test", role="manager")
    assert (done.status_code, done.headers["Location"]) == (302, "/team")
    page = page_text(browser.get("/team"))
    assert "Invitation sent to nina@example.test as manager." in page and "Pending invitations" in page
    sent = [m for _, m in outbox_messages(clean_app) if m["To"] == "nina@example.test"]  # earlier tests' too
    first = LINK.findall(sent[-1].get_content())[0]

    [invite_id] = invite_ids(clean_app, "nina@example.test")
    assert post(browser, f"/team/invites/{invite_id}/resend").status_code == 302
    mails = [m for _, m in outbox_messages(clean_app) if m["To"] == "nina@example.test"]
    assert len(mails) == len(sent) + 1
    second = LINK.findall(mails[-1].get_content())[0]
    assert clean_app.test_client().get(f"/invite?token={first}").status_code == 410  # the old link is dead
    assert clean_app.test_client().get(f"/invite?token={second}").status_code == 200
    [new_id] = invite_ids(clean_app, "nina@example.test")
    assert new_id != invite_id

    assert post(browser, f"/team/invites/{new_id}/withdraw").status_code == 302
    page = page_text(browser.get("/team"))
    assert "The invitation is withdrawn" in page and "No invitations are waiting" in page
    assert clean_app.test_client().get(f"/invite?token={second}").status_code == 410


def test_bad_invitations_are_messages_on_the_form(clean_app, page_team):
    admin, manager = page_team[:2]
    browser = signed_in(clean_app, admin)
    for data, status, says in (
            ({"email": "not an address", "role": "rep"}, 422, "Enter an e-mail address"),
            ({"email": manager.email, "role": "rep"}, 409, "already belongs to a teammate"),
            ({"email": "x@example.test", "role": "owner"}, 422, "Choose a role: admin, manager, rep."),
            ({"email": "", "role": ""}, 422, "Enter an e-mail address")):
        response = post(browser, "/team/invites", **data)
        text = page_text(response)
        assert response.status_code == status and says in text, (data, text[-2000:])
        assert "Invite a teammate" in text
    assert invite_ids(clean_app, "x@example.test") == []


def test_an_admin_changes_a_role_and_disables_and_enables_a_teammate(clean_app, page_team, client):
    admin, manager, ravi, _ = page_team
    browser = signed_in(clean_app, admin)
    post(browser, f"/team/users/{ravi.user_id}/role", role="manager")
    assert "Ravi Rep is now manager." in page_text(browser.get("/team"))
    assert ravi.get("/api/v1/me").json["role"] == "manager"

    post(browser, f"/team/users/{ravi.user_id}/role", role="boss")
    assert "Ravi Rep: Choose a role" in page_text(browser.get("/team"))

    meera = signed_in(clean_app, manager)
    post(browser, f"/team/users/{manager.user_id}/access", disabled="true")
    assert "Meera Manager is disabled and signed out everywhere." in page_text(browser.get("/team"))
    assert meera.get("/team").status_code == 302  # her session ended
    assert manager.get("/api/v1/me").status_code == 401
    post(browser, f"/team/users/{manager.user_id}/access", disabled="false")
    assert "Meera Manager can sign in again." in page_text(browser.get("/team"))
    assert sign_in(clean_app.test_client(), manager.email).status_code == 302


def test_the_only_admin_cannot_demote_or_disable_themselves(clean_app, page_team):
    admin = page_team[0]
    browser = signed_in(clean_app, admin)
    for path, data in ((f"/team/users/{admin.user_id}/role", {"role": "rep"}),
                       (f"/team/users/{admin.user_id}/access", {"disabled": "true"})):
        assert post(browser, path, **data).status_code == 302
        assert "You cannot demote or disable yourself" in page_text(browser.get("/team"))
    assert admin.get("/api/v1/me").json["role"] == "admin"


def test_the_devices_page_shows_each_phone_and_an_admin_revokes_one(clean_app, clock, page_team, make_device):
    admin, manager, ravi, sita = page_team
    make_device(manager, consent=False, model="Galaxy A15", fcm_token=None, fcm_fid="fid-1",
                push_public_key="k" * 43 + "=")
    browser = signed_in(clean_app, admin)
    page = page_text(browser.get("/devices"))
    assert "Times in Asia/Kolkata" in page
    clock.advance(hours=2)  # Ravi's phone looks a caller up at 11:00 UTC
    assert ravi.get("/api/v1/caller-id", device=True, query_string={"number": "+91 98765 43210"}).status_code == 200
    page = page_text(browser.get("/devices"))
    assert "20 Nov 2026, 16:30 IST" in _row(page, "device", ravi.device_id)
    for says in ("Ravi Rep", "Sita Rep", "Galaxy A15", "Pixel 8", "app 1.0.0", "installation ID", "FCM token",
                 "sealed (key set)", "not sealed (no key)", "not reported", "not asked", "granted"):
        assert says in page, says
    confirm = browser.get(f"/devices/{ravi.device_id}/revoke")
    assert confirm.status_code == 200 and "Revoke this phone?" in page_text(confirm)
    assert ravi.get(f"/api/v1/devices/{ravi.device_id}", device=True).status_code == 200
    done = post(browser, f"/devices/{ravi.device_id}/revoke")
    assert (done.status_code, done.headers["Location"]) == (302, "/devices")
    page = page_text(browser.get("/devices"))
    assert "Pixel 8 of Ravi Rep is revoked" in page and f'id="device-{ravi.device_id}"' not in page
    assert ravi.get(f"/api/v1/devices/{ravi.device_id}", device=True).status_code == 401
    assert post(browser, f"/devices/{ravi.device_id}/revoke").status_code == 404  # already revoked


def test_a_manager_sees_both_pages_read_only_and_may_not_act(clean_app, page_team):
    admin, manager, ravi, _ = page_team
    browser = signed_in(clean_app, manager)
    team_page, devices_page = page_text(browser.get("/team")), page_text(browser.get("/devices"))
    assert "Ravi Rep" in team_page and "only an admin can invite" in team_page
    assert "Invite a teammate" not in team_page and "Change role" not in team_page
    assert "Pixel 8" in devices_page and "Revoke" not in devices_page
    for path, data in (("/team/invites", {"email": "n@example.test", "role": "rep"}),
                       (f"/team/users/{ravi.user_id}/role", {"role": "admin"}),
                       (f"/team/users/{ravi.user_id}/access", {"disabled": "true"}),
                       (f"/devices/{ravi.device_id}/revoke", {})):
        response = post(browser, path, **data)
        assert response.status_code == 403 and "Only an admin can" in page_text(response), path
    assert browser.get(f"/devices/{ravi.device_id}/revoke").status_code == 403
    assert ravi.get("/api/v1/me").json["role"] == "rep"


def test_a_rep_is_refused_with_a_page_not_a_blank(clean_app, page_team):
    ravi = page_team[2]
    browser = clean_app.test_client()
    response = sign_in(browser, ravi.email, next="/team")
    assert response.status_code == 403 and "reps work from the phone app" in page_text(response)
    for path in ("/team", "/devices"):
        assert browser.get(path).status_code == 302  # no page session: to the sign-in form


def test_another_organisations_users_invites_and_devices_are_not_found(clean_app, page_team, make_org,
                                                                     make_user, make_device):
    admin = page_team[0]
    other = make_org(name="Elsewhere")
    stranger = make_device(make_user(other, name="Stranger Rep"))
    assert other.post("/api/v1/invites", json={"email": "far@example.test", "role": "rep"}).status_code == 201
    [far_invite] = invite_ids(clean_app, "far@example.test")
    browser = signed_in(clean_app, admin)
    assert "Stranger Rep" not in page_text(browser.get("/team"))
    assert "far@example.test" not in page_text(browser.get("/team"))
    assert "Stranger Rep" not in page_text(browser.get("/devices"))
    for path, data in ((f"/team/users/{stranger.user_id}/role", {"role": "admin"}),
                       (f"/team/users/{stranger.user_id}/access", {"disabled": "true"}),
                       (f"/team/invites/{far_invite}/resend", {}),
                       (f"/team/invites/{far_invite}/withdraw", {}),
                       (f"/devices/{stranger.device_id}/revoke", {}),
                       ("/team/users/99999999/role", {"role": "rep"})):
        response = post(browser, path, **data)
        assert response.status_code == 404 and response.mimetype == "text/html", path
    assert browser.get(f"/devices/{stranger.device_id}/revoke").status_code == 404
    assert stranger.get("/api/v1/me").json["role"] == "rep"
    assert stranger.get(f"/api/v1/devices/{stranger.device_id}", device=True).status_code == 200
    assert invite_ids(clean_app, "far@example.test") == [far_invite]


def test_console_forms_without_the_csrf_token_are_refused(clean_app, page_team):
    admin, _, ravi, _ = page_team
    browser = signed_in(clean_app, admin)
    for path in ("/team/invites", f"/team/users/{ravi.user_id}/role", f"/devices/{ravi.device_id}/revoke"):
        response = browser.post(path, data={"email": "n@example.test", "role": "admin"})
        assert response.status_code == 400 and "This form has expired" in page_text(response), path
    assert ravi.get(f"/api/v1/devices/{ravi.device_id}", device=True).status_code == 200
