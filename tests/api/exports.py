"""An organisation's export in tests: data made through a phone
(`upload_calls`, `upload_phonebook`), the export taken through the API
(`export_zip`) or `flask export` (`cli_export`) and read back
(`read_export`), `flask import-export` (`cli_import`), and what moving an
organisation needs (`delete_org`, `token_for`). The `team` fixture is an
organisation with an admin, a manager and a rep with a phone.

Used by the export, import, round-trip, CSV, erasure and injection tests.
"""
from __future__ import annotations

import io
import json
import zipfile

import pytest

POOL = [f"+91 98450 1000{i}" for i in range(8)]


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
    from mobile_sync.store.models import User

    with app.app_context():
        token = issue_user_token(db.session, db.session.get(User, user_id))
        db.session.commit()
        return token


@pytest.fixture
def team(make_org, make_user, make_device):
    admin = make_org(region="IN")
    return admin, make_user(admin, "manager"), make_device(make_user(admin, name="Ravi"))
