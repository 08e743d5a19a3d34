"""Reading call-log rows: the whole-body fast path, the per-row path and
`schemas.sync.CallRowSchema` (the definition) agree on every row."""
import json

import msgspec
import orjson
import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError, validate

from mobile_sync.call_rows import READ_COLUMNS, CallRow, read_call, read_call_batch, read_call_row, tidy_call
from schemas.sync import CallBatchSchema, CallRowSchema

MAX_MS = 4_102_444_800_000
SCHEMA = CallRowSchema()


def as_general_path_reads(body: bytes):
    """The body as the request's general path parses it: orjson, else json."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)


def capitals(country: str | None) -> str | None:
    """The country code in capitals if they fit its column ("ﬃ" is "FFI")."""
    return country and (country.upper() if len(country.upper()) <= 2 else country)


def read_by_schema(row) -> dict | None:
    """What the schema makes of a row, tidied as ingest always has, or None."""
    try:
        clean = SCHEMA.load(row if isinstance(row, dict) else {"_": row})
    except ValidationError:
        return None
    return {"android_id": clean["_id"], "date_ms": clean["date"], "call_type": clean["type"],
            "duration_s": clean["duration"], "presentation": clean["presentation"], "raw_number": clean["number"],
            "countryiso": capitals(clean["countryiso"]) or None,
            "cached_name": clean["name"] or None, "via_number": clean["via_number"] or None,
            "subscription_id": clean["subscription_id"], "last_modified_ms": clean["last_modified"]}


def values(call: CallRow) -> dict:
    tidy_call(call)
    return {column: getattr(call, column) for column in READ_COLUMNS}


# Rows the phone might send, and many it should not.
def near(*limits):
    return st.sampled_from([n + d for n in limits for d in (-1, 0, 1)])


integers = st.one_of(
    st.integers(-3, 10), near(0, 2**62, MAX_MS, 864_000), st.integers(-2**70, 2**70),
    st.booleans(), st.floats(), st.sampled_from(["1", 1.0, None, [], {}]))
padding = st.text(" \t\n\r\u00a0\u2003\x1f", max_size=3)
plain_texts = st.one_of(
    st.none(), st.text(st.sampled_from("ab1+ ()-ßﬃé😀\u00a0\t"), max_size=6),
    st.builds(lambda left, core, right: left + core + right, padding, st.builds("9".__mul__, near(2, 64, 200)),
              padding),
    st.sampled_from(["", " ", "in", " gb ", "us", "0"]))
texts = st.one_of(plain_texts, st.text(st.sampled_from("a \x00\ud800\udc00\ud83d"), max_size=3),
                  st.sampled_from([5, True, 1.5, ["x"], {}]))
KEYS = {"_id": integers, "date": integers, "type": integers, "duration": integers, "presentation": integers,
        "last_modified": integers, "number": texts, "countryiso": texts, "name": texts, "via_number": texts,
        "subscription_id": texts, "e164": texts, "extra": texts, "android_id": integers}
valid_rows = st.fixed_dictionaries(
    {"_id": st.integers(0, 2**62), "date": st.integers(0, MAX_MS), "type": st.integers(1, 7)},
    optional={"duration": st.integers(0, 864_000), "presentation": st.integers(1, 4),
              "last_modified": st.one_of(st.none(), st.integers(0, MAX_MS)),
              **{key: plain_texts for key in ("number", "countryiso", "name", "via_number", "subscription_id")}})
rows = st.one_of(
    valid_rows,
    st.fixed_dictionaries({}, optional=KEYS),
    valid_rows.flatmap(lambda row: st.fixed_dictionaries({}, optional=KEYS).map(lambda bad: {**row, **bad})),
    st.sampled_from([None, 7, "row", [1, 2]]))
batch_ids = st.one_of(st.sampled_from(["b1", " b1 "]), texts, st.builds("x".__mul__, near(100)))


@settings(max_examples=1500, deadline=None)
@given(row=rows)
@example(row={"_id": 1, "date": 2, "type": 1, "number": " " * 70 + "1"})
@example(row={"_id": 1, "date": 2, "type": 1, "countryiso": "ß"})
@example(row={"_id": True, "date": 2, "type": 1})
def test_the_per_row_path_accepts_exactly_what_the_schema_accepts_and_reads_the_same(row):
    row = as_general_path_reads(json.dumps(row).encode())
    call, problem = read_call(row)
    expected = read_by_schema(row)
    event("accepted" if expected is not None else "refused")
    if expected is None:
        assert call is None and problem
    else:
        assert problem is None and values(call) == expected


@settings(max_examples=1500, deadline=None)
@given(calls=st.lists(st.one_of(valid_rows, rows), max_size=3), batch_id=batch_ids,
       extra=st.sampled_from([{}, {}, {}, {"note": 1}]))
@example(calls=[{"_id": 1, "date": 2, "type": 1, "number": "\x00"}], batch_id="b1", extra={})
@example(calls=[{"_id": 1, "date": 2, "type": 1, "name": "\ud83d"}], batch_id="b1", extra={})
@example(calls=[{"_id": 1, "date": 2, "type": 1, "number": "1" * 64 + " "}], batch_id="b1", extra={})
def test_the_fast_path_refuses_a_body_or_reads_it_as_the_general_path_does(calls, batch_id, extra):
    body = json.dumps({"batch_id": batch_id, "calls": calls, **extra}).encode()
    fast = read_call_batch(body)
    event("read by the fast path" if fast is not None else "left to the general path")
    if fast is None:
        return
    loaded = CallBatchSchema().load(as_general_path_reads(body))
    assert fast["batch_id"] == loaded["batch_id"]
    general = [read_call(row) for row in loaded["calls"]]
    assert all(call is not None for call, _ in general)
    assert [values(call) for call in fast["calls"]] == [values(call) for call, _ in general]


@pytest.mark.parametrize("body", [
    b'{"batch_id": "b", "calls": [{"_id": 1, "date": 2, "type": 1, "_id": "x"}]}',
    b'{"batch_id": "b", "calls": [{"_id": "x", "date": 2, "type": 1, "_id": 1}]}',
    b'{"batch_id": "b", "calls": [{"_id": 1, "date": 2, "type": 1, "_id": 3}]}',
    b'{"batch_id": "b", "calls": "x", "calls": [{"_id": 1, "date": 2, "type": 1}]}',
    b'{"batch_id": "b", "calls": [{"_id": 1, "date": 2, "type": 1, "number": "\\ud83d\\ude00 "}]}',
])
def test_repeated_keys_count_once_as_json_reads_them(body):
    fast = read_call_batch(body)
    loaded = CallBatchSchema().load(as_general_path_reads(body))
    general = [read_call(row)[0] for row in loaded["calls"]]
    if fast is not None:  # refusing is always allowed: the general path reads the body then
        assert [values(call) for call in fast["calls"]] == [values(call) for call in general]


@pytest.mark.parametrize("body", [
    b'{"batch_id": "b", "calls": [{"_id": 1, "date": 2, "type": 1, "name": "a\\u0000"}]}',
    b'{"batch_id": "b", "calls": [{"_id": 1, "date": 2, "type": 1, "name": "\\ud800"}]}',
    b'{"batch_id": "b", "calls": [{"_id": 1, "date": 2, "type": 1, "name": "\xed\xa0\x80"}]}',
    b'{"batch_id": "b", "calls": [{"_id": 1, "date": 2, "type": 1}, {"_id": 1, "date": 2, "type": 1.0}]}',
    b'{"batch_id": "b", "calls": [{"_id": 123456789012345678901234567890, "date": 2, "type": 1}]}',
    b'{"batch_id": "b", "calls": [{"_id": 1, "date": 2, "type": 1, "junk": ' + b"[" * 5000 + b"]" * 5000 + b"}]}",
    b'\xef\xbb\xbf{"batch_id": "b", "calls": []}',
    b'{"batch_id": "b", "calls": []} x',
    b'{"batch_id": " ", "calls": []}',
    b'{"batch_id": "b", "calls": [], "more": 1}',
    b'{"batch_id": "b"}',
    b'[]',
])
def test_bodies_the_fast_path_is_not_sure_of_go_the_general_way(body):
    assert read_call_batch(body) is None


def test_a_plain_upload_takes_the_fast_path_trimmed_as_the_schema_trims():
    body = orjson.dumps({"batch_id": " b7 ", "calls": [
        {"_id": 1, "date": 2, "type": 1, "number": " +91 98765 43210 ", "countryiso": "in", "name": "",
         "via_number": " ", "subscription_id": " 1 ", "e164": "forged", "new_android_column": [1]}]})
    fast = read_call_batch(body)
    assert fast["batch_id"] == "b7"
    assert values(fast["calls"][0]) == {
        "android_id": 1, "date_ms": 2, "call_type": 1, "duration_s": 0, "presentation": 1,
        "raw_number": "+91 98765 43210", "countryiso": "IN", "cached_name": None, "via_number": None,
        "subscription_id": "1", "last_modified_ms": None}


def test_a_bad_row_is_described_by_the_schema():
    assert read_call_row({"_id": "x", "date": 5, "type": 9}) == (
        None, "_id: Not a valid integer.; type: Must be greater than or equal to 1 and less than or equal to 7.")
    assert read_call_row("row")[1] == ("_id: Missing data for required field.; "
                                       "date: Missing data for required field.; type: Missing data for required field.")


def _constraints(field) -> dict:
    found = {}
    for rule in field.validators:
        if isinstance(rule, validate.Range):
            found.update(ge=rule.min, le=rule.max)
        elif isinstance(rule, validate.Length):
            found.update(max_length=rule.max)
    return found


def test_call_row_mirrors_the_schema():
    info = {f.encode_name: f for f in msgspec.inspect.type_info(CallRow).fields}
    for name, field in SCHEMA.fields.items():
        mirror = info.pop(name)
        assert mirror.required == field.required, name
        if not field.required:
            assert mirror.default == field.load_default, name
        kinds = getattr(mirror.type, "types", (mirror.type,))
        assert any(isinstance(k, msgspec.inspect.NoneType) for k in kinds) == field.allow_none, name
        (kind,) = [k for k in kinds if not isinstance(k, msgspec.inspect.NoneType)]
        rules = _constraints(field)
        assert {key: getattr(kind, key) for key in rules} == rules, name
    assert set(info) == {"e164", "number_status", "extension", "via_e164"}  # processing's
