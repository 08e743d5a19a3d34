"""The normaliser's fast path (`phones`): a number written as ASCII digits
alone, with or without a leading "+", read to the same fields as
`phonenumbers.parse`, and a number's type told as `phonenumbers.number_type`
does, without the library's generic work.

For such a string most of `parse` is text handling that changes nothing:
finding where the number starts and ends, an RFC 3966 context, an extension
(every extension form needs a label or a separator), alphabetic vanity
numbers, and Unicode digits read one character at a time. What is left, and
kept here in the library's order with the library's own helpers, is where
the country code comes from, the national prefix and the length checks.
Anything else (an international prefix such as "00", "+0…", a country code
that is not one, a number too short or too long) returns None and the caller
asks the library, so an answer from here is always the library's answer.
`tests/unit/test_phones_fast_path.py` holds both to that over tens of
thousands of numbers of every region.

`number_kind` is `number_type` over tables built once per region's metadata
(possible lengths as sets, patterns compiled), in `number_type`'s order.
"""
from __future__ import annotations

import re

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, SUPPORTED_REGIONS, PhoneMetadata
from phonenumbers.phonenumberutil import (
    ValidationResult, _maybe_strip_national_prefix_carrier_code, _test_number_length)
from phonenumbers.re_util import re_compile

DIGITS = re.compile(r"\+?[0-9]{3,40}")  # what the fast path reads; anything else goes to the library
_MIN_NSN, _MAX_NSN, _MAX_CC = 2, 17, 3  # phonenumbers' _MIN_LENGTH_FOR_NSN, _MAX_LENGTH_FOR_NSN, _MAX_LENGTH_COUNTRY_CODE
_KEEP_UNSTRIPPED = (ValidationResult.TOO_SHORT, ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
                    ValidationResult.INVALID_LENGTH)
_NON_GEO = "001"

# Kinds, as the normaliser needs them: not a valid number, a service number
# (premium rate, shared cost, voicemail access), any other valid number.
KIND_INVALID, KIND_SERVICE, KIND_VALID = 0, 1, 2


def _fields(number: str) -> tuple[int, bool | None, int | None]:
    """(national number, italian_leading_zero, number_of_leading_zeros) as parse sets them."""
    leading_zero = zeros = None
    if len(number) > 1 and number[0] == "0":
        leading_zero, count = True, 1
        while count < len(number) - 1 and number[count] == "0":
            count += 1
        if count != 1:
            zeros = count
    return int(number), leading_zero, zeros


def _matches(number: str, desc) -> bool:
    """`_match_national_number` of the whole number against `desc`'s pattern."""
    pattern = desc.national_number_pattern
    return bool(pattern) and re_compile(pattern).fullmatch(number) is not None


def _national(number: str, metadata) -> str | None:
    """The national significant number left of `number` (the digits after the
    country code, or the whole national number) once the national prefix is
    stripped where parse strips it; None where parse refuses it."""
    if len(number) < _MIN_NSN:
        return None
    _, stripped, _ = _maybe_strip_national_prefix_carrier_code(number, metadata)
    if _test_number_length(stripped, metadata) not in _KEEP_UNSTRIPPED:
        number = stripped
    if not _MIN_NSN <= len(number) <= _MAX_NSN:
        return None
    return number


def parse_digits(text: str, region: str) -> tuple | None:
    """`phonenumbers.parse(text, region)` (`region`: upper case, or "ZZ" for none) of a string of digits (maybe after
    "+") as (country_code, national_number, italian_leading_zero,
    number_of_leading_zeros, extension), or None: not read here (ask the library)."""
    if not DIGITS.fullmatch(text):
        return None
    if text[0] == "+":
        digits = text[1:]
        if digits[0] == "0":
            return None  # parse tries the digits again as a national number
        for length in range(1, _MAX_CC + 1):
            country_code = int(digits[:length])
            if country_code in COUNTRY_CODE_TO_REGION_CODE:
                break
        else:
            return None
        rest, number_region = digits[length:], COUNTRY_CODE_TO_REGION_CODE[country_code][0]
        if number_region == region:
            metadata = PhoneMetadata.metadata_for_region(region, None)
        else:
            metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, number_region)
    else:
        if region not in SUPPORTED_REGIONS:
            return None  # parse needs a region for a number without "+"
        metadata = PhoneMetadata.metadata_for_region(region, None)
        if metadata is None:
            return None
        if metadata.international_prefix is not None and re_compile(metadata.international_prefix).match(text):
            return None  # an international prefix ("00", "011"…): parse's IDD path
        country_code, rest = _default_country_code(text, metadata)
        if country_code:
            number_region = COUNTRY_CODE_TO_REGION_CODE[country_code][0]
            if number_region != region:
                metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, number_region)
        else:
            country_code, rest = metadata.country_code, text
    national = None if metadata is None else _national(rest, metadata)
    if national is None:
        return None
    return (country_code, *_fields(national), None)


def _default_country_code(text: str, metadata) -> tuple[int, str]:
    """`_maybe_extract_country_code` of a number without "+" or an
    international prefix: the region's own country code written without
    "+" ("919876543210" in India), or (0, "")."""
    code = str(metadata.country_code)
    if text.startswith(code):
        general = metadata.general_desc
        _, national, _ = _maybe_strip_national_prefix_carrier_code(text[len(code):], metadata)
        if ((not _matches(text, general) and _matches(national, general))
                or _test_number_length(text, metadata) == ValidationResult.TOO_LONG):
            return metadata.country_code, national
    return 0, ""


def national_significant(national_number: int, leading_zero: bool | None, zeros: int | None) -> str:
    """`phonenumbers.national_significant_number` of those fields."""
    if leading_zero:
        count = 1 if zeros is None else zeros
        if count > 0:
            return "0" * count + str(national_number)
    return str(national_number)


_TABLES: dict[int, tuple] = {}  # id(metadata) -> (metadata, its type table)


def _desc(desc) -> tuple[frozenset | None, re.Pattern | None] | None:
    """One number description: (possible lengths or None for any, compiled
    pattern or None for none), or None for a missing description."""
    if desc is None:
        return None
    pattern = desc.national_number_pattern
    return (frozenset(desc.possible_length) or None, re_compile(pattern) if pattern else None)


def _table(metadata) -> tuple:
    entry = _TABLES.get(id(metadata))
    if entry is None or entry[0] is not metadata:
        m = metadata
        others = [(KIND_SERVICE, _desc(m.premium_rate)), (KIND_VALID, _desc(m.toll_free)), (KIND_SERVICE, _desc(m.shared_cost)),
                  (KIND_VALID, _desc(m.voip)), (KIND_VALID, _desc(m.personal_number)), (KIND_VALID, _desc(m.pager)),
                  (KIND_VALID, _desc(m.uan)), (KIND_SERVICE, _desc(m.voicemail))]
        table = (_desc(m.general_desc), tuple((kind, desc) for kind, desc in others if desc is not None),
                 _desc(m.fixed_line), _desc(m.mobile), bool(m.same_mobile_and_fixed_line_pattern))
        entry = _TABLES[id(metadata)] = (metadata, table)
    return entry[1]


def _is(number: str, desc) -> bool:
    """`_is_number_matching_desc`."""
    if desc is None:
        return False
    lengths, pattern = desc
    if lengths is not None and len(number) not in lengths:
        return False
    return pattern is not None and pattern.fullmatch(number) is not None


def _kind_in(national: str, metadata) -> int:
    """`_number_type_helper`, as KIND_INVALID, KIND_SERVICE or KIND_VALID."""
    general, others, fixed_line, mobile, same = _table(metadata)
    if not _is(national, general):
        return KIND_INVALID
    for kind, desc in others:
        if _is(national, desc):
            return kind
    if _is(national, fixed_line):
        return KIND_VALID
    if not same and _is(national, mobile):
        return KIND_VALID
    return KIND_INVALID


def region_of(country_code: int, national: str) -> str | None:
    """`phonenumbers.region_code_for_number`."""
    regions = COUNTRY_CODE_TO_REGION_CODE.get(country_code)
    if regions is None:
        return None
    if len(regions) == 1:
        return regions[0]
    for region in regions:
        metadata = PhoneMetadata.metadata_for_region(region.upper(), None)
        if metadata is None:
            continue
        if metadata.leading_digits is not None:
            if re_compile(metadata.leading_digits).match(national):
                return region
        elif _kind_in(national, metadata) != KIND_INVALID:
            return region
    return None


def number_kind(country_code: int, region: str | None, national: str) -> int:
    """`phonenumbers.number_type` of a number whose region is `region`
    (`region_of`): KIND_INVALID (UNKNOWN), KIND_SERVICE or KIND_VALID."""
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
    if metadata is None:
        return KIND_INVALID
    return _kind_in(national, metadata)
