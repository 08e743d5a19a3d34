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
