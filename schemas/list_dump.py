"""A list's page dumped exactly as its marshmallow schema dumps it, with the
schema read once: one function generated per schema, a line per field chosen
from the field's type.

The lists (`GET /leads`, `/contacts`, `/calls`) answer up to 200 records a
page. marshmallow's dump walks its field machinery for every value of every
record (a page of 50 contacts: 1.1-2.2 ms, against 0.33 ms here); here a plain
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
    """obj (a dict, an ORM object or a row) -> the dict `schema_class().dump(obj)` answers.

    Made once per schema as one function of straight-line code, a line per
    field (as dataclasses and attrs make their methods): per value, Python's
    own calls only."""
    if schema_class in _dumpers:
        return _dumpers[schema_class]
    schema = schema_class()
    names = {"missing": missing, "schema": schema}
    lines = []
    for index, (name, field) in enumerate(schema.dump_fields.items()):
        key, attr = field.data_key or name, field.attribute or name
        names[f"field_{index}"] = field
        if isinstance(field, fields.DateTime) and (field.format or field.DEFAULT_FORMAT) == "iso":
            value = "None if value is None else value.isoformat()"
        elif type(field) in _PLAIN and not getattr(field, "as_string", False):
            kind = {fields.Integer: "int", fields.String: "str", fields.Boolean: "bool"}[type(field)]
            value = f"value if value is None or type(value) is {kind} else field_{index}._serialize(value, None, None)"
        else:
            convert = _value(field)
            if convert is None:  # marshmallow's own, whatever the field is
                lines.append(f"    value = field_{index}.serialize({attr!r}, obj, schema.get_attribute)")
                lines.append(f"    if value is not missing: out[{key!r}] = value")
                continue
            names[f"convert_{index}"] = convert
            value = f"convert_{index}(value)"
        lines.append(f"    value = get({attr!r}, missing)")
        lines.append(f"    if value is not missing: out[{key!r}] = {value}")
    source = ("def dump(obj):\n"
              "    get = obj.get if isinstance(obj, dict) else (lambda attr, default: getattr(obj, attr, default))\n"
              "    out = {}\n" + "\n".join(lines) + "\n    return out\n")
    exec(compile(source, f"<dump of {schema_class.__name__}>", "exec"), names)
    dump = _dumpers[schema_class] = names["dump"]
    return dump
