"""Number normalisation: every example number `phonenumbers` ships, written
any way a phone or a person writes it, comes back as the same E.164; what is
not a matchable number is refused with the reason that is stored with it."""
from __future__ import annotations

import itertools
import re

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType
from phonenumbers.phonemetadata import PhoneMetadata

from mobile_sync.phones import (EMERGENCY, EMPTY, INVALID, OK, PAYPHONE, RESTRICTED, SERVICE, SHORT_CODE, UNKNOWN,
                                format_international, normalize_number, region_for,
                                suffix_of_e164)

REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
NUMBER_TYPES = sorted(v for k, v in vars(PhoneNumberType).items() if k.isupper() and isinstance(v, int))
# Numbers the design refuses to match: calling them costs the customer, or
# they reach a mailbox or a shared line rather than a person.
REFUSED_TYPES = {PhoneNumberType.PREMIUM_RATE, PhoneNumberType.VOICEMAIL, PhoneNumberType.SHARED_COST}

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
EXTENDED_ARABIC_INDIC = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
DEVANAGARI = str.maketrans("0123456789", "०१२३४५६७८९")
FULL_WIDTH = str.maketrans("0123456789+", "０１２３４５６７８９＋")


def _international_dialling_prefix(region: str) -> str:
    """What a caller in `region` dials instead of "+" ("00", "011", "8~10"...),
    chosen as phonenumbers does; "~" (wait for a dial tone) is not dialled."""
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata.preferred_international_prefix:
        return metadata.preferred_international_prefix.replace("~", "")
    pattern = metadata.international_prefix
    for length in range(1, 6):  # the shortest prefix the region's pattern accepts
        for digits in itertools.product("0123456789", repeat=length):
            if re.fullmatch(pattern, "".join(digits)):
                return "".join(digits)
    raise AssertionError(f"no international prefix for {region}")


EXAMPLES = {region: [(t, example) for t in NUMBER_TYPES
                     if (example := phonenumbers.example_number_for_type(region, t)) is not None]
            for region in REGIONS}
IDD = {region: _international_dialling_prefix(region) for region in REGIONS}
MATCHABLE = [(region, example) for region in REGIONS for t, example in EXAMPLES[region] if t not in REFUSED_TYPES]
MATCHABLE_E164 = sorted({phonenumbers.format_number(example, PhoneNumberFormat.E164) for _, example in MATCHABLE})


def written_forms(example, region: str) -> dict[str, str]:
    """The ways one number reaches us: as phones format it, as people type it."""
    def fmt(how):
        return phonenumbers.format_number(example, how)

    national, international, e164 = (fmt(PhoneNumberFormat.NATIONAL), fmt(PhoneNumberFormat.INTERNATIONAL),
                                     fmt(PhoneNumberFormat.E164))
    return {
        "national": national,
        "international": international,
        "E.164": e164,
        "RFC 3966": fmt(PhoneNumberFormat.RFC3966),
        "international prefix, spaced": f"{IDD[region]} {international[1:]}",
        "international prefix, digits only": f"{IDD[region]}{e164[1:]}",
        "Arabic-Indic national": national.translate(ARABIC_INDIC),
        "Arabic-Indic international": international.translate(ARABIC_INDIC),
        "full-width national": national.translate(FULL_WIDTH),
        "full-width international": international.translate(FULL_WIDTH),
    }


def test_the_examples_cover_every_region_and_every_refused_type():
    assert len(REGIONS) > 240
    assert all(EXAMPLES[region] for region in REGIONS)
    assert sum(len(found) for found in EXAMPLES.values()) > 1300
    refused_seen = {t for found in EXAMPLES.values() for t, _ in found if t in REFUSED_TYPES}
    assert refused_seen == REFUSED_TYPES


@pytest.mark.parametrize("region", REGIONS)
def test_every_example_number_of_a_region_written_any_way_normalises_to_its_e164(region):
    failures = []
    for number_type, example in EXAMPLES[region]:
        e164 = phonenumbers.format_number(example, PhoneNumberFormat.E164)
        suffix = phonenumbers.national_significant_number(example)[-7:]
        for form, text in written_forms(example, region).items():
            got = normalize_number(text, region)
            if number_type in REFUSED_TYPES:
                ok = got.status == SERVICE and got.e164 is None and not got.matchable
            else:
                ok = (got.status, got.e164, got.extension, got.suffix) == (OK, e164, None, suffix) and got.matchable
            if not ok:
                failures.append(f"type {number_type} {form} {text!r}: {got} (expected {e164})")
    assert failures == []


def test_a_stored_e164_gives_the_suffix_and_format_of_the_parsed_number_for_every_example():
    failures = []
    for found in EXAMPLES.values():
        for _, example in found:
            e164 = phonenumbers.format_number(example, PhoneNumberFormat.E164)
            expected = (phonenumbers.national_significant_number(example)[-7:],
                        phonenumbers.format_number(phonenumbers.parse(e164, None), PhoneNumberFormat.INTERNATIONAL))
            got = (suffix_of_e164(e164), format_international(e164))
            if got != expected:
                failures.append((e164, got, expected))
    assert failures == []


@pytest.mark.parametrize("calling_code", sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS))
def test_international_services_without_a_region_normalise_from_any_region(calling_code):
    example = phonenumbers.example_number_for_non_geo_entity(calling_code)
    refused = phonenumbers.number_type(example) in REFUSED_TYPES
    e164 = phonenumbers.format_number(example, PhoneNumberFormat.E164)
    for text in (phonenumbers.format_number(example, PhoneNumberFormat.INTERNATIONAL), e164, "00" + e164[1:]):
        got = normalize_number(text, "IN")
        assert (got.status, got.e164) == ((SERVICE, None) if refused else (OK, e164)), text


@settings(max_examples=300, deadline=None)
@given(e164=st.sampled_from(MATCHABLE_E164), region=st.sampled_from(REGIONS + [None]))
def test_normalising_an_e164_result_again_in_any_region_gives_the_same_e164(e164, region):
    first = normalize_number(e164, region)
    again = normalize_number(first.e164, region)
    assert (first.status, first.e164) == (OK, e164)
    assert (again.status, again.e164, again.suffix) == (OK, e164, first.suffix)


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet="0123456789 +-().", min_size=1, max_size=20),
       read_in=st.sampled_from(REGIONS + [None]), again_in=st.sampled_from(REGIONS + [None]))
def test_whatever_string_normalises_renormalises_to_itself_in_any_region(text, read_in, again_in):
    first = normalize_number(text, read_in)
    if first.matchable:
        again = normalize_number(first.e164, again_in)
        assert (again.status, again.e164) == (OK, first.e164)
    else:
        assert first.e164 is None


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_spaces_dashes_dots_and_direction_marks_do_not_change_the_number(data):
    region, example = data.draw(st.sampled_from(MATCHABLE))
    international = data.draw(st.booleans())
    text = phonenumbers.format_number(
        example, PhoneNumberFormat.INTERNATIONAL if international else PhoneNumberFormat.NATIONAL)
    digits = re.sub(r"[^\d+]", "", text)
    separators = st.sampled_from(["", "", " ", "-", ".", "\u00a0"])
    noisy = "".join(ch + data.draw(separators) for ch in digits)
    # Android wraps numbers in left-to-right marks in RTL locales.
    wrapped = data.draw(st.sampled_from(["{}", " {} ", "\u202a{}\u202c", "\u200e{}", "\t{}\n"])).format(noisy)
    expected = phonenumbers.format_number(example, PhoneNumberFormat.E164)
    got = normalize_number(wrapped, region)
    assert (got.status, got.e164) == (OK, expected), wrapped


INDIAN_CUSTOMER = "+919876543210"


@pytest.mark.parametrize("written", [
    "+91 98765 43210", "098765 43210", "9876543210", "0091 98765 43210", "+91-98765-43210", "(+91) 98765 43210",
    "+919876543210", "tel:+91-98765-43210", "TEL:+919876543210", "tel:98765-43210;phone-context=+91",
    "٩٨٧٦٥٤٣٢١٠", "۹۸۷۶۵۴۳۲۱۰", "९८७६५४३२१०", "９８７６５４３２１０", "\u202a+91 98765 43210\u202c", " 98765 43210\n",
])
def test_the_same_indian_customer_written_any_way_is_one_number(written):
    got = normalize_number(written, "IN")
    assert (got.status, got.e164, got.suffix, got.region) == (OK, INDIAN_CUSTOMER, "6543210", "IN")


@pytest.mark.parametrize("written, region", [
    ("+91 98765 43210", "GB"), ("0091 98765 43210", "GB"), ("011 91 98765 43210", "US"),
    ("+91 98765 43210", None), ("0091 98765 43210", None), ("9876543210", "in"),
])
def test_an_indian_number_written_internationally_is_read_from_any_region(written, region):
    assert normalize_number(written, region).e164 == INDIAN_CUSTOMER


@pytest.mark.parametrize("written, region", [("098765 43210", "US"), ("9876543210", None), ("9876543210", "XX")])
def test_a_national_number_without_a_usable_region_is_not_guessed(written, region):
    got = normalize_number(written, region)
    assert (got.status, got.e164, got.matchable) == (INVALID, None, False)


@pytest.mark.parametrize("presentation, status", [(2, RESTRICTED), (3, UNKNOWN), (4, PAYPHONE)])
@pytest.mark.parametrize("number", ["", None, "+91 98765 43210", "-1"])
def test_withheld_presentation_is_never_a_number_even_if_one_is_given(presentation, status, number):
    got = normalize_number(number, "IN", presentation)
    assert (got.status, got.e164, got.matchable) == (status, None, False)


@pytest.mark.parametrize("written, status", [
    ("-1", RESTRICTED), ("-2", UNKNOWN), ("-3", PAYPHONE), ("PRIVATE", RESTRICTED), ("private", RESTRICTED),
    ("Restricted", RESTRICTED), ("Anonymous", RESTRICTED), ("Unknown", UNKNOWN), ("UNAVAILABLE", UNKNOWN),
    ("Payphone", PAYPHONE), (" PRIVATE ", RESTRICTED),
    ("", EMPTY), ("   ", EMPTY), (None, EMPTY),
])
def test_what_phones_store_for_withheld_or_missing_numbers(written, status):
    got = normalize_number(written, "IN")
    assert (got.status, got.e164, got.matchable) == (status, None, False)


@pytest.mark.parametrize("written, region", [
    ("112", "IN"), ("112", "DE"), ("112", "GB"), ("911", "US"), ("911", "CA"), ("100", "IN"), ("100", "GR"),
    ("100", "IL"), ("108", "IN"), ("999", "GB"), ("110", "DE"), ("000", "AU"), ("15", "FR"), ("119", "JP"),
])
def test_emergency_numbers_are_recognised_in_their_region(written, region):
    got = normalize_number(written, region)
    assert (got.status, got.e164, got.matchable) == (EMERGENCY, None, False)


@pytest.mark.parametrize("written, region", [("911", "IN"), ("100", "US"), ("999", "DE"), ("112", None)])
def test_another_regions_emergency_number_is_a_short_code_not_a_subscriber(written, region):
    got = normalize_number(written, region)
    assert (got.status, got.e164, got.matchable) == (SHORT_CODE, None, False)


@pytest.mark.parametrize("written, region", [
    ("121", "IN"), ("199", "IN"), ("1909", "IN"), ("*121#", "IN"), ("54321", "IN"), ("567676", "IN"),
    ("62442", "GB"), ("121", None), ("98765", "US"),
])
def test_short_codes_are_refused_as_short_codes(written, region):
    got = normalize_number(written, region)
    assert (got.status, got.e164, got.matchable) == (SHORT_CODE, None, False)


@pytest.mark.parametrize("written, e164, extension", [
    ("+1 650 253 0000 ext. 123", "+16502530000", "123"),
    ("+44 20 7946 0958 x 12", "+442079460958", "12"),
    ("tel:+91-98765-43210;ext=55", INDIAN_CUSTOMER, "55"),
    ("+91 98765 43210 #55", INDIAN_CUSTOMER, "55"),
    ("98765 43210;123", INDIAN_CUSTOMER, "123"),
])
def test_extensions_are_kept_apart_from_the_number(written, e164, extension):
    got = normalize_number(written, "IN")
    without = normalize_number(e164, "IN")
    assert (got.status, got.e164, got.extension) == (OK, e164, extension)
    assert got.suffix == without.suffix  # the same record matches with or without the extension


@pytest.mark.parametrize("written", [
    "nonsense", "abc", "+", "(((", "---", "0", "+0 123 456 7890", "12345678901234567890", "tel:", "+91",
    "+999 123", "12345678",
])
def test_strings_that_do_not_parse_are_invalid(written):
    got = normalize_number(written, "IN")
    assert (got.status, got.e164, got.matchable) == (INVALID, None, False)


@pytest.mark.parametrize("written, region", [
    ("#31#09876543210", "IN"), ("#31#+91 98765 43210", "GB"), ("*31#9876543210", "IN"), ("*67 0091 98765 43210", "US"),
])
def test_a_call_placed_with_caller_id_hidden_or_shown_is_still_the_customers_number(written, region):
    # Android logs an outgoing call as dialled, caller-ID prefix included.
    got = normalize_number(written, region)
    assert (got.status, got.e164) == (OK, INDIAN_CUSTOMER)


@pytest.mark.parametrize("candidates, region", [
    (("GB", "IN", "US"), "GB"), ((None, "IN", "US"), "IN"), (("", None, "us"), "US"), (("XX", "ZZ", "in"), "IN"),
    (("GBR", "DE"), "DE"), ((None, None), None),
])
def test_the_region_comes_from_the_row_then_the_user_then_the_organisation(candidates, region):
    assert region_for(*candidates) == region
