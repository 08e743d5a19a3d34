"""Helpers for the manager's pages: sign in through the form, read the CSRF
token off a page, upload calls so leads are made the real way."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from tests.conftest import PASSWORD
from tests.phone_data import call_row
from tests.web.queue_data import ASHA, KIRAN, NEW, lead_ids

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(client, path: str = "/login") -> str:
    response = client.get(path)
    match = CSRF.search(response.get_data(as_text=True))
    assert match, f"no CSRF token on {path} ({response.status_code})"
    return match.group(1)


def sign_in(client, email: str, password: str = PASSWORD, **extra):
    token = csrf_of(client, "/login")
    return client.post("/login", data={"csrf_token": token, "email": email, "password": password, **extra})


def upload_calls(rep, rows, batch: str = "b1") -> dict:
    response = rep.post("/api/v1/sync/calls", device=True, json={"batch_id": batch, "calls": rows})
    assert response.status_code == 200, response.json
    return response.json


@pytest.fixture
def page_team(make_org, make_user, make_device):
    """An organisation with an admin, a manager and two reps with phones."""
    admin = make_org(region="IN")
    manager = make_user(admin, role="manager", name="Meera Manager")
    ravi = make_device(make_user(admin, role="rep", name="Ravi Rep"))
    sita = make_device(make_user(admin, role="rep", name="Sita Rep"))
    return admin, manager, ravi, sita


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
