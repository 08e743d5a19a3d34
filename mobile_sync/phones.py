"""Phone numbers: normalise what phones and people type to E.164, and say
why a string is not a matchable number.

Region to read a national number: the row's `countryiso`, else the
user's/device's region, else the organisation's. Results are cached, and the
library's compiled-pattern cache is on, because a call log repeats the same
few hundred numbers thousands of times.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneNumberFormat, shortnumberinfo

from mobile_sync.phone_digits import (
    KIND_INVALID, KIND_SERVICE, national_significant, number_kind, parse_digits, region_of)

phonenumbers.enable_pattern_cache()

# Why a string is not matchable. Stored with the row; such rows are never
# matched and never made into leads.
OK = "ok"
EMPTY = "empty"
RESTRICTED = "restricted"        # presentation 2: the caller withheld it
UNKNOWN = "unknown"              # presentation 3: the network did not give it
PAYPHONE = "payphone"            # presentation 4
EMERGENCY = "emergency"
SHORT_CODE = "short_code"
SERVICE = "service"              # premium-rate, voicemail access, shared cost
INVALID = "invalid"

_PRESENTATION = {2: RESTRICTED, 3: UNKNOWN, 4: PAYPHONE}
# What Android's call log and some dialers store for withheld numbers.
_WITHHELD = {"-1": RESTRICTED, "-2": UNKNOWN, "-3": PAYPHONE, "private": RESTRICTED, "restricted": RESTRICTED,
             "anonymous": RESTRICTED, "unknown": UNKNOWN, "unavailable": UNKNOWN, "payphone": PAYPHONE}
_INTERNATIONAL_PREFIX = re.compile(r"^\s*(?:00|011)\s*(?=[1-9])")
# Per-call caller-ID codes that Android keeps in the number it logs for an
# outgoing call: GSM "#31#" (hide) / "*31#" (show), North American "*67" /
# "*82". The rest is the customer's number.
_CALLER_ID_PREFIX = re.compile(r"^(?:[#*]31#|\*67|\*82)\s*(?=[+\d(])")
SUFFIX_DIGITS = 7  # Android's PhoneNumberUtils MIN_MATCH
# Digits written with spaces, dashes or dots only (and maybe a leading +):
# the separators carry no meaning, so they are dropped before parsing.
_PLAIN = re.compile(r"\+?\d[\d \-.]*")
_SEPARATORS = re.compile(r"[ \-.]")


@dataclass(frozen=True, slots=True)
class Number:
    """A normalised number: `e164` is set only when `status` is OK."""

    e164: str | None
    status: str
    extension: str | None = None
    suffix: str | None = None
    region: str | None = None

    @property
    def matchable(self) -> bool:
        return self.status == OK


def _digits_and_plus(text: str) -> str:
    """Unicode digits (Arabic-Indic, full-width, ...) become ASCII."""
    if text.isascii():
        return text
    out = []
    for ch in text:
        if ch.isdigit():
            try:
                out.append(str(unicodedata.digit(ch)))
                continue
            except (TypeError, ValueError):
                pass
        out.append(ch)
    return "".join(out)


def suffix_key(national_number: str) -> str:
    """The last digits of a national significant number (Android's min match)."""
    return national_number[-SUFFIX_DIGITS:]


_COUNTRY_CODES = frozenset(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


def _split_e164(e164: str) -> tuple[int, str]:
    """(country code, national significant number) of a stored E.164 number:
    country codes are a prefix code, so the first 1-3 digits that are one."""
    digits = e164[1:]
    for length in (1, 2, 3):
        if int(digits[:length]) in _COUNTRY_CODES:
            return int(digits[:length]), digits[length:]
    return 0, digits


def suffix_of_e164(e164: str) -> str:
    """`suffix_key` of a stored E.164 number, without parsing it again."""
    return suffix_key(_split_e164(e164)[1])


def _parse(text: str, region: str | None):
    try:
        return phonenumbers.parse(text, region or "ZZ")
    except phonenumbers.NumberParseException:
        return None


def _short_status(text: str, region: str | None) -> str | None:
    if text.startswith(("+", "\uff0b")):
        return None  # written with a country code: an international number, never a short code
    digits = re.sub(r"\D", "", text)
    if not digits or len(digits) > 8:
        return None
    if not region:
        return SHORT_CODE if len(digits) <= 6 else None
    if shortnumberinfo.is_emergency_number(digits, region):
        return EMERGENCY
    try:
        short = phonenumbers.parse(digits, region)
    except phonenumbers.NumberParseException:
        return None
    if shortnumberinfo.is_valid_short_number_for_region(short, region) or len(digits) <= 6:
        # Up to six digits is never a subscriber number anywhere: an SMS
        # short code or a service the metadata does not list.
        return SHORT_CODE
    return None


@lru_cache(maxsize=262_144)
def normalize_number(raw: str | None, region: str | None, presentation: int = 1) -> Number:
    """Normalise one number as the phone or a person wrote it."""
    if presentation in _PRESENTATION:
        return Number(None, _PRESENTATION[presentation])
    if raw is None:
        return Number(None, EMPTY)
    text = _digits_and_plus(str(raw)).strip()
    if not text:
        return Number(None, EMPTY)
    lowered = text.lower()
    if lowered in _WITHHELD:
        return Number(None, _WITHHELD[lowered])
    if lowered.startswith("tel:"):
        text = text[4:].strip()
    text = _CALLER_ID_PREFIX.sub("", text, count=1)
    if _PLAIN.fullmatch(text):
        # "+91 98765 43210", "+91-98765-43210" and "+919876543210" are one
        # number: read it once (the raw string is a key of the cache above).
        text = _SEPARATORS.sub("", text)
    return _normalize_text(text, region.upper() if region else None)


@lru_cache(maxsize=262_144)
def _normalize_text(text: str, region: str | None) -> Number:
    number = _classified(_parsed_fields(text, region), region)
    if number is None and _INTERNATIONAL_PREFIX.match(text):
        # "00 44 ..." or "011 44 ..." dialled from a region whose own
        # international prefix is different: read it as "+44 ...".
        number = _classified(_parsed_fields("+" + _INTERNATIONAL_PREFIX.sub("", text, count=1), None), region)
    if number is None:
        return Number(None, _short_status(text, region) or INVALID, region=region)
    return number


def _parsed_fields(text: str, region: str | None) -> tuple | None:
    """What `phonenumbers.parse` reads of `text`: (country code, national
    number, italian leading zero, leading zeros, extension), or None when it
    is not a number. Digits alone (maybe after "+", the usual case) are read
    by `phone_digits` to the same fields at a fraction of the cost."""
    fields = parse_digits(text, region or "ZZ")
    if fields is not None:
        return fields
    parsed = _parse(text, region)
    if parsed is None:
        return None
    return (parsed.country_code, parsed.national_number, parsed.italian_leading_zero,
            parsed.number_of_leading_zeros, parsed.extension)


def _classified(fields: tuple | None, region: str | None) -> Number | None:
    """The stored form of a parsed number; None when it is not a valid one."""
    return None if fields is None else _classify(*fields, region)


@lru_cache(maxsize=262_144)
def _classify(country_code: int, national_number: int, leading_zero: bool | None, zeros: int | None,
              extension: str | None, region: str | None) -> Number | None:
    """Type, E.164 form and suffix of one number, whichever way it was written:
    "+91 98765 43210", "098765 43210" and "9876543210" parse to the same
    number. Its type is `number_type`'s (which also says whether it is valid:
    UNKNOWN exactly when `is_valid_number` is false), its E.164 form
    `format_number`'s and its region `region_code_for_number`'s, each worked
    out once (`phone_digits`: the library did the region twice and the type
    through a call per kind of number)."""
    national = national_significant(national_number, leading_zero, zeros)
    number_region = region_of(country_code, national)
    kind = number_kind(country_code, number_region, national)
    if kind == KIND_INVALID:
        return None
    if kind == KIND_SERVICE:
        return Number(None, SERVICE, region=region)
    return Number(f"+{country_code}{national}", OK, extension=extension or None, suffix=suffix_key(national),
                  region=number_region)


@lru_cache(maxsize=65_536)
def format_international(e164: str) -> str:
    """"+919876543210" → "+91 98765 43210", for names of auto-created leads
    (built from the stored digits: parsing them again cost as much as the formatting)."""
    country_code, national = _split_e164(e164)
    if not country_code or not national.isdigit():
        return e164
    number = phonenumbers.PhoneNumber(country_code=country_code, national_number=int(national))
    zeros = len(national) - len(national.lstrip("0"))
    if zeros and len(national) > 1:
        number.italian_leading_zero = True
        number.number_of_leading_zeros = zeros if zeros > 1 else None
    return phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)


def region_for(*candidates: str | None) -> str | None:
    """The first usable region among the row's, the user's and the organisation's."""
    for candidate in candidates:
        if candidate and len(candidate) == 2 and candidate.upper() in phonenumbers.SUPPORTED_REGIONS:
            return candidate.upper()
    return None


def clear_caches() -> None:
    """Forget every number read so far (benchmarks start cold)."""
    normalize_number.cache_clear()
    _normalize_text.cache_clear()
    _classify.cache_clear()
    format_international.cache_clear()
