"""`/v1/lookup` against the contract (v1-api.md §1 and §4), over HTTP to a real server."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import httpx
import pytest

from tests.conftest import Admin, Customer

NOT_A_PHONE = "Ce n'est pas un numéro de téléphone valide"
FRENCH_MOBILE = {
    "request": "0612345678",
    "success": True,
    "countryCode": "FR",
    "prefixCode": 33,
    "phoneNumber": "+33612345678",
    "type": "Mobile",
    "network": "SFR",
    "format": {
        "e164": "+33612345678",
        "international": "+33 6 12 34 56 78",
        "national": "06 12 34 56 78",
        "rfc3966": "tel:+33-6-12-34-56-78",
    },
}
ODD_VALUES: list[Any] = [
    True, 0, -1, 2**64, 1.5, " ", "\x00\ud7ff\uffff", "]]>", {}, {"a": {"b": []}},
    [None], [[]], [{}], [True], [1.5], [0, -1, 2**64], [{"phoneNumber": "0612345678"}],
    ["0612345678", ["0612345679"]], "9" * 5000, "," * 5000,
]  # fmt: skip


def lookup(client: httpx.Client, key: str, numbers: Any, **extra: Any) -> httpx.Response:
    return client.post("/v1/lookup", json={"apiKey": key, "phoneNumbers": numbers, **extra})


def items(client: httpx.Client, key: str, numbers: Any) -> list[dict[str, Any]]:
    answer = lookup(client, key, numbers)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["lookup"]
    return found


def xml_values(element: ET.Element) -> list[Any]:
    """An XML answer as nested lists of entry texts, to compare with the JSON values."""
    return [xml_values(entry) if len(entry) else entry.text for entry in element]


def json_values(value: Any) -> Any:
    """A JSON answer as the XML form writes it: keys dropped, scalars as text."""
    if isinstance(value, dict):
        return [json_values(member) for member in value.values()]
    if isinstance(value, list):
        return [json_values(member) for member in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def test_answer_has_the_contract_keys(client: httpx.Client, customer: Customer) -> None:
    answer = lookup(client, customer.key, "0612345678")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert list(body) == ["success", "code", "lookup"]
    assert (body["success"], body["code"]) == (True, 200)


def test_good_item_has_the_contract_keys_in_order_with_their_types(
    client: httpx.Client, customer: Customer
) -> None:
    [item] = items(client, customer.key, "0612345678")
    assert item == FRENCH_MOBILE
    assert list(item) == list(FRENCH_MOBILE)
    assert list(item["format"]) == ["e164", "international", "national", "rfc3966"]
    assert type(item["prefixCode"]) is int
    assert type(item["success"]) is bool
    assert all(type(item[key]) is str for key in ("countryCode", "phoneNumber", "network"))


def test_failed_item_has_request_success_and_message(
    client: httpx.Client, customer: Customer
) -> None:
    [item] = items(client, customer.key, "hello")
    assert item == {"request": "hello", "success": False, "message": NOT_A_PHONE}
    assert list(item) == ["request", "success", "message"]


def test_xml_answer_carries_the_same_values_in_the_same_order(
    client: httpx.Client, customer: Customer
) -> None:
    numbers = "0612345678,hello,+212612345678"
    as_json = lookup(client, customer.key, numbers).json()
    answer = lookup(client, customer.key, numbers, _format="xml")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/xml; charset=UTF-8"
    assert xml_values(ET.fromstring(answer.content)) == json_values(as_json)


def test_xml_is_also_chosen_in_the_query_string(client: httpx.Client, customer: Customer) -> None:
    answer = client.post(
        "/v1/lookup?_format=xml", json={"apiKey": customer.key, "phoneNumbers": "0612345678"}
    )
    entries = ET.fromstring(answer.content)
    assert [entries[0].text, entries[1].text] == ["true", "200"]
    assert entries[2][0][0].text == "0612345678"


def test_a_national_french_number_is_read_in_france(
    client: httpx.Client, customer: Customer
) -> None:
    [item] = items(client, customer.key, "06 12 34 56 78")
    assert (item["countryCode"], item["format"]["e164"]) == ("FR", "+33612345678")


def test_a_foreign_number_is_described_in_its_own_country(
    client: httpx.Client, customer: Customer
) -> None:
    [item] = items(client, customer.key, "+212612345678")
    assert item["success"] is True
    assert (item["countryCode"], item["prefixCode"], item["phoneNumber"]) == (
        "MA",
        212,
        "+212612345678",
    )
    assert item["format"]["e164"] == "+212612345678"


def test_a_national_number_is_read_in_the_account_region(
    client: httpx.Client, admin: Admin
) -> None:
    key = admin.key(admin.account("atlas", region="MA"))
    [item] = items(client, key, "0612345678")
    assert (item["countryCode"], item["format"]["e164"]) == ("MA", "+212612345678")


def test_a_landline_is_valid_with_its_type(client: httpx.Client, customer: Customer) -> None:
    [item] = items(client, customer.key, "0142685300")
    assert (item["success"], item["type"], item["network"]) == (True, "Landline", "")


@pytest.mark.parametrize(
    "numbers", [" hello ", "06 12", "+33 6 12 34 56 78 9", "06-12-34-56", "]]>"]
)
def test_an_invalid_item_echoes_its_request_verbatim(
    client: httpx.Client, customer: Customer, numbers: str
) -> None:
    [item] = items(client, customer.key, [numbers])
    assert item == {"request": numbers, "success": False, "message": NOT_A_PHONE}


def test_a_comma_separated_item_is_echoed_with_its_spaces(
    client: httpx.Client, customer: Customer
) -> None:
    found = items(client, customer.key, "0612345678, hello")
    assert [item["request"] for item in found] == ["0612345678", " hello"]


def test_items_follow_the_request_order_and_keep_duplicates(
    client: httpx.Client, customer: Customer
) -> None:
    numbers = ["+212612345678", "x", "0612345678", "x", "0612345678"]
    found = items(client, customer.key, numbers)
    assert [item["request"] for item in found] == numbers
    assert [item["success"] for item in found] == [True, False, True, False, True]


def test_the_answer_succeeds_when_every_item_fails(
    client: httpx.Client, customer: Customer
) -> None:
    answer = lookup(client, customer.key, "a,b")
    assert answer.status_code == 200
    assert (answer.json()["success"], answer.json()["code"]) == (True, 200)
    assert [item["success"] for item in answer.json()["lookup"]] == [False, False]


def test_an_english_account_gets_english_messages(client: httpx.Client, admin: Admin) -> None:
    key = admin.key(admin.account("globex", language="en"))
    [item] = items(client, key, "hello")
    assert item["message"] == "This is not a valid phone number"


def test_500_numbers_are_answered(client: httpx.Client, customer: Customer) -> None:
    assert len(items(client, customer.key, ",".join(["0612345678"] * 500))) == 500


def test_get_reads_the_query_string(client: httpx.Client, customer: Customer) -> None:
    answer = client.get(
        "/v1/lookup", params={"apiKey": customer.key, "phoneNumbers": "0612345678,hello"}
    )
    assert answer.status_code == 200
    assert [item["success"] for item in answer.json()["lookup"]] == [True, False]


def test_a_form_body_with_a_bracket_list_is_read(client: httpx.Client, customer: Customer) -> None:
    answer = client.post(
        "/v1/lookup",
        content=f"apiKey={customer.key}&phoneNumbers[]=0612345678&phoneNumbers[]=hello",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert [item["request"] for item in answer.json()["lookup"]] == ["0612345678", "hello"]


@pytest.mark.parametrize(
    ("params", "code", "status"),
    [
        ({"phoneNumbers": "0612345678"}, 1, 401),
        ({"apiKey": "", "phoneNumbers": "0612345678"}, 1, 401),
        ({"apiKey": "not-a-key", "phoneNumbers": "0612345678"}, 10, 401),
        ({"apiKey": "KEY"}, 2, 400),
        ({"apiKey": "KEY", "phoneNumbers": ""}, 2, 400),
        ({"apiKey": "KEY", "phoneNumbers": " , ,"}, 2, 400),
        ({"apiKey": "KEY", "phoneNumbers": []}, 2, 400),
        ({"apiKey": "KEY", "phoneNumbers": ",".join(["0612345678"] * 501)}, 50, 400),
        ({"apiKey": "KEY", "phoneNumbers": ["0612345678"] * 501}, 50, 400),
        ({"apiKey": "KEY", "phoneNumbers": {"a": "0612345678"}}, 6, 400),
        ({"apiKey": "KEY", "phoneNumbers": "0612345678", "_format": "csv"}, 6, 400),
    ],
)
def test_refusals_carry_their_code(
    client: httpx.Client, customer: Customer, params: dict[str, Any], code: int, status: int
) -> None:
    if params.get("apiKey") == "KEY":
        params = {**params, "apiKey": customer.key}
    answer = client.post("/v1/lookup", json=params)
    assert answer.status_code == status
    assert answer.json()["success"] is False
    assert answer.json()["code"] == code


def test_odd_values_get_a_coded_answer_never_a_500(
    client: httpx.Client, customer: Customer
) -> None:
    for numbers in ODD_VALUES:
        answer = lookup(client, customer.key, numbers)
        assert answer.status_code < 500, (numbers, answer.text)
        body = answer.json()
        assert isinstance(body["success"], bool)
        assert isinstance(body["code"], int)
