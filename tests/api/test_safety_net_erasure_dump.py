"""After an erasure, the number is gone in the ways it was written too: the
raw, spaced forms a phone or a person typed ("98765 43210", "+91-98765-43210")
that were kept in `calls.raw_number` (even where the number could not be
read), `calls.via_number`, `record_phones.raw` and notes. The whole database
dump and the organisation's export are searched.

(tests/api/test_erasure.py searches the E.164 form and the bare digits,
which none of the spaced forms contain.)
"""
from __future__ import annotations

import pytest

from tests.api.exports import upload_calls
from tests.api.test_erasure import ASHA, KEPT, database_dump, export_text, world  # noqa: F401  (a fixture)
from tests.phone_data import call_row

# Every way Asha's number is written below, none of which holds "9876543210".
SPACED = ["98765 43210", "98765-43210", "98765.43210", "987 654 3210"]


def raw_forms_in(text: str) -> dict[str, int]:
    return {form: text.count(form) for form in SPACED if form in text}


@pytest.fixture
def spaced_world(world, clean_app):
    """Asha's number as people write it, in every place a raw form is kept."""
    admin, rep = world["admin"], world["rep"]
    upload_calls(rep,
                 # Read with the wrong region (a roaming phone's countryiso): stored unparsed, raw only.
                 call_row(60, "98765 43210", countryiso="US", duration=30),
                 call_row(61, "+91-98765-43210", duration=30),
                 # Bala's call came through Asha's number (call forwarding): `via_number` holds it raw.
                 call_row(62, KEPT, via="98765.43210", duration=30),
                 batch="spaced")
    typed = admin.post("/api/v1/contacts", json={"name": "Asha (office)", "phones": ["987 654 3210"]})
    assert typed.status_code == 201, typed.json
    bala = world["bala"]["id"]
    note = admin.post(f"/api/v1/records/contact/{bala}/notes",
                      json={"text": "Asha prefers +91-98765-43210 after six, or 98765.43210"})
    assert note.status_code == 201, note.json
    return world


def test_erasure_leaves_no_raw_spaced_form_of_the_number(spaced_world, clean_app, request):
    admin = spaced_world["admin"]
    before = raw_forms_in(database_dump(clean_app, request))
    assert set(before) == set(SPACED), before  # the search can see each form

    response = admin.post("/api/v1/erasure", json={"phone": ASHA})
    assert response.status_code == 200, response.json

    assert raw_forms_in(database_dump(clean_app, request)) == {}
    assert raw_forms_in(export_text(admin)) == {}
    # The call that came through Asha's number is Bala's, and stays.
    assert "+919000012345" in database_dump(clean_app, request)


def test_erasure_of_the_record_leaves_no_raw_spaced_form_either(spaced_world, clean_app, request):
    admin = spaced_world["admin"]
    response = admin.post("/api/v1/erasure", json={"record_type": "contact", "record_id": spaced_world["asha"]["id"]})
    assert response.status_code == 200, response.json
    assert raw_forms_in(database_dump(clean_app, request)) == {}
    assert raw_forms_in(export_text(admin)) == {}
