"""The import's filter of the numbers it stored never misses one, and rarely
answers yes for another."""
from __future__ import annotations

import random

from mobile_sync.number_filter import NumberFilter


def test_the_filter_holds_every_number_added_and_few_others():
    rng = random.Random(3)
    numbers = [f"+91{rng.randrange(6 * 10**9, 10**10)}" for _ in range(150_000)]
    added, others = numbers[:130_000], set(numbers[130_000:]) - set(numbers[:130_000])
    held = NumberFilter()
    held.add(added)
    assert all(held.may_hold(number) for number in added)
    assert sum(held.may_hold(number) for number in others) <= len(others) // 1000
