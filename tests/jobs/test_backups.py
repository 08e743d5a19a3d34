"""Backups: backup → wipe → restore brings back identical counts and checksums
(on the database under test: SQLite, or PostgreSQL with --db=postgresql);
damaged or altered backups are refused; old backups are pruned by day."""
from __future__ import annotations

import json
import os
import stat
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from tests.phone_data import call_row, contact_row


def checksums(app) -> dict:
    from server.backup_checksums import database_checksums
    from server.extensions import db

    return database_checksums(app.config["SQLALCHEMY_DATABASE_URI"], db.metadata)


def is_postgres(app) -> bool:
    return app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")


def ensure_schema(app) -> None:
    """Put the schema back if a test left the database without it."""
    import flask_migrate
    from sqlalchemy import inspect

    from server.extensions import db

    with app.app_context():
        db.session.remove()
        if not inspect(db.engine).has_table("alembic_version"):
            db.metadata.drop_all(db.engine)
            flask_migrate.upgrade()


def drop_everything(app) -> None:
    from server.extensions import db

    with app.app_context():
        db.metadata.drop_all(db.engine)
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE alembic_version")
        db.engine.dispose()


@pytest.fixture
def runner(clean_app):
    from server.backups import find_pg_tool
    from tests.servers import missing

    if is_postgres(clean_app):
        for tool in ("pg_dump", "pg_restore"):
            if find_pg_tool(tool) is None:
                missing(tool)  # with CI=true this fails instead of skipping
    yield clean_app.test_cli_runner()
    ensure_schema(clean_app)


@pytest.fixture
def backup_dir(tmp_path) -> Path:
    return tmp_path / "backups"


@pytest.fixture
def team(make_org, make_user, make_device):
    """Two organisations with real data, all made through the API."""
    admin = make_org(region="IN")
    rep = make_device(make_user(admin, name="Ravi Kumar"))
    assert rep.post("/api/v1/sync/contacts", device=True, json={"batch_id": "c1", "contacts": [
        contact_row(7, "Asha Rao", "+91 98765 43210", emails=["asha@example.com"], company="Rao Traders"),
        contact_row(8, "Zoë Ünal", "022 2345 6789")]}).status_code == 200
    calls = [call_row(1, "+91 98765 43210"), call_row(2, "98450 11111", name="Kiran Steel"),
             call_row(3, "98450 22222", type_=3, duration=0), call_row(4, "", presentation=2),
             call_row(5, "+44 20 7946 0958", countryiso="GB")]
    response = rep.post("/api/v1/sync/calls", device=True, json={"batch_id": "b1", "calls": calls})
    assert response.status_code == 200 and response.json["accepted"] == 5
    leads = admin.get("/api/v1/leads").json["items"]
    assert len(leads) >= 2
    assert rep.post(f"/api/v1/records/lead/{leads[0]['id']}/notes",
                    json={"text": "Wants 3 units — call back Tuesday"}).status_code == 201
    assert admin.post(f"/api/v1/leads/{leads[-1]['id']}/reject", json={"reason": "spam"}).status_code == 200
    other = make_device(make_org(region="GB"))
    other.post("/api/v1/sync/calls", device=True, json={"batch_id": "x", "calls": [
        call_row(1, "020 7946 0000", countryiso="GB")]})
    return admin


def backup(runner, backup_dir) -> Path:
    result = runner.invoke(args=["backup", "--dir", str(backup_dir)])
    assert result.exit_code == 0, result.output
    (path,) = [p for p in backup_dir.iterdir() if not p.name.endswith(".json")]
    return path


def restore(runner, path, *extra, **kwargs):
    return runner.invoke(args=["restore", str(path), *extra], **kwargs)


def test_backup_wipe_restore_gives_back_identical_data(team, runner, backup_dir, clean_app):
    listed = team.get("/api/v1/leads").json["items"]
    before = checksums(clean_app)
    for table in ("organizations", "users", "devices", "consent_states", "phonebook_contacts", "calls", "leads",
                  "notes", "suppressions", "access_tokens"):
        assert before[table]["rows"] > 0, table
    path = backup(runner, backup_dir)
    from tests.conftest import wipe_database

    wipe_database(clean_app)
    assert checksums(clean_app)["calls"]["rows"] == 0

    result = restore(runner, path, "--yes")

    assert result.exit_code == 0, result.output
    assert checksums(clean_app) == before
    assert f"OK  calls: {before['calls']['rows']} rows" in result.output
    assert f"all {len(before)} tables match the manifest" in result.output
    # The restored service works as before: same tokens, same leads.
    leads = team.get("/api/v1/leads")
    assert leads.status_code == 200 and leads.json["items"] == listed


def test_restore_into_an_empty_database_recreates_the_schema(team, runner, backup_dir, clean_app):
    before = checksums(clean_app)
    path = backup(runner, backup_dir)
    drop_everything(clean_app)
    assert checksums(clean_app) == {}

    result = restore(runner, path, "--yes")

    assert result.exit_code == 0, result.output
    assert checksums(clean_app) == before


def test_backup_is_private_and_its_manifest_describes_it(team, runner, backup_dir, clean_app):
    from server.backup_checksums import file_sha256

    before = checksums(clean_app)
    path = backup(runner, backup_dir)
    manifest = json.loads(path.with_name(path.name + ".json").read_text())
    assert path.suffix == (".dump" if is_postgres(clean_app) else ".sqlite3")
    assert manifest["engine"] == ("postgresql" if is_postgres(clean_app) else "sqlite")
    assert manifest["sha256"] == file_sha256(path) and manifest["size"] == path.stat().st_size
    assert manifest["tables"] == before
    assert manifest["alembic_revision"] and before["alembic_version"]["rows"] == 1
    datetime.fromisoformat(manifest["created_at"])
    assert stat.S_IMODE(backup_dir.stat().st_mode) == 0o700
    for file in backup_dir.iterdir():
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file.name
    assert {p.name for p in backup_dir.iterdir()} == {path.name, path.name + ".json"}  # no leftovers


def test_a_changed_backup_file_is_refused_and_nothing_is_touched(team, runner, backup_dir, clean_app):
    path = backup(runner, backup_dir)
    before = checksums(clean_app)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))

    result = restore(runner, path)  # refused before it even asks

    assert result.exit_code != 0
    assert "does not match the SHA-256" in result.output and "Replace all data" not in result.output
    assert checksums(clean_app) == before


def test_a_backup_without_its_manifest_is_refused(team, runner, backup_dir, clean_app):
    path = backup(runner, backup_dir)
    path.with_name(path.name + ".json").unlink()

    result = restore(runner, path, "--yes")

    assert result.exit_code != 0 and "cannot be verified" in result.output


def test_restored_data_that_differs_from_the_manifest_fails_and_names_the_table(team, runner, backup_dir,
                                                                               clean_app):
    path = backup(runner, backup_dir)
    manifest_file = path.with_name(path.name + ".json")
    manifest = json.loads(manifest_file.read_text())
    manifest["tables"]["calls"]["rows"] += 1
    manifest_file.write_text(json.dumps(manifest))
    before = checksums(clean_app)

    result = restore(runner, path, "--yes")

    assert result.exit_code != 0
    assert "MISMATCH  calls" in result.output and "content checksum" not in result.output
    if not is_postgres(clean_app):  # SQLite checks the copy before swapping it in
        assert "the database was not touched" in result.output
    assert checksums(clean_app) == before


def test_sqlite_restore_is_refused_while_another_process_has_the_database_open(team, runner, backup_dir,
                                                                               clean_app):
    import sqlite3

    from server.backups import sqlite_path

    if is_postgres(clean_app):
        pytest.skip("SQLite only: PostgreSQL restores wait on locks instead (lock_timeout)")
    path = backup(runner, backup_dir)
    from tests.conftest import wipe_database

    wipe_database(clean_app)
    other = sqlite3.connect(sqlite_path(clean_app.config["SQLALCHEMY_DATABASE_URI"]))
    try:
        other.execute("SELECT count(*) FROM calls").fetchone()  # like an idle gunicorn worker

        result = restore(runner, path, "--yes")

        assert result.exit_code != 0 and "stop the web and worker processes" in result.output
    finally:
        other.close()
    assert checksums(clean_app)["calls"]["rows"] == 0


def test_restore_asks_first(team, runner, backup_dir, clean_app):
    path = backup(runner, backup_dir)
    from tests.conftest import wipe_database

    wipe_database(clean_app)
    result = restore(runner, path, input="n\n")
    assert result.exit_code != 0 and "SHA-256 verified" in result.output and "Aborted" in result.output
    assert checksums(clean_app)["calls"]["rows"] == 0


def test_checksums_agree_across_engines_for_the_same_rows(team, clean_app, tmp_path):
    """The same rows copied into a fresh SQLite file give the same checksums
    (meaningful with --db=postgresql: PostgreSQL values against SQLite's)."""
    from sqlalchemy import create_engine, select

    from server.backup_checksums import database_checksums
    from server.extensions import db

    # report_call_days is derived (rebuilt from the calls: flask reports-rebuild)
    # and its `gaps` is stored in each engine's own shape (an integer array on
    # PostgreSQL, packed bytes on SQLite): it is not copied across engines.
    engine_shaped = {"report_call_days", "report_call_months"}
    copy_uri = f"sqlite:///{tmp_path / 'copy.db'}"
    copy = create_engine(copy_uri)
    db.metadata.create_all(copy)
    with clean_app.app_context(), copy.begin() as target:
        for table in db.metadata.sorted_tables:
            rows = [dict(r._mapping) for r in db.session.execute(select(table))]
            if rows and table.name not in engine_shaped:
                target.execute(table.insert(), rows)
        db.session.rollback()
    copy.dispose()
    source = {k: v for k, v in checksums(clean_app).items() if k != "alembic_version" and k not in engine_shaped}
    copied = {k: v for k, v in database_checksums(copy_uri, db.metadata).items() if k not in engine_shaped}
    assert copied == source
    assert source["calls"]["rows"] > 0


def test_values_are_normalised_the_same_way_for_both_engines():
    from server.backup_checksums import normalise

    aware = datetime(2026, 11, 20, 9, 0, 0, 5, tzinfo=timezone.utc)
    assert normalise(aware.replace(tzinfo=None)) == normalise(aware) == normalise(
        aware.astimezone(timezone(timedelta(hours=5, minutes=30))))
    assert json.dumps(normalise({"b": 1, "a": [True, None]}), sort_keys=True) == json.dumps(
        normalise({"a": [True, None], "b": 1}), sort_keys=True)
    assert normalise(Decimal("1.50")) == normalise(Decimal("1.5")) == "1.5"
    assert normalise(True) is True and normalise(1) == 1


# --- retention ---------------------------------------------------------------

def fake_backups(directory: Path, days: int, newest: datetime) -> list[str]:
    """`days` daily backups (file + manifest), the newest at `newest`; names newest first."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    names = []
    for age in range(days):
        moment = newest - timedelta(days=age)
        name = moment.strftime("callsync-%Y%m%dT%H%M%SZ.sqlite3")
        (directory / name).write_bytes(b"fake")
        (directory / f"{name}.json").write_text("{}")
        names.append(name)
    return names


def backup_names(directory: Path) -> list[str]:
    return sorted((p.name for p in directory.iterdir() if p.name.startswith("callsync-")
                   and not p.name.endswith(".json")), reverse=True)


def test_retention_keeps_the_14_newest_of_20_daily_backups(backup_dir):
    from server.backups import prune_backups

    names = fake_backups(backup_dir, 20, datetime(2026, 11, 19, 2, 15, tzinfo=timezone.utc))
    (backup_dir / "README.txt").write_text("not a backup")
    (backup_dir / f".{names[-1]}.partial").write_bytes(b"left by a killed backup")

    removed = prune_backups(backup_dir, keep=14)

    assert backup_names(backup_dir) == names[:14]
    assert sorted(p.name for p in removed) == sorted(names[14:])
    assert sorted(p.name for p in backup_dir.iterdir()) == sorted(
        ["README.txt"] + names[:14] + [f"{n}.json" for n in names[:14]])


def test_several_backups_on_one_day_count_as_one_day(backup_dir):
    from server.backups import prune_backups

    names = fake_backups(backup_dir, 3, datetime(2026, 11, 19, 2, 15, tzinfo=timezone.utc))
    extra = fake_backups(backup_dir, 1, datetime(2026, 11, 19, 14, 0, tzinfo=timezone.utc))

    prune_backups(backup_dir, keep=2)

    assert backup_names(backup_dir) == sorted(extra + names[:2], reverse=True)


def test_the_newest_backup_is_never_pruned(backup_dir, runner):
    from server.backups import BackupError, prune_backups

    names = fake_backups(backup_dir, 3, datetime(2026, 11, 19, 2, 15, tzinfo=timezone.utc))
    with pytest.raises(BackupError):
        prune_backups(backup_dir, keep=0)
    assert runner.invoke(args=["backup", "--dir", str(backup_dir), "--keep", "0"]).exit_code != 0
    assert backup_names(backup_dir) == names

    prune_backups(backup_dir, keep=1)
    assert backup_names(backup_dir) == names[:1]


def test_flask_backup_prunes_to_keep_days_including_the_new_one(team, runner, backup_dir, clock):
    old = fake_backups(backup_dir, 20, clock.now - timedelta(days=1))

    result = runner.invoke(args=["backup", "--dir", str(backup_dir), "--keep", "14"])

    assert result.exit_code == 0, result.output
    kept = backup_names(backup_dir)
    assert len(kept) == 14
    assert kept[0].startswith(clock.now.strftime("callsync-%Y%m%dT%H%M%SZ"))
    assert kept[1:] == old[:13]
    assert result.output.count("pruned: ") == 7


def test_backup_job_uses_backup_dir_and_backup_keep_from_the_environment(team, runner, backup_dir, clock,
                                                                         monkeypatch):
    from server.backups import backup_job

    monkeypatch.setenv("BACKUP_DIR", str(backup_dir))
    monkeypatch.setenv("BACKUP_KEEP", "3")
    fake_backups(backup_dir, 5, clock.now - timedelta(days=1))

    with runner.app.app_context():
        path = backup_job()

    assert Path(path).parent == backup_dir and Path(path).exists()
    assert len(backup_names(backup_dir)) == 3


def test_two_backups_in_the_same_second_get_different_names(team, runner, backup_dir, clock):
    for _ in range(2):
        assert runner.invoke(args=["backup", "--dir", str(backup_dir)]).exit_code == 0
    first, second = backup_names(backup_dir)
    assert first != second and len(os.listdir(backup_dir)) == 4  # two files, two manifests
