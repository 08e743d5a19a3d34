"""The walk over every text field of every operation, generated from the
marshmallow schemas: the payloads, what each operation may drop, and the
steps that send, settle, read back and look at the pages."""
from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass
from urllib.parse import urlencode

from marshmallow import fields as mf
from marshmallow import validate as mv

from server.auth import PUBLIC
from mobile_sync.export_data import SECRET_COLUMNS
from server.openapi import ROW_SCHEMAS
from tests.api.exports import read_export
from tests.conftest import PASSWORD
from tests.security.route_requests import creator_headers, sample_value
from tests.web.conftest import csrf_of, sign_in

# ------------------------------------------------------ every text field, from the schemas
#
# The walk below is generated from the operations' marshmallow schemas (with
# the uploaded rows' schemas that the OpenAPI document shows), so a text field
# added later is covered without editing this file. For every text field of
# every body and query, each payload (tagged, so each value sent is unique) is
# sent with an otherwise valid request: never a 5xx; NUL and lone surrogates
# never accepted; an accepted value is read back exactly as sent (through the
# same path's GET, else the organisation's export), never stored altered, and
# dropped only where DROPPED says why (NOT_STORED: operations that keep nothing
# of what they are given); every table is still there; and the manager's pages,
# and their own note form, show what was stored escaped.

WALK_PAYLOADS = [
    "'; DROP TABLE contacts;--",
    "Robert'); DELETE FROM users WHERE ('1'='1",
    "' OR 1=1 UNION SELECT token_hash FROM access_tokens --",
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(1)>",
    "{{7*7}} ${7*7} <%= 7*7 %> {% raw %}",
    "=HYPERLINK(\"http://x.test\",\"x\") @SUM(1) \\ % _ ` ; /* */",
    "Ω 😀 \u202e",
    "line\r\nBcc: thief@evil.test\r\n\r\n<b>body</b>",
    "nul\x00byte",
    "lone \ud800 surrogate",
    "L" * 100_000,
]
# Never storable: NUL (PostgreSQL text cannot hold it) and unpaired surrogates (not UTF-8).
NEVER_ACCEPTED = ("\x00", "\ud800")
# Markup that must never reach a page unescaped.
RAW_MARKUP = ("<script>alert(1)", "<img src=x", "\"><img")

# Operations that are given text without keeping it as sent; everything else
# that answers 2xx must have stored the value exactly.
NOT_STORED = {
    "accounts.login": "credentials are checked, never stored",
    "accounts.accept_invite": "a made-up invite token finds no invite",
    "accounts.reset_password": "the address is looked up, never stored",
    "accounts.confirm_password_reset": "a made-up token finds no link",
    "profile.change_password": "a password is kept only as its argon2 hash",
    "data_rights.erase": "an erased number is kept only as a salted hash",
    "caller_id.caller_id": "a look-up",
    "caller_id.ringing": "the number is looked up and pushed, not kept",
    "caller_id.telephony_ringing": "the numbers are looked up and pushed, not kept",
    "organization.close_organization": "the organisation's name, typed to confirm",
}

# Texts a request may carry that the service does not keep, or keeps only in
# another form: (endpoint, field) -> why.
DROPPED = {
    ("sync.upload_calls", "calls[].countryiso"): "an ISO region code, stored upper-cased",
    ("sync.upload_contacts", "batch_id"): "a phone-book upload is idempotent per contact, not per batch",
    ("sync.upload_contacts", "contacts[].lookup"): "Android's lookup key is not needed",
    ("sync.upload_contacts", "contacts[].phones[].label"): "a number's label is not kept",
    ("sync.upload_contacts", "contacts[].phones[].number"): "numbers are kept as E.164 when they parse, else dropped",
    ("sync.upload_contacts", "contacts[].phones[].normalized_number"): "as `number`",
    ("devices.report_health", "app_version"): "only the latest health report is kept: the next one replaces it",
}

_serial = itertools.count(1)


def _is_text(fld) -> bool:
    return isinstance(fld, mf.String) and not any(isinstance(v, mv.OneOf) for v in fld.validators)


def _loadable(schema) -> list[tuple[str, str, object]]:
    return [(name, fld.data_key or name, fld) for name, fld in schema.fields.items() if not fld.dump_only]


def _base(schema, org) -> dict:
    """The schema's required fields, sampled; fresh ids for uploaded rows."""
    body = {}
    for name, key, fld in _loadable(schema):
        if fld.required:
            body[key] = _sample(fld, name, org, type(schema))
            if key in ("_id", "contact_id"):
                body[key] = 1_000_000 + next(_serial)
    return body


def _sample(fld, name, org, owner):
    row = ROW_SCHEMAS.get((owner, name))
    if row is not None:
        return [_base(row(), org)]
    if isinstance(fld, mf.Nested):
        one = _base(fld.schema, org) if any(f.required for f in fld.schema.fields.values()) \
            else sample_value(fld, name, org)
        return [one] if fld.many else one
    return sample_value(fld, name, org)


def variants(schema, org, value):
    """(field path, body) for each text field the schema loads, nested ones included."""
    base = _base(schema, org)
    for name, key, fld in _loadable(schema):
        for label, field_value in _field_variants(fld, name, org, value, type(schema)):
            yield key + label, {**base, key: field_value}


def _field_variants(fld, name, org, value, owner):
    row = ROW_SCHEMAS.get((owner, name))
    if _is_text(fld):
        yield "", value
    elif row is not None:
        for label, body in variants(row(), org, value):
            yield f"[].{label}", [body]
    elif isinstance(fld, mf.Nested):
        for label, body in variants(fld.schema, org, value):
            yield f".{label}", [body] if fld.many else body
    elif isinstance(fld, mf.List):
        if _is_text(fld.inner):
            yield "[]", [value]
        elif isinstance(fld.inner, mf.Nested):
            for label, body in variants(fld.inner.schema, org, value):
                yield f"[].{label}", [body]
    elif isinstance(fld, mf.Dict) and fld.value_field is not None and _is_text(fld.value_field):
        yield "{}", {str(org.admin.device_id): value}


def fit(fld_max: int | None, payload: str) -> list[tuple[str, str | None]]:
    """(value, tag): the payload tagged to be told apart from every other value
    sent, and, when the field is shorter, also cut to its length (so its
    dangerous part is still stored); a field too short for a tag gets none."""
    tag = f"~{next(_serial):x}"
    values = [(f"{payload} {tag}", tag)]
    if fld_max is not None and len(values[0][0]) > fld_max:
        if fld_max > 2 * len(tag) + 1:
            values.append((f"{payload[:fld_max - len(tag) - 1]} {tag}", tag))
        else:
            values.append((payload[:fld_max], None))
    return values


def write_only(schema, path: str) -> bool:
    """A field declared load-only (a password): kept hashed, if at all."""
    return _field_at(schema, path).load_only


def max_length(schema, path: str) -> int | None:
    """The length limit of the text field at `path` (e.g. `calls[].name`)."""
    fld = _field_at(schema, path)
    return next((v.max for v in fld.validators if isinstance(v, mv.Length) and v.max is not None), None)


def _field_at(schema, path: str):
    fld, owner = None, type(schema)
    for part in path.replace("[]", "").replace("{}", "").split("."):
        fields = {f.data_key or n: (n, f) for n, f in schema.fields.items()}
        name, fld = fields[part]
        row = ROW_SCHEMAS.get((owner, name))
        inner = fld.inner if isinstance(fld, mf.List) else fld.value_field if isinstance(fld, mf.Dict) else fld
        if row is not None:
            schema = row()
        elif isinstance(inner, mf.Nested):
            schema = inner.schema
        owner = type(schema)
        fld = inner
    return fld


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _exported_strings(headers: dict, client) -> set[str]:
    response = client.get("/api/v1/export", headers=headers)
    assert response.status_code == 200, response.data[:300]
    _, tables = read_export(response.data)
    return {text for rows in tables.values() for row in rows for text in _strings(row)}


@dataclass
class Accepted:
    """A value the service accepted, to be found again."""

    where: str
    endpoint: str
    label: str
    expected: str
    tag: str | None
    reader: dict  # credentials of the organisation that should hold it


def read_back_by_get(client, finder, org, op, gets: dict, value: Accepted) -> bool:
    """Found again, exactly, through the same path's GET."""
    back = gets.get(op.rule)
    if back is None or value.reader != org.admin.headers():
        return False
    read = client.get(finder.fill(org, op.rule, {"device_id": org.admin.device_id}), headers=_caller(back, org))
    return value.expected in set(_strings(read.get_json(silent=True)))


def check(settled: list[tuple[Accepted, str]], read_back: Counter, failures: list[str]) -> None:
    for value, found in settled:
        read_back[found] += 1
        if found == "altered":
            failures.append(f"stored altered: {value.where}")
        elif found == "dropped" and (value.endpoint, value.label) not in DROPPED:
            failures.append(f"accepted but not stored (list it in DROPPED if by design): {value.where}")


def settle_values(client, app, values: list[Accepted]) -> list[tuple[Accepted, str]]:
    """Where each value is found again, exactly: "export" (its organisation's
    export) or "database" (a secret column, left out of exports); else
    "altered" (its tag is stored in another text) or "dropped". One export per
    organisation for the lot."""
    exports: dict[str, set[str]] = {}
    stored: set[str] | None = None
    out = []
    for value in values:
        key = value.reader["Authorization"]
        if key not in exports:
            exports[key] = _exported_strings(value.reader, client)
        if value.expected in exports[key]:
            out.append((value, "export"))
            continue
        stored = _database_strings(app) if stored is None else stored
        if value.expected in stored and value.label.rsplit(".", 1)[-1].strip("[]{}") in SECRET_COLUMNS:
            out.append((value, "database"))
        elif value.tag is not None and any(value.tag in text for text in exports[key] | stored):
            out.append((value, "altered"))
        else:
            out.append((value, "dropped"))
    return out


def _database_strings(app) -> set[str]:
    from server.extensions import db

    with app.app_context(), db.engine.connect() as conn:
        return {text for table in db.metadata.sorted_tables for row in conn.execute(table.select())
                for text in _strings(list(row))}


def _caller(op, org) -> dict:
    if op.auth == PUBLIC:
        return {}
    return creator_headers(op, org)


def send(client, org, finder, op, part: str, body: dict):
    path = finder.fill(org, op.rule, {"device_id": org.admin.device_id})
    assert path is not None, finder.problems
    if part == "body":
        return client.open(path, method=op.method, headers=_caller(op, org), json=body)
    # A lone surrogate goes as invalid UTF-8 on the wire.
    query = urlencode({k: v for k, v in body.items() if not isinstance(v, (dict, list))}, errors="surrogatepass")
    return client.open(path, method=op.method, headers=_caller(op, org), query_string=query,
                       json=_base(op.body(), org) if op.body else None)


def refused(response) -> bool:
    """The request, or the one uploaded row, was refused."""
    data = response.get_json(silent=True)
    row_refused = isinstance(data, dict) and any(
        isinstance(r, dict) and r.get("index") == 0 for r in data.get("rejected") or [])
    return response.status_code >= 300 or row_refused


def restore_password(app, user_id: int) -> None:
    from mobile_sync.passwords import hash_password
    from mobile_sync.store.models import User
    from server.extensions import db

    with app.app_context():
        db.session.get(User, user_id).password_hash = hash_password(PASSWORD)
        db.session.commit()


def tables(app) -> set[str]:
    from sqlalchemy import inspect

    from server.extensions import db

    with app.app_context():
        return set(inspect(db.engine).get_table_names())


def unescaped_on_pages(client, app, org) -> tuple[list[str], int]:
    """Every page of the manager's: the queue (every page), every lead, the
    pushes, the queue filtered by each payload and the sign-in form given
    each payload. Returns what was found unescaped, and how many times an
    escaped script payload was shown."""
    browser = app.test_client()
    found = []
    for payload in WALK_PAYLOADS:
        form = urlencode({"csrf_token": csrf_of(browser), "email": payload, "password": payload, "next": payload},
                         errors="surrogatepass")
        page = browser.post("/login", data=form, content_type="application/x-www-form-urlencoded")
        found += [f"/login given {payload!r}: {m}" for m in RAW_MARKUP if m in page.get_data(as_text=True)]
    assert sign_in(browser, org.admin.email).status_code == 302
    # The pages' own form for text: a note on a lead, sent with every payload.
    lead_id = org.admin.get("/api/v1/leads").json["items"][0]["id"]
    for payload in WALK_PAYLOADS:
        form = urlencode({"csrf_token": csrf_of(browser, "/review"), "text": payload, "next": payload},
                         errors="surrogatepass")
        added = browser.post(f"/leads/{lead_id}/notes", data=form, content_type="application/x-www-form-urlencoded")
        if added.status_code not in (302, 303):
            found.append(f"a note from the page given {payload[:40]!r}: {added.status_code}")
        found += [f"the note's answer to {payload[:40]!r}: {m}" for m in RAW_MARKUP
                  if m in browser.get(f"/leads/{lead_id}").get_data(as_text=True)]
    paths, page_no = ["/push-sink"], 1
    while page_no:
        paths.append(f"/review?status=any&page={page_no}")
        listed = org.admin.get("/api/v1/leads", query_string={"page": page_no}).json
        paths += [f"/leads/{lead['id']}" for lead in listed["items"]]
        page_no = listed["next_page"]
    paths += [f"/review?{urlencode({'source': payload}, errors='surrogatepass')}" for payload in WALK_PAYLOADS]
    shown = 0
    for path in paths:
        response = browser.get(path)
        assert response.status_code == 200, (path, response.status_code)
        html = response.get_data(as_text=True)
        found += [f"{path}: {m}" for m in RAW_MARKUP if m in html]
        shown += html.count("&lt;script&gt;alert(1)&lt;/script&gt;")
    return found, shown
