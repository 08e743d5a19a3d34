"""Importing an export into an organisation (`flask import-export`): what is
refused (an organisation that holds data, a damaged file, erased numbers that
would silently move), and what is reported and why: accounts that exist
elsewhere are skipped, imported users have no password until invited again,
and a restore into the same id keeps erasures and phone-book hashes."""
from __future__ import annotations

import io
import json
import os
import zipfile

from sqlalchemy import select

from tests.api import exports
from tests.api.exports import cli_import, delete_org, export_zip, token_for, upload_calls, upload_phonebook
from tests.conftest import PASSWORD
from tests.phone_data import call_row, contact_row

team = exports.team  # the fixture: pytest finds it under this name in this module


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
    from mobile_sync.store.models import Device, User

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
