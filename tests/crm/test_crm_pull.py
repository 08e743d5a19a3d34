"""The pull: HubSpot's people become contacts that caller ID knows; a second
pull reads only what changed since; pages are bounded and a pull that fails
half-way resumes from its cursor; one pull per connection at a time; a call with a pulled contact goes to its
CRM record."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

import mobile_sync.crm.hubspot as hubspot_client
import mobile_sync.crm.pull as pull_module
from tests.crm.conftest import connection, sweep
from tests.phone_data import call_row


def names(admin) -> list[str]:
    return sorted(c["name"] for c in admin.get("/api/v1/contacts", query_string={"limit": 200}).json["items"])


def test_a_pull_imports_the_crms_people_and_the_next_one_only_what_changed(connected, hubspot, crm_app):
    admin, rep = connected
    asha = hubspot.add_contact("+91 98765 43210", "Asha", "Rao", company="Rao Traders", email="asha@rao.test")
    hubspot.add_contact("+919123456789", "Kiran", "Kumar")
    hubspot.add_contact("", "No", "Phone", email="nophone@x.test")  # nothing for caller ID: not imported
    response = admin.post("/api/v1/integrations/hubspot/pull")
    assert response.status_code == 202 and response.json == {"status": "queued"}
    assert names(admin) == ["Asha Rao", "Kiran Kumar"]
    card = rep.get("/api/v1/caller-id", query_string={"number": "+91 98765 43210"}).json
    assert (card["match"]["record_type"], card["match"]["name"]) == ("contact", "Asha Rao")
    status = admin.get("/api/v1/integrations").json["items"][0]
    assert status["last_pull_count"] == 3 and status["last_pulled_at"] and not status["pull_running"]
    # Later: one person changed, one added. The next pull asks for changes since the latest it read.
    hubspot.touch(asha, company="Rao Traders Ltd")
    hubspot.add_contact("+919000000001", "Dev", "Shah")
    before = len(hubspot.searches)
    assert admin.post("/api/v1/integrations/hubspot/pull").status_code == 202
    [search] = hubspot.searches[before:]
    assert search["filterGroups"][0]["filters"][0]["propertyName"] == "lastmodifieddate"
    assert admin.get("/api/v1/integrations").json["items"][0]["last_pull_count"] == 2
    assert names(admin) == ["Asha Rao", "Dev Shah", "Kiran Kumar"]  # Asha merged, not doubled


def test_pages_are_bounded_and_a_failed_pull_resumes_from_its_cursor(connected, hubspot, crm_app, monkeypatch,
                                                                   clock):
    admin, _ = connected
    monkeypatch.setattr(hubspot_client, "PAGE", 2)
    people = [hubspot.add_contact(f"+9190000000{i:02d}", f"Person{i}", "Test") for i in range(7)]
    stamp = {p: hubspot.contacts[p]["lastmodifieddate"] for p in people}
    hubspot.fail_searches_after = 2  # pages 1 and 2 answered, page 3 fails
    admin.post("/api/v1/integrations/hubspot/pull")
    assert len(names(admin)) == 4
    row = connection(crm_app)
    # The cursor: the latest change read (Person3's) and who was read at that time.
    assert row.pull_cursor == f"modified:{stamp[people[3]]}:{people[3]}"
    assert row.last_error == "unavailable" and row.pull_claimed_until is None
    # 2 a page: a page after the first asks for one more, the one read at the latest time read.
    assert [s["limit"] for s in hubspot.searches] == [2, 3]
    # The sweep resumes from the cursor: the pages already imported are not read again.
    before = len(hubspot.searches)
    clock.advance(minutes=1)
    sweep(crm_app)
    bounds = [s["filterGroups"][0]["filters"][0]["value"] for s in hubspot.searches[before:]]
    assert bounds == [str(stamp[people[3]]), str(stamp[people[5]])]
    assert all("after" not in s for s in hubspot.searches)  # no offset: no 10,000 cap
    assert len(names(admin)) == 7
    row = connection(crm_app)
    # The whole pull's people, its first run's committed pages too.
    assert row.pull_cursor is None and row.last_pull_count == 7 and row.pull_people_so_far == 0


def test_a_scheduled_pull_runs_every_n_hours(connected, hubspot, crm_app, clock):
    admin, _ = connected
    hubspot.add_contact("+919123456789", "Kiran", "Kumar")
    assert admin.patch("/api/v1/integrations/hubspot", json={"pull_every_h": 6}).status_code == 200
    sweep(crm_app)  # never pulled: due now
    assert names(admin) == ["Kiran Kumar"]
    searches = len(hubspot.searches)
    clock.advance(hours=5)
    sweep(crm_app)
    assert len(hubspot.searches) == searches  # not yet
    clock.advance(hours=1, seconds=1)
    sweep(crm_app)
    assert len(hubspot.searches) == searches + 1


def test_a_pull_asked_while_one_runs_is_refused(connected, crm_app, clock):
    admin, _ = connected
    from mobile_sync.store.crm_connections import claim_pull
    from server.extensions import db

    with crm_app.app_context():
        assert claim_pull(db.session, connection(crm_app).id, clock.now, timedelta(minutes=5))
        db.session.commit()
    response = admin.post("/api/v1/integrations/hubspot/pull")
    assert response.status_code == 409 and response.json["error"]["code"] == "pull_running"
    assert admin.get("/api/v1/integrations").json["items"][0]["pull_running"] is True


def test_one_pull_at_a_time_when_pullers_are_released_together(connected, crm_app, request):
    """The check-then-write of the pull's claim, on PostgreSQL: threads released together, one wins."""
    if request.config.getoption("--db") != "postgresql":
        pytest.skip("row-level concurrency: PostgreSQL")
    import threading

    from sqlalchemy.orm import Session

    from mobile_sync.store.crm_connections import claim_pull
    from server.clock import now
    from server.extensions import db

    connection_id = connection(crm_app).id
    threads, results, barrier = [], [], threading.Barrier(8)

    def puller():
        with crm_app.app_context():
            session = Session(bind=db.engine)
            try:
                moment = now()
                barrier.wait()
                results.append(claim_pull(session, connection_id, moment, timedelta(minutes=5)))
                session.commit()
            finally:
                session.close()

    for _ in range(8):
        threads.append(threading.Thread(target=puller))
        threads[-1].start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [False] * 7 + [True]


def test_pull_pages_per_run_are_bounded(connected, hubspot, crm_app, monkeypatch, clock):
    admin, _ = connected
    monkeypatch.setattr(hubspot_client, "PAGE", 2)
    monkeypatch.setattr(pull_module, "PAGES_PER_RUN", 2)
    people = [hubspot.add_contact(f"+9190000001{i:02d}", f"Someone{i}", "Test") for i in range(5)]
    admin.post("/api/v1/integrations/hubspot/pull")
    assert len(hubspot.searches) == 2 and len(names(admin)) == 4
    assert connection(crm_app).pull_cursor == f"modified:{hubspot.contacts[people[3]]['lastmodifieddate']}:{people[3]}"
    sweep(crm_app)  # the next run goes on from the cursor
    assert len(names(admin)) == 5 and connection(crm_app).pull_cursor is None


def test_a_person_changed_in_the_crm_changes_its_contact_instead_of_adding_a_second(connected, hubspot, crm_app):
    admin, rep = connected
    asha = hubspot.add_contact("+91 98765 43210", "Asha", "Rao")
    assert admin.post("/api/v1/integrations/hubspot/pull").status_code == 202
    [pulled] = admin.get("/api/v1/contacts").json["items"]
    assert pulled_hashes(crm_app, ("+919876543210",)) == {"+919876543210": True}
    # A rep's own number for her, added in CallSync, is kept by later pulls.
    added = admin.patch(f"/api/v1/contacts/{pulled['id']}", json={"phones": ["+91 98765 43210", "+91 90000 12345"]})
    assert added.status_code == 200, added.json
    hubspot.touch(asha, firstname="Asha R.", company="Rao Traders", phone="+91 98765 43211")
    assert admin.post("/api/v1/integrations/hubspot/pull").status_code == 202
    [renamed] = admin.get("/api/v1/contacts").json["items"]
    assert (renamed["id"], renamed["name"], renamed["company"]) == (pulled["id"], "Asha R. Rao", "Rao Traders")
    # The CRM's old number went with the change; the rep's own stays.
    assert sorted(renamed["phones"]) == ["+919000012345", "+919876543211"]
    card = rep.get("/api/v1/caller-id", query_string={"number": "+91 98765 43211"}).json
    assert (card["match"]["record_id"], card["match"]["name"], card["candidates"]) == (pulled["id"], "Asha R. Rao", [])
    assert rep.get("/api/v1/caller-id", query_string={"number": "+91 98765 43210"}).json["match"] is None
    # A number erased at its owner's request is not brought back by the CRM.
    assert admin.post("/api/v1/erasure", json={"phone": "+91 98765 43299"}).status_code == 200
    hubspot.touch(asha, firstname="Asha", phone="+91 98765 43299")
    assert admin.post("/api/v1/integrations/hubspot/pull").status_code == 202
    [kept] = admin.get("/api/v1/contacts").json["items"]
    assert (kept["id"], kept["name"], kept["phones"]) == (pulled["id"], "Asha Rao", ["+919000012345"])
    assert rep.get("/api/v1/caller-id", query_string={"number": "+91 98765 43299"}).json["match"] is None
    assert pulled_hashes(crm_app) == {"+919876543299": False}  # not remembered, not even as a keyed hash
    # Every number taken off in the CRM: the contact stays, with the rep's number only.
    hubspot.touch(asha, phone="")
    assert admin.post("/api/v1/integrations/hubspot/pull").status_code == 202
    [same] = admin.get("/api/v1/contacts").json["items"]
    assert (same["id"], same["name"], same["phones"]) == (pulled["id"], "Asha Rao", ["+919000012345"])


def test_a_contact_deleted_in_callsync_is_pulled_again_as_new_when_the_crm_changes_it(connected, hubspot, crm_app):
    admin, _ = connected
    kiran = hubspot.add_contact("+919123456789", "Kiran", "Kumar")
    admin.post("/api/v1/integrations/hubspot/pull")
    [pulled] = admin.get("/api/v1/contacts").json["items"]
    assert admin.delete(f"/api/v1/contacts/{pulled['id']}").status_code == 204
    hubspot.touch(kiran, lastname="Kumaran")
    admin.post("/api/v1/integrations/hubspot/pull")
    [again] = admin.get("/api/v1/contacts").json["items"]
    assert again["name"] == "Kiran Kumaran" and again["phones"] == ["+919123456789"]


def test_a_call_with_a_pulled_contact_goes_to_the_crm_record_it_came_from(connected, hubspot, crm_app):
    admin, rep = connected
    asha = hubspot.add_contact("+91 98765 43210", "Asha", "Rao")
    assert admin.post("/api/v1/integrations/hubspot/pull").status_code == 202
    response = rep.post("/api/v1/sync/calls", device=True, json={
        "batch_id": "b1", "calls": [call_row(1, "+91 98765 43210", type_=2, duration=40)]})
    assert response.status_code == 200, response.json
    [call] = hubspot.calls.values()
    assert call["contacts"] == [asha] and list(hubspot.contacts) == [asha]


def pulled_hashes(app, numbers=("+919876543299",)) -> dict[str, bool]:
    """Whether any person link remembers each number's keyed hash."""
    from mobile_sync.number_hash import CRM_PULLED, number_hash
    from mobile_sync.store.models import CrmPersonLink
    from server.extensions import db

    with app.app_context():
        links = db.session.execute(select(CrmPersonLink).execution_options(all_organizations=True)).scalars().all()
        held = {digest for link in links for digest in link.pulled_numbers}
        org_ids = {link.organization_id for link in links}
        db.session.commit()
    return {e164: any(number_hash(app.config["HASH_KEY"], CRM_PULLED, org, e164) in held for org in org_ids)
            for e164 in numbers}
