"""Reading one `CallLog.Calls` row as the phone sent it.

`schemas.sync.CallRowSchema` is the definition (and the OpenAPI document's);
`read_call_row` is a fast path that accepts exactly the rows the schema
accepts with no coercion needed, measured at ~1.5 µs a row against ~38 µs
for marshmallow. Anything the fast path does not accept goes through the
schema, which either accepts it or says precisely what is wrong.
"""
from __future__ import annotations

from marshmallow import ValidationError

from schemas.sync import CallRowSchema

_MAX_MS = 4_102_444_800_000
_schema = CallRowSchema()
# (Android column, its column in `calls`, longest value) of the text columns.
_STRINGS = (("number", "raw_number", 64), ("countryiso", "countryiso", 2), ("name", "cached_name", 200),
            ("via_number", "via_number", 64), ("subscription_id", "subscription_id", 64))


def _int(value, low: int, high: int) -> bool:
    return type(value) is int and low <= value <= high


def _fast(row) -> dict | None:
    if type(row) is not dict:
        return None
    get = row.get
    android_id, date, call_type = get("_id"), get("date"), get("type")
    duration, presentation, modified = get("duration", 0), get("presentation", 1), get("last_modified")
    if not (_int(android_id, 0, 2**62) and _int(date, 0, _MAX_MS) and _int(call_type, 1, 7)
            and _int(duration, 0, 864_000) and _int(presentation, 1, 4)
            and (modified is None or _int(modified, 0, _MAX_MS))):
        return None
    out = {"android_id": android_id, "date_ms": date, "call_type": call_type, "duration_s": duration,
           "presentation": presentation, "last_modified_ms": modified}
    for key, column, limit in _STRINGS:
        value = get(key)
        if value is None:
            out[column] = None
            continue
        if type(value) is not str or "\x00" in value:
            return None
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:  # an unpaired surrogate
                return None
        value = value.strip()
        if len(value) > limit:
            return None
        out[column] = value
    return _tidy(out)


def _tidy(out: dict) -> dict:
    """Empty texts are absent; the country code in capitals."""
    if out["countryiso"]:
        out["countryiso"] = out["countryiso"].upper()
    else:
        out["countryiso"] = None
    out["cached_name"] = out["cached_name"] or None
    out["via_number"] = out["via_number"] or None
    return out


def _from_schema(clean: dict) -> dict:
    return _tidy({"android_id": clean["_id"], "date_ms": clean["date"], "call_type": clean["type"],
                  "duration_s": clean["duration"], "presentation": clean["presentation"],
                  "last_modified_ms": clean["last_modified"],
                  **{column: clean[key] for key, column, _ in _STRINGS}})


def read_call_row(row) -> tuple[dict | None, str | None]:
    """Return (the row under the `calls` table's column names, None) or
    (None, a message saying what is wrong)."""
    clean = _fast(row)
    if clean is not None:
        return clean, None
    try:
        return _from_schema(_schema.load(row if isinstance(row, dict) else {"_": row})), None
    except ValidationError as err:
        messages = err.messages if isinstance(err.messages, dict) else {"row": err.messages}
        text = "; ".join(f"{field}: {' '.join(map(str, msgs)) if isinstance(msgs, list) else msgs}"
                         for field, msgs in sorted(messages.items()))
        return None, text
