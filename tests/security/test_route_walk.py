"""Walking the route table: nothing outside an explicit public list answers
without credentials, and a revoked phone is locked out everywhere.

Every rule of the app's URL map is walked, whether it was declared with
`operation(...)` or added to a blueprint directly (web pages, metrics), so
routes added later are covered without editing this file. Path ids are filled
with real objects of the caller's organisation, so a 401 cannot be a 404 in
disguise. API routes must answer 401 in the error shape; a web page must send
the browser to `/login` (its POSTs carry a valid CSRF token, so it is the
sign-in gate that refuses, not the CSRF check).
"""
from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from server.api.routing import OPERATIONS
from server.auth import ANY, API_KEY_AUTH, DEVICE, PUBLIC
from tests.security.route_requests import ObjectFinder, path_params
from tests.security.tenants import build_org

# Everything a stranger may call. Adding a route here is a decision; the
# first test fails when an operation is declared PUBLIC without being listed.
PUBLIC_ROUTES = {
    ("GET", "/healthz"),
    ("GET", "/static/<path:filename>"),
    ("GET", "/web/static/<path:filename>"),
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/api/v1/docs"),
    ("POST", "/api/v1/signup"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/invites/accept"),
    ("POST", "/api/v1/auth/password-reset"),
    ("POST", "/api/v1/auth/password-reset/confirm"),
    ("GET", "/api/v1/consent/policy"),
    ("GET", "/login"),
    ("POST", "/login"),
    # The e-mailed links' pages: the token in the link is the credential.
    ("GET", "/invite"),
    ("POST", "/invite"),
    ("GET", "/reset-password"),
    ("POST", "/reset-password"),
}

# /metrics is open unless METRICS_TOKEN is set, as it must be in production;
# the walk runs with it set.
METRICS_TOKEN = "walk-metrics-token"

BAD_CREDENTIALS = {
    "no header": {},
    "garbage token": {"Authorization": "Bearer not-a-real-token"},
    "token-shaped garbage": {"Authorization": "Bearer csu_" + "A" * 43},
    "empty bearer": {"Authorization": "Bearer "},
    "basic auth": {"Authorization": "Basic dXNlcjpwYXNz"},
    "garbage api key": {"X-Api-Key": "csk_" + "B" * 43},
}


def all_routes(app) -> list[tuple[str, str]]:
    """(method, rule) of every route the app serves, HEAD and OPTIONS aside."""
    out = []
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((method, rule.rule))
    return sorted(out)


def protected_routes(app):
    return [route for route in all_routes(app) if route not in PUBLIC_ROUTES]


@pytest.fixture
def org(client, clean_app, make_org, make_user, make_device):
    clean_app.config["METRICS_TOKEN"] = METRICS_TOKEN
    return build_org(client, make_org, make_user, make_device, "Walked Org")


def _fill(finder: ObjectFinder, org, rule: str, overrides=None) -> str:
    path = finder.fill(org, rule, overrides)
    assert path is not None, f"cannot fill {rule}: {finder.problems}"
    return path


def _csrf(client) -> str | None:
    """A valid CSRF token of this (anonymous) browser session, from the sign-in form."""
    page = client.get("/login")
    if page.status_code == 404:
        return None  # no web pages
    found = re.search(r'name="csrf_token"\s+value="([^"]+)"', page.get_data(as_text=True))
    assert found, "the sign-in form carries no CSRF token"
    return found.group(1)


def send(client, method: str, path: str, headers: dict, csrf: str | None):
    if path.startswith("/api/"):
        return client.open(path, method=method, headers=headers, json={})
    data = {"csrf_token": csrf} if method == "POST" and csrf else None
    return client.open(path, method=method, headers=headers, data=data)


def _expect_locked_out(response, method: str, rule: str, why: str) -> str | None:
    if not rule.startswith("/api/"):
        location = urlsplit(response.headers.get("Location", "")).path
        if response.status_code == 401 or (response.status_code in (302, 303) and location == "/login"):
            return None
        return f"{method} {rule} ({why}): {response.status_code} -> {location or 'no redirect'}"
    body = response.get_json(silent=True) or {}
    if response.status_code != 401 or body.get("error", {}).get("code") != "unauthorized":
        return f"{method} {rule} ({why}): {response.status_code} {body}"
    if response.headers.get("WWW-Authenticate") != "Bearer":
        return f"{method} {rule} ({why}): 401 without WWW-Authenticate: Bearer"
    return None


def test_public_list_matches_the_declared_public_operations(app):
    declared_public = {(op.method, op.rule) for op in OPERATIONS if op.auth == PUBLIC}
    unlisted = declared_public - PUBLIC_ROUTES
    assert not unlisted, f"operations declared PUBLIC but not in PUBLIC_ROUTES: {sorted(unlisted)}"
    served = set(all_routes(app))
    assert PUBLIC_ROUTES <= served, f"PUBLIC_ROUTES lists routes that do not exist: {PUBLIC_ROUTES - served}"
    listed_but_protected = {(op.method, op.rule) for op in OPERATIONS if op.auth != PUBLIC} & PUBLIC_ROUTES
    assert not listed_but_protected


def test_every_route_outside_the_public_list_answers_401_without_valid_credentials(client, clean_app, org):
    finder = ObjectFinder(client)
    routes = protected_routes(clean_app)
    assert len(routes) >= len([op for op in OPERATIONS if op.auth != PUBLIC])
    csrf = _csrf(client)
    failures = []
    for method, rule in routes:
        path = _fill(finder, org, rule)
        for why, headers in BAD_CREDENTIALS.items():
            failure = _expect_locked_out(send(client, method, path, headers, csrf), method, rule, why)
            if failure:
                failures.append(failure)
    assert not failures, "\n".join(failures)


def test_web_pages_do_not_accept_api_tokens(client, clean_app, org):
    """The pages read their cookie only: a valid bearer token opens nothing there."""
    finder = ObjectFinder(client)
    csrf = _csrf(client)
    pages = [(m, r) for m, r in protected_routes(clean_app) if not r.startswith("/api/") and r != "/metrics"]
    failures = []
    for method, rule in pages:
        response = send(client, method, _fill(finder, org, rule), org.admin.headers(), csrf)
        failure = _expect_locked_out(response, method, rule, "the admin's API token")
        if failure:
            failures.append(failure)
    assert not failures, "\n".join(failures)


def test_public_routes_answer_without_credentials(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/api/v1/openapi.json").status_code == 200
    assert client.get("/api/v1/consent/policy").status_code == 200
    # Reached the view (validation), not refused at the door.
    for path in ("/api/v1/signup", "/api/v1/auth/login", "/api/v1/invites/accept", "/api/v1/auth/password-reset",
                 "/api/v1/auth/password-reset/confirm"):
        assert client.post(path, json={}).status_code == 422


def test_metrics_answer_with_their_token_only(client, org):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=org.admin.headers()).status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).status_code == 200


def test_revoked_user_and_api_key_credentials_get_401(client, clean_app, org):
    finder = ObjectFinder(client)
    paths = {op.rule: _fill(finder, org, op.rule) for op in OPERATIONS if op.auth != PUBLIC}
    assert org.rep.get("/api/v1/me").status_code == 200
    assert org.admin.patch(f"/api/v1/users/{org.rep.user_id}", json={"disabled": True}).status_code == 200
    listed = org.admin.get("/api/v1/api-keys").json["items"]
    assert org.admin.delete(f"/api/v1/api-keys/{listed[0]['id']}").status_code == 204
    failures = []
    for op in OPERATIONS:
        if op.auth == PUBLIC:
            continue
        credentials = {"disabled rep's user token": org.rep.headers(),
                       "disabled rep's device token": org.rep.headers(device=True)}
        if op.auth == API_KEY_AUTH:
            credentials["revoked API key"] = {"Authorization": f"Bearer {org.api_key}"}
        for why, headers in credentials.items():
            response = client.open(paths[op.rule], method=op.method, headers=headers, json={})
            failure = _expect_locked_out(response, op.method, op.rule, why)
            if failure:
                failures.append(failure)
    assert not failures, "\n".join(failures)


def _device_routes():
    return [op for op in OPERATIONS if op.auth in (ANY, DEVICE)]


def test_a_revoked_device_token_gets_401_on_every_route(client, clean_app, org):
    """Live first (so the 401 is caused by the revocation), then revoked."""
    finder = ObjectFinder(client)
    phone = org.rep
    device_routes = _device_routes()
    assert device_routes, "no route accepts a device token"
    own = {"device_id": phone.device_id}
    paths = {rule: _fill(finder, org, rule, {k: v for k, v in own.items()
                                             if k in {name for _, name, _ in path_params(rule)}})
             for _, rule in protected_routes(clean_app)}
    for op in device_routes:
        if op.method == "DELETE":
            continue  # would revoke the phone before the walk
        response = client.open(paths[op.rule], method=op.method, headers=phone.headers(device=True), json={})
        assert response.status_code != 401, (op.method, op.rule, response.json)

    assert org.admin.delete(f"/api/v1/devices/{phone.device_id}").status_code == 204

    csrf = _csrf(client)
    failures = []
    for method, rule in protected_routes(clean_app):
        response = send(client, method, paths[rule], phone.headers(device=True), csrf)
        failure = _expect_locked_out(response, method, rule, "revoked device token")
        if failure:
            failures.append(failure)
    assert not failures, "\n".join(failures)
    # The user's own token is not revoked with the phone.
    assert phone.get("/api/v1/me").status_code == 200


def test_a_phone_revoking_itself_is_locked_out_at_once(client, org):
    phone = org.manager
    assert phone.delete(f"/api/v1/devices/{phone.device_id}", device=True).status_code == 204
    assert phone.get(f"/api/v1/devices/{phone.device_id}", device=True).status_code == 401
    version = client.get("/api/v1/consent/policy").json["version"]
    response = phone.put(f"/api/v1/devices/{phone.device_id}/consent", device=True,
                         json={"contacts": True, "call_log": True, "policy_version": version})
    assert response.status_code == 401
