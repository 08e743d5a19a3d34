"""The account pages through Flask's test client: an invitation accepted,
a forgotten password, the user's own password and sessions. Every answer is
a page (never the API's JSON), and bad input is a message on the form."""
from __future__ import annotations

import re

from tests.api.test_invites import LINK, outbox_messages
from tests.api.test_password_reset import NEW_PASSWORD, RESET_LINK, mails_to
from tests.conftest import PASSWORD
from tests.web.conftest import csrf_of, sign_in


def invite_token(app, admin, address, role="rep") -> str:
    assert admin.post("/api/v1/invites", json={"email": address, "role": role}).status_code == 201
    latest = [m for _, m in outbox_messages(app) if m["To"] == address][-1]  # earlier tests may have used it
    return LINK.findall(latest.get_content())[0]


def accept(client, token, **fields):
    csrf = csrf_of(client, f"/invite?token={token}")
    return client.post("/invite", data={"csrf_token": csrf, "token": token, **fields})


def page_text(response) -> str:
    assert response.mimetype == "text/html", response.mimetype
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def test_an_invited_manager_chooses_a_password_and_lands_signed_in_on_the_queue(clean_app, make_org):
    admin = make_org(name="Rao Traders")
    token = invite_token(clean_app, admin, "meera@example.test", role="manager")
    browser = clean_app.test_client()
    form = page_text(browser.get(f"/invite?token={token}"))
    assert "Join Rao Traders" in form and "meera@example.test" in form
    assert '<label for="f-name">Your name</label>' in form and '<label for="f-password">Password</label>' in form

    short = accept(browser, token, name="Meera", password="short")
    assert short.status_code == 422 and "at least 10 characters" in page_text(short)
    empty = accept(browser, token, name="  ", password=PASSWORD)
    assert empty.status_code == 422 and "Enter your name." in page_text(empty)
    done = accept(browser, token, name="Meera Manager", password=PASSWORD)
    assert (done.status_code, done.headers["Location"]) == (302, "/review")
    queue = page_text(browser.get("/review"))
    assert "Welcome to Rao Traders, Meera Manager" in queue and "Meera Manager" in queue

    used = clean_app.test_client().get(f"/invite?token={token}")
    assert used.status_code == 410 and "already been used" in page_text(used)


def test_an_invited_rep_is_sent_to_the_phone_app(clean_app, make_org, client):
    admin = make_org()
    token = invite_token(clean_app, admin, "ravi@example.test")
    done = accept(clean_app.test_client(), token, name="Ravi Rep", password=PASSWORD)
    assert done.status_code == 200 and "CallSync app on your Android phone" in page_text(done)
    assert client.post("/api/v1/auth/login", json={"email": "ravi@example.test", "password": PASSWORD}
                       ).status_code == 200


def test_expired_withdrawn_and_unknown_invitations_each_say_so(clean_app, make_org, clock):
    from mobile_sync.store.models import Invite
    from server.extensions import db

    admin = make_org()
    withdrawn = invite_token(clean_app, admin, "gone@example.test")
    with clean_app.app_context():
        invite_id = db.session.query(Invite.id).filter(Invite.email == "gone@example.test").scalar()
    assert admin.delete(f"/api/v1/invites/{invite_id}").status_code == 204
    expired = invite_token(clean_app, admin, "late@example.test")
    clock.advance(hours=clean_app.config["INVITE_TTL_HOURS"])
    browser = clean_app.test_client()
    for path, status, says in ((f"/invite?token={withdrawn}", 410, "This invitation was withdrawn"),
                               (f"/invite?token={expired}", 410, "This invitation has expired"),
                               ("/invite?token=csi_nothing", 404, "This invitation link is not valid"),
                               ("/invite", 404, "This invitation link is not valid")):
        response = browser.get(path)
        assert response.status_code == status and says in page_text(response), path


def test_a_form_without_its_csrf_token_is_refused(clean_app, make_org):
    admin = make_org()
    token = invite_token(clean_app, admin, "x@example.test")
    response = clean_app.test_client().post("/invite", data={"token": token, "name": "X", "password": PASSWORD})
    assert response.status_code == 400 and "This form has expired" in page_text(response)
    refused = clean_app.test_client().post("/reset-password", data={"email": admin.email})
    assert refused.status_code == 400


def test_a_forgotten_password_by_the_pages(clean_app, make_org):
    admin = make_org()
    browser = clean_app.test_client()
    assert "Forgot your password?" in page_text(browser.get("/login"))
    answers = []
    for address in (admin.email, "nobody@example.test"):
        csrf = csrf_of(browser, "/reset-password")
        answers.append(page_text(browser.post("/reset-password", data={"csrf_token": csrf, "email": address})))
    assert answers[0] == answers[1] and "If the address has an account, a link" in answers[0]
    bad = browser.post("/reset-password", data={"csrf_token": csrf_of(browser, "/reset-password"), "email": "x"})
    assert bad.status_code == 422 and "Enter an e-mail address" in page_text(bad)

    token = RESET_LINK.findall(mails_to(clean_app, admin.email)[0].get_content())[0]
    csrf = csrf_of(browser, f"/reset-password?token={token}")
    short = browser.post("/reset-password", data={"csrf_token": csrf, "token": token, "password": "short"})
    assert short.status_code == 422 and "at least 10 characters" in page_text(short)
    done = browser.post("/reset-password", data={"csrf_token": csrf, "token": token, "password": NEW_PASSWORD})
    assert (done.status_code, done.headers["Location"]) == (302, "/login")
    assert sign_in(browser, admin.email, NEW_PASSWORD).status_code == 302
    used = browser.get(f"/reset-password?token={token}")
    assert used.status_code == 410 and "already been used" in page_text(used)
    assert browser.get("/reset-password?token=csr_x").status_code == 404


def test_changing_the_password_on_the_account_page_keeps_this_session_only(clean_app, make_org):
    admin = make_org()
    here, there = clean_app.test_client(), clean_app.test_client()
    for browser in (here, there):
        assert sign_in(browser, admin.email).status_code == 302
    csrf = csrf_of(here, "/account")
    wrong = here.post("/account/password", data={"csrf_token": csrf, "current_password": "nope",
                                                 "new_password": NEW_PASSWORD})
    assert wrong.status_code == 403 and "The current password is wrong." in page_text(wrong)
    short = here.post("/account/password", data={"csrf_token": csrf, "current_password": PASSWORD,
                                                 "new_password": "short"})
    assert short.status_code == 422 and "at least 10 characters" in page_text(short)
    done = here.post("/account/password", data={"csrf_token": csrf, "current_password": PASSWORD,
                                                "new_password": NEW_PASSWORD})
    assert (done.status_code, done.headers["Location"]) == (302, "/account")
    assert "Your password is changed" in page_text(here.get("/account"))
    assert there.get("/account").status_code == 302  # to the sign-in page
    assert admin.get("/api/v1/me").status_code == 401  # the API token made at sign-up


def test_signing_out_everywhere_on_the_account_page(clean_app, make_org, make_user, make_device):
    admin = make_org()
    make_device(admin)
    here, there = clean_app.test_client(), clean_app.test_client()
    for browser in (here, there):
        assert sign_in(browser, admin.email).status_code == 302
    done = here.post("/account/sign-out-everywhere", data={"csrf_token": csrf_of(here, "/account")})
    assert (done.status_code, done.headers["Location"]) == (302, "/login")
    assert here.get("/account").status_code == 302 and there.get("/account").status_code == 302
    assert admin.get("/api/v1/me").status_code == 401
    assert admin.get("/api/v1/contacts", device=True).status_code == 401
