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
import itertools
import quopri
import re
from collections import deque
from dataclasses import dataclass
from typing import Iterator

from mobile_sync import contact_csv_file
from mobile_sync.contact_csv_file import CHUNK_BYTES, Block, TextLines, take_bad, take_lines
from mobile_sync.contact_files.mapping import check_mapping, join_name, refuse_mapping

DEFAULT_MAPPING = {"FN": "name", "N": "name", "ORG": "company", "EMAIL": "email", "TEL": "phones"}
# What a mapping may name besides the defaults (RFC 6350's properties, and X- extensions).
PROPERTIES = {"FN", "N", "ORG", "EMAIL", "TEL", "NICKNAME", "TITLE", "ROLE", "NOTE", "CATEGORIES", "URL",
              "ADR", "LABEL", "BDAY", "UID", "IMPP", "KIND", "SOURCE"}
PROPERTY_MAX = 64 << 10  # characters of one property that is read (a longer one fails its card)
VALUES_MAX = 64  # values of one field a card keeps (past PHONES_MAX numbers the card fails anyway)
HELD_MAX = 8 << 20  # bytes of a block's lines held without an END:VCARD to end it at
_UNESCAPE = re.compile(r"\\(.)")
_UNESCAPED_SEMICOLON = re.compile(r"(?<!\\);")
_END = frozenset(e + n + d + ":" for e in "Ee" for n in "Nn" for d in "Dd")  # "END:" in any case
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


def _decode(value: str, head: str) -> str:
    """The value as text: QUOTED-PRINTABLE decoded in its CHARSET (UTF-8 unless
    said). `head`: the property's name and parameters, upper case."""
    charset = next((p[8:].strip('"') for p in head.split(";") if p.startswith("CHARSET=")), "utf-8")
    try:
        codecs.lookup(charset)
    except LookupError:
        charset = "utf-8"
    return quopri.decodestring(value.encode("utf-8", "surrogateescape")).decode(charset, "replace")


def _tel(value: str, head: str) -> str:
    """A TEL's number as typed, from a `tel:` URI too (`;ext=` kept as an extension)."""
    value = _unescape(value).strip()
    uri = value[:4].lower() == "tel:"
    if uri or "VALUE=URI" in head:
        number, *uri_params = (value[4:] if uri else value).split(";")
        ext = next((p[4:] for p in uri_params if p.lower().startswith("ext=")), None)
        return number + (f" ext. {ext}" if ext else "")
    return value.replace(";", " ")


def _structured(value: str) -> list[str]:
    """The parts of a structured value (N, ORG, ADR), separated by unescaped `;`."""
    if "\\" not in value:
        return [p.strip() for p in value.split(";")]
    return [_unescape(p).strip() for p in _UNESCAPED_SEMICOLON.split(value)]


class _Card:
    """A card's values by field, as read (structured ones split when the record is made)."""

    __slots__ = ("line", "values", "problem")

    def __init__(self, line: int):
        self.line = line
        self.values: dict[str, list] = {}
        self.problem: str | None = None

    def add(self, field: str, name: str, value: str, head: str) -> None:
        if name == "TEL":
            value = _tel(value, head)
        elif name in ("N", "ORG", "ADR"):
            if (name, field) in _OWN:
                field = f"{field}:{name}"  # read its own way when the record is made
            else:
                value = " ".join(filter(None, _structured(value)))
        elif name == "FN" and field == "name":
            field, value = "name:FN", _unescape(value)
        else:
            value = _unescape(value)
        values = self.values.get(field)
        if values is None:
            self.values[field] = [value]
        elif len(values) < VALUES_MAX:
            values.append(value)

    def _first(self, *keys: str) -> str:
        for key in keys:
            for value in self.values.get(key, ()):
                if key == "company:ORG":
                    value = _structured(value)[0]
                elif key == "name:N":  # family; given; additional; prefixes; suffixes
                    family, given, additional = (_structured(value) + ["", ""])[:3]
                    value = join_name(given, additional, family)
                value = value.strip()
                if value:
                    return value
        return ""

    def record(self) -> list:
        first = self._first
        name = first("name:FN", "name", "name:N") or join_name(
            first("first_name"), first("middle_name"), first("last_name"))
        company, email = first("company:ORG", "company"), first("email")
        if not name:
            name = company or email
        phones = self.values.get("phones", [])
        return [name, company, email, first("source"), phones]


def vcard_blocks(lines: TextLines, mapping: dict) -> Iterator["CardLines | Block"]:
    """The file's cards by blocks of about CHUNK cards, each block's lines
    handed on unread (`CardLines`: read where the block is prepared, in a
    worker process for a large file, so that reading the cards, most of a
    vCard import's work in Python, runs beside the storing). A block ends on
    an END:VCARD line where the reader is between cards whatever came before
    (the line before does not end in "=", a QUOTED-PRINTABLE soft break), so
    each is read alone as it would be in the whole file. Past HELD_MAX bytes
    without such a line, the rest of the file is read here, card by card."""
    wanted = {name: field for name, field in mapping.items() if field}
    held: list[str] = []  # the block's lines so far
    first, cards, started, before = 1, 0, lines.position, ""  # before: the line before the piece's first
    pieces = lines.pieces()
    for piece in pieces:
        lines.record_position = lines.position  # a card's size is bounded below, not by the reader
        cut = 0
        for i in [i for i, line in enumerate(piece) if line[:4] in _END]:  # once per line: the least work
            if piece[i].rstrip("\r\n").upper() != "END:VCARD":
                continue
            cards += 1
            if (cards >= contact_csv_file.CHUNK or lines.position - started >= CHUNK_BYTES) and \
                    not (piece[i - 1] if i else before).rstrip("\r\n").endswith("="):
                held += piece[cut:i + 1]
                yield _card_lines(lines, held, first, cards, wanted)
                first, cut, cards, started, held = first + len(held), i + 1, 0, lines.position, []
        held += piece[cut:]
        before = piece[-1] if piece else before
        if held and lines.position - started > HELD_MAX:
            # No end of a card to cut at: read the rest here, streamed.
            rest = itertools.chain(held, itertools.chain.from_iterable(pieces))
            yield from _cards(rest, lines, wanted, first - 1)
            return
    if held:
        yield _card_lines(lines, held, first, cards, wanted)


def _card_lines(lines: TextLines, held: list[str], first: int, cards: int, wanted: dict) -> "CardLines":
    bad = take_lines(lines.bad, first + len(held) - 1)
    return CardLines(held, first, bad, lines.position, cards, wanted)


@dataclass
class CardLines:
    """A block of a vCard file as lines (plain values: it may be sent to a
    worker process), read into records by `read`."""
    lines: list[str]
    first: int  # the number of its first line in the file
    bad: list[tuple[int, str]]  # its lines that failed (TextLines.bad)
    position: int  # bytes of the file read when the block ended
    size: int  # its cards (END:VCARD lines)
    wanted: dict  # property -> field

    def read(self) -> Block:
        held = _HeldLines(deque(self.bad), self.position)
        blocks = list(_cards(iter(self.lines), held, self.wanted, self.first - 1))
        if len(blocks) == 1:
            return blocks[0]
        return Block([r for b in blocks for r in b.records], [n for b in blocks for n in b.problem_lines],
                     [m for b in blocks for m in b.problem_messages], self.position)


class _HeldLines:
    """What `_cards` asks of TextLines, for lines read already."""

    def __init__(self, bad: deque, position: int):
        self.bad, self.position, self.record_position = bad, position, position

    def take_bad(self, last_line: int) -> str | None:
        return take_bad(self.bad, last_line)


def _cards(source: Iterator[str], lines, wanted: dict, number: int) -> Iterator[Block]:
    """The cards of the lines of `source` as records, by blocks of at most
    CHUNK cards. `lines`: where the failed lines are (`bad`, `take_bad`) and
    the bytes read (`position`); `number`: the line before the first's."""
    records, failed, why, started = [], [], [], lines.position
    card: _Card | None = None
    # The wanted property being unfolded: its name, its head (upper case) and its value's parts.
    name = head = ""
    parts: list[str] | None = None
    length, quoted_printable, skipping = 0, False, False

    for line in source:
        number += 1
        lines.record_position = lines.position  # a card's size is bounded below, not by the reader
        lead = line[:1]
        if (lead == " " or lead == "\t") and (parts is not None or skipping):  # a folded line
            if parts is not None:
                text = line[1:].rstrip("\r\n")
                length += len(text)
                if length > PROPERTY_MAX:
                    card.problem, parts = card.problem or f"A property is longer than {PROPERTY_MAX:,} characters.", None
                else:
                    parts.append(text)
            continue
        text = line.rstrip("\r\n")
        if parts is not None:
            if quoted_printable and parts[-1].endswith("="):  # a soft line break
                parts[-1] = parts[-1][:-1]
                parts.append(text)
                length += len(text)
                continue
            card.add(wanted[name], name, _decode("".join(parts), head) if quoted_printable else "".join(parts), head)
            parts = None
        skipping = False
        if card is not None and lines.bad and lines.bad[0][0] <= number:
            card.problem = card.problem or lines.take_bad(number)
        if not text or text.isspace():
            continue
        head, _, value = text.partition(":")
        head = head.upper()
        semicolon = head.find(";")
        name = (head if semicolon < 0 else head[:semicolon]).strip()
        if "." in name:
            name = name.rsplit(".", 1)[-1]  # item1.TEL: a group's prefix
        if name == "BEGIN" and value.strip().upper() == "VCARD":
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
            if len(records) + len(failed) >= contact_csv_file.CHUNK or lines.position - started >= CHUNK_BYTES:
                yield Block(records, failed, why, lines.position)
                records, failed, why, started = [], [], [], lines.position
        elif card is None:
            failed.append(number)
            why.append("The line is outside any card (BEGIN:VCARD ... END:VCARD).")
            lines.take_bad(number)
        elif name in wanted:
            parts, length = [value], len(text)
            quoted_printable = "QUOTED-PRINTABLE" in head
        else:
            skipping = True
    if parts is not None and card is not None:
        card.add(wanted[name], name, "".join(parts), head)
    if card is not None:
        failed.append(card.line)
        why.append("The card has no END:VCARD.")
    if records or failed:
        yield Block(records, failed, why, lines.position)
