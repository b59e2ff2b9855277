"""The rules of the send family: each code the contract lists, provoked once, over HTTP."""

from __future__ import annotations

import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from smsrelay.domain.problems import Problem
from tests.api.test_send import post
from tests.conftest import Admin, Customer

PARIS = ZoneInfo("Europe/Paris")


def days_ahead(days: int) -> str:
    return (datetime.datetime.now(PARIS) + datetime.timedelta(days=days)).strftime("%d/%m/%Y")


def refused(answer: httpx.Response, code: int) -> None:
    assert answer.status_code == 400, answer.text
    assert (answer.json()["success"], answer.json()["code"]) == (False, code)


@pytest.mark.parametrize(
    ("params", "code"),
    [
        pytest.param({"phoneNumbers": None}, 2, id="2 no numbers"),
        pytest.param({"message": None}, 43, id="43 no message"),
        pytest.param({"sender": "AB"}, 44, id="44 sender too short"),
        pytest.param({"sender": "ABCDEFGHIJKL"}, 44, id="44 sender too long"),
        pytest.param({"sender": "Acme Co"}, 44, id="44 sender with a space"),
        pytest.param({"gamme": 2, "message": "a" * 161}, 42, id="42 low cost over 160"),
        pytest.param({"message": "a" * 1531}, 52, id="52 eleven parts"),
        pytest.param({"time": 8, "minute": 0}, 45, id="45 time without a date"),
        pytest.param({"scheduledDeliveryDate": "2026-12-01", "time": 8}, 46, id="46 iso date"),
        pytest.param({"scheduledDeliveryDate": "31/02/2027", "time": 8}, 46, id="46 no such day"),
        pytest.param({"scheduledDeliveryDate": days_ahead(400), "time": 8}, 46, id="46 too far"),
        pytest.param({"scheduledDeliveryDate": days_ahead(2)}, 47, id="47 no hour"),
        pytest.param({"scheduledDeliveryDate": days_ahead(2), "time": 24}, 47, id="47 hour 24"),
        pytest.param(
            {"scheduledDeliveryDate": days_ahead(2), "time": 8, "minute": 7}, 48, id="48 minute 7"
        ),
        pytest.param({"scheduledDeliveryDate": days_ahead(-1), "time": 8}, 49, id="49 past"),
        pytest.param({"phoneNumbers": ",".join(["0612345678"] * 501)}, 50, id="50 501 numbers"),
        pytest.param({"phoneNumbers": "hello,0142685300"}, 55, id="55 nobody to send to"),
        pytest.param({"phoneNumbers": "+12505550199,+4915123456789"}, 200, id="priced abroad"),
    ],
)
def test_send_answers_each_rule_with_its_code(
    client: httpx.Client, customer: Customer, params: dict[str, Any], code: int
) -> None:
    # None in a case leaves the parameter out.
    merged = {"phoneNumbers": "0612345678", "message": "Hi"} | params
    answer = post(
        client, "/v1/send", customer, **{k: v for k, v in merged.items() if v is not None}
    )
    if code == 200:
        assert answer.json()["success"] is True
    else:
        refused(answer, code)


def test_send_to_an_unpriced_country_answers_13(client: httpx.Client, customer: Customer) -> None:
    # Japan is not in the built-in price table: no price, no send.
    refused(post(client, "/v1/send", customer, phoneNumbers="+819012345678", message="Hi"), 13)


def test_low_cost_to_a_country_without_low_cost_answers_13(
    client: httpx.Client, customer: Customer
) -> None:
    answer = post(client, "/v1/send", customer, phoneNumbers="+32470123456", message="Hi", gamme=2)
    refused(answer, 13)


def test_send_leaves_out_unpriced_numbers_and_charges_the_others(
    client: httpx.Client, customer: Customer
) -> None:
    answer = post(
        client, "/v1/send", customer, phoneNumbers="0612345678,+819012345678", message="Hi"
    )
    assert (answer.json()["nb_sms"], answer.json()["cost"]) == (1, 0.038)


def test_low_cost_is_priced_at_the_low_cost_rate(client: httpx.Client, customer: Customer) -> None:
    answer = post(client, "/v1/send", customer, phoneNumbers="0612345678", message="Hi", gamme=2)
    assert answer.json()["cost"] == 0.03


@pytest.mark.parametrize(
    ("option", "field"),
    [
        ({"isUnicode": "yes"}, "isUnicode"),
        ({"isStopSms": 2}, "isStopSms"),
        ({"gamme": 3}, "gamme"),
        ({"urlDlr": "ftp://example.invalid/x"}, "urlDlr"),
        ({"urlResponse": "not a url"}, "urlResponse"),
    ],
)
def test_send_lists_each_invalid_field_in_a_code_9(
    client: httpx.Client, customer: Customer, option: dict[str, Any], field: str
) -> None:
    answer = post(client, "/v1/send", customer, phoneNumbers="0612345678", message="Hi", **option)
    refused(answer, 9)
    assert answer.json()["error"] == [
        {"elementId": f"children[{field}].data", "message": Problem.INVALID.text("fr")}
    ]


def test_send_lists_every_invalid_field_at_once(client: httpx.Client, customer: Customer) -> None:
    answer = post(
        client, "/v1/send", customer,
        phoneNumbers="0612345678", message="Hi", tag="Bad Tag", gamme=9, sandbox="maybe",
    )  # fmt: skip
    elements = [e["elementId"] for e in answer.json()["error"]]
    assert elements == ["children[tag].data", "children[sandbox].data", "children[gamme].data"]


def test_stop_mention_is_appended_and_counted(client: httpx.Client, customer: Customer) -> None:
    # 150 characters fit one SMS; the mention ("\nSTOP au 36180", 14) takes it to two.
    answer = post(
        client, "/v1/send", customer, phoneNumbers="0612345678", message="a" * 150, isStopSms=1
    )
    assert answer.json()["nb_sms"] == 2


def test_is_unicode_bills_a_gsm_text_as_ucs2(client: httpx.Client, customer: Customer) -> None:
    answer = post(
        client, "/v1/send", customer, phoneNumbers="0612345678", message="a" * 71, isUnicode=1
    )
    assert answer.json()["nb_sms"] == 2


def test_a_send_beyond_the_credit_answers_11_and_charges_nothing(
    client: httpx.Client, admin: Admin
) -> None:
    account = admin.account("thrifty", credits=0.05)
    poor = Customer(account, admin.key(account))
    first = post(client, "/v1/send", poor, phoneNumbers="0612345678", message="Hi")
    assert first.json()["success"] is True
    refused(post(client, "/v1/send", poor, phoneNumbers="0612345678", message="Hi"), 11)
    me = client.get("/v1/me", params={"apiKey": poor.key}).json()
    assert me["credits"]["solde"] == "0.012"


def test_a_sandbox_send_is_not_charged(client: httpx.Client, admin: Admin) -> None:
    account = admin.account("broke", credits=0)
    broke = Customer(account, admin.key(account))
    answer = post(client, "/v1/send", broke, phoneNumbers="0612345678", message="Hi", sandbox=1)
    assert (answer.json()["success"], answer.json()["cost"]) == (True, 0.038)


def test_a_scheduled_send_answers_its_local_date(client: httpx.Client, customer: Customer) -> None:
    date = days_ahead(3)
    answer = post(
        client, "/v1/send", customer, phoneNumbers="0612345678", message="Hi",
        scheduledDeliveryDate=date, time="9", minute="35",
    )  # fmt: skip
    day, month, year = date.split("/")
    assert answer.json()["scheduledDeliveryDate"] == f"{year}-{month}-{day} 09:35:00"
    assert list(answer.json())[-1] == "scheduledDeliveryDate"


def test_bulk_send_answers_items_by_their_own_rule(
    client: httpx.Client, customer: Customer
) -> None:
    answer = post(
        client, "/v1/bulk-send", customer, gamme=2,
        SMSList=[
            {"phoneNumber": "0612345678", "message": "Hi"},
            {"phoneNumber": "0612345679", "message": "a" * 161},
            {"phoneNumber": "+819012345678", "message": "Hi"},
            {"phoneNumber": "0612345670"},
        ],
    )  # fmt: skip
    codes = [item["code"] for item in answer.json()["SMSResponse_List"]]
    assert codes == [200, 42, 13, 43]
    assert answer.json()["cost"] == 0.03


def test_bulk_send_with_every_item_unpriced_answers_13(
    client: httpx.Client, customer: Customer
) -> None:
    sms_list = [{"phoneNumber": "+819012345678", "message": "Hi"}]
    refused(post(client, "/v1/bulk-send", customer, SMSList=sms_list), 13)


def test_bulk_send_with_items_refused_for_different_reasons_answers_55(
    client: httpx.Client, customer: Customer
) -> None:
    sms_list = [
        {"phoneNumber": "+819012345678", "message": "Hi"},
        {"phoneNumber": "hello", "message": "Hi"},
    ]
    refused(post(client, "/v1/bulk-send", customer, SMSList=sms_list), 55)
