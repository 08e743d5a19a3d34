"""Telling a contact file's format from its first bytes, whatever its name
or content type: an .xlsx workbook (a zip), a vCard (`BEGIN:VCARD`), or a
CSV (its layout told by its header: `csv_formats`), in UTF-8 with or
without a byte order mark, or UTF-16 (Excel's "Unicode text": a byte order
mark, tabs). Anything else (an old .xls, an image, random bytes) is refused
with a 422 before anything is stored."""
from __future__ import annotations

import codecs
import re
from typing import BinaryIO

from mobile_sync import contact_csv_file
from mobile_sync.contact_csv_file import bad_file

NOT_TEXT = ("The file is not a contacts file: not UTF-8 or UTF-16 text (CSV, vCard), nor an .xlsx workbook. "
            "Save it as CSV UTF-8, vCard or .xlsx.")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")  # not in any text file (\t \n \f \r are)
_NOT_DECODED = re.compile("[\udc80-\udcff]")  # what the decoders make of bytes that are not text
_ZIP = (b"PK\x03\x04", b"PK\x05\x06")
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Excel 97-2003 .xls (and other old Office files)


def read_head(stream: BinaryIO) -> bytes:
    """The file's first PIECE bytes (fewer if it is shorter)."""
    size = contact_csv_file.PIECE
    head = b""
    while len(head) < size:
        more = stream.read(size - len(head))
        if not more:
            break
        head += more
    return head


def sniff(head: bytes) -> tuple[str, str | None, str]:
    """(kind, encoding, first text): kind is "xlsx", "vcard" or "csv"; for
    text, its encoding and its first line (after any byte order mark)."""
    if head.startswith(_ZIP):
        return "xlsx", None, ""
    if head.startswith(_OLE):
        raise bad_file("The file is an Excel 97-2003 workbook (.xls): save it as .xlsx or CSV UTF-8.")
    encoding = _encoding(head)
    text = codecs.getincrementaldecoder(encoding)("surrogateescape" if encoding == "utf-8" else
                                                 "contact-file-not-text").decode(head, final=False)
    text = text.removeprefix("\ufeff")
    if _NOT_DECODED.search(text) or len(_CONTROL.findall(text)) > 8 + len(text) // 1000:
        raise bad_file(NOT_TEXT)
    first_line = text.lstrip("\r\n\t ").split("\n", 1)[0]
    if first_line.rstrip("\r").upper().replace(" ", "") == "BEGIN:VCARD":
        return "vcard", encoding, first_line
    return "csv", encoding, text.split("\n", 1)[0]


def _encoding(head: bytes) -> str:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" not in head[:4096] or head.startswith(codecs.BOM_UTF8):
        return "utf-8"
    sample = head[:4096]
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if odd > len(sample) // 4 and even < odd // 10:  # ASCII in UTF-16 without a byte order mark
        return "utf-16-le"
    if even > len(sample) // 4 and odd < even // 10:
        return "utf-16-be"
    raise bad_file(NOT_TEXT)
