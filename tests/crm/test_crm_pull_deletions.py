"""A person deleted (or merged into another) in the CRM: after the next pull
the contact the pull made from it is gone from the contacts and from caller
ID; a contact that was here before keeps its own numbers and loses the CRM's;
a contact a rep wrote on is kept; a page read again deletes nothing twice; a
failed page is retried from its cursor; another organisation is untouched.
HubSpot (archived contacts) and Pipedrive (deleted persons)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

import mobile_sync.crm.hubspot as hubspot_client
from tests.crm.conftest import TOKEN, connection, sweep
from tests.crm.fake_hubspot import FakeHubSpot

ASHA, ASHA_E164 = "+91 98765 43210", "+919876543210"
KIRAN, KIRAN_E164 = "+91 91234 56789", "+919123456789"


def contacts(admin) -> list[dict]:
    return sorted(admin.get("/api/v1/contacts", query_string={"limit": 200}).json["items"], key=lambda c: c["name"])


def names(admin) -> list[str]:
    return [c["name"] for c in contacts(admin)]


def caller(rep, number: str) -> str | None:
    match = rep.get("/api/v1/caller-id", query_string={"number": number}).json["match"]
    return match and match["name"]


def pull(admin, crm="hubspot"):
    response = admin.post(f"/api/v1/integrations/{crm}/pull")
    assert response.status_code == 202, response.json


# HubSpot


def test_a_person_deleted_in_hubspot_leaves_the_contacts_and_caller_id(connected, hubspot, client):
    from tests.web.conftest import sign_in

    admin, rep = connected
    asha = hubspot.add_contact(ASHA, "Asha", "Rao", company="Rao Traders", email="Asha@Rao.test")
    hubspot.add_contact(KIRAN, "Kiran", "Kumar")
    pull(admin)
    assert names(admin) == ["Asha Rao", "Kiran Kumar"] and caller(rep, ASHA) == "Asha Rao"
    hubspot.archive(asha)
    pull(admin)
    assert names(admin) == ["Kiran Kumar"]
    assert caller(rep, ASHA) is None and caller(rep, KIRAN) == "Kiran Kumar"
    # The admin sees why she went: the integrations' status and page say so.
    status = admin.get("/api/v1/integrations").json["items"][0]
    assert (status["crm"], status["last_pull_removed"]) == ("hubspot", 1)
    sign_in(client, admin.email)
    assert "1 contact removed: deleted in HubSpot" in client.get("/integrations").get_data(as_text=True)
    assert hubspot.archived_lists and all(q["archived"] == "true" for q in hubspot.archived_lists)
    # A rep adds her again by hand: later pulls, which list the archived contacts again, leave her be.
    again = admin.post("/api/v1/contacts", json={"name": "Asha Rao", "phones": [ASHA]})
    assert again.status_code == 201, again.json
    pull(admin)
    pull(admin)
    assert names(admin) == ["Asha Rao", "Kiran Kumar"] and caller(rep, ASHA) == "Asha Rao"
    assert admin.get("/api/v1/integrations").json["items"][0]["last_pull_removed"] == 0


def test_integrations_hear_of_the_deletion_once(connected, hubspot, crm_app):
    """`contact.deleted` goes to the webhooks, as when a user deletes it, and
    the archived list read again at the next pulls sends nothing more."""
    import json

    from tests.api.test_webhooks_support import Receiver

    admin, _ = connected
    receiver = Receiver()
    try:
        crm_app.config.update(WEBHOOK_ALLOW_LOOPBACK=True, WEBHOOK_TIMEOUT_S=2.0)
        created = admin.post("/api/v1/webhooks", json={"url": receiver.url("/ok"), "events": ["contact.deleted"]})
        assert created.status_code == 201, created.json
        receiver.secrets.append(created.json["secret"])
        asha = hubspot.add_contact(ASHA, "Asha", "Rao")
        pull(admin)
        [pulled] = contacts(admin)
        hubspot.archive(asha)
        for _ in range(3):
            pull(admin)
        sent = [json.loads(r["body"]) for r in receiver.requests]
        assert all(r["verified"] for r in receiver.requests)
        assert [(b["type"], b["data"]) for b in sent] == [("contact.deleted", {"id": pulled["id"]})]
    finally:
        receiver.close()


def test_a_contact_here_before_the_person_was_merged_in_keeps_its_own_numbers(connected, hubspot):
    admin, rep = connected
    own = admin.post("/api/v1/contacts", json={"name": "Asha Rao", "phones": [ASHA, "+91 90000 11111"]}).json
    asha = hubspot.add_contact(ASHA, "Asha", "Rao", email="asha@rao.test")
    hubspot.touch(asha, mobilephone="+91 90000 22222")
    pull(admin)
    [merged] = contacts(admin)
    assert merged["id"] == own["id"] and sorted(merged["phones"]) == ["+919000011111", "+919000022222", ASHA_E164]
    hubspot.archive(asha)
    pull(admin)
    [kept] = contacts(admin)
    assert kept["id"] == own["id"] and sorted(kept["phones"]) == ["+919000011111", ASHA_E164]
    assert caller(rep, ASHA) == "Asha Rao" and caller(rep, "+91 90000 22222") is None


def test_a_contact_a_rep_wrote_on_is_kept_without_the_crms_numbers(connected, hubspot):
    admin, rep = connected
    asha = hubspot.add_contact(ASHA, "Asha", "Rao")
    kiran = hubspot.add_contact(KIRAN, "Kiran", "Kumar")
    dev = hubspot.add_contact("+91 90000 55555", "Dev", "Shah")
    pull(admin)
    pulled = {c["name"]: c for c in contacts(admin)}
    typed = admin.patch(f"/api/v1/contacts/{pulled['Asha Rao']['id']}", json={"company": "Typed by a rep"})
    assert typed.status_code == 200, typed.json
    taken = admin.patch(f"/api/v1/contacts/{pulled['Kiran Kumar']['id']}", json={"owner_id": rep.user_id})
    assert taken.status_code == 200, taken.json
    noted = admin.post(f"/api/v1/records/contact/{pulled['Dev Shah']['id']}/notes", json={"text": "Call back Monday"})
    assert noted.status_code == 201, noted.json
    for person in (asha, kiran, dev):
        hubspot.archive(person)
    pull(admin)
    kept = {c["name"]: c for c in contacts(admin)}
    assert sorted(kept) == ["Asha Rao", "Dev Shah", "Kiran Kumar"]
    assert kept["Asha Rao"]["company"] == "Typed by a rep"
    assert all(c["phones"] == [] for c in kept.values())
    assert caller(rep, ASHA) is None and caller(rep, KIRAN) is None and caller(rep, "+91 90000 55555") is None


def test_a_contact_merged_away_in_hubspot_goes_and_the_kept_one_takes_its_number(connected, hubspot):
    admin, rep = connected
    kept = hubspot.add_contact(ASHA, "Asha", "Rao")
    twin = hubspot.add_contact("", "Asha", "R.")
    hubspot.touch(twin, mobilephone=KIRAN)
    pull(admin)
    assert names(admin) == ["Asha R.", "Asha Rao"]
    hubspot.merge(kept, twin)
    pull(admin)
    [only] = contacts(admin)
    assert only["name"] == "Asha Rao" and sorted(only["phones"]) == [KIRAN_E164, ASHA_E164]
    assert caller(rep, KIRAN) == "Asha Rao"


def test_a_contact_two_people_became_stays_while_one_of_them_is_left(connected, hubspot):
    admin, rep = connected
    first = hubspot.add_contact(ASHA, "Asha", "Rao")
    pull(admin)
    second = hubspot.add_contact(ASHA, "Asha", "Rao")  # a duplicate in the CRM, with a number of its own
    hubspot.touch(second, mobilephone=KIRAN)
    pull(admin)
    [one] = contacts(admin)
    assert sorted(one["phones"]) == [KIRAN_E164, ASHA_E164]
    hubspot.archive(second)
    pull(admin)
    [kept] = contacts(admin)
    assert kept["id"] == one["id"] and kept["phones"] == [ASHA_E164] and caller(rep, KIRAN) is None
    hubspot.archive(first)
    pull(admin)
    assert contacts(admin) == [] and caller(rep, ASHA) is None


def test_two_people_one_contact_merged_in_hubspot_keep_every_number_the_survivor_has(connected, hubspot):
    """The survivor takes over a number the other person gave the contact:
    it stays the CRM's (and on the contact) when the other goes."""
    admin, rep = connected
    first = hubspot.add_contact(ASHA, "Asha", "Rao")
    pull(admin)
    second = hubspot.add_contact(ASHA, "Asha", "Rao")
    hubspot.touch(second, mobilephone=KIRAN)
    pull(admin)
    hubspot.merge(first, second)  # the first takes the second's mobile number
    pull(admin)
    [one] = contacts(admin)
    assert sorted(one["phones"]) == [KIRAN_E164, ASHA_E164] and caller(rep, KIRAN) == "Asha Rao"
    hubspot.archive(first)  # and when the survivor goes, the contact goes whole
    pull(admin)
    assert contacts(admin) == [] and caller(rep, KIRAN) is None


def test_a_failed_page_of_archived_contacts_is_retried_from_its_cursor(connected, hubspot, crm_app, monkeypatch,
                                                                       clock):
    admin, rep = connected
    monkeypatch.setattr(hubspot_client, "PAGE", 1)
    people = [hubspot.add_contact(f"+91 90000 0000{i}", f"Person{i}", "Test") for i in range(3)]
    pull(admin)
    assert len(names(admin)) == 3
    for person in people:
        hubspot.archive(person)
    hubspot.fail_archived_lists_after = 1  # the first archived page answered, the second fails
    pull(admin)
    assert names(admin) == ["Person1 Test", "Person2 Test"]
    row = connection(crm_app)
    assert row.pull_cursor == f"archived:{people[0]}" and row.last_error == "unavailable"
    clock.advance(minutes=1)
    sweep(crm_app)  # resumes from the cursor: the first page is not read again
    assert [q.get("after") for q in hubspot.archived_lists[-3:]] == [people[0], people[0], people[1]]
    assert names(admin) == [] and connection(crm_app).pull_cursor is None
    assert all(caller(rep, f"+91 90000 0000{i}") is None for i in range(3))


def test_a_person_archived_while_the_first_pull_runs_is_not_missed(connected, hubspot, crm_app, monkeypatch):
    import mobile_sync.crm.pull as pull_module

    admin, rep = connected
    monkeypatch.setattr(hubspot_client, "PAGE", 1)
    monkeypatch.setattr(pull_module, "PAGES_PER_RUN", 1)
    asha = hubspot.add_contact(ASHA, "Asha", "Rao")
    hubspot.add_contact(KIRAN, "Kiran", "Kumar")
    pull(admin)  # one page a run: Asha only
    assert names(admin) == ["Asha Rao"]
    hubspot.archive(asha)
    hubspot.add_contact("+91 90000 55555", "Dev", "Shah")  # the latest change this pull reads: after the archival
    for _ in range(3):
        sweep(crm_app)
    assert connection(crm_app).pull_cursor is None
    assert "Dev Shah" in names(admin) and "Asha Rao" not in names(admin) and caller(rep, ASHA) is None


def test_another_organisations_contact_from_a_person_of_the_same_id_is_untouched(connected, hubspot, crm_app,
                                                                                make_org, make_user, make_device):
    admin, rep = connected
    other_crm = FakeHubSpot(token=TOKEN)
    try:
        asha = hubspot.add_contact(ASHA, "Asha", "Rao")
        same_id = other_crm.add_contact(ASHA, "Asha", "Rao")
        assert same_id == asha  # each portal numbers its own contacts
        other = make_org(region="IN")
        other_rep = make_device(make_user(other, name="Other Rep"))
        crm_app.config["HUBSPOT_API_URL"] = other_crm.url
        assert other.put("/api/v1/integrations/hubspot", json={"token": TOKEN}).status_code in (200, 201)
        pull(other)
        crm_app.config["HUBSPOT_API_URL"] = hubspot.url
        pull(admin)
        hubspot.archive(asha)
        pull(admin)
        assert names(admin) == [] and caller(rep, ASHA) is None
        crm_app.config["HUBSPOT_API_URL"] = other_crm.url
        pull(other)
        assert names(other) == ["Asha Rao"] and caller(other_rep, ASHA) == "Asha Rao"
    finally:
        other_crm.close()


# Pipedrive


@pytest.fixture
def pd_connected(clean_app, clock, pipedrive, make_org, make_user, make_device):
    clean_app.config.update(PIPEDRIVE_API_URL=pipedrive.url, CRM_TIMEOUT_S=2.0)
    admin = make_org(region="IN")
    saved = admin.put("/api/v1/integrations/pipedrive", json={"token": pipedrive.token})
    assert saved.status_code in (200, 201), saved.json
    return admin, make_device(make_user(admin, name="Ravi Rep"))


def test_a_person_deleted_in_pipedrive_leaves_the_contacts_and_caller_id(pd_connected, pipedrive):
    admin, rep = pd_connected
    asha = pipedrive.add_person("Asha Rao", phones=[ASHA], emails=["asha@rao.test"])
    pipedrive.add_person("Kiran Kumar", phones=[KIRAN])
    pull(admin, "pipedrive")
    assert names(admin) == ["Asha Rao", "Kiran Kumar"]
    pipedrive.delete_person(asha)
    pull(admin, "pipedrive")
    assert names(admin) == ["Kiran Kumar"] and caller(rep, ASHA) is None and caller(rep, KIRAN) == "Kiran Kumar"
    # The deleted person is listed again (updated_since is inclusive): nothing more happens.
    again = admin.post("/api/v1/contacts", json={"name": "Asha Rao", "phones": [ASHA]})
    assert again.status_code == 201, again.json
    pull(admin, "pipedrive")
    assert names(admin) == ["Asha Rao", "Kiran Kumar"] and caller(rep, ASHA) == "Asha Rao"


def test_a_person_merged_away_in_pipedrive_and_one_merged_into_a_contact_here_before(pd_connected, pipedrive):
    admin, rep = pd_connected
    own = admin.post("/api/v1/contacts", json={"name": "Kiran Kumar", "phones": [KIRAN]}).json
    kiran = pipedrive.add_person("Kiran Kumar", phones=[KIRAN, "+91 90000 33333"])
    kept = pipedrive.add_person("Asha Rao", phones=[ASHA])
    twin = pipedrive.add_person("Asha R.", phones=["+91 90000 44444"])
    pull(admin, "pipedrive")
    assert names(admin) == ["Asha R.", "Asha Rao", "Kiran Kumar"]
    pipedrive.merge_persons(kept, twin)
    pipedrive.delete_person(kiran)
    pull(admin, "pipedrive")
    left = {c["name"]: c for c in contacts(admin)}
    assert sorted(left) == ["Asha Rao", "Kiran Kumar"]
    assert sorted(left["Asha Rao"]["phones"]) == ["+919000044444", ASHA_E164]
    assert left["Kiran Kumar"]["id"] == own["id"] and left["Kiran Kumar"]["phones"] == [KIRAN_E164]
    assert caller(rep, "+91 90000 44444") == "Asha Rao" and caller(rep, "+91 90000 33333") is None
    assert caller(rep, KIRAN) == "Kiran Kumar"


def test_a_person_deleted_in_pipedrive_while_the_pull_runs_is_not_missed(pd_connected, pipedrive, clean_app,
                                                                         monkeypatch):
    """Persons are read oldest change first: one deleted after its page was
    read comes again behind the cursor, before the later changes."""
    import mobile_sync.crm.pull as pull_module
    from mobile_sync.crm.pipedrive import PipedriveClient

    admin, rep = pd_connected
    clean_app.extensions["crm_client_factory"] = lambda crm, token: PipedriveClient(
        pipedrive.url, token, timeout_s=2.0, page_size=1)
    monkeypatch.setattr(pull_module, "PAGES_PER_RUN", 1)
    try:
        asha = pipedrive.add_person("Asha Rao", phones=[ASHA])
        kiran = pipedrive.add_person("Kiran Kumar", phones=[KIRAN])
        pull(admin, "pipedrive")  # one person a run: Asha
        assert names(admin) == ["Asha Rao"]
        pipedrive.delete_person(asha)
        pipedrive.touch_person(kiran, datetime.now(timezone.utc) + timedelta(seconds=5))
        for _ in range(4):
            sweep(clean_app)
        assert names(admin) == ["Kiran Kumar"] and caller(rep, ASHA) is None
    finally:
        clean_app.extensions.pop("crm_client_factory", None)
