"""Reading the phone's call-log rows (Android `CallLog.Calls`) into `CallRow`s.

`schemas.sync.CallRowSchema` is the definition (and the OpenAPI document's,
and the source of every message about a bad row); `CallRow` mirrors it as a
msgspec Struct, read in C. Two ways in:

- `read_call_batch`: the whole upload body `{"batch_id", "calls"}`, decoded
  and validated in one pass. A body it is not sure of (one bad row, a NUL
  anywhere, a text longer than its limit before trimming...) gives None, and
  the request takes the general path: JSON, the envelope's schema, then
  `read_call` row by row, each bad row reported by its index.
- `read_call`: one row as loaded from JSON; msgspec when it can, the schema
  otherwise, which either accepts the row (a text within its limit once
  trimmed) or says precisely what is wrong.

Either way `tidy_call` then trims the texts as the schema's `Text` does.
"""
from __future__ import annotations

from typing import Annotated

import msgspec
from marshmallow import ValidationError
from msgspec import Meta, Struct

from schemas.sync import CallRowSchema

_EPOCH_MS = Meta(ge=0, le=4_102_444_800_000)  # schemas.sync.EPOCH_MS


def _text(longest: int):
    return Annotated[str, Meta(max_length=longest)] | None


class CallRow(Struct, gc=False, rename={
        "android_id": "_id", "date_ms": "date", "call_type": "type", "duration_s": "duration",
        "raw_number": "number", "cached_name": "name", "last_modified_ms": "last_modified"}):
    """One call under the `calls` table's column names (Android's in JSON).

    Unknown keys are ignored. A text's limit is checked before trimming here
    and after it by the schema: a row between the two is the schema's to read.
    The last four fields are processing's; whatever a row sends under those
    names is overwritten. (`gc=False`: ints, texts and None make no cycles.)
    """

    android_id: Annotated[int, Meta(ge=0, le=2**62)]
    date_ms: Annotated[int, _EPOCH_MS]
    call_type: Annotated[int, Meta(ge=1, le=7)]
    duration_s: Annotated[int, Meta(ge=0, le=10 * 86400)] = 0
    presentation: Annotated[int, Meta(ge=1, le=4)] = 1
    raw_number: _text(64) = None
    countryiso: _text(2) = None
    cached_name: _text(200) = None
    via_number: _text(64) = None
    subscription_id: _text(64) = None
    last_modified_ms: Annotated[int, _EPOCH_MS] | None = None
    e164: str | None = None
    number_status: str | None = None
    extension: str | None = None
    via_e164: str | None = None


class _CallBatch(Struct, forbid_unknown_fields=True):
    """`schemas.sync.CallBatchSchema`, which refuses unknown keys."""

    batch_id: Annotated[str, Meta(min_length=1, max_length=100)]
    calls: list[CallRow]


_BATCH = msgspec.json.Decoder(_CallBatch)
_schema = CallRowSchema()


def read_call_batch(raw: bytes) -> dict | None:
    """The body as `CallBatchSchema` would load it, its rows as `CallRow`s;
    None when any part of it is not plainly valid (the general path decides).

    ~0.5 µs a row, what parsing the JSON alone cost before; reading the
    parsed rows one by one then cost another 2 µs a row.
    """
    # NUL is valid JSON but not storable text; a `\\u0000` that is not one
    # (an escaped backslash before "u0000") only costs the general path.
    if b"\\u0000" in raw:
        return None
    # `phone_account_id` (API.md's name for `subscription_id`) is read by `read_call`.
    if b"phone_account_id" in raw:
        return None
    try:
        batch = _BATCH.decode(raw)  # refuses lone surrogates and invalid UTF-8 itself
    except (msgspec.DecodeError, RecursionError):  # DecodeError includes ValidationError
        return None
    batch_id = batch.batch_id.strip()
    if not batch_id:
        return None
    return {"batch_id": batch_id, "calls": batch.calls}


def _storable(text: str | None) -> bool:
    """No NUL and no unpaired surrogate (which PostgreSQL and UTF-8 cannot store)."""
    if text is None:
        return True
    if "\x00" in text:
        return False
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return False
    return True


def read_call(row) -> tuple[CallRow | None, str | None]:
    """Return (the row, None) or (None, a message saying what is wrong).

    The SIM's account may come as `subscription_id` (the column) or as
    `phone_account_id` (the constant's name, as API.md says); the first wins."""
    if isinstance(row, dict) and row.get("phone_account_id") is not None and row.get("subscription_id") is None:
        row = {**row, "subscription_id": row["phone_account_id"]}
    try:
        call = msgspec.convert(row, CallRow)  # strict: no bools, floats or numeric strings as ints
    except msgspec.ValidationError:
        call = None
    if call is not None and (_storable(call.raw_number) and _storable(call.countryiso)
                             and _storable(call.cached_name) and _storable(call.via_number)
                             and _storable(call.subscription_id)):
        return call, None
    try:
        clean = _schema.load(row if isinstance(row, dict) else {"_": row})
    except ValidationError as err:
        messages = err.messages if isinstance(err.messages, dict) else {"row": err.messages}
        return None, "; ".join(f"{field}: {' '.join(map(str, msgs)) if isinstance(msgs, list) else msgs}"
                               for field, msgs in sorted(messages.items()))
    return CallRow(android_id=clean["_id"], date_ms=clean["date"], call_type=clean["type"],
                   duration_s=clean["duration"], presentation=clean["presentation"], raw_number=clean["number"],
                   countryiso=clean["countryiso"], cached_name=clean["name"], via_number=clean["via_number"],
                   subscription_id=clean["subscription_id"], last_modified_ms=clean["last_modified"]), None


def tidy_call(call: CallRow) -> None:
    """Texts trimmed (as the schema's `Text`); an empty country code, name
    or line number absent; the country code in capitals."""
    number, country, name, via, subscription = (call.raw_number, call.countryiso, call.cached_name,
                                                call.via_number, call.subscription_id)
    if number is not None:
        call.raw_number = number.strip()
    if country:
        country = country.strip()
        capitals = country.upper()
        # "ﬃ" in capitals is "FFI", too long for its column: no country
        # either way, so it is kept as sent rather than failing the insert.
        call.countryiso = (capitals if len(capitals) <= 2 else country) or None
    else:
        call.countryiso = None
    call.cached_name = (name.strip() or None) if name else None
    call.via_number = (via.strip() or None) if via else None
    if subscription is not None:
        call.subscription_id = subscription.strip()


# What reading gives (processing adds the rest of `CallRow`).
READ_COLUMNS = ("android_id", "date_ms", "call_type", "duration_s", "presentation", "raw_number", "countryiso",
                "cached_name", "via_number", "subscription_id", "last_modified_ms")


def read_call_row(row) -> tuple[dict | None, str | None]:
    """`read_call` then `tidy_call`, as a dict under the `calls` table's
    column names (`READ_COLUMNS`), for code that stores rows one at a time."""
    call, problem = read_call(row)
    if call is None:
        return None, problem
    tidy_call(call)
    return {column: getattr(call, column) for column in READ_COLUMNS}, None
