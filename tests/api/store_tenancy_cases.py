"""The tenancy cases of the store, one per public function of
`mobile_sync/store/` (run by tests/api/test_store_tenancy.py), and the
functions that touch no organisation's rows with the reason why."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select

from mobile_sync.phones import normalize_number
from mobile_sync.store import (calls, caller_lookup, contact_import, credentials, directory_log, erased_numbers,
                               push_messages, record_activity)
from mobile_sync.store import contact_import_runs, rollup_missed, rollups, uploads
from mobile_sync.store import lead_figures, lead_rollup, report_reads, rollup_months, rollup_runs, run_responses
from mobile_sync.store import list_pages
from mobile_sync.store.dialect import on_postgresql
from mobile_sync.store.models import AccessToken, Call, Contact, Lead, RecordPhone
from mobile_sync.store import crm_connections, crm_person_links, crm_pushes, records_with_notes
from mobile_sync.store.models import CrmConnection, CrmPush
from mobile_sync.call_rows import read_call, tidy_call
from tests.phone_data import call_row

ASHA, STRANGER, GONE, ONLY_B = "+91 98765 43210", "+91 91234 56789", "+91 99999 00001", "+91 90000 11111"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
LATER = datetime(2100, 1, 1, tzinfo=timezone.utc)  # after any time the fixture's requests wrote
EARLY = datetime(2000, 1, 1, tzinfo=timezone.utc)  # before any call of the fixture

# Public store functions that read or write no organisation's rows, and why.
NOT_ORGANISATION_DATA = {
    # CRM connectors: the sweep's and the jobs' statements, and what only changes the object in hand.
    "crm_pushes.due_pushes": "the sweep: every organisation's due push items, by design",
    "crm_connections.due_pulls": "the sweep: every organisation's due pulls, by design",
    "crm_pushes.claim_push": "keyed on a push item id the service itself queued for the organisation",
    "crm_connections.claim_pull": "keyed on a connection id the service itself queued",
    "crm_connections.connection_by_id": "keyed on a connection id the service itself queued (the jobs)",
    "crm_pushes.call_consented": "keyed on the device of a call read for the organisation (consent rows carry none)",
    "crm_pushes.take_written_pushes": "the session's notes of ids; runs no statement",
    "crm_pushes.note_written": "the session's notes of ids; runs no statement",
    "crm_connections.mark_auth_failed": "changes the connection object the caller holds; runs no statement",
    "crm_connections.mark_error": "changes the connection object the caller holds; runs no statement",
    "crm_connections.mark_paused": "changes the connection object the caller holds; runs no statement",
    "crm_connections.mark_ok": "changes the connection object the caller holds; runs no statement",
    "crm_connections.extend_pull": "changes the connection object the caller holds; runs no statement",
    "crm_connections.record_pull_page": "changes the connection object the caller holds; runs no statement",
    "crm_connections.finish_pull": "changes the connection object the caller holds; runs no statement",
    "crm_connections.release_pull": "changes the connection object the caller holds; runs no statement",
    "bulk_sql": "building blocks (IN lists, bulk INSERT/UPDATE, the driver path) of the scoped functions below",
    "dialect": "which database this is",
    "engine_setup": "how connections are configured",
    "health": "a ping",
    "statistics": "the planner's statistics of whole tables",
    "archive": "the whole database's snapshot and schema version (backups, exports); no rows chosen",
    "database_files": "the whole SQLite file copied or released for a restore (backups); no rows chosen",
    "busy": "classifies a database error; runs no statement",
    "list_pages.narrow_cap": "up to how many matches a prefix newest first is read from its index; runs no statement",
    "text_prefix": "builds a prefix condition for a query the caller scopes (mobile_sync.record_search); runs none",
    "list_order": "how a database's index holds a list's order (mobile_sync.record_pages); runs no statement",
    "locks": "advisory locks and row locks on ids the caller already scoped; they return nothing",
    "consent_state.has_consent": "keyed on the authenticated device's id (consent rows carry no organisation)",
    "push_messages.claim_push": "keyed on a message id the service itself queued for the organisation",
    "push_messages.release_push": "keyed on a message id the service itself queued",
    "push_messages.record_push_outcome": "keyed on a message id the service itself queued",
    "push_messages.insert_message": "writes one row whose organisation the caller sets",
    "push_messages.forget_push_target": "keyed on the device a message was claimed for",
    "push_messages.stale_pushes": "the outbox sweep: every organisation's lost messages, by design",
    "push_messages.run_for_sender": "runs the sender's own statements (claim, outcome); chooses no rows itself",
    "directory_log.forget_number": "takes the organisation object itself",
    "id_reservation.reserve_ids": "new primary keys from a table's sequence: no rows read or written",
    "contact_import.analyse_after_import": "the planner's statistics of whole tables",
    "contact_import.writers_take_turns": "whether the database has one writer at a time",
    "contact_import_runs.forget_abandoned_uploads": "the sweep: every organisation's import files a day old, by design",
    "credentials.token_holder": "keyed on a bearer token's hash: it is how a request's organisation is found",
    "request_records.count_request_in_database": "counts for the organisation the request authenticated as",
    "request_records.insert_access_events": "writes rows whose organisation the caller sets",
    "request_records.reads_only": "how the session's statements run; it runs none",
    "call_deletions.on_calls_deleted": "registers a callback of the deletion hook; runs no statement",
    "packed_rows.pack": "packs integers into bytes; runs no statement",
    "packed_rows.unpack": "unpacks bytes into integers; runs no statement",
    "packed_rows.hex_bytes": "bytes as hex text; runs no statement",
    "packed_rows.recordset_upsert": "the text of a statement; runs none",
    "packed_rows.day_rows_deletion": "builds a DELETE (its callers have cases); runs none",
    "packed_rows.day_range": "builds the conditions of a day range (its callers have cases); runs none",
    "rollups.unique_in_range": "counts a row's numbers from its gaps; runs no statement",
    "lead_figures.first_response": "builds the rule's subquery (its callers have cases); runs none",
    "lead_rollup.install_triggers": "DDL: the leads report's triggers, for every organisation alike",
}


def _asha(ids):
    return normalize_number(ASHA, "IN")


# Each case: (A's ids, B's ids, session) -> what the function returned, which
# must hold nothing of B's.
CASES = {
    # CRM connectors: A's connection handed B's uploads, lead, calls, connection and push ids.
    "crm_connections.find_connection": lambda a, b, s: _of_b(b, [crm_connections.find_connection(s, a["org"], "hubspot")]),
    "crm_connections.get_connection": lambda a, b, s: _of_b(b, [crm_connections.get_connection(s, a["org"], "hubspot")]),
    "crm_connections.list_connections": lambda a, b, s: _of_b(b, crm_connections.list_connections(s, a["org"])),
    "crm_connections.connections_of": lambda a, b, s: _of_b(b, crm_connections.connections_of(s, a["org"])),
    "crm_connections.save_connection": lambda a, b, s: _of_b(b, crm_connections.save_connection(
        s, a["org"], "hubspot", sealed_token="sealed", token_hint="9999", rules={"min_duration_s": 5}, now=NOW)[:1]),
    "crm_connections.update_rules": lambda a, b, s: _of_b(b, [crm_connections.update_rules(
        s, a["org"], "hubspot", {"min_duration_s": 7, "call_types": []}, NOW)]),
    "crm_connections.delete_connection": lambda a, b, s: crm_connections.delete_connection(s, a["org"], "hubspot"),
    "crm_connections.request_pull": lambda a, b, s: _of_b(b, [crm_connections.request_pull(s, a["org"], "hubspot",
                                                                                           LATER)]),
    "crm_person_links.linked_contacts": lambda a, b, s: _of_b(b, [
        contact for contact, _ in crm_person_links.linked_contacts(
            s, a["org"], _crm_ids(s, b["org"])[0], ["person-1"]).values()]),
    "crm_person_links.unlink_people": lambda a, b, s: crm_person_links.unlink_people(
        s, a["org"], _crm_ids(s, b["org"])[0], ["person-1"]),
    "crm_person_links.pulled_numbers_of": lambda a, b, s: list(crm_person_links.pulled_numbers_of(
        s, a["org"], [b["contact"]])),
    "records_with_notes.records_with_notes_or_tasks": lambda a, b, s: list(
        records_with_notes.records_with_notes_or_tasks(s, a["org"], "contact", [b["contact"]])),
    "crm_person_links.link_people": lambda a, b, s: crm_person_links.link_people(
        s, a["org"], _crm_ids(s, a["org"])[0], {"person-1": a["contact"]}, LATER),
    "crm_pushes.write_call_pushes": lambda a, b, s: crm_pushes.write_call_pushes(
        s, crm_connections.list_connections(s, a["org"]), b["uploads"], NOW),
    "crm_pushes.write_lead_pushes": lambda a, b, s: crm_pushes.write_lead_pushes(
        s, crm_connections.list_connections(s, a["org"]), b["lead"], NOW),
    "crm_pushes.resume_connection_pushes": lambda a, b, s: [i for i in crm_pushes.resume_connection_pushes(
        s, crm_connections.get_connection(s, a["org"], "hubspot"), LATER) if i in _crm_ids(s, b["org"])[1]],
    "crm_pushes.list_pushes": lambda a, b, s: crm_pushes.list_pushes(s, a["org"], _crm_ids(s, b["org"])[0], 50, 1)[0],
    "crm_pushes.push_counts": lambda a, b, s: crm_pushes.push_counts(s, a["org"], _crm_ids(s, b["org"])[0]),
    "crm_pushes.call_to_push": lambda a, b, s: [found for found in (crm_pushes.call_to_push(
        s, a["org"], call_id, a["hash_key"]) for call_id in call_ids_of(s, b["org"])) if found is not None],
    "crm_pushes.lead_to_push": lambda a, b, s: crm_pushes.lead_to_push(s, a["org"], b["lead"], a["hash_key"]),
    "calls.load_calls": lambda a, b, s: [c.id for c in calls.load_calls(
        s, a["org"], Call.upload_id.in_(b["uploads"]))],
    # B's phone sends the same call again, but stored for A: B's copy is untouched.
    "calls.insert_new_calls": lambda a, b, s: calls.insert_new_calls(s, a["org"], [_stored_row(9, ASHA)], {
        "device_id": a["device"], "user_id": a["user"], "upload_id": a["uploads"][0], "created_at": NOW}) - 1,
    "calls.mark_known_calls": lambda a, b, s: calls.mark_known_calls(s, a["org"], b["uploads"], NOW),
    "calls.relink_calls": lambda a, b, s: calls.relink_calls(s, a["org"], "lead", b["lead"], "contact", a["contact"]),
    "record_activity.attach_upload_calls": lambda a, b, s: record_activity.attach_upload_calls(
        s, a["org"], b["uploads"], NOW),
    "record_activity.recount_records": lambda a, b, s: record_activity.recount_records(
        s, a["org"], {("contact", b["contact"]), ("lead", b["lead"])}, NOW),
    "uploads.open_upload": lambda a, b, s: [uploads.open_upload(
        s, a["org"], device_id=a["device"], user_id=a["user"], kind="calls", batch_id="t", now=NOW)][:0],
    "uploads.close_upload": lambda a, b, s: uploads.close_upload(s, a["org"], b["uploads"][0], 0),
    "uploads.advance_cursor": lambda a, b, s: _refused(lambda: uploads.advance_cursor(
        s, a["org"], device_id=b["device"], kind="calls", value=10**15, now=NOW)),
    "erased_numbers.erased_numbers": lambda a, b, s: erased_numbers.erased_numbers(
        s, a["org"], [normalize_number(GONE, "IN").e164, "+919999900002"], a["hash_key"]) - {
        normalize_number(GONE, "IN").e164},
    # A list page of A's handed B's contact id (the numbers' arm) and B's records.
    "list_pages.prefix_page": lambda a, b, s: _of_b(b, list_pages.prefix_page(
        s, Contact, equal=(("organization_id", a["org"]),), columns=("name", "company"),
        bounds={"name": ("a", "b"), "company": ("a", "b")}, count=50, ids=[b["contact"]])),
    "list_pages.newest_page": lambda a, b, s: _of_b(b, list_pages.newest_page(
        s, Lead, equal=(("organization_id", a["org"]),), offset=0, limit=50)),
    "list_pages.prefix_counts": lambda a, b, s: [n for n in list_pages.prefix_counts(
        s, Contact, equal=(("organization_id", a["org"]),), columns=("name",), bounds={"name": ("only", "onlz")},
        cap=1000).values() if n],
    "list_pages.newest_by_prefix": lambda a, b, s: _of_b(b, list_pages.newest_by_prefix(
        s, Contact, equal=(("organization_id", a["org"]),), columns=("name", "company"),
        bounds={"name": ("a", "p"), "company": ("a", "p")}, cap=1000, count=50)) + [
        row for row in list_pages.newest_by_prefix(s, Contact, equal=(("organization_id", a["org"]),),
                                                   columns=("name",), bounds={"name": ("only", "onlz")}, cap=1000,
                                                   count=50)],
    "list_pages.walk_matching": lambda a, b, s: _of_b(b, list_pages.walk_matching(
        s, Contact, equal=(("organization_id", a["org"]),), columns=("name", "company"),
        bounds={"name": ("a", "p"), "company": ("a", "p")}, count=50)),
    # A's number search for the number only B's contact has (as E.164, and its last 6 digits): nothing.
    "list_pages.number_ids": lambda a, b, s: list_pages.number_ids(
        s, a["org"], "contact", e164=normalize_number(ONLY_B, "IN").e164, limit=1000,
        tails=((normalize_number(ONLY_B, "IN").e164[-6:],
                [f"{n}{normalize_number(ONLY_B, 'IN').e164[-6:]}" for n in range(10)]),)),
    "list_pages.page_numbers": lambda a, b, s: [n for numbers in list_pages.page_numbers(
        s, a["org"], "contact", [b["contact"]]).values() for n in numbers],
    "caller_lookup.lookup_rows": lambda a, b, s: [r for r in caller_lookup.lookup_rows(s, {
        "org": a["org"], "e164": _asha(a).e164, "suffix": _asha(a).suffix, "user": b["user"], "book_hash": ""})
        if r.record_type == "phone_contact" or (r.record_id not in (a["contact"], a["lead"]))],
    "contact_import.existing_contact_keys": lambda a, b, s: contact_import.existing_contact_keys(
        s, a["org"], [normalize_number(ONLY_B, "IN").e164]),
    # A holds one contact: none besides it, whatever B holds.
    "contact_import.contacts_besides": lambda a, b, s: contact_import.contacts_besides(
        s, a["org"], s.get(Contact, a["contact"]).created_at),
    # A's import of B's customer's number: A gets a contact, B's rows stay as they were.
    "contact_import.insert_contacts": lambda a, b, s: contact_import.insert_contacts(s, a["org"], a["user"], [
        (2, "Asha Rao", None, None, "import", [(_asha(a).e164, _asha(a).suffix, None, ASHA)])], NOW),
    # A background import's run and file (mobile_sync.contact_imports), handed B's run.
    "contact_import_runs.create_run": lambda a, b, s: [contact_import_runs.create_run(
        s, a["org"], user_id=a["user"], owner_id=None, filename="a.csv", region="IN", mapping=None, now=NOW,
        stale_before=LATER)][:0],
    "contact_import_runs.store_chunk": lambda a, b, s: contact_import_runs.store_chunk(
        s, a["org"], b["import_run"], 1, b"x"),
    "contact_import_runs.set_size": lambda a, b, s: contact_import_runs.set_size(s, a["org"], b["import_run"], 9),
    "contact_import_runs.read_chunk": lambda a, b, s: contact_import_runs.read_chunk(
        s, a["org"], b["import_run"], 0),
    "contact_import_runs.get_run": lambda a, b, s: contact_import_runs.get_run(s, a["org"], b["import_run"]),
    "contact_import_runs.recent_runs": lambda a, b, s: [
        r for r in contact_import_runs.recent_runs(s, a["org"]) if r.organization_id != a["org"]],
    "contact_import_runs.claim_run": lambda a, b, s: contact_import_runs.claim_run(
        s, a["org"], b["import_run"], NOW),
    "contact_import_runs.record_progress": lambda a, b, s: contact_import_runs.record_progress(
        s, a["org"], b["import_run"], NOW, imported=7),
    "contact_import_runs.finish_run": lambda a, b, s: contact_import_runs.finish_run(
        s, a["org"], b["import_run"], "done", NOW),
    "push_messages.devices_of": lambda a, b, s: push_messages.devices_of(s, a["org"], [b["user"]]),
    "directory_log.log_numbers": lambda a, b, s: directory_log.log_numbers(s, a["org"], [_asha(a).e164], NOW),
    "directory_log.log_record_numbers": lambda a, b, s: directory_log.log_record_numbers(
        s, a["org"], {("contact", b["contact"]), ("lead", b["lead"])}, NOW, owners=[b["user"]]),
    "directory_log.add_record_phones": lambda a, b, s: directory_log.add_record_phones(s, a["org"], [
        {"record_type": "contact", "record_id": a["contact"], "e164": "+919845011111", "suffix": "845011111",
         "raw": "9845011111", "extension": None}], NOW),
    "directory_log.delete_record_phones": lambda a, b, s: directory_log.delete_record_phones(
        s, a["org"], RecordPhone.record_id.in_([b["contact"], b["lead"]]), now=NOW),
    # Report rollups (mobile_sync.reports.rollup): handed B's users, uploads and calls, A's statements
    # find none of them and change none of B's rollup rows.
    "rollups.processed_calls": lambda a, b, s: rollups.processed_calls(s, a["org"], upload_ids=b["uploads"]) + \
        rollups.processed_calls(s, a["org"], user_id=b["user"]),
    "rollups.users_with_calls": lambda a, b, s: [u for u in rollups.users_with_calls(s, a["org"]) if u[0] == b["user"]]
        + rollups.users_with_calls(s, a["org"], b["user"]),
    "rollups.read_call_days": lambda a, b, s: rollups.read_call_days(s, a["org"], EARLY.date(), LATER.date(),
                                                                     [b["user"]]),
    "rollups.user_totals": lambda a, b, s: rollups.user_totals(s, a["org"], EARLY.date(), LATER.date(), [b["user"]]),
    "rollups.user_days": lambda a, b, s: rollups.user_days(s, a["org"], [b["user"]]),
    # A's own rows removed first: what is left to find could only be B's.
    "rollups.days_of_all_users": lambda a, b, s: rollups.delete_call_days(s, a["org"]) * 0 + len(
        rollups.days_of_all_users(s, a["org"], sorted({moment.date() for moment in _call_days(s, b["org"])}))),
    "rollups.org_days": lambda a, b, s: rollups.delete_org_days(s, a["org"]) * 0 + len(
        rollups.org_days(s, a["org"], EARLY.date(), LATER.date())),
    "rollups.packed_numbers": lambda a, b, s: rollups.packed_numbers(
        s, a["org"], EARLY.date(), LATER.date(), [b["user"]]),
    "rollups.write_call_days": lambda a, b, s: rollups.write_call_days(s, a["org"], [
        {"user_id": a["user"], "day": day, **{name: 1 for name in rollups.DAY_FIGURES},
         "numbers": b"", "callbacks": b"", "gaps": []} for day in sorted({moment.date() for moment in _call_days(s, b["org"])})]),
    "rollups.delete_call_days": lambda a, b, s: rollups.delete_call_days(s, a["org"], b["user"]),
    # A's organisation rows of B's days: B's rows keep their figures.
    "rollups.write_org_days": lambda a, b, s: rollups.write_org_days(s, a["org"], [
        {"day": day, **{name: 1 for name in rollups.SUMMED}, "unique_numbers": 1}
        for day in sorted({moment.date() for moment in _call_days(s, b["org"])})]),
    "rollups.add_to_org_days": lambda a, b, s: rollups.add_to_org_days(s, a["org"], [
        {"day": day, **{name: 1 for name in rollups.SUMMED}, "unique_numbers": 1}
        for day in sorted({moment.date() for moment in _call_days(s, b["org"])})]),
    "rollups.delete_org_days": lambda a, b, s: rollups.delete_org_days(s, a["org"]) * 0 + rollups.delete_org_days(
        s, a["org"]),
    "rollup_missed.find_callbacks": lambda a, b, s: rollup_missed.find_callbacks(s, a["org"], _missed_ids(s, b["org"])),
    # A's write naming B's missed calls: B's rows keep their figures.
    "rollup_missed.write_missed": lambda a, b, s: rollup_missed.write_missed(s, a["org"], [
        {"call_id": call_id, "user_id": a["user"], "day": NOW.date(), "started_at": NOW, "number": 1,
         "callback_call_id": None, "callback_at": None} for call_id in _missed_ids(s, b["org"])]),
    "rollup_missed.missed_rows": lambda a, b, s: rollup_missed.missed_rows(
        s, a["org"], call_ids=_missed_ids(s, b["org"])) + rollup_missed.missed_rows(s, a["org"], user_id=b["user"]),
    "rollup_missed.delete_missed": lambda a, b, s: rollup_missed.delete_missed(s, a["org"], b["user"]),
    "rollup_missed.missed_returnable_by": lambda a, b, s: [r for r in rollup_missed.missed_returnable_by(
        s, a["org"], {int(normalize_number(STRANGER, "IN").e164[1:]): (EARLY, LATER)})
        if r.call_id in _missed_ids(s, b["org"])],
    "rollup_missed.missed_with_lost_callbacks": lambda a, b, s: rollup_missed.missed_with_lost_callbacks(
        s, a["org"], EARLY, LATER),
    # A's leads that B's uploads answer, or B's lead by id: none; every refresh scoped to A.
    "lead_figures.refresh_first_responses": lambda a, b, s: lead_figures.refresh_first_responses(
        s, a["org"], lead_ids=[b["lead"]])
        + 0 * lead_figures.refresh_first_responses(s, a["org"], responded_between=(EARLY, LATER))
        + 0 * lead_figures.refresh_first_responses(s, a["org"]),
    "report_reads.missed_by_user": lambda a, b, s: report_reads.missed_by_user(s, a["org"], EARLY.date(),
                                                                                LATER.date(), [b["user"]]),
    # A's run answering B's lead's number after its calls, and naming B's lead as linked: B's lead untouched.
    "run_responses.first_responses_after_run": lambda a, b, s: run_responses.first_responses_after_run(
        s, a["org"], {}, {b["lead"]: EARLY}) + 0 * run_responses.first_responses_after_run(
        s, a["org"], {normalize_number(STRANGER, "IN").e164: [LATER]}, {}),
    "rollup_months.refresh_call_months": lambda a, b, s: rollup_months.refresh_call_months(
        s, a["org"], [(b["user"], NOW.date())]),
    "rollup_months.refresh_span": lambda a, b, s: rollup_months.refresh_span(
        s, a["org"], b["user"], EARLY.date(), LATER.date()),
    # The month rows' reads are PostgreSQL's (SQLite keeps no month rows: its reports read the day rows).
    "rollup_months.month_items": lambda a, b, s: rollup_months.month_items(
        s, a["org"], EARLY.date(), LATER.date(), [b["user"]]) if on_postgresql(s) else [],
    "rollup_months.month_totals": lambda a, b, s: rollup_months.month_totals(
        s, a["org"], EARLY.date(), LATER.date(), [b["user"]]) if on_postgresql(s) else [],
    "rollup_runs.users_hours": lambda a, b, s: rollup_runs.users_hours(s, a["org"], [b["user"]]) + [
        u for u in rollup_runs.users_hours(s, a["org"]) if u[0] == b["user"]],
    "rollup_runs.numbers_of_users": lambda a, b, s: rollup_runs.numbers_of_users(s, a["org"], [b["user"]]),
    # A's own rows removed first: what is left to find could only be B's.
    "rollup_runs.team_numbers": lambda a, b, s: rollups.delete_call_days(s, a["org"]) * 0 + len(
        rollup_runs.team_numbers(s, a["org"], sorted({moment.date() for moment in _call_days(s, b["org"])}))),
    "rollup_runs.callbacks_at": lambda a, b, s: rollup_runs.callbacks_at(
        s, a["org"], [(b["user"], moment.date()) for moment in _call_days(s, b["org"])]),
    "rollup_runs.run_rows": lambda a, b, s: [part for part in rollup_runs.run_rows(
        s, a["org"], {b["user"]: EARLY.date()}, [(b["user"], moment.date()) for moment in _call_days(s, b["org"])])
        if any(part.values())],
    # A's write of B's keys and days: B's rows keep their figures and call backs.
    "rollup_runs.write_run": lambda a, b, s: rollup_runs.write_run(
        s, a["org"], [(b["user"], moment.date(), b"\x01\x00\x00\x00", 1) for moment in _call_days(s, b["org"])],
        [{"user_id": b["user"], "day": day, **{name: 1 for name in rollups.DAY_FIGURES}, "numbers": b"",
          "callbacks": b"", "gaps": []} for day in sorted({moment.date() for moment in _call_days(s, b["org"])})],
        [{"day": day, **{name: 1 for name in rollups.SUMMED}, "unique_numbers": 1}
         for day in sorted({moment.date() for moment in _call_days(s, b["org"])})],
        [(b["user"], moment.date()) for moment in _call_days(s, b["org"])]),
    # A's statement on B's keys: B's rows keep their call backs.
    "rollup_runs.write_callbacks": lambda a, b, s: rollup_runs.write_callbacks(s, a["org"], [
        (b["user"], moment.date(), b"\x01\x00\x00\x00", 1) for moment in _call_days(s, b["org"])]),
    "lead_rollup.rebuild_lead_days": lambda a, b, s: lead_rollup.rebuild_lead_days(s, a["org"]),
    "lead_figures.lead_sums": lambda a, b, s: lead_figures.lead_sums(s, a["org"], EARLY, LATER, [b["user"]]),
    "report_reads.call_day_items": lambda a, b, s: report_reads.call_day_items(
        s, a["org"], EARLY.date(), LATER.date(), [b["user"]]),
    # A request of A's handed B's token ids, every one stale by then: B's tokens keep their times.
    "credentials.touch_token": lambda a, b, s: [credentials.touch_token(s, a["org"], token_id, None, LATER)
                                                for token_id in _token_ids(s, b["org"])][:0],
}


def _missed_ids(session, organization_id: int) -> list[int]:
    ids = list(session.execute(select(Call.id).where(Call.organization_id == organization_id, Call.call_type == 3))
               .scalars())
    assert ids
    return ids


def _call_days(session, organization_id: int) -> list[datetime]:
    return list(session.execute(select(Call.started_at).where(Call.organization_id == organization_id)).scalars())


def call_ids_of(session, organization_id: int) -> list[int]:
    return list(session.execute(select(Call.id).where(Call.organization_id == organization_id).order_by(Call.id))
                .scalars())


def _crm_ids(session, organization_id: int) -> tuple[int, list[int]]:
    """The organisation's CRM connection id and its push item ids."""
    connection_id = session.execute(select(CrmConnection.id).where(
        CrmConnection.organization_id == organization_id)).scalar_one()
    return connection_id, list(session.execute(select(CrmPush.id).where(
        CrmPush.organization_id == organization_id)).scalars())


def _of_b(b, rows) -> list:
    """Those of `rows` that belong to organisation B (none may)."""
    return [row for row in rows if row is not None and row.organization_id == b["org"]]


def _token_ids(session, organization_id: int) -> list[int]:
    ids = list(session.execute(select(AccessToken.id).where(AccessToken.organization_id == organization_id))
               .scalars())
    assert ids
    return ids


def _stored_row(android_id: int, number: str):
    row, problem = read_call(call_row(android_id, number))
    assert problem is None
    tidy_call(row)
    parsed = normalize_number(row.raw_number, "IN")
    row.e164, row.number_status = parsed.e164, parsed.status
    return row


def _refused(call):
    """A call that must not touch another organisation's row: it may refuse (LookupError)."""
    try:
        call()
    except LookupError:
        pass
    return None
