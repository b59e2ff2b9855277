"""Specification of phone number normalisation: the full reading and its cheap candidate."""

import gc
import tracemalloc
from collections.abc import Callable, Iterator

import phonenumbers
import pytest
from phonenumbers import PhoneMetadata, PhoneNumber, PhoneNumberFormat, PhoneNumberType

from smsrelay.domain.phone import (
    MAX_NUMBER_CHARS,
    is_too_long,
    quick_e164,
    region_of,
    sms_e164,
    to_e164,
)

SMS_TYPES = (
    PhoneNumberType.MOBILE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE,
    PhoneNumberType.PAGER,
    PhoneNumberType.PERSONAL_NUMBER,
)
REFUSED_TYPES = (
    PhoneNumberType.FIXED_LINE,
    PhoneNumberType.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE,
    PhoneNumberType.SHARED_COST,
    PhoneNumberType.VOIP,
    PhoneNumberType.UAN,
    PhoneNumberType.VOICEMAIL,
)
ALL_REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
# Default regions the sample numbers are also read in: national prefixes, international
# prefixes and carrier codes of different shapes.
READING_REGIONS = ("FR", "US", "GB", "BR", "AR", "RU", "MA", "DE", "AU", "CO")


def sms_examples(region: str) -> list[PhoneNumber]:
    """Example numbers of `region` that really are of a type able to receive a text."""
    examples = (phonenumbers.example_number_for_type(region, kind) for kind in SMS_TYPES)
    return [
        number
        for number in examples
        if number is not None and phonenumbers.number_type(number) in SMS_TYPES
    ]


def e164(number: PhoneNumber) -> str:
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def spellings(number: PhoneNumber) -> set[str]:
    """How people write a number: international, `00`, national, and the stray `(0)` mistake."""
    plus = e164(number)
    international = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    code = str(number.country_code)
    significant = phonenumbers.national_significant_number(number)
    return {
        plus,
        "00" + plus[1:],
        international,
        international.replace(" ", "."),
        "00" + international[1:],
        national,
        national.replace(" ", "."),
        national.replace(" ", ""),
        "0" + significant,
        f"+{code}0{significant}",
        f"00{code}0{significant}",
    }


def refused_examples() -> list[tuple[str, str]]:
    """Example numbers of each refused type, where phonenumbers can tell the type apart."""
    table = []
    for region in ("FR", "GB", "DE"):
        for kind in REFUSED_TYPES:
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None and phonenumbers.number_type(number) == kind:
                table.append((e164(number), region))
    return table


def reads_national_numbers(region: str) -> bool:
    """The rule the brief sets for the national quick path, restated from the metadata."""
    metadata = PhoneMetadata.metadata_for_region(region)
    assert metadata is not None
    return (
        metadata.national_prefix == "0"
        and metadata.national_prefix_for_parsing in (None, "0")
        and not metadata.national_prefix_transform_rule
    )


# to_e164


@pytest.mark.parametrize(
    "raw",
    [
        "+33612345678",
        "0033612345678",
        "06 12 34 56 78",
        "06.12.34.56.78",
        "06-12-34-56-78",
        "+33 6 12 34 56 78",
        "0612345678",
    ],
)
def test_french_mobile_spellings_all_normalise_to_e164(raw: str) -> None:
    assert to_e164(raw, "FR") == "+33612345678"


def test_national_french_07_number_reads_in_default_region() -> None:
    assert to_e164("07 56 78 12 34", "FR") == "+33756781234"


@pytest.mark.parametrize("last_digit", range(1, 10))
def test_french_test_numbers_are_valid_mobiles(last_digit: int) -> None:
    assert to_e164(f"+3360000000{last_digit}", "FR") == f"+3360000000{last_digit}"


def test_moroccan_mobile_is_accepted_from_a_french_account() -> None:
    assert to_e164("+212612345678", "FR") == "+212612345678"


def test_national_number_is_read_in_the_given_region_only() -> None:
    assert to_e164("0612345678", "MA") == "+212612345678"


def test_french_landline_is_refused() -> None:
    assert to_e164("+33142685300", "FR") is None


@pytest.mark.parametrize(("raw", "region"), refused_examples())
def test_numbers_that_cannot_receive_a_text_are_refused(raw: str, region: str) -> None:
    assert to_e164(raw, region) is None


@pytest.mark.parametrize(("raw", "region"), [("+12015550123", "US"), ("+447640123456", "GB")])
def test_fixed_line_or_mobile_and_pager_numbers_are_accepted(raw: str, region: str) -> None:
    assert to_e164(raw, region) == raw


def test_invalid_french_mobile_is_refused() -> None:
    assert to_e164("+3361234567", "FR") is None


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("", "FR"),
        ("abc", "FR"),
        ("+", "FR"),
        ("++", "FR"),
        ("\ud800", "FR"),
        ("9" * 1000, "FR"),
        ("tel:;phone-context=", "FR"),
        ("0612345678", ""),
        ("0612345678", "ZZ"),
        ("0612345678", "fr"),
    ],
)
def test_unreadable_input_gives_none_rather_than_an_error(raw: str, region: str) -> None:
    assert to_e164(raw, region) is None


@pytest.mark.parametrize("region", ALL_REGIONS)
def test_e164_mobile_normalises_to_itself_whatever_the_region(region: str) -> None:
    numbers = [e164(number) for number in sms_examples(region)]
    changed = [
        (number, reading)
        for number in numbers
        for reading in READING_REGIONS
        if to_e164(number, reading) != number
    ]
    assert changed == []


# quick_e164


@pytest.mark.parametrize(
    "raw",
    [
        "+33612345678",
        "+33 6 12 34 56 78",
        "+33.6.12.34.56.78",
        "0033612345678",
        "00 33 6 12 34 56 78",
        "06 12 34 56 78",
        "06.12.34.56.78",
        "06-12-34-56-78",
        " 0612345678 ",
    ],
)
def test_quick_reads_common_french_spellings(raw: str) -> None:
    assert quick_e164(raw, "FR") == "+33612345678"


def test_quick_reads_international_number_whatever_the_region() -> None:
    assert quick_e164("+212612345678", "US") == "+212612345678"


def test_quick_reads_00_as_international_prefix_in_moroccan_region() -> None:
    assert quick_e164("0033612345678", "MA") == "+33612345678"


def test_quick_does_not_validate() -> None:
    assert quick_e164("+33142685300", "FR") == "+33142685300"


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("", "FR"),
        ("+", "FR"),
        ("06 12 34 56 7a", "FR"),
        ("(06) 12 34 56 78", "FR"),
        ("+33 (0)6 12 34 56 78", "FR"),
        ("06\u00a012\u00a034\u00a056\u00a078", "FR"),
        ("０６１２３４５６７８", "FR"),
        ("612345678", "FR"),
        ("0612345678", "ZZ"),
        ("0033612345678", "ZZ"),
    ],
)
def test_quick_declines_what_it_cannot_read(raw: str, region: str) -> None:
    assert quick_e164(raw, region) is None


@pytest.mark.parametrize("raw", ["+33612", "+3361234567890123", "+0612345678"])
def test_quick_declines_what_cannot_be_e164(raw: str) -> None:
    assert quick_e164(raw, "FR") is None


def test_quick_declines_unknown_country_code() -> None:
    assert quick_e164("+2812345678", "FR") is None


def test_quick_declines_national_prefix_after_country_code() -> None:
    # phonenumbers reads +33 0 6... as +33 6..., the candidate would be a different string.
    assert quick_e164("+330612345678", "FR") is None


def test_quick_declines_00_where_it_is_not_the_international_prefix() -> None:
    assert quick_e164("0033612345678", "US") is None


def test_quick_declines_00_followed_by_a_carrier_selection_code() -> None:
    # In Brazil 0014 is "international call through carrier 14": phonenumbers strips all four.
    assert quick_e164("0014 33612345678", "BR") is None


def test_quick_declines_national_number_where_the_prefix_is_not_only_0() -> None:
    # The United Kingdom's national prefix pattern also recognises 180020.
    assert quick_e164("07911 123456", "GB") is None


def test_quick_declines_national_number_whose_leading_0_is_part_of_it() -> None:
    # Rwanda's 06 numbers keep their 0 (+250 06...): dropping it would name another number.
    assert quick_e164("06915938", "RW") is None


@pytest.mark.parametrize("region", ALL_REGIONS)
def test_quick_reads_national_mobiles_exactly_where_the_prefix_is_only_0(region: str) -> None:
    significants = [phonenumbers.national_significant_number(n) for n in sms_examples(region)]
    # A significant number starting with 0 (Côte d'Ivoire...) would read as `00`, international.
    nationals = ["0" + significant for significant in significants if significant[0] != "0"]
    read = [quick_e164(national, region) is not None for national in nationals]
    assert read == [reads_national_numbers(region)] * len(nationals)


@pytest.mark.parametrize("region", ALL_REGIONS)
def test_quick_of_stored_e164_is_itself(region: str) -> None:
    numbers = [e164(number) for number in sms_examples(region)]
    changed = [
        (number, reading)
        for number in numbers
        for reading in READING_REGIONS
        if quick_e164(number, reading) != number
    ]
    assert changed == []


@pytest.mark.parametrize("region", ALL_REGIONS)
def test_quick_candidate_equals_full_reading_whenever_both_answer(region: str) -> None:
    disagreements = []
    for number in sms_examples(region):
        for raw in spellings(number):
            for reading in {region, *READING_REGIONS}:
                quick = quick_e164(raw, reading)
                full = to_e164(raw, reading) if quick is not None else None
                if full is not None and full != quick:
                    disagreements.append((raw, reading, quick, full))
    assert disagreements == []


# sms_e164: to_e164's answer, cheaper


def every_kind_of_example(region: str) -> list[PhoneNumber]:
    kinds = (*SMS_TYPES, *REFUSED_TYPES, PhoneNumberType.FIXED_LINE)
    examples = (phonenumbers.example_number_for_type(region, kind) for kind in kinds)
    return [number for number in examples if number is not None]


@pytest.mark.parametrize("region", ALL_REGIONS)
def test_sms_reading_agrees_with_the_exact_one_on_every_spelling(region: str) -> None:
    for number in every_kind_of_example(region):
        for raw in spellings(number):
            for reading_region in (region, *READING_REGIONS):
                assert sms_e164(raw, reading_region) == to_e164(raw, reading_region), (
                    raw,
                    reading_region,
                )


@pytest.mark.parametrize(
    "raw", ["", "+", "hello", "+33 6 12", "0612345678901234", "+336123456789", "00000"]
)
def test_sms_reading_agrees_with_the_exact_one_on_odd_input(raw: str) -> None:
    assert sms_e164(raw, "FR") == to_e164(raw, "FR")


# Texts longer than any phone number: refused unread, never kept


def test_a_number_written_the_longest_real_way_is_read() -> None:
    # International prefix, a stray (0), and " - " between every two characters.
    spelled = " - ".join("0033(0)612345678")
    assert len(spelled) <= MAX_NUMBER_CHARS
    assert to_e164(spelled, "FR") == sms_e164(spelled, "FR") == "+33612345678"


def test_whitespace_around_a_number_does_not_count_towards_its_length() -> None:
    padded = " " * 5000 + "06 12 34 56 78" + "\t" * 5000
    assert not is_too_long(padded)
    assert to_e164(padded, "FR") == sms_e164(padded, "FR") == "+33612345678"


@pytest.mark.parametrize(
    "raw",
    [
        "0612345678" + "0" * (MAX_NUMBER_CHARS - 9),
        "+33612345678" + " " * 50 + "x" * 50,
        "+33 6 12 34 56 78" + "." * MAX_NUMBER_CHARS,
        "9" * 1_000_000,
    ],
)
def test_a_text_longer_than_any_number_is_not_one(raw: str) -> None:
    assert is_too_long(raw)
    assert quick_e164(raw, "FR") is None
    assert to_e164(raw, "FR") is None
    assert sms_e164(raw, "FR") is None


def test_a_text_as_long_as_the_bound_is_still_read() -> None:
    raw = "+33612345678".ljust(MAX_NUMBER_CHARS, ".")
    assert not is_too_long(raw)
    assert to_e164(raw, "FR") == "+33612345678"


def test_region_of_a_text_longer_than_e164_is_none() -> None:
    assert region_of("+33612345678" + "9" * 1_000_000) == ""


@pytest.fixture
def retained() -> Iterator[Callable[[], float]]:
    """Bytes allocated since the fixture started and still alive, in MiB."""
    gc.collect()
    tracemalloc.start()
    start = tracemalloc.get_traced_memory()[0]

    def measure() -> float:
        gc.collect()
        return (tracemalloc.get_traced_memory()[0] - start) / 2**20

    yield measure
    tracemalloc.stop()


def test_long_texts_read_as_numbers_are_not_kept(retained: Callable[[], float]) -> None:
    # 100 different 1 MB "numbers" used to stay in the number cache for good: 100 MiB.
    for n in range(100):
        hostile = f"{n}" + "9" * 1_000_000
        assert to_e164(hostile, "FR") is None
        assert sms_e164(hostile, "FR") is None
        assert region_of("+" + hostile) == ""
    assert retained() < 1


def test_the_number_caches_stay_small_whatever_they_are_fed(
    retained: Callable[[], float],
) -> None:
    # More different texts than the caches hold, each as long and as wide (4-byte
    # characters) as a text read as a number can be: about 15 MiB, all caches full.
    for n in range(40_000):
        to_e164(f"{n:05d}" + "\U0001f600" * (MAX_NUMBER_CHARS - 5), "FR")
        region_of(f"+336{n:08d}")
    assert retained() < 20
