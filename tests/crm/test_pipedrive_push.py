"""Pipedrive end to end through the CRM machinery: an admin connects it, a
phone's processed upload becomes call logs in the (fake) Pipedrive once, a
429 pauses the pushes until Pipedrive's wait is over, an answer lost after
the call log landed never logs it twice, an approved lead becomes a person,
and the pull imports Pipedrive's persons as contacts."""
from __future__ import annotations

from datetime import timedelta

import pytest

from tests.crm.conftest import pushes, sweep
from tests.phone_data import call_row

NUMBER = "+91 91234 56789"
E164 = "+919123456789"


@pytest.fixture
def pd_app(clean_app, clock, pipedrive):
    clean_app.config.update(PIPEDRIVE_API_URL=pipedrive.url, CRM_TIMEOUT_S=2.0)
    return clean_app


@pytest.fixture
def connected(pd_app, make_org, make_user, make_device, pipedrive):
    """An admin whose organisation is connected to Pipedrive, and a rep with a consenting phone."""
    admin = make_org(region="IN")
    saved = admin.put("/api/v1/integrations/pipedrive", json={
        "token": pipedrive.token, "call_types": ["incoming", "outgoing", "missed"]})
    assert saved.status_code in (200, 201), saved.json
    rep = make_device(make_user(admin, name="Ravi Rep"))
    return admin, rep


def upload(rep, batch_id: str, *rows):
    response = rep.post("/api/v1/sync/calls", device=True, json={"batch_id": batch_id, "calls": list(rows)})
    assert response.status_code == 200, response.json
    return response


def pipedrive_status(admin) -> dict:
    return next(item for item in admin.get("/api/v1/integrations").json["items"] if item["crm"] == "pipedrive")


def test_a_bad_token_is_refused_when_saved(pd_app, make_org, pipedrive):
    admin = make_org(region="IN")
    response = admin.put("/api/v1/integrations/pipedrive", json={"token": "pd-not-the-token-000"})
    assert response.status_code == 422
    assert "pd-not-the-token" not in response.get_data(as_text=True)
    assert pipedrive_status(admin)["connected"] is False


def test_a_processed_uploads_calls_appear_in_pipedrive_once(connected, pipedrive, pd_app):
    admin, rep = connected
    upload(rep, "b1", call_row(1, NUMBER, type_=1, duration=60), call_row(2, NUMBER, type_=2, duration=30))
    logs = sorted(pipedrive.call_logs, key=lambda log: log["start_time"])
    assert [log["outcome"] for log in logs] == ["connected", "connected"]
    assert [log.get("from_phone_number") for log in logs] == [E164, None]  # incoming, then outgoing
    assert all(log["to_phone_number"] == E164 for log in logs)
    assert len(pipedrive.persons) == 1  # one person for the number, found the second time
    (person_id,) = pipedrive.persons
    assert {log["person_id"] for log in logs} == {person_id}
    assert all("[callsync:" in log["note"] for log in logs)
    assert pipedrive_status(admin)["pushes"].get("delivered") == 2

    # The same batch again, a sweep: nothing more reaches Pipedrive.
    upload(rep, "b1", call_row(1, NUMBER, type_=1, duration=60), call_row(2, NUMBER, type_=2, duration=30))
    sweep(pd_app)
    assert len(pipedrive.call_logs) == 2
    for request in pipedrive.requests:
        assert pipedrive.token not in request["path"]


def test_a_call_log_whose_answer_was_lost_is_not_logged_twice(connected, pipedrive, pd_app, clock):
    admin, rep = connected
    pipedrive.script(None, None, ("lost", 502))  # search, create the person, then the call log lands: 502
    upload(rep, "b1", call_row(1, NUMBER, type_=2, duration=45))
    assert len(pipedrive.call_logs) == 1
    assert pipedrive_status(admin)["pushes"].get("pending") == 1

    clock.advance(hours=1)  # past the back-off
    sweep(pd_app)
    assert len(pipedrive.call_logs) == 1  # found by its call id, not logged again
    assert pipedrive.requests_to("GET", "/v1/callLogs")
    [item] = pushes(pd_app)
    assert (item.status, item.attempts, item.external_id) == ("delivered", 2, pipedrive.call_logs[0]["id"])


def test_a_429_pauses_the_pushes_for_pipedrives_wait(connected, pipedrive, pd_app, clock):
    admin, rep = connected
    pipedrive.script(("rate_limited", 30))
    upload(rep, "b1", call_row(1, NUMBER, type_=2, duration=45))
    assert pipedrive.call_logs == []
    status = pipedrive_status(admin)
    assert status["last_error"] == "rate_limited" and status["paused_until"] is not None
    [item] = pushes(pd_app)
    assert (item.status, item.attempts, item.last_status_code) == ("pending", 0, 429)  # not a failed attempt
    assert item.next_attempt_at >= clock.now + timedelta(seconds=30)

    sent = len(pipedrive.requests)
    clock.advance(seconds=10)
    sweep(pd_app)
    assert len(pipedrive.requests) == sent  # still inside Pipedrive's wait: nothing sent

    clock.advance(seconds=30)
    sweep(pd_app)
    assert len(pipedrive.call_logs) == 1
    assert pipedrive_status(admin)["pushes"].get("delivered") == 1


def test_an_empty_burst_window_pauses_the_pushes_without_a_429(connected, pipedrive, pd_app, clock):
    """x-ratelimit-remaining: 0 on an answer: the next request waits out
    x-ratelimit-reset instead of being sent to fail."""
    admin, rep = connected
    pipedrive.burst, pipedrive.window_s = 3, 60.0
    pipedrive.reset_window()
    # The first call takes the window's 3 requests (search, person, call log); the second waits.
    upload(rep, "b1", call_row(1, NUMBER, type_=2, duration=45), call_row(2, NUMBER, type_=2, duration=50))
    assert len(pipedrive.call_logs) == 1 and 429 not in pipedrive.statuses
    waiting = [p for p in pushes(pd_app) if p.status == "pending"]
    assert len(waiting) == 1 and waiting[0].attempts == 0
    assert waiting[0].next_attempt_at >= clock.now + timedelta(seconds=50)  # the window's reset, about 60 s
    assert pipedrive_status(admin)["last_error"] == "rate_limited"

    clock.advance(seconds=62)
    pipedrive.reset_window()
    sweep(pd_app)
    assert len(pipedrive.call_logs) == 2 and 429 not in pipedrive.statuses
    assert {p.status for p in pushes(pd_app)} == {"delivered"}


def test_an_approved_lead_becomes_a_pipedrive_person_once(connected, pipedrive, pd_app):
    admin, _ = connected
    lead = admin.post("/api/v1/leads", json={"name": "Asha Rao", "phone": "+91 98765 43210"}).json
    assert pipedrive.persons == {}  # not approved yet
    assert admin.post(f"/api/v1/leads/{lead['id']}/approve").status_code == 200
    [person] = pipedrive.persons.values()
    assert person["name"] == "Asha Rao" and [p["value"] for p in person["phones"]] == ["+919876543210"]
    [item] = pushes(pd_app)
    assert (item.subject_type, item.status, item.external_id) == ("lead", "delivered", str(person["id"]))


def test_the_pull_imports_pipedrive_persons_as_contacts(connected, pipedrive, pd_app, clock):
    admin, _ = connected
    pipedrive.add_person("Asha Rao", phones=["+91 98765 43210"], emails=["asha@example.com"])
    pipedrive.add_person("No Number")  # nothing for caller ID: not imported
    assert admin.post("/api/v1/integrations/pipedrive/pull").status_code == 202
    contacts = admin.get("/api/v1/contacts").json["items"]
    assert [c["name"] for c in contacts] == ["Asha Rao"]
    assert contacts[0]["phones"] == ["+919876543210"]
    assert pipedrive_status(admin)["last_pull_count"] == 2

    # The next pull asks only for what changed since.
    pipedrive.add_person("Kiran Kumar", phones=["+91 99887 76655"])
    clock.advance(minutes=5)
    assert admin.post("/api/v1/integrations/pipedrive/pull").status_code == 202
    names = sorted(c["name"] for c in admin.get("/api/v1/contacts").json["items"])
    assert names == ["Asha Rao", "Kiran Kumar"]
    pulls = pipedrive.requests_to("GET", "/api/v2/persons")
    assert "updated_since=1970-01-01T00%3A00%3A00Z" in pulls[0]["path"]  # all persons: none linked yet
    assert "updated_since=2026-" in pulls[-1]["path"]


def test_a_call_with_a_pulled_contact_is_logged_on_its_person_even_when_typed_with_spaces(connected, pipedrive,
                                                                                          pd_app):
    """Pipedrive keeps a number as it was typed; a search for the E.164 form
    would miss "+91 91234 56789" and make a second person. The contact pulled
    from that person carries its id, so the call is logged on it, unsearched."""
    admin, rep = connected
    person_id = pipedrive.add_person("Kiran Kumar", phones=[NUMBER])
    assert admin.post("/api/v1/integrations/pipedrive/pull").status_code == 202
    assert [c["name"] for c in admin.get("/api/v1/contacts").json["items"]] == ["Kiran Kumar"]

    upload(rep, "b1", call_row(1, NUMBER, type_=2, duration=40))
    [log] = pipedrive.call_logs
    assert log["person_id"] == person_id and log["to_phone_number"] == E164
    assert list(pipedrive.persons) == [person_id]  # no second person
    assert pipedrive.requests_to("GET", "/v1/persons/search") == []
    assert pipedrive_status(admin)["pushes"].get("delivered") == 1


def test_a_pulled_person_deleted_in_pipedrive_since_falls_back_to_the_search(connected, pipedrive, pd_app):
    admin, rep = connected
    person_id = pipedrive.add_person("Kiran Kumar", phones=[E164])
    assert admin.post("/api/v1/integrations/pipedrive/pull").status_code == 202
    del pipedrive.persons[person_id]  # gone from Pipedrive: a call log on it is refused

    upload(rep, "b1", call_row(1, NUMBER, type_=1, duration=20))
    [log] = pipedrive.call_logs
    [(new_id, person)] = pipedrive.persons.items()
    assert log["person_id"] == new_id != person_id
    assert person["name"] == "Kiran Kumar" and [p["value"] for p in person["phones"]] == [E164]
    [item] = pushes(pd_app)
    assert (item.status, item.attempts, item.external_id) == ("delivered", 1, log["id"])
