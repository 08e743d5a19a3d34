"""Reading the first worksheet of an .xlsx workbook into import records
(openpyxl, read-only: rows are parsed as the sheet's XML is inflated).

A workbook is a zip, and openpyxl inflates its parts without asking how
large they are, loading some whole (shared strings, styles). So before it
opens the file, the zip's directory is checked (what every part declares it
inflates to, in total and for each part loaded whole, and its compression
ratio) and every part is inflated once, a piece at a time, to check that it
holds to its declared size and checksum (zipfile never inflates a part past
its declared size): a zip bomb, or a file that is not a workbook, is refused
before anything is stored. Columns past the header's are not read; a header
wider than COLUMNS_MAX, or a sheet declaring more than ROWS_MAX rows, is
refused.

A formula is never evaluated: a formula cell reads as the value Excel last
calculated and saved with it, or as empty when the file holds none (a
workbook written by a program that never calculated it)."""
from __future__ import annotations

import shutil
import tempfile
import zipfile
from datetime import date, datetime, time
from typing import BinaryIO, Iterator

from mobile_sync.contact_csv_file import CHUNK, Block, bad_file
from mobile_sync.contact_files.csv_formats import layout_and_mapping
from mobile_sync.contact_files.mapping import check_width, row_mapper

UNPACKED_MAX = 512 << 20  # bytes a workbook's parts may inflate to, in all
WHOLE_PART_MAX = 32 << 20  # bytes of a part other than a worksheet (openpyxl loads those whole)
RATIO_MAX = 100  # a part inflating past 1 MB may be at most this many times its compressed size
PARTS_MAX = 10_000
ROWS_MAX = 1_048_576  # Excel's own
HEADER_SEARCH = 20  # empty rows that may come before the header
PIECE = 1 << 20


class Workbook:
    """An opened workbook: `format`, `mapping` and `blocks`, and `close()`."""

    def __init__(self, stream: BinaryIO, head: bytes, mapping: dict | None, size: int | None):
        self._own_file = None
        if not _seekable(stream):  # a request's body: a zip is read from its end
            self._own_file = tempfile.TemporaryFile(prefix="contacts-", suffix=".xlsx")
            self._own_file.write(head)
            shutil.copyfileobj(stream, self._own_file, PIECE)
            stream = self._own_file
        stream.seek(0, 2)
        self.size = size or stream.tell()
        stream.seek(0)
        self._book = None
        try:
            _check_zip(stream)
            self._open(stream, mapping)
        except BaseException:
            self.close()
            raise

    def _open(self, stream: BinaryIO, mapping: dict | None) -> None:
        import openpyxl  # only for workbooks: the CSV and vCard imports do without it

        try:
            self._book = openpyxl.load_workbook(stream, read_only=True, data_only=True)
            sheet = self._book.worksheets[0]
            declared_rows = sheet.max_row
        except Exception as err:  # openpyxl raises what its parsers do: any of them means an unreadable file
            raise bad_file(f"The file is not a readable .xlsx workbook ({type(err).__name__}).")
        if declared_rows and declared_rows > ROWS_MAX:
            raise bad_file(f"The worksheet declares {declared_rows:,} rows; at most {ROWS_MAX:,} are read.")
        self._rows_declared = declared_rows
        header_row, header = 0, []
        try:
            for header_row, cells in enumerate(sheet.iter_rows(max_row=HEADER_SEARCH, values_only=True), 1):
                header = [_text(c).strip() for c in cells]
                while header and not header[-1]:
                    header.pop()
                if header:
                    break
        except Exception as err:
            raise bad_file(f"The file is not a readable .xlsx workbook ({type(err).__name__}).")
        check_width(header)
        self.format, self.mapping = layout_and_mapping(header, mapping)
        self.format = "xlsx"
        self.blocks = self._blocks(sheet, header_row, len(header), row_mapper(header, self.mapping))

    def _position(self, row: int) -> int:
        """About how much of the file was read at `row` (the sheet's declared rows tell)."""
        return int(self.size * min(1.0, row / self._rows_declared)) if self._rows_declared else 0

    def _blocks(self, sheet, header_row: int, width: int, mapper) -> Iterator[Block]:
        records, failed, why, row = [], [], [], header_row
        try:
            for row, cells in enumerate(sheet.iter_rows(min_row=header_row + 1, max_col=width, values_only=True),
                                        header_row + 1):
                if row > ROWS_MAX:
                    failed.append(row)
                    why.append(f"Rows past {ROWS_MAX:,} were not read.")
                    break
                cells = [_text(c) for c in cells]
                if any(cells):
                    if len(cells) < width:
                        cells += [""] * (width - len(cells))
                    records.append((row, mapper(cells)))
                if len(records) + len(failed) >= CHUNK:
                    yield Block(records, failed, why, self._position(row))
                    records, failed, why = [], [], []
        except Exception as err:  # a sheet's XML broken part way: what came before it stands
            failed.append(row + 1)
            why.append(f"The worksheet could not be read from this row on ({type(err).__name__}).")
        finally:
            self.close()
        if records or failed:
            yield Block(records, failed, why, self.size)

    def close(self) -> None:
        if self._book is not None:
            self._book.close()
            self._book = None
        if self._own_file is not None:
            self._own_file.close()
            self._own_file = None


def _seekable(stream) -> bool:
    try:
        return stream.seekable()
    except (AttributeError, ValueError):
        return False


def _check_zip(stream: BinaryIO) -> None:
    """422 unless the zip is a workbook whose parts inflate as declared, within bounds."""
    try:
        archive = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise bad_file("The file is a damaged zip, not a readable .xlsx workbook.")
    with archive:
        parts = archive.infolist()
        names = {part.filename for part in parts}
        if "xl/workbook.xml" not in names:
            raise bad_file("The file is a zip but not an .xlsx workbook (no xl/workbook.xml).")
        if len(parts) > PARTS_MAX:
            raise bad_file(f"The workbook has {len(parts):,} parts; at most {PARTS_MAX:,}.")
        total = sum(part.file_size for part in parts)
        if total > UNPACKED_MAX:
            raise bad_file(f"The workbook would inflate to {total / 2**20:,.0f} MB; at most "
                           f"{UNPACKED_MAX >> 20} MB are read (a zip bomb?).")
        for part in parts:
            if part.flag_bits & 0x1:
                raise bad_file("The workbook is encrypted: save it without a password.")
            if part.file_size > PIECE and part.file_size > RATIO_MAX * max(part.compress_size, 1):
                raise bad_file(f"A part of the workbook ({part.filename}) is compressed "
                               f"{part.file_size // max(part.compress_size, 1):,} times; at most {RATIO_MAX} "
                               "(a zip bomb?).")
            if part.file_size > WHOLE_PART_MAX and not part.filename.startswith("xl/worksheets/"):
                raise bad_file(f"A part of the workbook ({part.filename}) inflates to "
                               f"{part.file_size / 2**20:,.0f} MB; at most {WHOLE_PART_MAX >> 20} MB.")
        try:
            for part in parts:  # the declared sizes are what zipfile inflates to at most: check they are true
                with archive.open(part) as member:
                    while member.read(PIECE):
                        pass
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError) as err:
            raise bad_file(f"The workbook's zip is damaged ({err}).")
    stream.seek(0)


def _text(value) -> str:
    """A cell's value as text: a number as typed (a phone number stored as a number has no `.0`)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    return str(value)
