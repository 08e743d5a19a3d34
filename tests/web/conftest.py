"""Helpers for the manager's pages: sign in through the form, read the CSRF
token off a page, upload calls so leads are made the real way."""
from __future__ import annotations

import re

import pytest

from tests.conftest import PASSWORD

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
