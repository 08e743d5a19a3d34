"""Every text field of every body and query, from the schemas: refused, or
stored verbatim and shown escaped (the walk is in text_walk.py)."""
from __future__ import annotations

import itertools
from collections import Counter

from server.api.routing import OPERATIONS
from tests.security import report
from tests.security.route_requests import ObjectFinder
from tests.security.tenants import build_org
from tests.security.text_walk import (NEVER_ACCEPTED, NOT_STORED, WALK_PAYLOADS, Accepted, check, fit, max_length,
                                      read_back_by_get, refused, restore_password, send, settle_values, tables,
                                      unescaped_on_pages, variants, write_only)


def test_injection_strings_in_every_text_field_are_refused_or_stored_verbatim_and_shown_escaped(
        client, clean_app, make_org, make_user, make_device):
    org = build_org(client, make_org, make_user, make_device, "Injected Org")
    # POST /me/password takes the first long payload as the admin's new password; the rest then
    # come with a wrong current one, counted as failed logins. The pages' sign-in after the walk
    # uses the old password again (restored below) and is not throttled here.
    clean_app.config["LOGIN_MAX_FAILURES"] = 10_000
    finder = ObjectFinder(client)
    tables_before = tables(clean_app)
    gets = {op.rule: op for op in OPERATIONS if op.method == "GET"}
    sent, accepted, read_back = 0, 0, Counter()
    # The phone book's texts are kept (not only keyed hashes of its numbers), so they can be read back.
    assert org.admin.patch("/api/v1/settings", json={"keep_phone_contacts": True}).status_code == 200
    failures, fields_seen, pending = [], set(), []

    def settle():
        check(settle_values(client, clean_app, pending), read_back, failures)
        pending.clear()

    for op in OPERATIONS:
        for part, schema_cls in (("body", op.body), ("query", op.query)):
            schema = schema_cls() if schema_cls else None
            labels = [label for label, _ in variants(schema, org, "x")] if schema else []
            for label, payload in itertools.product(labels, WALK_PAYLOADS):
                for value, tag in fit(max_length(schema, label), payload):
                    body = dict(variants(schema, org, value))[label]
                    field = f"{op.method} {op.rule} {part} {label}"
                    fields_seen.add(field)
                    response = send(client, org, finder, op, part, body)
                    sent += 1
                    where = f"{field} = {value[:60]!r}"
                    if response.status_code >= 500:
                        failures.append(f"{response.status_code} on {where}")
                    if refused(response):
                        continue
                    if part == "body" and any(bad in value for bad in NEVER_ACCEPTED):
                        failures.append(f"accepted {where}")
                    if op.endpoint == "organization.close_organization":  # the payload was its name
                        client.post("/api/v1/organization/cancel-closing", headers=org.admin.headers())
                    if part == "query" or op.endpoint in NOT_STORED or write_only(schema, label):
                        continue
                    accepted += 1
                    answer = response.get_json(silent=True)
                    token = answer.get("token") if isinstance(answer, dict) else None  # a new account's
                    kept = Accepted(where, op.endpoint, label, value.strip(), tag,
                                    {"Authorization": f"Bearer {token}"} if token else org.admin.headers())
                    if read_back_by_get(client, finder, org, op, gets, kept):
                        read_back["get"] += 1
                    else:
                        pending.append(kept)
                    if op.method in ("PATCH", "PUT"):  # the next value overwrites this one: look now
                        settle()
                    if op.endpoint == "devices.set_tracking":  # read back; else later uploads keep only that "SIM"'s calls
                        tracking = finder.fill(org, op.rule, {"device_id": org.admin.device_id})
                        reset = client.put(tracking, headers=org.admin.headers(), json={"phone_account_ids": []})
                        assert reset.status_code == 200
            settle()  # what the creates stored, in one export per organisation

    restore_password(clean_app, org.admin.user_id)
    # Every table is still there, and the organisation still answers.
    assert tables(clean_app) == tables_before
    assert org.admin.get("/api/v1/leads").status_code == 200

    unescaped, shown = unescaped_on_pages(client, clean_app, org)
    print(f"\ninjection: {len(fields_seen)} text fields, {sent} requests, {accepted} values "
          f"accepted and read back ({dict(read_back)}), 5xx: {sum(1 for f in failures if f.startswith('5'))}, "
          f"unescaped on pages: {len(unescaped)}")
    server_errors = sum(1 for f in failures if f.startswith("5"))
    report.record("injection", text_fields=len(fields_seen), requests=sent, read_back=accepted,
                  server_errors=server_errors, other_failures=len(failures) - server_errors, unescaped=len(unescaped))
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:60])
    assert not unescaped, "\n".join(unescaped)
    assert shown, "no page showed an injected text at all: the check above proved nothing"
    # The walk reached the texts the pages show.
    assert {"POST /api/v1/leads body name", "POST /api/v1/records/<string:record_type>/<int:record_id>/notes body text",
            "PATCH /api/v1/users/<int:user_id> body name", "POST /api/v1/sync/calls body calls[].name"} <= fields_seen
