"""A CRM pull deleting a contact (its person deleted in the CRM) while a
user writes on it: a note or an edit either comes first, and the contact is
kept with it, or comes after and gets a 404; never a 201 or 200 for
something that is then gone, never a 500. Threads released together,
repeated; it matters on PostgreSQL (`scripts/test` runs tests/crm there),
where SQLite's serialised writes would hide it."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from tests.api.test_races import race

TRIALS = 12


@pytest.fixture
def slow_pull(monkeypatch):
    """The pull pauses after it read what it deletes, as a busy server would:
    without the contact's lock, a note then slips in between."""
    from mobile_sync.crm import deleted_people

    original = deleted_people.records_with_notes_or_tasks

    def slow(*args, **kwargs):
        found = original(*args, **kwargs)
        time.sleep(0.05)
        return found

    monkeypatch.setattr(deleted_people, "records_with_notes_or_tasks", slow)


def _send(app, actor, method, path, json=None, delay=0.0):
    def send():
        if delay:
            time.sleep(delay)
        response = app.test_client().open(path, method=method, headers=actor.headers(), json=json)
        return response.status_code, response.get_json(silent=True)
    return send


def _notes(app, contact_id: int) -> int:
    from mobile_sync.store.models import Note
    from server.extensions import db

    with app.app_context():
        return db.session.execute(select(func.count()).select_from(Note).where(
            Note.record_type == "contact", Note.record_id == contact_id)
            .execution_options(all_organizations=True)).scalar_one()


def _pulled_contact(admin, hubspot, trial: int) -> tuple[str, int]:
    person = hubspot.add_contact(f"+91 97{trial:03d} 12345", f"Person{trial}", "Race")
    assert admin.post("/api/v1/integrations/hubspot/pull").status_code == 202
    [contact] = [c for c in admin.get("/api/v1/contacts", query_string={"q": f"Person{trial}"}).json["items"]]
    hubspot.archive(person)
    return person, contact["id"]


@pytest.mark.parametrize("write", ["note", "edit"])
def test_a_note_or_edit_racing_the_pull_that_deletes_its_contact_is_kept_or_refused(
        connected, hubspot, crm_app, slow_pull, write):
    admin, _ = connected
    broken = []
    for trial in range(TRIALS):
        _person, contact_id = _pulled_contact(admin, hubspot, trial)
        if write == "note":
            change = _send(crm_app, admin, "POST", f"/api/v1/records/contact/{contact_id}/notes",
                           json={"text": "Called back, wants a quote"}, delay=0.01 * (trial % 4))
        else:
            change = _send(crm_app, admin, "PATCH", f"/api/v1/contacts/{contact_id}",
                           json={"company": "Race Traders"}, delay=0.01 * (trial % 4))
        pulled, written = race(_send(crm_app, admin, "POST", "/api/v1/integrations/hubspot/pull"), change)
        assert pulled[0] == 202, pulled
        assert written[0] in (200, 201, 404), written
        exists = admin.get(f"/api/v1/contacts/{contact_id}").status_code == 200
        if written[0] in (200, 201):  # it came first: the contact is kept, with it
            ok = exists and (write == "edit" or _notes(crm_app, contact_id) == 1)
        else:  # it came after the deletion: nothing of it is left
            ok = not exists and _notes(crm_app, contact_id) == 0
        if not ok:
            broken.append((trial, written[0], exists))
    assert broken == [], f"{len(broken)} of {TRIALS} trials broke the promise: {broken}"
