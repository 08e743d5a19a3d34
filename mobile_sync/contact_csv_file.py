"""Reading a text file of contacts (CSV, or vCard: `contact_files.vcard`)
into blocks of records, streamed: the file is read PIECE bytes at a time and
handed on by blocks of at most CHUNK lines, so nothing grows with the file.
What cannot be read fails its line (bytes that are not UTF-8 or UTF-16, a
line too long, a malformed CSV record); a file that cannot be read at all is
refused at once (`contact_files.detect`)."""
from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
from collections import deque
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterator

from mobile_sync.errors import ServiceError, invalid

CSV_HEADER = ("name", "company", "email", "source", "phones")  # our CSV; the record shape of every format
CHUNK = 5_000  # lines per block at most
CHUNK_BYTES = 2 << 20  # and at most this much of the file
PIECE = 256 << 10  # bytes read from the file at a time
LINE_MAX = 64 << 10  # characters of one line (a valid contact needs ~2,500): a longer one fails, never held
RECORD_MAX = 1 << 20  # bytes of one record (quoted fields may span lines): past it the file is unreadable
_NOT_TEXT = re.compile("[\udc80-\udcff]")  # what the decoders make of bytes that are not text
# UTF-16 has no surrogateescape: a code unit that is not UTF-16 becomes one lone surrogate, as above.
codecs.register_error("contact-file-not-text", lambda err: ("\udcff", err.end))


class UnreadableFile(Exception):
    """The rest of the file cannot be read as CSV (a record without end)."""


def bad_file(message: str) -> ServiceError:
    return invalid({"body": [message]}, message)


class TextLines:
    """The file's lines as text, for csv.reader or the vCard reader, read
    PIECE bytes at a time. `head`: the file's first bytes, already read from
    `stream` (to detect its format); `encoding`: "utf-8" (a byte order mark
    is dropped), "utf-16" (by its byte order mark) or "utf-16-le".

    Bytes that are not text in that encoding fail their line (but in the
    first piece the whole file, as a file in another encoding). A line longer
    than LINE_MAX is read past, never held, and handed on empty. Failed lines
    are kept in `bad` (line, why) until the caller takes them. `position`:
    bytes read so far.
    """

    def __init__(self, stream: BinaryIO, head: bytes | None = None, encoding: str = "utf-8"):
        self.stream = stream
        self.position = 0
        self.record_position = 0  # where the record being read started (about): set by the reader's caller
        self.bad: deque[tuple[int, str]] = deque()
        self._line = 0  # lines handed on
        self._name = "UTF-16" if encoding.startswith("utf-16") else "UTF-8"
        self._decoder = codecs.getincrementaldecoder(encoding)(
            "surrogateescape" if self._name == "UTF-8" else "contact-file-not-text")
        first = stream.read(PIECE) if head is None else head
        if not first.strip(b"\x00\t\n\r \xef\xbb\xbf\xff\xfe"):
            raise bad_file("The file is empty.")
        self._first = first

    def __iter__(self) -> Iterator[str]:
        return itertools.chain.from_iterable(self._pieces())

    def pieces(self) -> Iterator[list[str]]:
        """The lines as lists, one per piece of the file read (what `__iter__` chains)."""
        return self._pieces()

    def _read(self) -> tuple[str, bool]:
        if self._first is not None:
            data, self._first = self._first, None
        else:
            data = self.stream.read(PIECE)
        self.position += len(data)
        if self.position - self.record_position > RECORD_MAX:
            raise UnreadableFile(f"A record is longer than {RECORD_MAX // 1024} KB (a quote never closed?).")
        first = self.position == len(data)
        text_ = self._decoder.decode(data, final=not data)
        if first:
            if _NOT_TEXT.search(text_):
                raise bad_file(f"The file is not {self._name} text.")
            text_ = text_.removeprefix("\ufeff")
        return text_, not data

    def _pieces(self) -> Iterator[list[str]]:
        tail, skipping = "", False
        while True:
            text_, final = self._read()
            if skipping:  # the rest of a line too long to hold: not part of any record
                self.record_position = self.position
                end = min((i for i in (text_.find("\n"), text_.find("\r")) if i >= 0), default=-1)
                if end < 0 and not final:
                    continue
                text_, skipping = ("" if end < 0 else text_[end + 1:]), False
                yield self._hand_on(["\n"], too_long=[0])
            text_ = tail + text_
            lines = io.StringIO(text_, newline="").readlines()
            tail = ""
            if lines and not final and (not lines[-1].endswith("\n")):
                tail = lines.pop()  # unfinished, or "\r" that "\n" may follow in the next piece
                if len(tail) > LINE_MAX:
                    tail, skipping = "", True
            too_long = [i for i, line in enumerate(lines) if len(line) > LINE_MAX] \
                if lines and max(map(len, lines)) > LINE_MAX else []
            if lines:
                yield self._hand_on(lines, too_long, not_text=bool(_NOT_TEXT.search(text_)))
            if final:
                if skipping:
                    yield self._hand_on(["\n"], too_long=[0])
                return

    def _hand_on(self, lines: list[str], too_long: list[int], not_text: bool = False) -> list[str]:
        for i in too_long:
            lines[i] = "\n"
            self.bad.append((self._line + i + 1, f"The line is longer than {LINE_MAX:,} characters."))
        if not_text:
            self.bad.extend((self._line + i + 1, f"The line is not {self._name} text.")
                            for i, line in enumerate(lines) if _NOT_TEXT.search(line))
            if len(self.bad) > 1:
                self.bad = deque(sorted(self.bad))
        self._line += len(lines)
        return lines

    def take_bad(self, last_line: int) -> str | None:
        """Why a record ending on `last_line` fails, if one of its lines failed
        (the bad lines up to there are forgotten)."""
        return take_bad(self.bad, last_line)


def take_bad(bad: deque, last_line: int) -> str | None:
    """The first reason among the failed lines (line, why) of `bad` up to
    `last_line`, which are forgotten; None when there are none."""
    taken = take_lines(bad, last_line)
    return taken[0][1] if taken else None


def take_lines(bad: deque, last_line: int) -> list[tuple[int, str]]:
    """The failed lines (line, why) of `bad` up to `last_line`, taken out of it."""
    taken = []
    while bad and bad[0][0] <= last_line:
        taken.append(bad.popleft())
    return taken


@dataclass
class Block:
    records: list  # (line, [name, company, email, source, phones]) in the order of the file
    # The lines that are not records of five fields, and why, as two lists:
    # millions of small tuples would keep the garbage collector busy.
    problem_lines: list[int]
    problem_messages: list[str]
    position: int  # bytes of the file read when the block ended

    def problems(self, first: int) -> list[tuple[int, str]]:
        """The first `first` problems as (line, why)."""
        return list(zip(self.problem_lines[:first], self.problem_messages[:first]))

    @property
    def size(self) -> int:
        """Lines read into the block (records and problems)."""
        return len(self.records) + len(self.problem_lines)

    def read(self) -> "Block":
        """The block's records. A format that leaves part of the reading to
        where the block is prepared (a worker process, for a large file:
        `contact_csv_rows`) hands on its own kind of block, with the same
        `size`, `position` and `read`; this one is read already."""
        return self


def csv_blocks(reader, lines: TextLines, width: int, order: list[int] | None = None) -> Iterator[Block]:
    """The records after the header (read already) of a CSV file of `width`
    columns, by blocks of at most CHUNK lines and about CHUNK_BYTES. Our own
    CSV (`order` given) has exactly five columns, taken in `order`; any
    other's records are its lines' cells, padded to `width` when shorter,
    made contacts where each block is prepared (`contact_files.mapping.MappedRows`)."""
    return _blocks(reader, lines, _our_record(order) if order is not None else _padded_cells(width))


def _our_record(order: list[int]) -> Callable[[list[str]], list | str | None]:
    """A line of our CSV: its record, why it is not one, or None (a blank line)."""
    width, reorder = len(CSV_HEADER), order != list(range(len(CSV_HEADER)))
    one_field = f"Expected {width} fields, found 1."  # the usual wrong line: one message for all

    def take(fields: list[str]) -> list | str | None:
        if len(fields) == width:
            return [fields[i] for i in order] if reorder else fields
        if len(fields) == 1:
            return one_field if fields[0].strip() else None
        if fields and "".join(fields).strip():
            return f"Expected {width} fields, found {len(fields)}."
        return None
    return take


def _padded_cells(width: int) -> Callable[[list[str]], list | str | None]:
    """A line of another format's CSV: its cells, why it is not a record, or None."""
    def take(fields: list[str]) -> list | str | None:
        if len(fields) > width and "".join(fields[width:]).strip():
            return f"Expected {width} fields, found {len(fields)}."
        if not fields:
            return None
        if len(fields) < width:
            fields += [""] * (width - len(fields))
        return fields
    return take


def _blocks(reader, lines: TextLines, take: Callable[[list[str]], list | str | None]) -> Iterator[Block]:
    # One pass of this loop per line of the file: a 64 MB file may have 13
    # million, so it does as little as it can (and most of it in C).
    records, failed, why, started, line = [], [], [], lines.position, reader.line_num
    while True:
        try:
            for fields in reader:
                start, line = line + 1, reader.line_num  # a quoted field may span lines: where the record starts
                lines.record_position = lines.position
                if lines.bad and lines.bad[0][0] <= line:
                    failed.append(start)
                    why.append(lines.take_bad(line))
                else:
                    record = take(fields)
                    if record.__class__ is list:
                        records.append((start, record))
                    elif record is not None:
                        failed.append(start)
                        why.append(record)
                if len(records) + len(failed) >= CHUNK or lines.position - started >= CHUNK_BYTES:
                    yield Block(records, failed, why, lines.position)
                    records, failed, why, started = [], [], [], lines.position
            break
        except csv.Error as err:
            start, line = line + 1, reader.line_num
            failed.append(start)
            why.append(f"Not a readable CSV line ({err}).")
            lines.take_bad(line)
        except UnreadableFile as err:
            failed.append(line + 1)
            why.append(f"{err} The file was not read from this line on.")
            break
    if records or failed:
        yield Block(records, failed, why, lines.position)
