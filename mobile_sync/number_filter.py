"""A set of phone numbers of fixed size, for an import to know which of a
block's numbers it may have stored already (`contacts_csv`): a Bloom
filter of 2**23 bits (1 MB, whatever the file's size) with three positions
per number taken from its hash. It never misses a number it was given; it
may answer yes for one it was not (about 1 in 10,000 after 133,000
numbers, 1 in 40 after a million), and such a number is then looked up in
the database for nothing. Hashes are this process's (`hash` of a str is
salted per process): a filter is never sent to another."""
from __future__ import annotations

_BITS = 23
_MASK = (1 << _BITS) - 1


class NumberFilter:
    __slots__ = ("_bits",)

    def __init__(self):
        self._bits = bytearray((1 << _BITS) // 8)

    def add(self, numbers) -> None:
        bits = self._bits
        for number in numbers:
            h = hash(number)
            for position in (h & _MASK, (h >> _BITS) & _MASK, (h >> (64 - _BITS)) & _MASK):
                bits[position >> 3] |= 1 << (position & 7)

    def may_hold(self, number: str) -> bool:
        # Written out, not all() over a generator: once per number of an import, a third of the time.
        bits, h = self._bits, hash(number)
        p = h & _MASK
        if not bits[p >> 3] & (1 << (p & 7)):
            return False
        p = (h >> _BITS) & _MASK
        if not bits[p >> 3] & (1 << (p & 7)):
            return False
        p = (h >> (64 - _BITS)) & _MASK
        return bool(bits[p >> 3] & (1 << (p & 7)))
