"""Contact files in: a file in any supported format opened as its format's
name, its mapping (column → field) and the blocks of records the import
stores (`mobile_sync.contacts_csv`), the same shape for every format.

    detect.py       the format, told from the first bytes
    csv_formats.py  our CSV, Google, Outlook, HubSpot, Pipedrive, any CSV
    vcard.py        vCard 2.1, 3.0, 4.0
    xlsx.py         .xlsx workbooks, checked against zip bombs
    mapping.py      columns to fields, and a row made a record
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Iterator

from mobile_sync.contact_csv_file import Block, TextLines, bad_file
from mobile_sync.contact_files.csv_formats import csv_file
from mobile_sync.contact_files.detect import read_head, sniff
from mobile_sync.contact_files.vcard import check_vcard_mapping, vcard_blocks

__all__ = ["ContactFile", "open_contact_file"]


@dataclass
class ContactFile:
    format: str  # callsync_csv, google_csv, outlook_csv, hubspot_csv, pipedrive_csv, csv, vcard, xlsx
    mapping: dict  # column (a vCard's property) → field
    blocks: Iterator[Block]
    close: Callable[[], None] = field(default=lambda: None)


def open_contact_file(stream: BinaryIO, mapping: dict | None = None, size: int | None = None) -> ContactFile:
    """The file read from `stream`, its format detected from its content,
    with the `mapping` sent (checked: 422) or the one detected. A file that
    cannot be imported at all is a 422 here, before a record is read."""
    head = read_head(stream)
    if not head.strip():
        raise bad_file("The file is empty.")
    kind, encoding, first_line = sniff(head)
    if kind == "xlsx":
        from mobile_sync.contact_files.xlsx import Workbook

        book = Workbook(stream, head, mapping, size)
        return ContactFile(book.format, book.mapping, book.blocks, book.close)
    lines = TextLines(stream, head=head, encoding=encoding)
    if kind == "vcard":
        mapping = check_vcard_mapping(mapping)
        return ContactFile("vcard", mapping, vcard_blocks(lines, mapping))
    format_, mapping, blocks = csv_file(lines, first_line, mapping)
    return ContactFile(format_, mapping, blocks)
