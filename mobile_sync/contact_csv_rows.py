"""Cleaning and normalising a CSV import's records (`contact_csv_file`
reads them): the API schema's rules without its per-row cost, and numbers
read by the normaliser. Reading a number new to the normaliser's cache costs
~50 µs of pure Python, and a CRM file rarely repeats one, so for a large file
forked worker processes prepare a few blocks ahead while the importing
process stores the earlier ones (`prepared_blocks`)."""
from __future__ import annotations

import multiprocessing
import os
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from typing import Iterator

from marshmallow import ValidationError, validate

from mobile_sync.contact_csv_file import Block
from mobile_sync.phones import clear_caches, normalize_number
from schemas.contacts import COMPANY_MAX, NAME_MAX, PHONE_MAX, PHONES_MAX, SOURCE_MAX

PARALLEL_MIN = 20_000  # lines (read, or expected from the file's size) for worker processes to take over
# Numbers a worker process's normaliser keeps (~1 KB each); past it the cache starts again.
WORKER_CACHE_MAX = 20_000
_check_email = validate.Email()


def _clean_fields(fields: list) -> tuple | str | None:
    """(name, company, email, source, raw phones), why the line is unusable,
    or None for a blank line (the trailing ",,,," of spreadsheets): the API
    schema's rules without its per-row cost. `fields`: five strings, the
    phones separated by `;` (our CSV), or the phones already a list (any
    other format: `contact_files`)."""
    phones = fields[4]
    if not isinstance(phones, str):  # a list: its numbers checked like the other fields
        fields, phones = fields[:4], ";".join(p for p in phones if p)
        fields.append(phones)
    if any("\x00" in f for f in fields):
        return "Must not contain NUL characters."
    name, company, email, source, phones = (f.strip() for f in fields)
    if not name:
        return "name: a name is required." if company or email or source or phones else None
    if len(name) > NAME_MAX:
        return f"name: longer than {NAME_MAX} characters."
    if len(company) > COMPANY_MAX:
        return f"company: longer than {COMPANY_MAX} characters."
    if len(source) > SOURCE_MAX:
        return f"source: longer than {SOURCE_MAX} characters."
    if email:
        try:
            _check_email(email)
        except ValidationError:
            return "email: not a valid e-mail address."
        if len(email) > 320:
            return "email: not a valid e-mail address."
    raws = [p for p in (p.strip() for p in phones.split(";")) if p]
    if not raws:
        return "phones: at least one phone number is required."
    if len(raws) > PHONES_MAX:
        return f"phones: at most {PHONES_MAX} numbers per contact."
    if any(len(raw) > PHONE_MAX for raw in raws):
        return f"phones: a number is longer than {PHONE_MAX} characters."
    return name, company or None, email.lower() or None, source or None, raws


def default_workers() -> int:
    """Worker processes for a large import: the CPUs this process may use, at most 4."""
    try:
        return min(4, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return min(4, os.cpu_count() or 1)


def prepare_block(records: list[tuple[int, list[str]]], region: str | None,
                  cache_max: int | None = None) -> tuple[list[tuple], list[tuple[int, str]]]:
    """Clean and normalise a block of records (plain values in and out, so it
    can run in a worker process): the usable lines as (line, name, company,
    email, source, [(e164, suffix, extension, raw), ...] unique by number),
    and the others' problems as (line, why). `cache_max`: in a worker
    process, the numbers its normaliser may keep from one block to the next."""
    if cache_max is not None and normalize_number.cache_info().currsize > cache_max:
        clear_caches()
    contacts, problems = [], []
    for line, fields in records:
        values = _clean_fields(fields)
        if values is None:
            continue
        if isinstance(values, str):
            problems.append((line, values))
            continue
        name, company, email, source, raws = values
        phones, seen = [], set()
        for position, raw in enumerate(raws, start=1):
            number = normalize_number(raw, region)
            if not number.matchable:
                problems.append((line, f"phones: number {position} is not a usable phone number ({number.status})."))
                break
            if number.e164 not in seen:
                seen.add(number.e164)
                phones.append((number.e164, number.suffix, number.extension, raw))
        else:
            contacts.append((line, name, company, email, source, phones))
    return contacts, problems


def prepare(part, region: str | None, cache_max: int | None = None) -> tuple[Block, list[tuple], list[tuple]]:
    """A block of the file read (`part.read()`: a block of vCard lines or
    of CSV cells becomes records here), cleaned and normalised: the block
    without its records (they are not needed once prepared, nor sent back
    from a worker process), and `prepare_block`'s contacts and problems."""
    block = part.read()
    contacts, problems = prepare_block(block.records, region, cache_max)
    return Block([], block.problem_lines, block.problem_messages, block.position), contacts, problems


def prepared_blocks(blocks: Iterator, region: str | None, workers: int, size: int | None):
    """(block, *prepare_block(block)) in the order of the file, each block of
    `blocks` read where it is prepared (`prepare`). Once PARALLEL_MIN
    lines are read, or expected (from `size` and the blocks read), forked
    processes (`workers`, at least one) prepare up to 2 x `workers` blocks
    ahead of the one being stored; no more are read until it is, so memory does not
    grow with the file. The numbers of a large file, new to the normaliser,
    are cached in those processes and end with them."""
    pool, ahead, lines_read, workers = None, deque(), 0, max(1, workers)
    can_fork = "fork" in multiprocessing.get_all_start_methods()
    try:
        for part in blocks:
            lines_read += part.size
            expected = lines_read * size / part.position if size and part.position else lines_read
            if pool is None and can_fork and max(lines_read, expected) >= PARALLEL_MIN:
                # From the first block of a file expected to be large: the
                # workers start on it while this process reads the next ones.
                pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
            if pool is None:
                yield prepare(part, region)
                continue
            ahead.append(pool.submit(prepare, part, region, WORKER_CACHE_MAX))
            if len(ahead) > 2 * workers:
                yield ahead.popleft().result()
        while ahead:
            yield ahead.popleft().result()
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
