"""The HubSpot client against the fake: find-or-create by phone is
idempotent, a logged call is found again by our id, people pages and the
updated-since filter, the archived contacts listed after the search, a 429 is RateLimited after HubSpot's Retry-After,
a spent window waits or stops before sending, a bad token is AuthFailed,
a hanging server a TransientError within the timeout, a 10 MB answer is
not read whole, and the token is in no error's text."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mobile_sync.crm.client import AuthFailed, CrmCall, PermanentError, RateLimited, TransientError
from mobile_sync.crm.hubspot import HubSpotClient
from tests.crm.conftest import TOKEN

CALL = CrmCall(call_id=42, number_e164="+919123456789", direction="outgoing",
               started_at=datetime(2026, 12, 1, 9, 30, tzinfo=timezone.utc), duration_s=75, rep_name="Ravi")


def test_a_person_is_found_by_phone_or_created_once(hubspot):
    client = HubSpotClient(hubspot.url, TOKEN, timeout_s=2)
    first = client.find_or_create_person("+919123456789", "Kiran Kumar")
    assert client.find_or_create_person("+919123456789", "Someone Else") == first
    assert len(hubspot.contacts) == 1 and hubspot.contacts[first]["lastname"] == "Kumar"


def test_a_logged_call_carries_its_association_and_is_found_again(hubspot):
    client = HubSpotClient(hubspot.url, TOKEN, timeout_s=2)
    person = client.find_or_create_person(CALL.number_e164, None)
    assert client.find_logged_call(42) is None
    logged = client.log_call(person, CALL)
    props = hubspot.calls[logged]["properties"]
    assert props["hs_timestamp"] == "2026-12-01T09:30:00.000Z" and props["hs_call_duration"] == "75000"
    assert (props["hs_call_direction"], props["hs_call_status"]) == ("OUTBOUND", "COMPLETED")
    assert props["hs_call_to_number"] == CALL.number_e164 and hubspot.calls[logged]["contacts"] == [person]
    assert client.find_logged_call(42) == logged and client.find_logged_call(43) is None
    with pytest.raises(PermanentError) as refused:  # an association to a contact that does not exist: 400
        client.log_call("999999", CALL)
    assert refused.value.status == 400


def test_people_pages_and_the_updated_since_filter(hubspot, monkeypatch):
    import mobile_sync.crm.hubspot as module

    monkeypatch.setattr(module, "PAGE", 2)
    ids = [hubspot.add_contact(f"+9190000000{i}", f"P{i}", "Test", company="Co", email=f"p{i}@x.test")
           for i in range(3)]
    client = HubSpotClient(hubspot.url, TOKEN, timeout_s=2)
    first = client.people_updated_since(None, None)
    # The cursor is the latest modification time read and who was read at it, not an offset.
    assert [p.name for p in first.people] == ["P0 Test", "P1 Test"]
    assert first.cursor == f"modified:{hubspot.contacts[ids[1]]['lastmodifieddate']}:{ids[1]}"
    second = client.people_updated_since(None, first.cursor)
    assert [p.name for p in second.people] == ["P2 Test"] and second.cursor == "archived:"  # the archivals next
    assert second.people[0].phones == ["+91900000002"] and second.people[0].email == "p2@x.test"
    since = first.people[1].updated_at
    later = client.people_updated_since(since, None)
    assert [p.name for p in later.people] == ["P2 Test"]


def test_an_incremental_pull_goes_on_with_the_contacts_archived_since(hubspot, monkeypatch):
    import mobile_sync.crm.hubspot as module

    monkeypatch.setattr(module, "PAGE", 1)
    early, later, other = (hubspot.add_contact(f"+9190000000{i}", f"P{i}", "Test") for i in range(3))
    hubspot.archive(early)
    client = HubSpotClient(hubspot.url, TOKEN, timeout_s=2)
    since = datetime.now(timezone.utc)
    time.sleep(0.01)
    hubspot.archive(later)
    hubspot.archive(other)
    search = client.people_updated_since(since, None)
    assert search.people == [] and search.cursor == "archived:"
    pages, cursor = [], search.cursor
    while cursor:
        page = client.people_updated_since(since, cursor)
        pages.append((page.people, [p.external_id for p in page.deleted]))
        cursor = page.cursor
    # Listed by id, 1 a page: the one archived before `since` is read but not reported.
    assert pages == [([], []), ([], [later]), ([], [other])]
    assert [q.get("after") for q in hubspot.archived_lists] == [None, early, later]
    assert all(q["archived"] == "true" and q["limit"] == "1" for q in hubspot.archived_lists)


def test_a_429_is_rate_limited_after_retry_after(hubspot):
    hubspot.announce_budget = False
    hubspot.limit = 1
    client = HubSpotClient(hubspot.url, TOKEN, timeout_s=2)
    client.check()
    with pytest.raises(RateLimited) as limited:
        client.check()
    assert 1 <= limited.value.retry_after_s <= 10 and limited.value.status == 429
    # The client does not send again before the window: it stops before the request.
    sent = len(hubspot.requests) + len(hubspot.refused)
    with pytest.raises(RateLimited):
        client.check()
    assert len(hubspot.requests) + len(hubspot.refused) == sent


def test_a_spent_window_is_waited_out_when_short(hubspot):
    hubspot.limit, hubspot.window_s = 2, 0.5
    slept = []
    client = HubSpotClient(hubspot.url, TOKEN, timeout_s=2, sleep=lambda s: (slept.append(s), time.sleep(s)))
    client.check()
    client.check()  # the answer says 0 left: the next request waits for the window
    client.check()
    assert slept and 0 < slept[0] <= 0.5 and 429 not in hubspot.refused


def test_a_bad_token_is_auth_failed_and_never_in_the_error(hubspot):
    client = HubSpotClient(hubspot.url, "pat-na1-secret-wrong-0000", timeout_s=2)
    with pytest.raises(AuthFailed) as refused:
        client.check()
    assert refused.value.status == 401 and "secret-wrong" not in str(refused.value)


@pytest.fixture
def bad_server():
    """/hang never answers; /big answers 10 MB."""
    release = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path.startswith("/hang"):
                release.wait(10)
                return
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(10 * 1024 * 1024))
            self.end_headers()
            try:
                for _ in range(160):
                    self.wfile.write(b" " * 65536)
            except OSError:
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    release.set()
    server.shutdown()
    server.server_close()


def test_a_hanging_server_times_out_and_a_huge_answer_is_not_read_whole(bad_server):
    started = time.monotonic()
    with pytest.raises(TransientError):
        HubSpotClient(bad_server + "/hang", TOKEN, timeout_s=0.5).check()
    assert time.monotonic() - started < 3
    with pytest.raises(TransientError) as big:
        HubSpotClient(bad_server + "/big", TOKEN, timeout_s=2).check()
    assert "too large" in str(big.value) and TOKEN not in str(big.value)
