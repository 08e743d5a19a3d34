"""Which column of a contact file holds which field (a `mapping`, column →
field of schemas.contacts.MAPPING_FIELDS), checked against the file's
columns, and the function that makes an import record of a row with it.

A record is [name, company, email, source, [raw numbers]], the shape
`contact_csv_rows` cleans: a name is the `name` column when filled, else its
parts (`first_name`, `middle_name`, `last_name`) joined; without either, the
company or the e-mail names the contact (a phone's address book has many
such; one with neither is a blank line). The first filled column of a field wins for company, e-mail and
source; every `phones` column adds its numbers, several in one cell
separated by ` ::: ` (Google), `;` or `,` (Pipedrive)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

from mobile_sync.contact_csv_file import Block
from mobile_sync.errors import invalid
from schemas.contacts import MAPPING_COLUMNS_MAX as COLUMNS_MAX  # a HubSpot export of every property: ~500
from schemas.contacts import MAPPING_FIELDS

NAME_PARTS = ("first_name", "middle_name", "last_name")
_SEVERAL = re.compile(r":::|[;,]")  # separators of several numbers in one cell
_FIRST_OF_SEVERAL = " ::: "  # Google's: an e-mail cell may hold several addresses
_HAN_KANA = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]+")

Record = list  # [name, company, email, source, [raw numbers]]


def refuse_mapping(message: str, problems: list[str]):
    return invalid({"mapping": problems}, message)


def check_mapping(mapping: dict[str, str | None], columns: list[str], what: str = "column") -> None:
    """422 unless every column named is one of `columns` and the mapping
    gives a name (or its parts) and phones. Its fields were checked already
    (`schemas.contacts.MappingField`); a column mapped to null is left out."""
    present = set(columns)
    unknown = [column for column in mapping if column not in present]
    if unknown:
        shown = ", ".join(repr(c) for c in columns[:60]) + (", ..." if len(columns) > 60 else "")
        raise refuse_mapping(
            f"The mapping names {what}s the file does not have: {', '.join(repr(c) for c in unknown[:20])}.",
            [f"No {what} {column!r} in the file; its {what}s are {shown}." for column in unknown[:20]])
    fields = {field for field in mapping.values() if field}
    if "phones" not in fields or not fields & {"name", *NAME_PARTS}:
        raise refuse_mapping("The mapping must give the name (or first and last name) and the phones.",
                             ["Map a column to name (or first_name/last_name) and at least one to phones."])
    bad = [field for field in fields if field not in MAPPING_FIELDS]
    if bad:
        raise refuse_mapping(f"Unknown fields in the mapping: {', '.join(bad)}.",
                             [f"Fields are {', '.join(MAPPING_FIELDS)}."])


def check_width(columns: list) -> None:
    if len(columns) > COLUMNS_MAX:
        raise invalid({"body": [f"The header has {len(columns):,} columns; at most {COLUMNS_MAX:,} are read."]},
                      f"The file's header has {len(columns):,} columns; at most {COLUMNS_MAX:,} are read.")


def join_name(first: str, middle: str, last: str) -> str:
    """A name from its parts: "First Middle Last", but a Chinese or Japanese
    name family name first, unspaced (王 + 小明: 王小明)."""
    parts = [p for p in (first.strip(), middle.strip(), last.strip()) if p]
    if parts and not (first + middle + last).isascii() and all(_HAN_KANA.fullmatch(p) for p in parts):
        return "".join(parts[-1:] + parts[:-1])
    return " ".join(parts)


def split_numbers(cell: str) -> list[str]:
    """The numbers of one cell (several separated by ` ::: `, `;` or `,`)."""
    if ";" in cell or "," in cell or ":::" in cell:
        return _SEVERAL.split(cell)
    return [cell] if cell else []  # one number (the usual cell): what the split gives, without the regex


def row_mapper(columns: list[str], mapping: dict[str, str | None]) -> Callable[[list[str]], Record]:
    """A function making a record of a row's cells (as many as `columns`)."""
    where = {field: [i for i, column in enumerate(columns) if mapping.get(column) == field]
             for field in MAPPING_FIELDS}
    names = where["name"]
    parts = [where[part] for part in NAME_PARTS]
    companies, emails, sources, phones = where["company"], where["email"], where["source"], where["phones"]

    def first(cells: list[str], indexes: list[int]) -> str:
        for i in indexes:
            value = cells[i].strip()
            if value:
                return value.split(_FIRST_OF_SEVERAL, 1)[0].strip()
        return ""

    if all(len(indexes) <= 1 for indexes in parts):
        # The usual case (one column per part, or none): read the cells directly;
        # one generator per part and row was a tenth of a Google CSV's import.
        first_i, middle_i, last_i = (indexes[0] if indexes else None for indexes in parts)

        def parts_of(cells: list[str]) -> str:
            return join_name(cells[first_i] if first_i is not None else "",
                             cells[middle_i] if middle_i is not None else "",
                             cells[last_i] if last_i is not None else "")
    else:
        def parts_of(cells: list[str]) -> str:
            return join_name(*(" ".join(cells[i] for i in indexes) for indexes in parts))

    def record(cells: list[str]) -> Record:
        name = first(cells, names) or parts_of(cells)
        company, email = first(cells, companies), first(cells, emails)
        if len(phones) == 1:
            numbers = split_numbers(cells[phones[0]])
        else:
            numbers = [number for i in phones for number in split_numbers(cells[i])]
        if not name:
            name = company or email
        return [name, company, email, first(cells, sources), numbers]

    return record


@lru_cache(maxsize=8)
def _mapper_of(columns: tuple[str, ...], mapping: tuple[tuple[str, str | None], ...]) -> Callable:
    return row_mapper(list(columns), dict(mapping))


@dataclass
class MappedRows:
    """A block of a CSV file's rows as cells (plain values: it may be sent to
    a worker process), made records with the file's mapping by `read`, so
    that mapping, a third of a Google CSV's reading, runs where the block is
    prepared."""
    cells: Block  # its records are the rows' cells, as many as the columns
    columns: tuple[str, ...]
    mapping: tuple[tuple[str, str | None], ...]  # column -> field

    @property
    def size(self) -> int:
        return self.cells.size

    @property
    def position(self) -> int:
        return self.cells.position

    def read(self) -> Block:
        record, cells = _mapper_of(self.columns, self.mapping), self.cells
        return Block([(line, record(row)) for line, row in cells.records], cells.problem_lines,
                     cells.problem_messages, cells.position)
