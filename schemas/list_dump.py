"""A list's page dumped exactly as its marshmallow schema dumps it, with the
schema read once: one small function per field, chosen from the field's type.

The lists (`GET /leads`, `/contacts`, `/calls`) answer up to 200 records a
page. marshmallow's dump walks its field machinery for every value of every
record (a page of 50 contacts: ~1.5 ms of a ~10 ms request); here a plain
value is passed as it is, a date-time becomes its ISO text, a nested schema
is dumped the same way, and any other field (a `fields.Function`, a list of
something else) is left to marshmallow's own `serialize`. The schemas stay the
definition (the OpenAPI document is generated from them);
tests/api/test_lists.py checks this dump equals `Schema().dump` on each list.
"""
from __future__ import annotations

from marshmallow import Schema, fields, missing

_PLAIN = (fields.Integer, fields.String, fields.Boolean)
_dumpers: dict[type, object] = {}


def _value(field: fields.Field):
    """value -> what `field` dumps it as, or None when marshmallow must do it."""
    if isinstance(field, fields.DateTime) and (field.format or field.DEFAULT_FORMAT) == "iso":
        return lambda value: None if value is None else value.isoformat()
    if type(field) in _PLAIN and not getattr(field, "as_string", False):
        kind = {fields.Integer: int, fields.String: str, fields.Boolean: bool}[type(field)]
        return lambda value: value if value is None or type(value) is kind else field._serialize(value, None, None)
    if isinstance(field, fields.Nested) and field.only is None and not field.exclude and not field.many:
        nested = dumper(type(field.schema))
        return lambda value: None if value is None else nested(value)
    if type(field) is fields.List:
        inner = _value(field.inner)
        if inner is not None:
            return lambda value: None if value is None else [inner(item) for item in value]
    if type(field) is fields.Dict and field.key_field is not None and field.value_field is not None:
        keys, values = _value(field.key_field), _value(field.value_field)
        if keys is not None and values is not None:
            return lambda value: None if value is None else {keys(k): values(v) for k, v in value.items()}
    return None


def dumper(schema_class: type[Schema]):
    """obj (a dict, an ORM object or a row) -> the dict `schema_class().dump(obj)` answers."""
    if schema_class in _dumpers:
        return _dumpers[schema_class]
    schema = schema_class()
    plan = []
    for name, field in schema.dump_fields.items():
        plan.append((field.data_key or name, field.attribute or name, _value(field), field))

    def dump(obj) -> dict:
        get = obj.get if isinstance(obj, dict) else (lambda attr, default: getattr(obj, attr, default))
        out = {}
        for key, attr, convert, field in plan:
            if convert is None:
                value = field.serialize(attr, obj, schema.get_attribute)
            else:
                value = get(attr, missing)
                if value is not missing:
                    value = convert(value)
            if value is not missing:
                out[key] = value
        return out

    _dumpers[schema_class] = dump
    return dump
