"""The CSV layouts a contact file comes in, told by its header: ours
(`name,company,email,source,phones`), Google Contacts (current and legacy
headers), Outlook, HubSpot and Pipedrive exports, and any other CSV whose
column names say what they hold ("Full name", "Mobile", "E-mail"...). Each
gives the format's name and its mapping (column → field). The separator
(comma, semicolon or tab) is sniffed from the header line; Excel's `sep=;`
first line is honoured."""
from __future__ import annotations

import csv
import re

from mobile_sync.contact_csv_file import CSV_HEADER, TextLines, UnreadableFile, bad_file, csv_blocks
from mobile_sync.contact_files.mapping import MappedRows, check_mapping, check_width
from mobile_sync.errors import ServiceError

SEPARATORS = (",", ";", "\t")
_GOOGLE_PHONE = re.compile(r"phone \d+ - value$")
_GOOGLE_EMAIL = re.compile(r"e-mail \d+ - value$")
_OUTLOOK_EMAIL = re.compile(r"e-mail( \d)? address$")
_OUTLOOK_PHONE = re.compile(r"(phone( \d)?|telephone|callback)$")
_WORDS = re.compile(r"[^0-9a-z]+")
# Column names of any other CSV, as words in lower case.
_SYNONYMS = {
    "name": ("name", "full name", "fullname", "contact name", "contact", "display name", "customer name",
             "client name", "person name", "lead name"),
    "first_name": ("first name", "firstname", "given name", "first"),
    "middle_name": ("middle name", "additional name"),
    "last_name": ("last name", "lastname", "surname", "family name", "last"),
    "company": ("company", "company name", "organization", "organisation", "organization name",
                "organisation name", "business", "business name", "account", "account name", "firm"),
    "email": ("email", "e mail", "email address", "e mail address", "mail", "email id"),
    "phones": ("phone", "phones", "phone number", "phone numbers", "mobile", "mobile number", "mobile phone",
               "mobile no", "cell", "cell phone", "telephone", "tel", "whatsapp", "whatsapp number",
               "contact number", "contact no", "number", "work phone", "home phone", "landline", "phone no"),
    "source": ("source", "lead source"),
}
_FIELD_OF = {words: field for field, names in _SYNONYMS.items() for words in names}


def _ours(header: list[str]) -> dict | None:
    if sorted(h.lower() for h in header) == sorted(CSV_HEADER):
        return {h: h.lower() for h in header}
    return None


def _google(lower: list[str]) -> dict | None:
    if not any(_GOOGLE_PHONE.match(h) or _GOOGLE_EMAIL.match(h) for h in lower):
        return None
    fields = {"name": "name", "first name": "first_name", "given name": "first_name", "middle name": "middle_name",
              "additional name": "middle_name", "last name": "last_name", "family name": "last_name",
              "organization name": "company", "organization 1 - name": "company"}
    return {h: fields.get(h) or ("email" if _GOOGLE_EMAIL.match(h) else "phones" if _GOOGLE_PHONE.match(h) else None)
            for h in lower}


def _pipedrive(lower: list[str]) -> dict | None:
    if not any(h.startswith("person - ") for h in lower):
        return None
    fields = {"person - name": "name", "person - first name": "first_name", "person - last name": "last_name",
              "person - organization": "company"}
    return {h: fields.get(h) or ("email" if h.startswith("person - email") else
                                 "phones" if h.startswith("person - phone") else None) for h in lower}


def _hubspot(lower: list[str]) -> dict | None:
    columns = set(lower)
    if not ({"record id", "contact id", "mobile phone number"} & columns
            or {"first name", "last name", "email", "phone number"} <= columns):
        return None
    fields = {"first name": "first_name", "last name": "last_name", "email": "email", "phone number": "phones",
              "mobile phone number": "phones", "company name": "company", "original source": "source"}
    return {h: fields.get(h) for h in lower}


def _outlook(lower: list[str]) -> dict | None:
    if not any(_OUTLOOK_EMAIL.match(h) for h in lower) and not (
            "first name" in lower and {"business phone", "mobile phone", "home phone"} & set(lower)):
        return None
    fields = {"first name": "first_name", "middle name": "middle_name", "last name": "last_name",
              "company": "company"}

    def field(h: str) -> str | None:
        if h in fields:
            return fields[h]
        if _OUTLOOK_EMAIL.match(h):
            return "email"
        if _OUTLOOK_PHONE.search(h) and "fax" not in h and not h.startswith("assistant"):
            return "phones"
        return None

    return {h: field(h) for h in lower}


def _any_csv(lower: list[str]) -> dict | None:
    mapping = {h: _FIELD_OF.get(_WORDS.sub(" ", h).strip()) for h in lower}
    fields = set(mapping.values())
    return mapping if "phones" in fields and fields & {"name", "first_name", "last_name"} else None


LAYOUTS = (("google_csv", _google), ("pipedrive_csv", _pipedrive), ("hubspot_csv", _hubspot),
           ("outlook_csv", _outlook), ("csv", _any_csv))


def detect_layout(header: list[str]) -> tuple[str, dict[str, str | None]]:
    """(format, mapping) of a table's header (cells stripped), or a 422 when
    no layout is recognised (the caller may send a mapping instead)."""
    ours = _ours(header)
    if ours is not None:
        return "callsync_csv", ours
    lower = [h.lower() for h in header]
    for name, layout in LAYOUTS:
        found = layout(lower)
        fields = set(found.values()) if found is not None else set()
        if "phones" in fields and fields & {"name", "first_name", "last_name"}:
            return name, {column: found[column.lower()] for column in header if found[column.lower()]}
    shown = ", ".join(header[:30]) + (", ..." if len(header) > 30 else "")
    raise bad_file("The header's columns were not recognised as a contacts file "
                   f"(name, company, email, source, phones; a Google, Outlook, HubSpot or Pipedrive export): {shown}. "
                   "Send a mapping (column → field) to say which column holds what.")


def sniff_separator(first_line: str) -> tuple[str, bool]:
    """The header line's separator (the most frequent of comma, semicolon and
    tab outside quotes; comma on a tie), and whether that line is Excel's
    `sep=X` hint rather than the header."""
    stripped = first_line.strip()
    if stripped.lower().startswith("sep=") and len(stripped) == 5:
        return stripped[4], True
    outside = re.sub(r'"[^"]*"', "", first_line)
    counts = [outside.count(s) for s in SEPARATORS]
    return SEPARATORS[counts.index(max(counts))] if max(counts) else ",", False


def csv_file(lines: TextLines, first_line: str, mapping: dict | None):
    """(format, mapping, blocks) of a CSV file whose first line is `first_line`."""
    separator, hint = sniff_separator(first_line)
    reader = csv.reader(lines, delimiter=separator)
    try:
        if hint:
            next(reader)
        header = [h.strip() for h in next(reader)]
    except (csv.Error, StopIteration, UnreadableFile):
        header = []
    lines.take_bad(reader.line_num)
    check_width(header)
    format_, mapping = layout_and_mapping(header, mapping)
    if format_ == "callsync_csv" and mapping == _ours(header):  # our own file: the fast path
        order = [[h.lower() for h in header].index(name) for name in CSV_HEADER]
        return format_, mapping, csv_blocks(reader, lines, len(header), order=order)
    # The rows' cells, made records where each block is prepared (`MappedRows`).
    columns, fields = tuple(header), tuple(sorted(mapping.items()))
    return format_, mapping, (MappedRows(block, columns, fields)
                              for block in csv_blocks(reader, lines, len(header)))


def layout_and_mapping(header: list[str], mapping: dict | None) -> tuple[str, dict]:
    """The header's format, and the mapping sent (checked against the
    header) or else the one detected (422 when none is)."""
    if mapping is None:
        return detect_layout(header)
    check_mapping(mapping, header)
    try:
        return detect_layout(header)[0], mapping
    except ServiceError:
        return "csv", mapping
