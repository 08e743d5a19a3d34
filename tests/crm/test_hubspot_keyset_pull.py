"""The HubSpot pull pages by modification time, not by offset: a contact
changed or deleted while a pull is between pages is not lost; more contacts
than HubSpot's search returns for one query (10,000; a smaller cap here) are
all pulled across runs; contacts sharing one modification time across a page
boundary, or more of them than the cursor keeps, are all pulled and the pull
ends; a pull stored mid-way with an old offset cursor resumes without losing
anyone. What the user sees: the contacts list and caller ID."""
from __future__ import annotations

import time

import pytest

from sqlalchemy import select

import mobile_sync.crm.hubspot as hubspot_client
import mobile_sync.crm.pull as pull_module
from tests.crm.conftest import connection, sweep


def names(admin) -> list[str]:
    return sorted(c["name"] for c in admin.get("/api/v1/contacts", query_string={"limit": 200}).json["items"])


def caller(rep, number: str) -> str | None:
    match = rep.get("/api/v1/caller-id", query_string={"number": number}).json["match"]
    return match and match["name"]


def pull_to_the_end(admin, crm_app, clock, runs: int = 20) -> None:
    """ "Pull now", then the sweep's runs until the pull has read everything."""
    assert admin.post("/api/v1/integrations/hubspot/pull").status_code == 202
    for _ in range(runs):
        if connection(crm_app).pull_cursor is None:
            return
        clock.advance(minutes=1)
        sweep(crm_app)
    assert connection(crm_app).pull_cursor is None, "the pull never ended"


def test_a_contact_changed_or_deleted_while_the_pull_is_between_pages_is_not_lost(connected, hubspot, crm_app,
                                                                                   monkeypatch, clock):
    admin, rep = connected
    monkeypatch.setattr(hubspot_client, "PAGE", 2)
    monkeypatch.setattr(pull_module, "PAGES_PER_RUN", 1)
    asha = hubspot.add_contact("+919000000001", "Asha", "Rao")
    kiran = hubspot.add_contact("+919000000002", "Kiran", "Kumar")
    for i, name in enumerate(["Dev", "Meera", "Ravi"], start=3):
        hubspot.add_contact(f"+91900000000{i}", name, "Shah")
    assert admin.post("/api/v1/integrations/hubspot/pull").status_code == 202  # one page: Asha and Kiran
    assert names(admin) == ["Asha Rao", "Kiran Kumar"]
    # Between two pages: Asha changes (her change is now the latest), Kiran is deleted.
    hubspot.touch(asha, lastname="Rao-Iyer")
    hubspot.archive(kiran)
    pull_to_the_end(admin, crm_app, clock)
    assert names(admin) == ["Asha Rao-Iyer", "Dev Shah", "Meera Shah", "Ravi Shah"]
    assert caller(rep, "+919000000003") == "Dev Shah" and caller(rep, "+919000000002") is None
    # The next pull reads what changed after the latest change read: Dev and Meera stay.
    hubspot.add_contact("+919000000009", "Nisha", "Pal")
    pull_to_the_end(admin, crm_app, clock)
    assert names(admin) == ["Asha Rao-Iyer", "Dev Shah", "Meera Shah", "Nisha Pal", "Ravi Shah"]


def test_more_contacts_than_one_search_returns_are_all_pulled_across_runs(connected, hubspot, crm_app, monkeypatch,
                                                                          clock):
    admin, rep = connected
    assert hubspot.search_cap == 10_000  # HubSpot's: the fake pages no further for one query
    hubspot.search_cap = 50
    monkeypatch.setattr(hubspot_client, "PAGE", 10)
    monkeypatch.setattr(pull_module, "PAGES_PER_RUN", 5)
    for i in range(120):
        hubspot.add_contact(f"+9191{i:08d}", f"Person{i:03d}", "Test")
    pull_to_the_end(admin, crm_app, clock)
    assert len(names(admin)) == 120
    assert caller(rep, "+919100000119") == "Person119 Test" and caller(rep, "+919100000000") == "Person000 Test"
    assert connection(crm_app).last_error is None


def test_contacts_sharing_a_modification_time_across_a_page_boundary_are_all_pulled(connected, hubspot, crm_app,
                                                                                    monkeypatch, clock):
    admin, rep = connected
    monkeypatch.setattr(hubspot_client, "PAGE", 3)
    moment = int(time.time() * 1000) - 60_000
    hubspot.add_contact("+919200000000", "Early", "One", modified_ms=moment)
    hubspot.add_contact("+919200000001", "Early", "Two", modified_ms=moment + 1)
    for i in range(2, 7):  # five at one millisecond: the first page ends among them
        hubspot.add_contact(f"+91920000000{i}", f"Tied{i}", "Test", modified_ms=moment + 2)
    hubspot.add_contact("+919200000007", "Late", "One", modified_ms=moment + 3)
    pull_to_the_end(admin, crm_app, clock)
    assert names(admin) == ["Early One", "Early Two", "Late One"] + [f"Tied{i} Test" for i in range(2, 7)]
    assert all(caller(rep, f"+91920000000{i}") == f"Tied{i} Test" for i in range(2, 7))
    assert len(hubspot.searches) <= 6  # each page brings contacts not read yet


def test_more_contacts_at_one_time_than_the_cursor_keeps_are_read_by_id_and_the_pull_ends(connected, hubspot,
                                                                                          crm_app, monkeypatch,
                                                                                          clock):
    admin, rep = connected
    monkeypatch.setattr(hubspot_client, "PAGE", 2)
    monkeypatch.setattr(hubspot_client, "MAX_TIED", 3)
    moment = int(time.time() * 1000) - 60_000
    for i in range(9):  # an import: nine contacts at one millisecond, more than a page and the cursor's ids
        hubspot.add_contact(f"+91930000000{i}", f"Bulk{i}", "Test", modified_ms=moment)
    hubspot.add_contact("+919300000009", "After", "Bulk", modified_ms=moment + 1)
    pull_to_the_end(admin, crm_app, clock)
    assert names(admin) == ["After Bulk"] + [f"Bulk{i} Test" for i in range(9)]
    assert caller(rep, "+919300000008") == "Bulk8 Test"
    assert len(hubspot.searches) <= 12
    # Nothing new: the next pull reads nothing and adds no one.
    pull_to_the_end(admin, crm_app, clock)
    assert connection(crm_app).last_pull_count == 0 and len(names(admin)) == 10


@pytest.mark.parametrize("stored", ["2", "modified:x:1,2", "tied::", "tied:later:5", "tied:5:x",
                                    "modified:5:" + ",".join(str(10**6 + i) for i in range(30))])
def test_a_pull_stored_mid_way_with_an_offset_cursor_resumes_without_losing_anyone(connected, hubspot, crm_app,
                                                                                   clock, stored):
    # An offset cursor stored before keyset paging, or one not understood: the pull starts again from its mark.
    from mobile_sync.store.models import CrmConnection
    from server.extensions import db

    admin, rep = connected
    for i in range(5):
        hubspot.add_contact(f"+91940000000{i}", f"Person{i}", "Test")
    with crm_app.app_context():
        row = db.session.execute(select(CrmConnection).execution_options(all_organizations=True)).scalar_one()
        row.pull_cursor = stored
        db.session.commit()
    sweep(crm_app)
    assert connection(crm_app).pull_cursor is None
    assert names(admin) == [f"Person{i} Test" for i in range(5)]
    assert caller(rep, "+919400000000") == "Person0 Test"
