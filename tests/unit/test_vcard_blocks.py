"""A vCard file handed on by blocks of lines (read where each block is
prepared, in a worker process for a large file) reads to exactly what the
whole file read in one pass does: the same records and the same failed
lines, whatever the file holds where a block may end."""
from __future__ import annotations

import io
import random

import pytest

from mobile_sync import contact_csv_file
from mobile_sync.contact_csv_file import TextLines
from mobile_sync.contact_files import vcard
from mobile_sync.contact_files.vcard import DEFAULT_MAPPING, vcard_blocks
from mobile_sync.errors import ServiceError

_LINES = [
    "BEGIN:VCARD", "VERSION:3.0", "VERSION:2.1", "END:VCARD", "end:vcard", "END:VCARD  ", "END:FOO", "END",
    "FN:Asha Rao", "FN:Ravi", "N:Rao;Asha;;;", "ORG:Rao Traders;Sales", "EMAIL;TYPE=INTERNET:asha@example.test",
    "TEL;TYPE=CELL:+91 98765 43210", "TEL;CELL:09876543211", "TEL;VALUE=uri:tel:+44-20-7946-0958;ext=12",
    "item1.TEL:9876543212", "PHOTO;ENCODING=b:AAAA", " BBBB", "\tCCCC", " continued", "",
    "FN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:Jos=C3=A9=", "FN;ENCODING=QUOTED-PRINTABLE:Zo=C3=AB",
    "NOTE;ENCODING=QUOTED-PRINTABLE:soft=", "TEL;ENCODING=QUOTED-PRINTABLE:98765=", "=3D", "line outside",
    "TEL:", "X-CUSTOM:value",
]


def _random_file(rng: random.Random, cards: int) -> bytes:
    out = []
    for _ in range(cards):
        body = [rng.choice(_LINES) for _ in range(rng.randint(0, 8))]
        if rng.random() < 0.8:
            body = ["BEGIN:VCARD", *body, rng.choice(["END:VCARD", "END:VCARD", "end:vcard"])]
        out += body
    text = "".join(line + rng.choice(["\r\n", "\n", "\r\n", "\r"]) for line in out)
    data = text.encode()
    if rng.random() < 0.3 and len(data) > 200:  # a byte that is not UTF-8, after the first piece
        at = rng.randint(150, len(data) - 1)
        data = data[:at] + b"\xff" + data[at:]
    if rng.random() < 0.2 and len(data) > 200:  # a line too long to hold
        at = data.find(b"\n", rng.randint(150, len(data) - 1))
        if at > 0:
            data = data[:at + 1] + b"NOTE:" + b"x" * (contact_csv_file.LINE_MAX + 10) + b"\n" + data[at + 1:]
    return b"BEGIN:VCARD\r\n" + data


def _whole(data: bytes, mapping: dict) -> tuple:
    lines = TextLines(io.BytesIO(data))
    wanted = {name: field for name, field in mapping.items() if field}
    records, failed = [], []
    for block in vcard._cards(iter(lines), lines, wanted, 0):
        records += block.records
        failed += block.problems(len(block.problem_lines))
    return records, failed


def _by_blocks(data: bytes, mapping: dict) -> tuple:
    records, failed, positions = [], [], []
    for part in vcard_blocks(TextLines(io.BytesIO(data)), mapping):
        block = part.read()
        records += block.records
        failed += block.problems(len(block.problem_lines))
        positions.append(block.position)
    assert positions == sorted(positions)
    return records, failed


@pytest.mark.parametrize("seed", range(60))
def test_a_vcard_read_by_blocks_reads_as_the_whole_file(seed, monkeypatch):
    rng = random.Random(seed)
    monkeypatch.setattr(contact_csv_file, "CHUNK", rng.choice([1, 2, 3, 50]))
    monkeypatch.setattr(contact_csv_file, "PIECE", rng.choice([64, 300, 4096]))
    if seed % 4 == 0:  # blocks that find no end to cut at: the rest read in one pass
        monkeypatch.setattr(vcard, "HELD_MAX", rng.choice([100, 2000]))
    data = _random_file(rng, rng.randint(1, 120))
    mapping = DEFAULT_MAPPING if seed % 3 else {"FN": "name", "TEL": "phones", "NOTE": "company", "X-CUSTOM": "source"}
    whole = _outcome(_whole, data, mapping)
    assert _outcome(_by_blocks, data, mapping) == whole
    assert whole[0] or whole[1]


def _outcome(read, data: bytes, mapping: dict) -> tuple:
    try:
        return read(data, mapping)
    except ServiceError as err:  # a file refused as a whole (not text in its first piece)
        return "refused", err.message
