"""Every statement of the store is scoped by organisation: run for
organisation A with organisation B's rows present — and handed B's own ids,
numbers and uploads — it returns none of B's rows and changes none of them.

Two organisations hold the same data (the same customer's number as a
contact, a lead from a stranger's call, processed uploads, a phone book, an
erased number). Each case calls one store function for A; afterwards every
row of B, in every table that has an organisation, is as it was.

`test_every_store_function_has_a_tenancy_case` keeps this complete: a new
public function in `mobile_sync/store/` needs a case in
`tests/api/store_tenancy_cases.py` (CASES), or a line in `NOT_ORGANISATION_DATA`
there saying why it touches no organisation's rows.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
from sqlalchemy import select

import mobile_sync.store as store
from mobile_sync.number_hash import ERASED, number_hash
from mobile_sync.phones import normalize_number
from mobile_sync.store import (calls, caller_lookup, contact_import, contact_import_runs, crm_person_links,
                               directory_log, erased_numbers, push_messages)
from mobile_sync.store.models import (Call, Contact, CrmConnection, CrmPush, Device, ErasedNumber, Lead, RecordPhone,
                                      SyncUpload)
from tests.api.store_tenancy_cases import (ASHA, CASES, EARLY, GONE, NOT_ORGANISATION_DATA, NOW, ONLY_B, STRANGER,
                                           call_ids_of)
from tests.phone_data import call_row, contact_row


def _public_functions():
    for info in pkgutil.iter_modules(store.__path__):
        if info.ispkg:
            continue
        module = importlib.import_module(f"mobile_sync.store.{info.name}")
        for name, value in vars(module).items():
            if (inspect.isfunction(value) and not name.startswith("_")
                    and value.__module__ == module.__name__):
                yield info.name, name


@pytest.fixture
def two_orgs(make_org, make_user, make_device, clean_app):
    """A and B with the same data; returns {"A": ids, "B": ids}."""
    orgs = {}
    for key in ("A", "B"):
        admin = make_org(region="IN")
        rep = make_device(make_user(admin, name=f"Rep {key}"))
        assert admin.post("/api/v1/contacts", json={"name": "Asha Rao", "phones": [ASHA]}).status_code == 201
        response = rep.post("/api/v1/sync/calls", device=True, json={"batch_id": "b1", "calls": [
            call_row(1, ASHA, duration=60), call_row(2, STRANGER, type_=3, duration=0)]})
        assert response.status_code == 200, response.json
        response = rep.post("/api/v1/sync/contacts", device=True, json={"batch_id": "c1", "contacts": [
            contact_row(1, "Asha at home", ASHA)]})
        assert response.status_code == 200, response.json
        orgs[key] = {"org": admin.organization_id, "user": rep.user_id, "device": rep.device_id}
    # One customer only B has.
    assert admin.post("/api/v1/contacts", json={"name": "Only Bee", "phones": [ONLY_B]}).status_code == 201
    from server.extensions import db

    with clean_app.app_context():
        session = db.session
        for key, ids in orgs.items():
            org = ids["org"]
            ids["uploads"] = list(session.execute(select(SyncUpload.id).where(SyncUpload.organization_id == org))
                                  .scalars())
            ids["contact"] = session.execute(select(Contact.id).where(Contact.organization_id == org)
                                             .order_by(Contact.id).limit(1)).scalar_one()
            ids["lead"] = session.execute(select(Lead.id).where(Lead.organization_id == org)).scalar_one()
            ids["hash_key"] = clean_app.config["HASH_KEY"]
            session.add(ErasedNumber(organization_id=org, number_hash=number_hash(
                ids["hash_key"], ERASED, org, normalize_number(GONE, "IN").e164), erased_at=NOW))
            ids["import_run"] = contact_import_runs.create_run(
                session, org, user_id=ids["user"], owner_id=None, filename="b.csv", region="IN", mapping=None,
                now=NOW, stale_before=EARLY)
            contact_import_runs.store_chunk(session, org, ids["import_run"], 0, b"name,company,email,source,phones\n")
            # A CRM connection, and a push item of a call, in each.
            crm = CrmConnection(organization_id=org, crm="hubspot", token="sealed", token_hint="1234",
                                call_types=["incoming"], min_duration_s=0, push_leads=True, pull_every_h=0,
                                status="connected", created_at=NOW, updated_at=NOW)
            session.add(crm)
            session.flush()
            session.add(CrmPush(organization_id=org, connection_id=crm.id, crm="hubspot", subject_type="call",
                                subject_id=call_ids_of(session, org)[0], status="pending", attempts=0,
                                next_attempt_at=NOW, created_at=NOW))
            crm_person_links.link_people(session, org, crm.id, {"person-1": ids["contact"]}, NOW)
        session.commit()
    return orgs


def _rows_of(session, organization_id: int) -> dict:
    """Every row of the organisation, table by table."""
    from server.extensions import db

    found = {}
    for table in db.metadata.sorted_tables:
        if "organization_id" in table.c:
            rows = session.execute(select(table).where(table.c.organization_id == organization_id)
                                   .order_by(*table.primary_key.columns)).all()
            found[table.name] = [tuple(row) for row in rows]
    return found


def _asha(ids):
    return normalize_number(ASHA, "IN")


def test_every_store_function_has_a_tenancy_case():
    missing = [f"{module}.{name}" for module, name in _public_functions()
               if f"{module}.{name}" not in CASES and f"{module}.{name}" not in NOT_ORGANISATION_DATA
               and module not in NOT_ORGANISATION_DATA]
    assert missing == [], f"store functions without a tenancy case: {missing}"


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_store_statement_for_one_organisation_touches_no_other(case, two_orgs, clean_app):
    from server.extensions import db

    a, b = two_orgs["A"], two_orgs["B"]
    with clean_app.app_context():
        session = db.session
        before = _rows_of(session, b["org"])
        assert before["calls"] and before["leads"] and before["record_phones"]  # B has data to lose
        result = CASES[case](a, b, session)
        session.flush()
        after = _rows_of(session, b["org"])
        session.rollback()
    assert not result, f"{case} returned another organisation's rows: {result!r}"
    changed = [name for name in before if before[name] != after[name]]
    assert changed == [], f"{case} changed organisation B's rows in {changed}"


def test_the_cases_see_their_own_organisation(two_orgs, clean_app):
    """The cases above are not empty by accident: the same functions, given
    A's own ids, find and change A's rows."""
    from server.extensions import db

    a = two_orgs["A"]
    with clean_app.app_context():
        session = db.session
        assert calls.load_calls(session, a["org"], Call.upload_id.in_(a["uploads"]))
        assert contact_import.existing_contact_keys(session, two_orgs["B"]["org"], [normalize_number(ONLY_B, "IN").e164])
        assert contact_import.contacts_besides(session, a["org"], NOW)
        assert push_messages.devices_of(session, a["org"], [a["user"]])
        assert erased_numbers.erased_numbers(session, a["org"], [normalize_number(GONE, "IN").e164], a["hash_key"])
        asha = _asha(a)
        rows = caller_lookup.lookup_rows(session, {"org": a["org"], "e164": asha.e164, "suffix": asha.suffix,
                                                   "user": a["user"], "book_hash": ""})
        assert {r.record_id for r in rows} >= {a["contact"]}
        gone = directory_log.delete_record_phones(session, a["org"], RecordPhone.record_type == "contact",
                                                RecordPhone.record_id == a["contact"], now=NOW)
        assert gone == [asha.e164]
        assert session.get(Device, a["device"]) is not None
        session.rollback()
