"""The organisation's complete export (API and `flask export`), and its
import into an empty organisation: export → import → export reproduces every
record (a property test over data made through the API), secrets never leave,
and what cannot come back is reported."""
from __future__ import annotations

import copy
import csv
import hashlib
import io
import json
import os
import zipfile
from collections import Counter

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests.api.test_caller_id import add_contact
from tests.conftest import PASSWORD
from tests.phone_data import call_row, contact_row

POOL = [f"+91 98450 1000{i}" for i in range(8)]
TRACKING = "+91 80000 00001"
COLLEAGUE = "+91 98450 30001"
SECRETS = ("password_hash", "token_hash", "key_hash", "fcm_token", "fcm_fid")


# --- helpers shared with the erasure tests ---------------------------------------

def upload_calls(rep, *rows, batch="b"):
    response = rep.post("/api/v1/sync/calls", device=True, json={"batch_id": batch, "calls": list(rows)})
    assert response.status_code == 200, response.json
    return response.json


def upload_phonebook(rep, *rows, batch="pb"):
    response = rep.post("/api/v1/sync/contacts", device=True, json={"batch_id": batch, "contacts": list(rows)})
    assert response.status_code == 200, response.json
    return response.json


def export_zip(admin) -> bytes:
    response = admin.get("/api/v1/export")
    assert response.status_code == 200, response.data[:500]
    assert response.mimetype == "application/zip"
    return response.data


def read_export(data: bytes) -> tuple[dict, dict[str, list[dict]]]:
    """(manifest, {table: rows}) of an export zip."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        tables = {name: [json.loads(line) for line in zf.read(f"jsonl/{name}.jsonl").splitlines() if line.strip()]
                  for name in manifest["tables"]}
    return manifest, tables


def run_cli(app, *args):
    result = app.test_cli_runner().invoke(args=[str(a) for a in args], catch_exceptions=False)
    return result


def cli_export(app, organization_id, path) -> bytes:
    result = run_cli(app, "export", "--organization", organization_id, "--out", path)
    assert result.exit_code == 0, result.output
    return path.read_bytes()


def cli_import(app, path, organization_id, *flags):
    return run_cli(app, "import-export", path, "--organization", organization_id, *flags)


def delete_org(app, organization_id):
    from mobile_sync.retention import delete_organization
    from server.extensions import db

    with app.app_context():
        delete_organization(db.session, organization_id)
        db.session.commit()


def token_for(app, user_id) -> str:
    """A token for an imported user (as if they had accepted a new invite)."""
    from mobile_sync.accounts import issue_user_token
    from server.extensions import db
    from server.models import User

    with app.app_context():
        token = issue_user_token(db.session, db.session.get(User, user_id))
        db.session.commit()
        return token


# --- the export --------------------------------------------------------------------

@pytest.fixture
def team(make_org, make_user, make_device):
    admin = make_org(region="IN")
    return admin, make_user(admin, "manager"), make_device(make_user(admin, name="Ravi"))


def test_export_has_every_table_as_jsonl_and_csv_with_a_checked_manifest(team, make_org, clean_app):
    from mobile_sync.export_data import exported_tables

    admin, _, rep = team
    contact = admin.post("/api/v1/contacts", json={"name": "Asha, \"Rao\"\nTraders", "phones": ["98765 43210"]}).json
    upload_calls(rep, call_row(1, "+91 91234 56789"), call_row(2, "+91 98765 43210", type_=3, duration=0))
    other = make_org(region="IN")
    add_contact(clean_app, other.organization_id, "Somebody Else", "+91 90000 11111")

    data = export_zip(admin)
    manifest, tables = read_export(data)
    expected = {t.name for t in exported_tables()}
    assert set(manifest["tables"]) == expected and {"organizations", "calls", "record_phones"} <= expected
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for name, entry in manifest["tables"].items():
            assert entry["rows"] == len(tables[name])
            for path, summary in entry["files"].items():
                assert hashlib.sha256(zf.read(path)).hexdigest() == summary["sha256"], path
            csv_lines = list(csv.reader(io.StringIO(zf.read(f"csv/{name}.csv").decode())))
            assert csv_lines[0] == entry["columns"] and len(csv_lines) == entry["rows"] + 1
    assert tables["organizations"][0]["id"] == admin.organization_id and len(tables["organizations"]) == 1
    assert all(row["organization_id"] == admin.organization_id for name, rows in tables.items()
               if name != "organizations" for row in rows)
    assert [c["name"] for c in tables["contacts"]] == [contact["name"]]
    assert len(tables["calls"]) == 2 and len(tables["leads"]) == 1 and len(tables["tasks"]) == 1
    assert manifest["total_rows"] == sum(len(rows) for rows in tables.values())


def test_secrets_are_never_exported_and_the_manifest_says_so(team):
    admin, manager, rep = team
    data = export_zip(admin)
    manifest, tables = read_export(data)
    assert manifest["omitted_columns"] == {"users": ["password_hash"], "access_tokens": ["token_hash"],
                                           "invites": ["token_hash"], "api_keys": ["key_hash"],
                                           "devices": ["fcm_token", "fcm_fid"]}
    for rows in tables.values():
        for row in rows:
            assert not set(row) & set(SECRETS)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        everything = b"".join(zf.read(name) for name in zf.namelist())
    for secret in (admin.token, manager.token, rep.token, rep.device_token, "fcm-token-", "$argon2"):
        assert secret.encode() not in everything
    assert len(tables["users"]) == 3 and len(tables["access_tokens"]) >= 3 and len(tables["devices"]) == 1


def test_only_admins_with_a_user_token_export(team):
    admin, manager, rep = team
    assert manager.get("/api/v1/export").status_code == 403
    assert rep.get("/api/v1/export").status_code == 403
    response = rep.get("/api/v1/export", device=True)
    assert response.status_code == 403 and response.json["error"]["code"] == "user_token_required"
    assert admin.get("/api/v1/export", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_exports_are_in_the_access_audit(team, clean_app, tmp_path):
    admin, _, _ = team
    export_zip(admin)
    cli_export(clean_app, admin.organization_id, tmp_path / "e.zip")
    events = [e for e in admin.get("/api/v1/audit").json["items"] if e["action"] == "organization.export"]
    assert {(e["actor_type"], e["actor_user_id"], e["object_id"]) for e in events} == {
        ("user", admin.user_id, admin.organization_id), ("operator", None, admin.organization_id)}


def test_cli_export_writes_the_same_content_with_a_progress_bar(team, clean_app, tmp_path):
    admin, _, rep = team
    upload_calls(rep, *[call_row(i, POOL[i % 4]) for i in range(1, 30)])
    result = run_cli(clean_app, "export", "--organization", admin.organization_id, "--out", tmp_path / "x.zip")
    assert result.exit_code == 0, result.output
    assert "exporting" in result.output and "secrets left out" in result.output
    cli_tables = read_export((tmp_path / "x.zip").read_bytes())[1]
    api_tables = read_export(export_zip(admin))[1]
    assert cli_tables["calls"] == api_tables["calls"] and cli_tables["leads"] == api_tables["leads"]
    assert not (tmp_path / "x.zip.partial").exists()
    missing = run_cli(clean_app, "export", "--organization", 999999, "--out", tmp_path / "y.zip")
    assert missing.exit_code != 0 and not (tmp_path / "y.zip").exists()


# --- import: refusals and reports ------------------------------------------------------

def test_every_integer_reference_column_is_remapped_by_the_import():
    from mobile_sync.import_references import unknown_reference_columns

    assert unknown_reference_columns() == []


def test_import_refuses_an_organisation_that_holds_data(team, make_org, clean_app, tmp_path):
    admin, _, rep = team
    path = tmp_path / "a.zip"
    path.write_bytes(export_zip(admin))
    busy = make_org(region="IN")
    busy.post("/api/v1/contacts", json={"name": "Existing", "phones": ["+91 90000 22222"]})
    result = cli_import(clean_app, path, busy.organization_id)
    assert result.exit_code != 0 and "already holds data (contacts 1" in result.output
    assert cli_import(clean_app, path, 987654).exit_code != 0  # no such organisation, not created
    assert "already exists" in cli_import(clean_app, path, busy.organization_id, "--create").output


def test_a_damaged_export_is_refused(team, make_org, clean_app, tmp_path):
    admin, _, _ = team
    original = zipfile.ZipFile(io.BytesIO(export_zip(admin)))
    damaged = io.BytesIO()
    with zipfile.ZipFile(damaged, "w") as zf:
        for name in original.namelist():
            content = original.read(name)
            zf.writestr(name, content.replace(b"Admin Person", b"Admin Persoo") if name.endswith(".jsonl") else content)
    (tmp_path / "d.zip").write_bytes(damaged.getvalue())
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    target = make_org(region="IN")
    assert "checksum mismatch in jsonl/users.jsonl" in cli_import(clean_app, tmp_path / "d.zip",
                                                                  target.organization_id).output
    assert "Not a readable zip" in cli_import(clean_app, tmp_path / "junk.zip", target.organization_id).output


def test_import_into_a_signed_up_organisation_skips_accounts_that_exist_elsewhere(team, make_org, clean_app,
                                                                                   tmp_path):
    admin, manager, rep = team
    upload_calls(rep, call_row(1, "+91 91234 56789"))
    admin.post("/api/v1/contacts", json={"name": "Kept", "phones": ["+91 90000 33333"], "owner_id": manager.user_id})
    path = tmp_path / "a.zip"
    path.write_bytes(export_zip(admin))
    target = make_org(region="IN")
    result = cli_import(clean_app, path, target.organization_id, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert sorted(report["users_skipped"]) == sorted([admin.email, manager.email, rep.email])
    # Without its user, the rep's phone and its calls cannot exist; the contact stays, without an owner.
    assert report["skipped"]["devices"] == 1 and report["skipped"]["calls"] == 1
    contacts = target.get("/api/v1/contacts").json["items"]
    assert [(c["name"], c["owner_id"]) for c in contacts] == [("Kept", None)]
    assert target.get("/api/v1/caller-id", query_string={"number": "9000033333"}).json["match"]["name"] == "Kept"


def test_imported_users_cannot_log_in_until_invited_again(team, clean_app, tmp_path, client):
    admin, manager, rep = team
    path = tmp_path / "a.zip"
    path.write_bytes(export_zip(admin))
    delete_org(clean_app, admin.organization_id)
    result = cli_import(clean_app, path, admin.organization_id + 500, "--create")
    assert result.exit_code == 0, result.output
    assert "3 users have no password" in result.output and "not restored" in result.output
    for actor in (admin, manager, rep):
        response = client.post("/api/v1/auth/login", json={"email": actor.email, "password": PASSWORD})
        assert response.status_code == 401
        assert client.get("/api/v1/me", headers=actor.headers()).status_code == 401  # old tokens are gone


def test_restoring_into_the_same_id_keeps_erasures_and_phone_book_hashes(team, clean_app, tmp_path):
    admin, _, rep = team
    upload_phonebook(rep, contact_row(7, "Mum", "+91 98450 10001"))
    upload_calls(rep, call_row(1, "+91 91234 56789"))
    assert admin.post("/api/v1/erasure", json={"phone": "+91 91234 56789"}).status_code == 200
    path = tmp_path / "a.zip"
    path.write_bytes(export_zip(admin))
    delete_org(clean_app, admin.organization_id)
    result = cli_import(clean_app, path, admin.organization_id, "--create")
    assert result.exit_code == 0, result.output
    assert "recomputed" not in result.output and "no longer match" not in result.output

    from server.extensions import db
    from server.models import Device, User

    with clean_app.app_context():
        rep_id = db.session.execute(select(User.id).where(User.email == rep.email)).scalar_one()
    rep.token, rep.device_token = token_for(clean_app, rep_id), None
    rep.user_id = rep_id
    response = rep.post("/api/v1/devices", json={"platform": "android", "fcm_token": "fcm-new"})
    rep.device_id, rep.device_token = response.json["device_id"], response.json["device_token"]
    version = clean_app.test_client().get("/api/v1/consent/policy").json["version"]
    rep.put(f"/api/v1/devices/{rep.device_id}/consent", device=True,
            json={"contacts": True, "call_log": True, "policy_version": version})
    again = upload_calls(rep, call_row(1, "+91 91234 56789"), call_row(2, "+91 98450 10001"), batch="again")
    assert again["accepted"] == 1 and again["rejected"][0]["code"] == "erased_number"
    # The rep's phone book still says "+91 98450 10001 is Mum": no lead for it.
    assert rep.get("/api/v1/leads").json["items"] == []
    with clean_app.app_context():
        assert db.session.execute(select(Device.id).where(Device.user_id == rep_id)).scalars().all()


def test_erased_numbers_do_not_silently_move_to_another_organisation(team, make_org, clean_app, tmp_path):
    admin, _, rep = team
    upload_calls(rep, call_row(1, "+91 91234 56789"))
    admin.post("/api/v1/erasure", json={"phone": "+91 91234 56789"})
    path = tmp_path / "a.zip"
    path.write_bytes(export_zip(admin))
    delete_org(clean_app, admin.organization_id)
    refused = cli_import(clean_app, path, admin.organization_id + 700, "--create")
    assert refused.exit_code != 0 and "1 erased numbers" in refused.output
    accepted = cli_import(clean_app, path, admin.organization_id + 700, "--create", "--forget-erasures")
    assert accepted.exit_code == 0 and "dropped 1 erased-number hashes" in accepted.output


# --- export → import → export, over generated data -----------------------------------

texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")) | st.sampled_from(",\"\n;'"),
                min_size=1, max_size=12).map(str.strip).filter(bool)
numbers = st.lists(st.sampled_from(POOL), min_size=1, max_size=2, unique=True)
scenarios = st.fixed_dictionaries({
    "reps": st.integers(1, 2),
    "keep_phone_contacts": st.booleans(),
    "timezone": st.sampled_from(["UTC", "Asia/Kolkata"]),
    "tracking": st.booleans(),
    "campaign": st.booleans(),
    "phonebook": st.lists(st.tuples(texts, numbers, st.integers(0, 1)), max_size=3),
    "contacts": st.lists(st.tuples(texts, st.none() | texts, numbers, st.integers(0, 2)), max_size=3),
    "calls": st.lists(st.tuples(st.integers(0, len(POOL) - 1), st.sampled_from([1, 2, 3]), st.integers(0, 120),
                                st.integers(0, 1), st.booleans()), min_size=1, max_size=8),
    "manual_lead": st.none() | st.tuples(texts, st.sampled_from(["+91 98450 20001", "+91 98450 20002"])),
    "notes": st.lists(st.tuples(st.integers(0, 20), texts), max_size=3),
    "review": st.sampled_from([None, "spam", "personal", "approve", "merge"]),
    "colleague_phone": st.booleans(),
})


def _build(scenario, make_org, make_user, make_device, clean_app):
    admin = make_org(region="IN")
    reps = [make_device(make_user(admin, name=f"Rep {i}")) for i in range(scenario["reps"])]
    patch = {"keep_phone_contacts": scenario["keep_phone_contacts"], "timezone": scenario["timezone"]}
    if scenario["tracking"]:
        patch["tracking_numbers"] = [{"number": TRACKING, "source": "Ads", "owner_id": reps[-1].user_id}]
    if scenario["campaign"]:
        patch["campaign_devices"] = {str(reps[0].device_id): "Expo"}
    assert admin.patch("/api/v1/settings", json=patch).status_code == 200
    if scenario["colleague_phone"]:  # a teammate's own number: in the index as a "user" record
        assert admin.patch(f"/api/v1/users/{reps[0].user_id}", json={"phone": COLLEAGUE}).status_code == 200
    for i, (name, phones, rep) in enumerate(scenario["phonebook"]):
        upload_phonebook(reps[rep % len(reps)], contact_row(i + 1, name, *phones, emails=["x@example.test"]),
                         batch=f"pb{i}")
    records = []
    for name, company, phones, owner in scenario["contacts"]:
        owner_id = ([admin] + reps)[owner % (len(reps) + 1)].user_id
        response = admin.post("/api/v1/contacts", json={"name": name, "company": company, "phones": phones,
                                                       "owner_id": owner_id})
        assert response.status_code == 201, response.json
        records.append(("contact", response.json["id"]))
    if scenario["manual_lead"]:
        name, phone = scenario["manual_lead"]
        response = reps[0].post("/api/v1/leads", json={"name": name, "phone": phone, "note": "typed in"})
        assert response.status_code == 201, response.json
    for i, (number, type_, duration, rep, via) in enumerate(scenario["calls"]):
        upload_calls(reps[rep % len(reps)], call_row(i + 1, POOL[number], type_=type_, duration=duration,
                                                     via=TRACKING if via else ""), batch=f"c{i}")
    leads = [lead["id"] for lead in admin.get("/api/v1/leads").json["items"]]
    records += [("lead", lead_id) for lead_id in leads]
    for index, text in scenario["notes"]:
        if records:
            record_type, record_id = records[index % len(records)]
            assert admin.post(f"/api/v1/records/{record_type}/{record_id}/notes", json={"text": text}).status_code \
                == 201
    review = scenario["review"]
    if review and leads:
        if review in ("spam", "personal"):
            admin.post(f"/api/v1/leads/{leads[0]}/reject", json={"reason": review})
        elif review == "approve":
            admin.post(f"/api/v1/leads/{leads[0]}/approve")
        elif review == "merge" and len(records) > len(leads):
            admin.post(f"/api/v1/leads/{leads[0]}/merge", json={"into_type": "contact", "into_id": records[0][1]})
    return admin


def restored_elsewhere(tables: dict, key: str, organization_id: int) -> dict:
    """What an import into another organisation id must make of an export's
    keyed hashes: recomputed where the number is known, else left out; pushes
    lose their per-number collapse key and sealed data."""
    from mobile_sync.lead_rules import SUPPRESS
    from mobile_sync.number_hash import PHONEBOOK, number_hash

    tables = copy.deepcopy(tables)
    tables["phonebook_numbers"] = [
        {**row, "number_hash": number_hash(key, PHONEBOOK, organization_id, row["e164"])}
        for row in tables["phonebook_numbers"] if row["e164"]]
    phones = {lead["id"]: lead["phone"] for lead in tables["leads"]}
    tables["suppressions"] = [
        {**row, "number_hash": number_hash(key, SUPPRESS, organization_id, phones[row["lead_id"]])}
        for row in tables["suppressions"] if phones.get(row["lead_id"])]
    for push in tables["push_messages"]:
        if push["collapse_key"] != push["kind"]:
            push["collapse_key"], push["data"] = push["kind"], None
    return tables


def _hash_symbols(key: str, organization_ids, numbers) -> dict[str, str]:
    """Keyed hash → "purpose:number@organisation", to compare hashes across organisations."""
    from mobile_sync.lead_rules import SUPPRESS
    from mobile_sync.number_hash import ERASED, PHONEBOOK, number_hash

    out = {}
    for org_id in organization_ids:
        for e164 in numbers:
            for purpose in (PHONEBOOK, SUPPRESS, ERASED):
                out[number_hash(key, purpose, org_id, e164)] = f"{purpose}:{e164}@{org_id}"
            out[number_hash(key, "collapse", org_id, e164)[:20]] = f"collapse:{e164}@{org_id}"
    return out


def normalise(tables: dict[str, list[dict]], symbols: dict[str, str], org_labels: dict[int, str]) -> dict:
    """Each table's rows with ids replaced by positions, so two exports compare."""
    from mobile_sync.import_references import SOFT_REFS
    from server.models.base import Base

    position = {name: {row["id"]: i for i, row in enumerate(sorted(rows, key=lambda r: r["id"]))}
                for name, rows in tables.items()}

    def ref(target, value):
        if value is None or target is None:
            return value
        if target == "organizations":
            return "ORG"
        return f"{target}#{position.get(target, {}).get(value, 'missing')}"

    def symbol(value):
        if value is None:
            return None
        if value in symbols:
            return symbols[value].split("@")[0] + "@" + org_labels[int(symbols[value].split("@")[1])]
        kind, _, digest = value.rpartition("-")
        if digest in symbols:
            return kind + "-" + symbols[digest].split("@")[0] + "@" + org_labels[int(symbols[digest].split("@")[1])]
        return value

    out = {}
    for name, rows in tables.items():
        table = Base.metadata.tables[name]
        normal = []
        for row in rows:
            row = copy.deepcopy(row)
            row.pop("id")
            for column in table.columns:
                if column.name not in row:
                    continue
                if column.foreign_keys:
                    row[column.name] = ref(next(iter(column.foreign_keys)).column.table.name, row[column.name])
                soft = SOFT_REFS.get((name, column.name))
                if soft is not None:
                    target = soft.target or (soft.types or {}).get(row.get(soft.type_column))
                    row[column.name] = ref(target, row[column.name])
                if column.name in ("number_hash", "collapse_key"):
                    row[column.name] = symbol(row[column.name])
            if name == "organizations":
                for volatile in ("created_at", "closing_at"):
                    row.pop(volatile)
                settings = row["settings"] or {}
                for tracking in settings.get("tracking_numbers", []):
                    tracking["owner_id"] = ref("users", tracking.get("owner_id"))
                if settings.get("campaign_devices"):
                    settings["campaign_devices"] = {ref("devices", int(k)): v
                                                    for k, v in settings["campaign_devices"].items()}
            normal.append(json.dumps(row, sort_keys=True, ensure_ascii=False))
        out[name] = Counter(normal)
    return out


@settings(max_examples=int(os.environ.get("ROUNDTRIP_EXAMPLES", 20)), deadline=None, derandomize=True, database=None,
          phases=[Phase.explicit, Phase.reuse, Phase.generate] if os.environ.get("NO_SHRINK") else tuple(Phase),
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(scenario=scenarios)
def test_export_import_export_reproduces_every_record(scenario, make_org, make_user, make_device, clean_app,
                                                      tmp_path_factory):
    from mobile_sync.phones import normalize_number

    admin = _build(scenario, make_org, make_user, make_device, clean_app)
    source_id, target_id = admin.organization_id, admin.organization_id + 10_000
    folder = tmp_path_factory.mktemp("roundtrip")
    first = export_zip(admin)
    (folder / "first.zip").write_bytes(first)
    delete_org(clean_app, source_id)  # the accounts' e-mail addresses are free again
    result = cli_import(clean_app, folder / "first.zip", target_id, "--create", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    second = cli_export(clean_app, target_id, folder / "second.zip")

    _, before = read_export(first)
    _, after = read_export(second)
    numbers = {normalize_number(n, "IN").e164 for n in POOL + [TRACKING, COLLEAGUE, "+91 98450 20001",
                                                              "+91 98450 20002"]}
    key = clean_app.config["HASH_KEY"]
    symbols = _hash_symbols(key, (source_id, target_id), numbers)
    labels = {source_id: "source", target_id: "target"}
    expected = normalise(restored_elsewhere(before, key, target_id), symbols, labels)
    got = normalise(after, symbols, labels)
    # Credentials are not restored; the audit gains the import and this export.
    assert got.pop("access_tokens") == Counter() and expected.pop("access_tokens")
    assert not expected.pop("access_events") - got.pop("access_events")
    assert got == expected
    assert report["imported"]["users"] == len(before["users"]) and report["users_skipped"] == []
    assert not any(row["number_hash"].endswith("@source") for name in ("phonebook_numbers", "suppressions")
                   for row in map(json.loads, got[name]))

    # Caller ID answers from the imported phone index at once.
    imported_admin = next(u["id"] for u in after["users"] if u["email"] == admin.email)
    headers = {"Authorization": f"Bearer {token_for(clean_app, imported_admin)}"}
    for phone in after["record_phones"]:
        answer = clean_app.test_client().get("/api/v1/caller-id", headers=headers,
                                             query_string={"number": phone["e164"]}).json
        cards = [answer["match"]] + answer["candidates"] if answer["match"] else answer["candidates"]
        assert any((card["record_type"], card["record_id"]) == (phone["record_type"], phone["record_id"])
                   or card["record_type"] == "shared" for card in cards), (phone, answer)


def test_a_closing_organisation_can_still_export_everything(team):
    admin, _, rep = team
    upload_calls(rep, call_row(1, "+91 91234 56789"))
    name = admin.get("/api/v1/settings").json["name"]
    assert admin.delete("/api/v1/organization", json={"confirm": name}).status_code == 202
    _, tables = read_export(export_zip(admin))
    assert len(tables["calls"]) == 1 and tables["organizations"][0]["closing_at"]


def test_imported_teammates_are_let_in_by_a_new_invite(team, make_org, clean_app, tmp_path):
    """The organisation moves: its old accounts are gone, a new admin signs up, imports the
    export, and invites the imported teammates again; accepting sets their password."""
    admin, manager, rep = team
    path = tmp_path / "a.zip"
    path.write_bytes(export_zip(admin))
    delete_org(clean_app, admin.organization_id)
    target = make_org(region="IN")
    result = cli_import(clean_app, path, target.organization_id)
    assert result.exit_code == 0, result.output
    invite = target.post("/api/v1/invites", json={"email": rep.email, "role": "rep"})
    assert invite.status_code == 201, invite.json
    import email
    import glob

    newest = max(glob.glob(os.path.join(clean_app.config["OUTBOX_DIR"], "*.eml")), key=os.path.getmtime)
    body = email.message_from_bytes(open(newest, "rb").read()).get_payload(decode=True).decode()
    token = body.split("token=")[1].split()[0]
    accepted = target.client.post("/api/v1/invites/accept", json={"token": token, "name": "Ravi Again",
                                                                   "password": "a brand new password"})
    assert accepted.status_code == 201, accepted.json
    login = target.client.post("/api/v1/auth/login", json={"email": rep.email, "password": "a brand new password"})
    assert login.status_code == 200 and login.json["user"]["organization_id"] == target.organization_id
