"""The number format check, without a server: reading `phoneNumbers`, describing numbers."""

from __future__ import annotations

import asyncio

import phonenumbers
import pytest
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from smsrelay.domain.phone import MAX_NUMBER_CHARS, to_e164
from smsrelay.domain.problems import Problem, Refused
from smsrelay.service.lookup import (
    MAX_NUMBERS,
    TYPE_NAMES,
    Failed,
    Formats,
    Found,
    describe,
    look_up,
    read_requests,
)

NOT_A_PHONE_FR = "Ce n'est pas un numéro de téléphone valide"
SMS_TYPES = ("Mobile", "Mobile or landline", "Pager", "Personal number")


def read(request: str, region: str = "FR") -> Found | Failed:
    return describe(request, region, "fr")


def found(request: str, region: str = "FR") -> Found:
    item = read(request, region)
    assert isinstance(item, Found), item
    return item


def refusal(raw: object) -> Problem:
    with pytest.raises(Refused) as refused:
        read_requests(raw)
    return refused.value.problem


# --- reading phoneNumbers ---------------------------------------------------------------


def test_comma_separated_requests_are_kept_verbatim() -> None:
    assert read_requests("0612345678, +33 6 12 34 56 79 ,x") == [
        "0612345678",
        " +33 6 12 34 56 79 ",
        "x",
    ]


def test_blank_requests_are_dropped() -> None:
    assert read_requests("0612345678,, ,0612345679") == ["0612345678", "0612345679"]


def test_a_json_list_gives_one_request_per_element() -> None:
    assert read_requests(["0612345678", " hello "]) == ["0612345678", " hello "]


def test_a_comma_inside_a_list_element_does_not_split_it() -> None:
    assert read_requests(["0612345678,0612345679"]) == ["0612345678,0612345679"]


def test_json_integers_are_read_as_their_digits() -> None:
    assert read_requests([33612345678, -1]) == ["33612345678", "-1"]
    assert read_requests(33612345678) == ["33612345678"]


def test_duplicates_are_kept() -> None:
    assert read_requests("0612345678,0612345678") == ["0612345678", "0612345678"]


@pytest.mark.parametrize("raw", [None, "", " ", " , ,", [], [""], ["  ", ""]])
def test_no_number_is_refused_with_code_2(raw: object) -> None:
    assert refusal(raw) is Problem.PHONE_REQUIRED


def test_500_numbers_are_accepted() -> None:
    assert len(read_requests(",".join(["0612345678"] * MAX_NUMBERS))) == MAX_NUMBERS


@pytest.mark.parametrize(
    "raw", [",".join(["0612345678"] * (MAX_NUMBERS + 1)), ["0612345678"] * (MAX_NUMBERS + 1)]
)
def test_more_than_500_numbers_are_refused_with_code_50(raw: object) -> None:
    assert refusal(raw) is Problem.TOO_MANY


@pytest.mark.parametrize(
    "raw", [True, 1.5, {}, {"a": "0612345678"}, [None], [True], [1.5], [[]], [{}], [["x"]]]
)
def test_values_that_cannot_be_a_request_are_refused_with_code_6(raw: object) -> None:
    assert refusal(raw) is Problem.BAD_FORMAT


# --- describing numbers ---------------------------------------------------------------


def test_a_french_mobile_is_described_in_full() -> None:
    assert read("0612345678") == Found(
        request="0612345678",
        success=True,
        country_code="FR",
        prefix_code=33,
        phone_number="+33612345678",
        type="Mobile",
        network="SFR",
        format=Formats(
            e164="+33612345678",
            international="+33 6 12 34 56 78",
            national="06 12 34 56 78",
            rfc3966="tel:+33-6-12-34-56-78",
        ),
    )


def test_a_national_number_is_read_in_the_account_region() -> None:
    item = found("0612345678", region="MA")
    assert (item.country_code, item.prefix_code, item.format.e164) == ("MA", 212, "+212612345678")


def test_an_international_number_keeps_its_own_country() -> None:
    item = found("+212612345678")
    assert (item.country_code, item.prefix_code, item.phone_number) == ("MA", 212, "+212612345678")
    assert item.format.national == "06 12 34 56 78"


def test_a_landline_is_valid_and_has_no_network() -> None:
    item = found("0142685300")
    assert (item.type, item.network) == ("Landline", "")


@pytest.mark.parametrize(
    ("request_", "type_"),
    [
        ("0800123456", "Toll free"),
        ("0899123456", "Premium rate"),
        ("+12015550123", "Mobile or landline"),
        ("0939123456", "VoIP"),
    ],
)
def test_the_type_is_named_after_phonenumbers_type(request_: str, type_: str) -> None:
    assert found(request_).type == type_


def test_every_phonenumbers_type_has_a_name() -> None:
    assert set(TYPE_NAMES) == set(PhoneNumberType.values())


def test_the_phone_number_is_e164_like_the_hosted_services_answer() -> None:
    # v1-api.md §1: numbers are returned in E.164; the hosted service's recorded lookup
    # answer has "phoneNumber": "+212620123456".
    assert found("0620123456", region="MA").phone_number == "+212620123456"


def test_the_phone_number_keeps_a_leading_zero_where_it_belongs() -> None:
    assert found("+39 06 1234 5678").phone_number == "+390612345678"


def test_a_non_geographic_number_has_the_region_001() -> None:
    item = found("+80012345678")
    assert (item.country_code, item.prefix_code) == ("001", 800)


@pytest.mark.parametrize("request_", ["hello", "06", "0612345678901234", "", "+999123", "]]>"])
def test_what_is_not_a_valid_number_fails_with_its_request_verbatim(request_: str) -> None:
    assert read(request_) == Failed(request_, False, NOT_A_PHONE_FR)


def test_a_request_longer_than_any_number_fails_unread() -> None:
    request = "+33612345678" + "0" * MAX_NUMBER_CHARS
    assert read(request) == Failed(request, False, NOT_A_PHONE_FR)


def test_spaces_around_a_number_do_not_make_it_too_long() -> None:
    assert found(" " * MAX_NUMBER_CHARS + "0612345678").format.e164 == "+33612345678"


def test_a_national_number_in_an_unknown_region_fails() -> None:
    assert isinstance(read("0612345678", region="ZZ"), Failed)


def test_the_failure_message_is_in_the_account_language() -> None:
    assert describe("hello", "FR", "en") == Failed(
        "hello", False, "This is not a valid phone number"
    )


def test_network_names_are_the_same_for_french_and_english_accounts() -> None:
    # phonenumbers has no French carrier names: both languages give the same answer.
    french = describe("+447400123456", "FR", "fr")
    english = describe("+447400123456", "FR", "en")
    assert isinstance(french, Found)
    assert isinstance(english, Found)
    assert french.network == english.network == "Three"


def test_items_follow_the_requests_in_order_with_duplicates() -> None:
    requests = ["0612345678", "x", "0612345678", "+212612345678"]
    items = asyncio.run(look_up(requests, "FR", "fr"))
    assert [item.request for item in items] == requests
    assert [item.success for item in items] == [True, False, True, True]


def test_order_holds_across_the_slices_between_yields() -> None:
    requests = [f"0612{n:06d}" if n % 3 else f"x{n}" for n in range(MAX_NUMBERS)]
    items = asyncio.run(look_up(requests, "FR", "fr"))
    assert [item.request for item in items] == requests
    assert [item.success for item in items] == [bool(n % 3) for n in range(MAX_NUMBERS)]


def examples() -> list[tuple[str, str]]:
    """phonenumbers' own example mobiles, landlines and free numbers, written nationally."""
    cases = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE, PhoneNumberType.TOLL_FREE):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                national = phonenumbers.format_number(example, PhoneNumberFormat.NATIONAL)
                cases.append((region, national))
    return cases


def test_a_number_found_valid_is_read_as_send_reads_it() -> None:
    # The check must not promise a send something it would refuse, or the other way round.
    for region, national in examples():
        item = read(national, region)
        sent = to_e164(national, region)
        if isinstance(item, Found) and item.type in SMS_TYPES:
            assert item.format.e164 == sent, (region, national)
        else:
            assert sent is None, (region, national, item)
