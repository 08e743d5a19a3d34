"""The normaliser's fast path (`mobile_sync/phone_digits.py`) gives the
library's answers: over tens of thousands of numbers of every region
(valid ones of every type, the same mistyped, invalid, short codes, service
numbers, non-geographic ones, random digits), written with "+", with the
national prefix, bare, with the country code but no "+", after "00", and
read from their own region, another, or none:

- `parse_digits` reads exactly the fields `phonenumbers.parse` does, or
  leaves the string to it;
- `region_of` and `number_kind` say what `region_code_for_number` and
  `number_type` say;
- `normalize_number` answers the same `Number` as the normaliser before the
  fast path (`_reference_normalize` below, its code as it was: parse,
  number_type, format_number, region_code_for_number).
"""
from __future__ import annotations

import random

import phonenumbers
import pytest
from phonenumbers import PhoneNumberFormat, PhoneNumberType, shortnumberinfo
from phonenumbers.phonemetadata import PhoneMetadata

from mobile_sync import phones
from mobile_sync.phone_digits import (
    KIND_INVALID, KIND_SERVICE, KIND_VALID, national_significant, number_kind, parse_digits, region_of)

REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
NON_GEO = sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS)
TYPES = sorted(v for k, v in vars(PhoneNumberType).items() if k.isupper() and isinstance(v, int))
_SERVICE_TYPES = {PhoneNumberType.PREMIUM_RATE, PhoneNumberType.VOICEMAIL, PhoneNumberType.SHARED_COST}
# Regions a number is read from besides its own: none, the benchmark's,
# multi-region country codes (+1, +44, +7, +262, +590), Italy's leading zero,
# national prefixes that are transformed (AR, MX, BR), and two that are not regions.
READ_FROM = [None, "IN", "US", "CA", "GB", "JE", "RU", "KZ", "IT", "AR", "MX", "BR", "DE", "FR", "RE", "GP",
             "JP", "CN", "AU", "NZ", "SG", "AE", "ZZ", "001"]


def _reference_classified(parsed, region):
    """The normaliser's classification before the fast path, verbatim."""
    if parsed is None:
        return None
    kind = phonenumbers.number_type(parsed)
    if kind == PhoneNumberType.UNKNOWN:
        return None
    if kind in _SERVICE_TYPES:
        return phones.Number(None, phones.SERVICE, region=region)
    e164 = phonenumbers.format_number(parsed, PhoneNumberFormat.E164)
    national = phonenumbers.national_significant_number(parsed)
    return phones.Number(e164, phones.OK, extension=parsed.extension or None, suffix=phones.suffix_key(national),
                         region=phonenumbers.region_code_for_number(parsed))


def _reference_text(text, region):
    number = _reference_classified(phones._parse(text, region), region)
    if number is None and phones._INTERNATIONAL_PREFIX.match(text):
        number = _reference_classified(
            phones._parse("+" + phones._INTERNATIONAL_PREFIX.sub("", text, count=1), None), region)
    if number is None:
        return phones.Number(None, phones._short_status(text, region) or phones.INVALID, region=region)
    return number


def _reference_normalize(raw, region):
    """`normalize_number` before the fast path (its text handling is unchanged)."""
    if raw is None:
        return phones.Number(None, phones.EMPTY)
    text = phones._digits_and_plus(str(raw)).strip()
    if not text:
        return phones.Number(None, phones.EMPTY)
    lowered = text.lower()
    if lowered in phones._WITHHELD:
        return phones.Number(None, phones._WITHHELD[lowered])
    if lowered.startswith("tel:"):
        text = text[4:].strip()
    text = phones._CALLER_ID_PREFIX.sub("", text, count=1)
    if phones._PLAIN.fullmatch(text):
        text = phones._SEPARATORS.sub("", text)
    return _reference_text(text, region.upper() if region else None)


def _mutations(rng: random.Random, digits: str) -> list[str]:
    """The number and the usual mistakes: a digit lost, one too many, one changed, two swapped."""
    out = [digits]
    if len(digits) > 1:
        out.append(digits[:-1])
        i = rng.randrange(len(digits))
        out.append(digits[:i] + str(rng.randrange(10)) + digits[i + 1:])
        j = rng.randrange(len(digits) - 1)
        out.append(digits[:j] + digits[j + 1] + digits[j] + digits[j + 2:])
    out.append(digits + str(rng.randrange(10)))
    return out


def _written(rng: random.Random, country_code: int, national: str, region: str | None) -> list[str]:
    """One number written the ways people and phones write it."""
    forms = [f"+{country_code}{national}", national, f"{country_code}{national}", f"00{country_code}{national}",
             f"011{country_code}{national}"]
    metadata = PhoneMetadata.metadata_for_region(region, None) if region else None
    if metadata is not None and metadata.national_prefix:
        forms.append(metadata.national_prefix + national)
    if rng.random() < 0.2:
        forms.append(f"+{country_code} {national[:3]} {national[3:]}")
    return forms


def _corpus(seed: int = 18) -> list[tuple[str, str | None]]:
    """(text, region) pairs: ~60,000, deterministic."""
    rng = random.Random(seed)
    pairs: list[tuple[str, str | None]] = []

    def add(texts, own):  # each read from its own region, or (a third of them) another or none
        pairs.extend((text, own if rng.random() < 0.67 else rng.choice(READ_FROM)) for text in texts)

    for region in REGIONS:
        metadata = PhoneMetadata.metadata_for_region(region)
        examples = [phonenumbers.example_number_for_type(region, kind) for kind in TYPES]
        examples.append(phonenumbers.invalid_example_number(region))
        for example in filter(None, examples):
            nsn = phonenumbers.national_significant_number(example)
            for digits in _mutations(rng, nsn):
                add(_written(rng, metadata.country_code, digits, region), region)
        for cost in shortnumberinfo.ShortNumberCost.__dict__.values():
            if isinstance(cost, int):
                short = shortnumberinfo._example_short_number_for_cost(region, cost)
                if short:
                    add([short, "+" + short, short[:-1]], region)
        for _ in range(12):  # random national digits of the region's lengths and others
            length = rng.choice([*metadata.general_desc.possible_length, rng.randint(1, 18)])
            add([str(rng.randrange(10 ** length)).zfill(length)], region)
    for country_code in NON_GEO:
        example = phonenumbers.example_number_for_non_geo_entity(country_code)
        if example is not None:
            for digits in _mutations(rng, phonenumbers.national_significant_number(example)):
                add(_written(rng, country_code, digits, None), None)
    for _ in range(6000):  # random strings of digits, with and without "+"
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 20)))
        if rng.random() < 0.5:
            digits = rng.choice(["", "1", "44", "7", "39", "262", "590", "800", "881", "0", "00"]) + digits
        add([digits, "+" + digits], rng.choice(REGIONS))
    return pairs


CORPUS = _corpus()


def test_the_corpus_is_large_and_varied():
    assert len(CORPUS) >= 40_000
    assert len({region for _, region in CORPUS}) > 200
    kinds = {_reference_text(text, region).status for text, region in CORPUS[::7]}
    assert {phones.OK, phones.INVALID, phones.SERVICE, phones.SHORT_CODE, phones.EMERGENCY} <= kinds


def _library_fields(text: str, region: str | None):
    try:
        parsed = phonenumbers.parse(text, region or "ZZ")
    except phonenumbers.NumberParseException:
        return None
    return (parsed.country_code, parsed.national_number, parsed.italian_leading_zero,
            parsed.number_of_leading_zeros, parsed.extension)


def test_parse_digits_reads_what_the_library_reads():
    read = 0
    for text, region in CORPUS:
        region = region.upper() if region else None
        fields = parse_digits(text, region or "ZZ")
        if fields is not None:
            read += 1
            assert fields == _library_fields(text, region), (text, region)
    assert read >= 20_000  # most numbers take the fast path


def test_type_and_region_are_the_librarys():
    checked = 0
    for text, region in CORPUS[::3]:
        try:
            parsed = phonenumbers.parse(text, region or "ZZ")
        except phonenumbers.NumberParseException:
            continue
        national = national_significant(parsed.national_number, parsed.italian_leading_zero,
                                        parsed.number_of_leading_zeros)
        assert national == phonenumbers.national_significant_number(parsed)
        number_region = region_of(parsed.country_code, national)
        assert number_region == phonenumbers.region_code_for_number(parsed), (text, region)
        kind = phonenumbers.number_type(parsed)
        expected = (KIND_INVALID if kind == PhoneNumberType.UNKNOWN
                    else KIND_SERVICE if kind in _SERVICE_TYPES else KIND_VALID)
        assert number_kind(parsed.country_code, number_region, national) == expected, (text, region)
        checked += 1
    assert checked >= 10_000


def test_normalize_number_answers_as_before():
    phones.clear_caches()
    different = [(text, region) for text, region in CORPUS
                 if phones.normalize_number(text, region) != _reference_normalize(text, region)]
    assert not different, different[:20]


@pytest.mark.parametrize("raw, region", [
    ("+91 98765 43210", "IN"), ("098765 43210", "IN"), ("919876543210", "IN"), ("0091 98765 43210", "IN"),
    ("+1 (650) 253-0000", None), ("6502530000", "CA"), ("+44 20 7946 0958", "JE"), ("+39 06 6982 1234", None),
    ("+0 123 456", "IN"), ("+999 123 456", "IN"), ("12", "IN"), ("112", "IN"), ("tel:+91-98765-43210;ext=12", None),
    ("+80012345678", None), ("+882 3456 7890", None), ("0800 123 456", "GB"), ("09012345678", "GB"),
    ("8~10 7 495 123-45-67", "RU"), ("٠٩٨٧٦٥٤٣٢١٠", "IN"), ("+91 98765 43210 x 12", "IN"),
])
def test_written_forms_answer_as_before(raw, region):
    phones.clear_caches()
    assert phones.normalize_number(raw, region) == _reference_normalize(raw, region)
