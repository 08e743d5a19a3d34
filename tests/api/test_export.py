"""The organisation's complete export (API and `flask export`): every table as
JSON Lines and CSV with a checked manifest, secrets never leave, only admins
export, every export is in the access audit, and a closing organisation can
still export everything."""
from __future__ import annotations

import csv
import hashlib
import io
import zipfile

from tests.api import exports
from tests.api.exports import POOL, cli_export, export_zip, read_export, run_cli, upload_calls
from tests.api.test_caller_id import add_contact
from tests.phone_data import call_row

SECRETS = ("password_hash", "token_hash", "key_hash", "fcm_token", "fcm_fid")

team = exports.team  # the fixture: pytest finds it under this name in this module


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


def test_secrets_are_never_exported_and_the_manifest_says_so(team, clean_app):
    admin, manager, rep = team
    clean_app.config["WEBHOOK_ALLOW_LOOPBACK"] = True  # clean_app restores the configuration
    hook = admin.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["lead.created"]}).json
    rotated = admin.post(f"/api/v1/webhooks/{hook['id']}/rotate-secret").json
    data = export_zip(admin)
    manifest, tables = read_export(data)
    assert manifest["omitted_columns"] == {"users": ["password_hash"], "access_tokens": ["token_hash"],
                                           "invites": ["token_hash"], "password_resets": ["token_hash"],
                                           "api_keys": ["key_hash"],
                                           "devices": ["fcm_token", "fcm_fid"],
                                           "webhook_endpoints": ["secret", "previous_secret"],
                                           "crm_connections": ["token"]}
    assert [row["url"] for row in tables["webhook_endpoints"]] == ["http://127.0.0.1:9/hook"]
    assert not {"secret", "previous_secret"} & set(tables["webhook_endpoints"][0])
    for rows in tables.values():
        for row in rows:
            assert not set(row) & set(SECRETS)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        everything = b"".join(zf.read(name) for name in zf.namelist())
    for secret in (admin.token, manager.token, rep.token, rep.device_token, "fcm-token-", "$argon2",
                   hook["secret"], rotated["secret"], hook["secret"].removeprefix("whsec_")):
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


def test_a_closing_organisation_can_still_export_everything(team):
    admin, _, rep = team
    upload_calls(rep, call_row(1, "+91 91234 56789"))
    name = admin.get("/api/v1/settings").json["name"]
    assert admin.delete("/api/v1/organization", json={"confirm": name}).status_code == 202
    _, tables = read_export(export_zip(admin))
    assert len(tables["calls"]) == 1 and tables["organizations"][0]["closing_at"]
