"""The contact form as the API's schemas read it: the typed numbers (one a
line, or separated by commas) become the `phones` list, an owner picked in a
select its id; each schema or domain message goes beside its field."""
from __future__ import annotations

import re

from marshmallow import ValidationError

from mobile_sync.errors import ServiceError

FIELDS = ("name", "company", "email", "source", "owner_id", "phones")
_SEPARATORS = re.compile(r"[\r\n,;]+")


def split_numbers(text: str) -> list[str]:
    return [part.strip() for part in _SEPARATORS.split(text or "") if part.strip()]


def contact_body(form) -> dict:
    """What the form says, shaped as ContactCreateSchema/ContactUpdateSchema take it."""
    body = {name: form.get(name, "") for name in ("name", "company", "email", "source")}
    owner = (form.get("owner_id") or "").strip()
    body["owner_id"] = int(owner) if owner.isdigit() else (owner or None)
    body["phones"] = split_numbers(form.get("phones", ""))
    return body


def form_values(contact=None, numbers=(), owner_id=None) -> dict:
    """The form's text, from a contact (editing) or empty (a new one, owned by `owner_id`)."""
    if contact is None:
        return {"name": "", "company": "", "email": "", "source": "", "owner_id": owner_id, "phones": ""}
    return {"name": contact.name, "company": contact.company or "", "email": contact.email or "",
            "source": contact.source or "", "owner_id": contact.owner_id, "phones": "\n".join(numbers)}


def _lines(messages, raw_numbers: list[str]) -> list[str]:
    """Messages as text; a number's (keyed by its position) names the number."""
    if isinstance(messages, dict):
        out = []
        for key, value in messages.items():
            where = raw_numbers[int(key)] if str(key).isdigit() and int(key) < len(raw_numbers) else None
            out += [f"{where}: {text}" if where else text for text in _lines(value, raw_numbers)]
        return out
    if isinstance(messages, list):
        return [line for message in messages for line in _lines(message, raw_numbers)]
    return [str(messages)]


def errors_of(err, raw_numbers: list[str]) -> dict[str, str]:
    """A schema's or the domain's per-field messages, one text per field; the
    rest under `_form`."""
    if isinstance(err, ValidationError):
        messages = err.messages if isinstance(err.messages, dict) else {"_form": err.messages}
    elif isinstance(err, ServiceError):
        messages = dict(err.fields or {})
        messages["_form"] = [err.message]
    else:
        raise TypeError(err)
    out = {}
    for name, value in messages.items():
        key = name if name in FIELDS else "_form"
        text = " ".join(_lines(value, raw_numbers))
        out[key] = f"{out[key]} {text}".strip() if key in out else text
    return out
