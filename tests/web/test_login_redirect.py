"""Where signing in sends the browser: back to the page asked for on this
site, never elsewhere, and never a server error, whatever `next` holds."""
from __future__ import annotations

import html
import re

import pytest

from tests.web.conftest import sign_in

HIDDEN_NEXT = re.compile(r'name="next" value="([^"]*)"')

# As an attacker writes them in a link: percent-encoded once (or more).
OFF_SITE = [
    "/%09/evil.example",        # a tab: browsers drop it, leaving //evil.example
    "/%0a/evil.example",        # a newline: cannot go in a Location header
    "/%0d%0a/evil.example",
    "%09//evil.example",
    "/%20/evil.example",
    "/%5C/evil.example",        # a backslash is a slash to browsers
    "/%2F/evil.example",        # // once decoded
    "/%252F%252Fevil.example",  # // twice decoded
    "/%E3%80%80/evil.example",  # an ideographic space
    "/%E2%80%AE/evil.example",  # a right-to-left override
    "https:%2F%2Fevil.example",
    "javascript:alert(1)",
    "/review?x=%0d%0aSet-Cookie:%20a=b",
]


def login_page_next(client, raw_next: str) -> tuple[int, str]:
    """The sign-in page opened from a link with `?next=<raw_next>`: its status and hidden target."""
    response = client.get(f"/login?next={raw_next}")
    found = HIDDEN_NEXT.search(response.get_data(as_text=True))
    return response.status_code, html.unescape(found.group(1)) if found else ""


def sign_in_from_link(client, email: str, raw_next: str):
    """Open the sign-in link, then submit its form as a browser would."""
    _, target = login_page_next(client, raw_next)
    return sign_in(client, email, next=target)


@pytest.mark.parametrize("raw_next", OFF_SITE)
def test_a_crafted_next_signs_in_to_the_review_queue(client, page_team, raw_next):
    _, manager, _, _ = page_team
    status, target = login_page_next(client, raw_next)
    assert status == 200 and target == "/review"
    response = sign_in_from_link(client, manager.email, raw_next)
    assert response.status_code == 302 and response.headers["Location"] == "/review"


@pytest.mark.parametrize("raw_next", OFF_SITE)
def test_a_crafted_next_posted_with_the_form_goes_to_the_review_queue(client, page_team, raw_next):
    from urllib.parse import unquote

    _, manager, _, _ = page_team
    response = sign_in(client, manager.email, next=unquote(raw_next))
    assert response.status_code == 302 and response.headers["Location"] == "/review"


def test_a_signed_in_manager_following_a_crafted_link_stays_on_the_site(client, page_team):
    _, manager, _, _ = page_team
    assert sign_in(client, manager.email).status_code == 302
    for raw_next in OFF_SITE:
        response = client.get(f"/login?next={raw_next}")
        assert response.status_code == 302 and response.headers["Location"] == "/review", raw_next


def test_a_page_path_with_control_characters_is_not_carried_into_the_sign_in_link(client):
    response = client.get("/leads/%0a/evil.example")
    assert response.status_code in (302, 404)
    if response.status_code == 302:
        assert response.headers["Location"] in ("/login?next=/review", "/login")


def test_a_same_site_next_with_a_filtered_queue_survives_sign_in(client, page_team):
    _, manager, _, _ = page_team
    wanted = "/review?status=approved&q=Asha%20Rao"
    response = client.get("/review?status=approved&q=Asha%20Rao")
    assert response.status_code == 302
    page = client.get(response.headers["Location"])
    target = html.unescape(HIDDEN_NEXT.search(page.get_data(as_text=True)).group(1))
    assert target == wanted
    assert sign_in(client, manager.email, next=target).headers["Location"] == wanted
