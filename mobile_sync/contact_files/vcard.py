"""Reading vCard 2.1, 3.0 and 4.0 files (an Android phone's or iCloud's
export) into import records, card by card, streamed.

Lines are unfolded (a line starting with a space or a tab continues the one
before) and QUOTED-PRINTABLE values joined across their soft line breaks
(a line ending in `=`) and decoded in their CHARSET. Parameters come in
both forms (`TEL;CELL:` and `TEL;TYPE=cell:`); a `tel:` URI (`VALUE=uri`)
gives its number, and its `;ext=` parameter the extension. A card's name is
its FN, else its N (given, additional, family); its company the first part
of ORG; its e-mail the first EMAIL; every TEL is a number. A card's errors
are reported on the line of its BEGIN:VCARD. Properties nobody maps (PHOTO,
a few hundred KB of base64) are read past, never joined in memory."""
from __future__ import annotations

import codecs
import quopri
import re
from typing import Iterator

from mobile_sync.contact_csv_file import CHUNK, CHUNK_BYTES, Block, TextLines
from mobile_sync.contact_files.mapping import check_mapping, join_name, refuse_mapping

DEFAULT_MAPPING = {"FN": "name", "N": "name", "ORG": "company", "EMAIL": "email", "TEL": "phones"}
# What a mapping may name besides the defaults (RFC 6350's properties, and X- extensions).
PROPERTIES = {"FN", "N", "ORG", "EMAIL", "TEL", "NICKNAME", "TITLE", "ROLE", "NOTE", "CATEGORIES", "URL",
              "ADR", "LABEL", "BDAY", "UID", "IMPP", "KIND", "SOURCE"}
PROPERTY_MAX = 64 << 10  # characters of one property that is read (a longer one fails its card)
_UNESCAPE = re.compile(r"\\(.)")
_UNESCAPED_SEMICOLON = re.compile(r"(?<!\\);")
_OWN = {("N", "name"), ("ORG", "company")}  # properties read their own way for their default field


def check_vcard_mapping(mapping: dict | None) -> dict:
    """The mapping to read cards with: the default, or the one sent (its
    keys vCard property names) once checked."""
    if mapping is None:
        return dict(DEFAULT_MAPPING)
    mapping = {name.upper(): field for name, field in mapping.items()}
    unknown = [name for name in mapping if name not in PROPERTIES and not name.startswith("X-")]
    if unknown:
        raise refuse_mapping(f"A vCard has no property {', '.join(unknown[:20])}.",
                             [f"Name vCard properties: {', '.join(sorted(PROPERTIES))}, or X-..."])
    check_mapping(mapping, list(mapping), what="property")
    return mapping


def _unescape(value: str) -> str:
    if "\\" not in value:
        return value
    return _UNESCAPE.sub(lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)


def _decode(value: str, params: list[str]) -> str:
    """The value as text: QUOTED-PRINTABLE decoded in its CHARSET (UTF-8 unless said)."""
    upper = [p.upper() for p in params]
    if "QUOTED-PRINTABLE" not in upper and "ENCODING=QUOTED-PRINTABLE" not in upper:
        return value
    charset = next((p.split("=", 1)[1].strip('"') for p in params if p.upper().startswith("CHARSET=")), "utf-8")
    try:
        codecs.lookup(charset)
    except LookupError:
        charset = "utf-8"
    return quopri.decodestring(value.encode("utf-8", "surrogateescape")).decode(charset, "replace")


def _tel(value: str, params: list[str]) -> str:
    """A TEL's number as typed, from a `tel:` URI too (`;ext=` kept as an extension)."""
    value = value.strip()
    if value[:4].lower() == "tel:" or any(p.upper() == "VALUE=URI" for p in params):
        number, *uri_params = value.removeprefix(value[:4] if value[:4].lower() == "tel:" else "").split(";")
        ext = next((p[4:] for p in uri_params if p.lower().startswith("ext=")), None)
        return number + (f" ext. {ext}" if ext else "")
    return value.replace(";", " ")


class _Card:
    __slots__ = ("line", "values", "problem")

    def __init__(self, line: int):
        self.line = line
        self.values: dict[str, list[str]] = {}
        self.problem: str | None = None

    def add(self, field: str, name: str, value: str, params: list[str]) -> None:
        if name == "TEL" and field == "phones":
            self.values.setdefault(field, []).append(_tel(_unescape(value), params))
            return
        if name in ("N", "ORG", "ADR"):  # structured: parts separated by unescaped `;`
            parts = [_unescape(p).strip() for p in _UNESCAPED_SEMICOLON.split(value)]
            if name == "N" and field == "name":  # family; given; additional; prefixes; suffixes
                parts = (parts + [""] * 3)[:3]
                value = join_name(parts[1], parts[2], parts[0])
            else:
                value = parts[0] if name == "ORG" else " ".join(filter(None, parts))
            self.values.setdefault(f"{field}:{name}" if (name, field) in _OWN else field, []).append(value)
            return
        key = "name:FN" if (name, field) == ("FN", "name") else field
        self.values.setdefault(key, []).append(_unescape(value).strip())

    def record(self) -> list:
        values = self.values

        def first(*keys: str) -> str:
            for key in keys:
                for value in values.get(key, ()):
                    if value.strip():
                        return value.strip()
            return ""

        name = first("name:FN", "name", "name:N") or join_name(
            first("first_name"), first("middle_name"), first("last_name"))
        company, email = first("company:ORG", "company"), first("email")
        phones = values.get("phones", [])
        if not name:
            name = company or email
        return [name, company, email, first("source"), phones]


def vcard_blocks(lines: TextLines, mapping: dict) -> Iterator[Block]:
    """The file's cards as records, by blocks of at most CHUNK cards."""
    wanted = {name: field for name, field in mapping.items() if field}
    records, failed, why, started = [], [], [], lines.position
    card: _Card | None = None
    parts: list[str] | None = None  # the wanted property being unfolded
    length, quoted_printable, skipping = 0, False, False
    number = 0

    def finish_property() -> None:
        text = "".join(parts)
        head, _, value = text.partition(":")
        name, *params = head.split(";")
        name = name.rsplit(".", 1)[-1].strip().upper()  # item1.TEL: a group's prefix
        card.add(wanted[name], name, _decode(value, params), params)

    for line in lines:
        number += 1
        lines.record_position = lines.position  # a card's size is bounded below, not by the reader
        text = line.rstrip("\r\n")
        if card is not None and lines.bad and lines.bad[0][0] <= number:
            card.problem = card.problem or lines.take_bad(number)
        if text[:1] in (" ", "\t") and (parts is not None or skipping):
            if parts is not None:
                length += len(text)
                if length > PROPERTY_MAX:
                    card.problem, parts = card.problem or f"A property is longer than {PROPERTY_MAX:,} characters.", None
                else:
                    parts.append(text[1:])
            continue
        if parts is not None and quoted_printable and parts[-1].endswith("="):  # a soft line break
            parts[-1] = parts[-1][:-1]
            parts.append(text)
            length += len(text)
            continue
        if parts is not None:
            finish_property()
            parts = None
        skipping = False
        if not text.strip():
            continue
        head = text.split(":", 1)[0]
        name = head.split(";", 1)[0].rsplit(".", 1)[-1].strip().upper()
        if name == "BEGIN" and text.partition(":")[2].strip().upper() == "VCARD":
            if card is not None:
                failed.append(card.line)
                why.append("The card has no END:VCARD.")
            card = _Card(number)
            lines.take_bad(number - 1)
        elif name == "END" and card is not None:
            if card.problem:
                failed.append(card.line)
                why.append(card.problem)
            else:
                records.append((card.line, card.record()))
            card = None
            if len(records) + len(failed) >= CHUNK or lines.position - started >= CHUNK_BYTES:
                yield Block(records, failed, why, lines.position)
                records, failed, why, started = [], [], [], lines.position
        elif card is None:
            failed.append(number)
            why.append("The line is outside any card (BEGIN:VCARD ... END:VCARD).")
            lines.take_bad(number)
        elif name in wanted:
            parts, length = [text], len(text)
            quoted_printable = "QUOTED-PRINTABLE" in head.upper()
        else:
            skipping = True
    if card is not None:
        failed.append(card.line)
        why.append("The card has no END:VCARD.")
    if records or failed:
        yield Block(records, failed, why, lines.position)
