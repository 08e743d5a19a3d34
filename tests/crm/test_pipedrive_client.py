"""PipedriveClient against the fake Pipedrive: what lands in the CRM, what is
read back, and what every failure of the CRM becomes."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
import requests

from mobile_sync.crm.client import AuthFailed, CrmCall, CrmError, PermanentError, RateLimited, TransientError
from mobile_sync.crm.pipedrive import PipedriveClient
from tests.crm.fake_pipedrive import FakePipedrive

NUMBER = "+442071838750"
STARTED = datetime(2026, 12, 3, 14, 5, 9, tzinfo=timezone.utc)


@pytest.fixture
def fake():
    server = FakePipedrive()
    yield server
    server.close()


@pytest.fixture
def make_client(fake):
    def make(**kwargs):
        kwargs.setdefault("timeout_s", 2.0)
        token = kwargs.pop("token", fake.token)
        return PipedriveClient(kwargs.pop("base_url", fake.url), token, **kwargs)
    return make


def a_call(call_id=101, direction="outgoing", duration_s=42, **kwargs) -> CrmCall:
    return CrmCall(call_id=call_id, number_e164=kwargs.pop("number", NUMBER), direction=direction,
                   started_at=kwargs.pop("started_at", STARTED), duration_s=duration_s, **kwargs)


def assert_clean(err: Exception, fake: FakePipedrive) -> None:
    """No token and no phone number in what an error says, however it is printed."""
    for text in (str(err), repr(err), str(err.__context__ if not err.__suppress_context__ else "")):
        assert fake.token not in text
        assert NUMBER not in text and NUMBER[1:] not in text and "%2B44" not in text


# Persons

def test_find_or_create_person_creates_once_then_finds_the_same_person(fake, make_client):
    client = make_client()
    first = client.find_or_create_person(NUMBER, "Ada Lovelace")
    again = client.find_or_create_person(NUMBER, "Ada L.")
    assert first == again
    assert len(fake.persons) == 1
    person = fake.persons[int(first)]
    assert person["name"] == "Ada Lovelace"
    assert person["phones"] == [{"value": NUMBER, "primary": True, "label": "mobile"}]
    search = fake.requests_to("GET", "/v1/persons/search")[0]
    assert "fields=phone" in search["path"] and "exact_match=true" in search["path"]


def test_a_person_typed_into_pipedrive_is_found_not_duplicated(fake, make_client):
    existing = fake.add_person("Grace Hopper", phones=["+15551230000", NUMBER])
    assert make_client().find_or_create_person(NUMBER, None) == str(existing)
    assert len(fake.persons) == 1 and not fake.requests_to("POST", "/v1/persons")


def test_a_nameless_number_becomes_a_person_named_by_the_number(fake, make_client):
    person_id = make_client().find_or_create_person(NUMBER, None)
    assert fake.persons[int(person_id)]["name"] == NUMBER


# Call logs

def test_log_call_sends_pipedrive_call_log_shapes(fake, make_client):
    client = make_client()
    person_id = client.find_or_create_person(NUMBER, "Ada")
    log_id = client.log_call(person_id, a_call(rep_name="Rep One"))
    [log] = fake.call_logs
    assert log_id == log["id"]
    assert log["person_id"] == int(person_id)
    assert log["outcome"] == "connected"
    assert log["to_phone_number"] == NUMBER and "from_phone_number" not in log
    assert log["start_time"] == "2026-12-03 14:05:09" and log["end_time"] == "2026-12-03 14:05:51"
    assert log["duration"] == "42"
    assert log["subject"] == "Outgoing call (Rep One)"
    assert "[callsync:101]" in log["note"]


@pytest.mark.parametrize("direction, duration, outcome", [
    ("incoming", 30, "connected"), ("incoming", 0, "no_answer"), ("outgoing", 0, "no_answer"),
    ("missed", 0, "no_answer"), ("rejected", 0, "busy")])
def test_outcome_follows_direction_and_talk_time(fake, make_client, direction, duration, outcome):
    client = make_client()
    person_id = client.find_or_create_person(NUMBER, "Ada")
    client.log_call(person_id, a_call(direction=direction, duration_s=duration))
    [log] = fake.call_logs
    assert log["outcome"] == outcome
    if direction != "outgoing":
        assert log["from_phone_number"] == NUMBER


def test_start_and_end_are_sent_in_utc(fake, make_client):
    client = make_client()
    person_id = client.find_or_create_person(NUMBER, "Ada")
    paris = timezone(timedelta(hours=1))
    client.log_call(person_id, a_call(started_at=datetime(2026, 12, 3, 23, 59, 50, tzinfo=paris), duration_s=20))
    assert fake.call_logs[0]["start_time"] == "2026-12-03 22:59:50"
    assert fake.call_logs[0]["end_time"] == "2026-12-03 23:00:10"


def test_find_logged_call_finds_the_call_by_its_id_only(fake, make_client):
    client = make_client()
    person_id = client.find_or_create_person(NUMBER, "Ada")
    for call_id in (7, 71, 710):
        client.log_call(person_id, a_call(call_id=call_id))
    assert client.find_logged_call(71) == fake.call_logs[1]["id"]
    assert client.find_logged_call(7) == fake.call_logs[0]["id"]
    assert client.find_logged_call(72) is None


def test_find_logged_call_reads_further_pages_but_a_bounded_number(fake, make_client):
    client = make_client()
    person_id = client.find_or_create_person(NUMBER, "Ada")
    for call_id in range(1, 121):  # 120 logs: 3 pages of 50, the oldest on the last
        client.log_call(person_id, a_call(call_id=call_id))
    assert client.find_logged_call(1) == fake.call_logs[0]["id"]
    assert len(fake.requests_to("GET", "/v1/callLogs")) == 3

    short = make_client(lookup_pages=2)
    before = len(fake.requests_to("GET", "/v1/callLogs"))
    assert short.find_logged_call(1) is None  # beyond the pages it may read
    assert len(fake.requests_to("GET", "/v1/callLogs")) - before == 2


# Pull

def test_pull_pages_through_every_person_with_the_cursor(fake, make_client):
    for n in range(7):
        fake.add_person(f"Person {n}", phones=[f"+4420700000{n:02d}"], emails=[f"p{n}@example.com"])
    client = make_client(page_size=3)
    people, cursor, pages = [], None, 0
    while True:
        page = client.people_updated_since(None, cursor)
        people += page.people
        pages += 1
        cursor = page.cursor
        if cursor is None:
            break
    assert pages == 3
    assert [p.name for p in people] == [f"Person {n}" for n in range(7)]
    assert people[0].phones == ["+442070000000"] and people[0].email == "p0@example.com"
    assert people[0].updated_at.tzinfo is not None


def test_pull_is_incremental_with_updated_since(fake, make_client):
    old = datetime(2026, 11, 1, tzinfo=timezone.utc)
    for n in range(3):
        fake.add_person(f"Old {n}", phones=[f"+4420700001{n:02d}"], updated_at=old)
    changed = fake.add_person("Changed", phones=["+442070000299"], updated_at=old)
    fake.add_person("Gone", phones=["+442070000300"], deleted=True)
    since = datetime(2026, 12, 1, tzinfo=timezone.utc)
    fake.touch_person(changed, since + timedelta(hours=3))
    page = make_client().people_updated_since(since, None)
    assert [p.external_id for p in page.people] == [str(changed)]
    assert page.people[0].updated_at == since + timedelta(hours=3)
    assert page.cursor is None
    request = fake.requests_to("GET", "/api/v2/persons")[0]
    assert "updated_since=2026-12-01T00%3A00%3A00Z" in request["path"]


def test_persons_deleted_since_are_reported_as_deleted(fake, make_client):
    since = datetime(2026, 12, 1, tzinfo=timezone.utc)
    kept = fake.add_person("Kept", phones=["+442070000401"], updated_at=since - timedelta(days=3))
    merged = fake.add_person("Merged", phones=["+442070000402"], updated_at=since - timedelta(days=3))
    gone = fake.add_person("Gone", phones=["+442070000403"], updated_at=since - timedelta(days=3))
    fake.delete_person(gone, since + timedelta(hours=1))
    fake.merge_persons(kept, merged, since + timedelta(hours=2))
    page = make_client().people_updated_since(since, None)
    assert [p.external_id for p in page.people] == [str(kept)]
    assert page.people[0].phones == ["+442070000401", "+442070000402"]
    assert [(p.external_id, p.name) for p in page.deleted] == [(str(gone), "Gone"), (str(merged), "Merged")]


# Rate limits

def test_a_429_is_rate_limited_for_the_servers_wait(make_client):
    fake = FakePipedrive(burst=2, window_s=3.0)
    try:
        client = PipedriveClient(fake.url, fake.token, timeout_s=2.0)
        client.check()
        other = PipedriveClient(fake.url, fake.token, timeout_s=2.0)
        other.check()  # the window's last request: remaining 0
        third = PipedriveClient(fake.url, fake.token, timeout_s=2.0)
        with pytest.raises(RateLimited) as caught:
            third.check()
        assert caught.value.status == 429
        assert 1.0 <= caught.value.retry_after_s <= 3.0
        assert_clean(caught.value, fake)
    finally:
        fake.close()


def test_without_retry_after_the_reset_header_gives_the_wait():
    fake = FakePipedrive(burst=1, window_s=3.0, retry_after_header=False)
    try:
        PipedriveClient(fake.url, fake.token).check()
        with pytest.raises(RateLimited) as caught:
            PipedriveClient(fake.url, fake.token).check()
        assert 1.0 <= caught.value.retry_after_s <= 3.0
    finally:
        fake.close()


def test_an_empty_window_is_waited_out_without_sending(make_client):
    fake = FakePipedrive(burst=2, window_s=2.0)
    try:
        client = PipedriveClient(fake.url, fake.token)
        client.check()
        client.check()  # remaining: 0
        sent = len(fake.requests)
        with pytest.raises(RateLimited) as caught:
            client.check()
        assert caught.value.status is None and 0 < caught.value.retry_after_s <= 2.0
        assert len(fake.requests) == sent  # nothing spent on a request bound to fail
        time.sleep(caught.value.retry_after_s + 0.05)
        client.check()  # the next window
    finally:
        fake.close()


def test_the_days_writes_spent_stop_writes_until_midnight_utc():
    fake = FakePipedrive(daily_writes=1)
    try:
        client = PipedriveClient(fake.url, fake.token)
        client.find_or_create_person(NUMBER, "Ada")  # the last write of the day
        with pytest.raises(RateLimited) as caught:
            client.find_or_create_person("+442071838751", "Bob")
        now = datetime.now(timezone.utc)
        midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        assert abs(caught.value.retry_after_s - (midnight - now).total_seconds()) < 5
        client.check()  # reads go on

        fresh = PipedriveClient(fake.url, fake.token)  # a new client is told by the 429
        with pytest.raises(RateLimited) as caught:
            fresh.find_or_create_person("+442071838751", "Bob")
        assert caught.value.status == 429 and caught.value.retry_after_s > 1
    finally:
        fake.close()


# Failures

def test_a_bad_token_is_auth_failed_and_never_quoted(fake, make_client):
    client = make_client(token="pd-wrong-token-9876543210")
    for attempt in (client.check, lambda: client.find_or_create_person(NUMBER, "Ada"),
                    lambda: client.people_updated_since(None, None)):
        with pytest.raises(AuthFailed) as caught:
            attempt()
        assert caught.value.status == 401
        assert "pd-wrong-token" not in str(caught.value)
        assert_clean(caught.value, fake)


def test_the_token_goes_in_the_header_never_in_a_url(fake, make_client):
    client = make_client()
    person_id = client.find_or_create_person(NUMBER, "Ada")
    client.log_call(person_id, a_call())
    client.find_logged_call(101)
    client.people_updated_since(None, None)
    assert len(fake.requests) == 5
    for request in fake.requests:
        assert fake.token not in request["path"]
        assert request["headers"]["x-api-token"] == fake.token


def test_a_server_that_hangs_is_transient_within_the_timeout(fake, make_client):
    fake.script(("hang", 30))
    client = make_client(timeout_s=0.5)
    began = time.monotonic()
    with pytest.raises(TransientError) as caught:
        client.find_or_create_person(NUMBER, "Ada")
    assert time.monotonic() - began < 2.0
    assert_clean(caught.value, fake)


@pytest.mark.parametrize("kind", ["huge", "huge_unsized"])
def test_a_ten_megabyte_answer_is_not_read_whole(fake, make_client, kind):
    fake.script((kind, 10 * 1024 * 1024))
    client = make_client(max_body_bytes=256 * 1024)
    began = time.monotonic()
    with pytest.raises(TransientError) as caught:
        client.people_updated_since(None, None)
    assert "bytes" in str(caught.value)
    assert time.monotonic() - began < 3.0
    assert_clean(caught.value, fake)
    client.check()  # the next request, on a fresh connection, goes through


def test_an_answer_dripped_byte_by_byte_is_cut_at_the_deadline(fake, make_client):
    fake.script(("drip", 20))
    client = make_client(timeout_s=0.5)
    began = time.monotonic()
    with pytest.raises(TransientError):
        client.check()
    assert time.monotonic() - began < 2.0  # 2 x timeout_s, not the 20 s of dripping


def test_server_errors_are_transient_and_refusals_permanent(fake, make_client):
    client = make_client()
    fake.script(500, 503, 400, 404, 422)
    for expected, status in ((TransientError, 500), (TransientError, 503), (PermanentError, 400),
                             (PermanentError, 404), (PermanentError, 422)):
        with pytest.raises(expected) as caught:
            client.find_or_create_person(NUMBER, "Ada")
        assert caught.value.status == status
        assert_clean(caught.value, fake)
    fake.script(403)
    with pytest.raises(AuthFailed):
        client.check()


def test_a_redirect_is_not_followed(fake, make_client):
    elsewhere = FakePipedrive(token=fake.token)
    try:
        fake.script(("redirect", elsewhere.url + "/v1/users/me"))
        with pytest.raises(PermanentError) as caught:
            make_client().check()
        assert caught.value.status == 302
        assert elsewhere.requests == []  # the token went nowhere else
    finally:
        elsewhere.close()


def test_an_unreachable_pipedrive_is_transient(make_client):
    with socket_closed_port() as port:
        client = PipedriveClient(f"http://127.0.0.1:{port}", "pd-token-abc", timeout_s=1.0)
        with pytest.raises(TransientError) as caught:
            client.find_or_create_person(NUMBER, "Ada")
    text = str(caught.value)
    assert "pd-token-abc" not in text and "%2B44" not in text and NUMBER not in text


def test_the_fake_refuses_what_pipedrive_refuses(fake):
    def post(body):
        return requests.post(fake.url + "/v1/callLogs", json=body, headers={"x-api-token": fake.token}, timeout=5)

    person = fake.add_person("Ada", phones=[NUMBER])
    good = {"person_id": person, "outcome": "connected", "to_phone_number": NUMBER,
            "start_time": "2026-12-03 14:05:09", "end_time": "2026-12-03 14:05:51", "duration": "42"}
    assert post(good).status_code == 200
    for change in ({"outcome": "answered"}, {"start_time": "2026-12-03T14:05:09Z"},
                   {"end_time": "2026-12-03 14:00:00"}, {"person_id": str(person)}, {"person_id": 999},
                   {"duration": 42}, {"colour": "red"}):
        answer = post({**good, **change})
        assert answer.status_code in (400, 404), change
        assert answer.json()["success"] is False
    for missing in ("person_id", "outcome", "to_phone_number", "start_time"):
        assert post({k: v for k, v in good.items() if k != missing}).status_code == 400, missing
    assert requests.get(fake.url + "/v1/users/me", timeout=5).status_code == 401
    assert requests.get(fake.url + f"/v1/users/me?api_token={fake.token}", timeout=5,
                        headers={"x-api-token": fake.token}).status_code == 400
    assert requests.get(fake.url + "/api/v2/persons?updated_since=2026-12-01", timeout=5,
                        headers={"x-api-token": fake.token}).status_code == 400
    assert requests.get(fake.url + "/v1/callLogs?limit=51", timeout=5,
                        headers={"x-api-token": fake.token}).status_code == 400


def test_errors_are_crm_errors_with_no_token_in_the_client_repr(fake, make_client):
    client = make_client()
    assert fake.token not in repr(client)
    assert issubclass(RateLimited, CrmError) and issubclass(TransientError, CrmError)


class socket_closed_port:
    """A loopback port nothing listens on."""

    def __enter__(self):
        import socket
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        return self.port

    def __exit__(self, *exc):
        return False


def test_odd_answers_read_as_nothing_found_not_a_crash(fake, make_client, monkeypatch):
    """Pipedrive answering 200 with shapes other than documented: no AttributeError escapes."""
    client = make_client()
    odd = {"success": True, "data": ["not", "a", "dict"], "additional_data": "?"}
    monkeypatch.setattr(client, "_request", lambda *args, **kwargs: odd)
    assert client.find_logged_call(1) is None
    page = client.people_updated_since(None, None)
    assert page.people == [] and page.cursor is None
    with pytest.raises(TransientError):  # no person found, and the creation answered no id
        client.find_or_create_person(NUMBER, "Ada")
