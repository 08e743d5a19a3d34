"""Accounts under abuse: a stranger guessing a password cannot lock the owner
out, sign-up and invites do not tell a stranger which addresses have an
account, and a rep's own number cannot be a customer's."""
from __future__ import annotations

from tests.conftest import PASSWORD
from tests.web.conftest import sign_in

ATTACKER, OWNER_AT_OFFICE = "203.0.113.66", "198.51.100.7"


def login(client, email: str, password: str, address: str):
    return client.post("/api/v1/auth/login", json={"email": email, "password": password},
                       environ_base={"REMOTE_ADDR": address})


# --- login throttling -------------------------------------------------------

def test_a_stranger_guessing_cannot_lock_the_owner_out(client, make_org, clock):
    owner = make_org()
    for _ in range(5):
        assert login(client, owner.email, "wrong password!", ATTACKER).status_code == 401
    throttled = login(client, owner.email, PASSWORD, ATTACKER)  # even the right password waits, there
    assert throttled.status_code == 429 and throttled.json["error"]["code"] == "too_many_attempts"
    assert 1 <= int(throttled.headers["Retry-After"]) <= 900

    # The stranger keeps at it all day; the owner signs in whenever they like.
    for _ in range(8):
        clock.advance(minutes=15, seconds=1)
        for _ in range(6):
            login(client, owner.email, "wrong password!", ATTACKER)
        assert login(client, owner.email, "wrong password!", ATTACKER).status_code == 429
        assert login(client, owner.email, PASSWORD, OWNER_AT_OFFICE).status_code == 200


def test_the_owner_signs_in_on_the_page_while_a_stranger_is_throttled(clean_app, make_org, make_user):
    admin = make_org()
    manager = make_user(admin, "manager")
    attacker = clean_app.test_client()
    for _ in range(6):
        login(attacker, manager.email, "wrong password!", ATTACKER)
    assert login(attacker, manager.email, PASSWORD, ATTACKER).status_code == 429

    browser = clean_app.test_client()
    browser.environ_base["REMOTE_ADDR"] = OWNER_AT_OFFICE
    response = sign_in(browser, manager.email)
    assert response.status_code == 302 and response.headers["Location"] == "/review"


def test_one_address_guessing_many_accounts_is_throttled_and_others_are_not(client, clean_app, make_org):
    clean_app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] = 4
    owner = make_org()
    for i in range(4):
        assert login(client, f"someone{i}@example.test", "wrong password!", ATTACKER).status_code == 401
    assert login(client, owner.email, PASSWORD, ATTACKER).status_code == 429
    assert login(client, owner.email, PASSWORD, OWNER_AT_OFFICE).status_code == 200


def test_rotating_addresses_inside_one_ipv6_network_does_not_escape_the_throttle(client, make_org):
    owner = make_org()
    for i in range(5):
        assert login(client, owner.email, "wrong password!", f"2001:db8:1:2::{i + 1:x}").status_code == 401
    assert login(client, owner.email, PASSWORD, "2001:db8:1:2:ffff::9").status_code == 429
    assert login(client, owner.email, PASSWORD, "2001:db8:1:3::1").status_code == 200


def test_signing_into_ones_own_account_does_not_reset_a_guessers_budget(client, clean_app, make_org):
    clean_app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] = 4
    mine = make_org()
    for round_ in range(2):
        for i in range(2):
            assert login(client, f"victim{i}@example.test", "guess", ATTACKER).status_code == 401
        expected = 200 if round_ == 0 else 429
        assert login(client, mine.email, PASSWORD, ATTACKER).status_code == expected


# --- sign-up and invites do not tell who has an account ---------------------

def signup(client, email: str, address: str):
    return client.post("/api/v1/signup", json={"organization": "Probe Ltd", "region": "GB", "name": "Probe",
                                               "email": email, "password": PASSWORD},
                       environ_base={"REMOTE_ADDR": address})


def organisations(app) -> int:
    from sqlalchemy import func, select

    from server.extensions import db
    from mobile_sync.store.models import Organization

    with app.app_context():
        count = db.session.execute(select(func.count()).select_from(Organization)
                                   .execution_options(all_organizations=True)).scalar_one()
        db.session.remove()
    return count


def test_a_new_address_signs_up_with_a_token_as_the_contract_says(client):
    response = signup(client, "first.admin@example.test", OWNER_AT_OFFICE)
    assert response.status_code == 201
    assert set(response.json) == {"organization_id", "user_id", "token"}
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {response.json['token']}"})
    assert me.json["role"] == "admin"


def test_probing_sign_up_for_taken_addresses_is_throttled_per_client_network(client, clean_app, make_org):
    clean_app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] = 3
    known = [make_org().email for _ in range(3)]
    for email in known:
        response = signup(client, email, ATTACKER)
        assert response.status_code == 409 and response.json["error"]["code"] == "email_taken"
    before = organisations(clean_app)

    # Past the limit every answer is 429, for a new address too: it tells nothing.
    for email in (known[0], "never.seen@example.test"):
        response = signup(client, email, ATTACKER)
        assert response.status_code == 429 and response.json["error"]["code"] == "too_many_attempts"
        assert 1 <= int(response.headers["Retry-After"]) <= 900
    assert organisations(clean_app) == before

    assert signup(client, "someone.new@example.test", OWNER_AT_OFFICE).status_code == 201


def test_one_taken_address_tried_from_many_networks_is_throttled(client, make_org):
    owner = make_org()
    for i in range(5):
        assert signup(client, owner.email, f"192.0.2.{i + 1}").status_code == 409
    response = signup(client, owner.email, "192.0.2.200")
    assert response.status_code == 429 and response.json["error"]["code"] == "too_many_attempts"
    assert signup(client, "another.new@example.test", "192.0.2.200").status_code == 201
    # The owner can still sign in, from anywhere.
    assert login(client, owner.email, PASSWORD, "192.0.2.1").status_code == 200


def test_inviting_an_address_with_an_account_elsewhere_answers_like_a_new_address(client, clean_app, make_org,
                                                                                    clock):
    from tests.api.test_invites import outbox_messages

    elsewhere = make_org(name="Elsewhere Ltd")
    admin = make_org(name="Rao Traders")
    answers = [admin.post("/api/v1/invites", json={"email": email, "role": "rep"})
               for email in (elsewhere.email, "nobody.yet@example.test")]
    assert [a.status_code for a in answers] == [201, 201]
    assert [sorted(a.json) for a in answers] == [["delivery", "expires_at", "invite_id"]] * 2
    assert answers[0].json["delivery"] == answers[1].json["delivery"] == "outbox"
    assert answers[0].json["expires_at"] == answers[1].json["expires_at"]

    mail = {message["To"]: message.get_body(preferencelist=("plain",)).get_content()
            for _, message in outbox_messages(clean_app)}
    assert "/invite?token=" in mail["nobody.yet@example.test"]
    notice = mail[elsewhere.email]
    assert "already has a CallSync account" in notice and "token=" not in notice
    # The account elsewhere is untouched.
    assert login(client, elsewhere.email, PASSWORD, OWNER_AT_OFFICE).json["user"]["organization_id"] == \
        elsewhere.organization_id


def test_inviting_a_current_teammate_is_a_conflict(make_org, make_user):
    admin = make_org()
    rep = make_user(admin)
    response = admin.post("/api/v1/invites", json={"email": rep.email, "role": "manager"})
    assert response.status_code == 409 and response.json["error"]["code"] == "email_taken"
    assert "teammate" in response.json["error"]["message"]


def test_the_document_says_what_signup_and_invites_answer_for_a_taken_address(client):
    document = client.get("/api/v1/openapi.json").json
    signup_doc = document["paths"]["/api/v1/signup"]["post"]["responses"]
    assert "email_taken" in signup_doc["409"]["description"] and "429" in signup_doc
    schemas = document["components"]["schemas"]
    assert "409 `email_taken`" in schemas["Signup"]["description"]
    assert "whether or not the address has an account" in schemas["InviteCreate"]["description"]


# --- a rep's own number is never a customer's --------------------------------

CUSTOMER, LEAD, OWN = "+91 98765 43210", "+91 91234 56789", "+91 90000 11111"


def test_a_rep_cannot_take_a_customers_number_as_their_own(make_org, make_user):
    admin = make_org(region="IN")
    rep = make_user(admin, "rep", name="Ravi Rep")
    contact = admin.post("/api/v1/contacts", json={"name": "Asha Rao", "company": "Rao Traders",
                                                   "phones": [CUSTOMER]})
    assert contact.status_code == 201, contact.json
    lead = admin.post("/api/v1/leads", json={"name": "Kiran Kumar", "phone": LEAD})
    assert lead.status_code == 201, lead.json

    for typed, holder in (("098765 43210", "contact"), (CUSTOMER, "contact"), ("+919123456789", "lead")):
        response = rep.patch("/api/v1/me", json={"phone": typed})
        assert response.status_code == 409, (typed, response.json)
        error = response.json["error"]
        assert error["code"] == "phone_in_use" and f"belongs to a {holder}" in error["message"]
        assert list(error["fields"]) == ["phone"]

    assert rep.get("/api/v1/me").json["phone"] is None
    caller = rep.get("/api/v1/caller-id", query_string={"number": CUSTOMER}).json["match"]
    assert (caller["record_type"], caller["name"]) == ("contact", "Asha Rao")

    accepted = rep.patch("/api/v1/me", json={"phone": OWN})
    assert accepted.status_code == 200 and accepted.json["phone"] == "+919000011111"


def test_an_admin_cannot_give_a_teammate_a_customers_number(make_org, make_user):
    admin = make_org(region="IN")
    rep = make_user(admin)
    assert admin.post("/api/v1/contacts", json={"name": "Asha Rao", "phones": [CUSTOMER]}).status_code == 201
    response = admin.patch(f"/api/v1/users/{rep.user_id}", json={"phone": CUSTOMER})
    assert response.status_code == 409 and response.json["error"]["code"] == "phone_in_use"


def test_another_organisations_customer_number_is_no_obstacle(make_org, make_user):
    other = make_org(region="IN")
    assert other.post("/api/v1/contacts", json={"name": "Asha Rao", "phones": [CUSTOMER]}).status_code == 201
    admin = make_org(region="IN")
    rep = make_user(admin)
    response = rep.patch("/api/v1/me", json={"phone": CUSTOMER})
    assert response.status_code == 200 and response.json["phone"] == "+919876543210"


def test_the_document_says_a_customers_number_is_refused(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    for path in ("/api/v1/me", "/api/v1/users/{user_id}"):
        assert "phone_in_use" in paths[path]["patch"]["responses"]["409"]["description"]
