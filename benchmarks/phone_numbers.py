"""The normaliser (`mobile_sync.phones.normalize_number`) on two mixes of
numbers, each from an empty cache:

- a call log: 50,000 calls among 600 numbers (a few called often, most
  rarely), written as Android logs them (+91…, 0…, bare digits, now and then
  with spaces or dashes), a few withheld, short codes and foreign numbers;
- a contact import: the distinct numbers of `contacts_import.make_csv`'s
  contacts (+91 with spaces, a national 0, bare digits, landlines).

The fixed reference, measured in the same run on the same numbers: the
library alone, no cache (`phonenumbers.parse`, `number_type`,
`format_number` and `region_code_for_number` per number, what the
normaliser needs from it). `x library` is the normaliser's time over it.

    .venv/bin/python benchmarks/phone_numbers.py [--contacts 100000]
"""
from __future__ import annotations

import argparse
import csv
import io
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import phonenumbers  # noqa: E402
from phonenumbers import PhoneNumberFormat  # noqa: E402

from contacts_import import make_csv  # noqa: E402 (benchmarks/contacts_import.py)
from mobile_sync import phones  # noqa: E402


def call_log(calls: int = 50_000, numbers: int = 600, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    pool = []
    for i in range(numbers):
        mobile = f"9{rng.choice('6789')}{rng.randrange(10 ** 8):08d}"
        kind = i % 10
        if kind < 4:
            pool.append(f"+91{mobile}")
        elif kind < 6:
            pool.append(f"0{mobile}")
        elif kind < 7:
            pool.append(mobile)
        elif kind < 8:
            pool.append(f"+91 {mobile[:5]} {mobile[5:]}" if i % 2 else f"+91-{mobile[:5]}-{mobile[5:]}")
        elif kind < 9:
            pool.append(rng.choice(["-1", "", "121", "198", "56161", "+14155550123", "+447700900123"]))
        else:
            pool.append(f"080{rng.randrange(10 ** 8):08d}")
    weights = [1 / (rank + 1) for rank in range(numbers)]  # a few numbers are most of the calls
    return rng.choices(pool, weights, k=calls)


def import_numbers(contacts: int) -> list[str]:
    reader = csv.reader(io.StringIO(make_csv(contacts).decode()))
    next(reader)
    return [p.strip() for row in reader for p in row[4].split(";") if p.strip()]


def library(raws: list[str], region: str) -> None:
    """The reference: what the normaliser asks the library, per number, nothing cached."""
    for raw in raws:
        try:
            parsed = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.number_type(parsed) != phonenumbers.PhoneNumberType.UNKNOWN:
            phonenumbers.format_number(parsed, PhoneNumberFormat.E164)
            phonenumbers.region_code_for_number(parsed)


def normaliser(raws: list[str], region: str) -> None:
    for raw in raws:
        phones.normalize_number(raw, region)


def measure(run, raws: list[str], rounds: int = 3) -> tuple[float, float]:
    """Best of `rounds`: (wall s, CPU s), the caches emptied before each."""
    best = (float("inf"), float("inf"))
    for _ in range(rounds):
        phones.clear_caches()
        wall, cpu = time.perf_counter(), time.process_time()
        run(raws, "IN")
        best = min(best, (time.perf_counter() - wall, time.process_time() - cpu))
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    args = parser.parse_args()
    mixes = {"call log": call_log(), "contact import": import_numbers(args.contacts)}
    print(f"{os.cpu_count()} CPUs; load average at start {os.getloadavg()[0]:.1f}")
    print(f"{'mix':<16}{'numbers':>9}{'distinct':>10}{'library us':>12}{'normaliser us':>15}{'x library':>11}"
          f"{'cpu us':>8}{'load':>6}")
    for name, raws in mixes.items():
        measure(normaliser, raws[:2000], 1)  # the region's metadata loaded and patterns compiled
        reference_wall, _ = measure(library, raws)
        wall, cpu = measure(normaliser, raws)
        per = 1e6 / len(raws)
        print(f"{name:<16}{len(raws):>9,}{len(set(raws)):>10,}{reference_wall * per:>12.2f}{wall * per:>15.2f}"
              f"{wall / reference_wall:>10.2f}x{cpu * per:>8.2f}{os.getloadavg()[0]:>6.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
