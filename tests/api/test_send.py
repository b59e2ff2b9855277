"""`/v1/send` and `/v1/bulk-send`: enough of the send family to create real messages."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import httpx
import pytest

from tests.conftest import Customer


def post(client: httpx.Client, path: str, customer: Customer, **params: Any) -> httpx.Response:
    return client.post(path, json={"apiKey": customer.key, **params})


def test_send_answer_has_the_contract_keys_and_types(
    client: httpx.Client, customer: Customer
) -> None:
    answer = post(client, "/v1/send", customer, phoneNumbers="0612345678", message="Bonjour")
    assert answer.status_code == 200
    body = answer.json()
    assert list(body) == ["success", "code", "message_id", "nb_sms", "cost", "currency"]
    assert (body["success"], body["code"], body["nb_sms"]) == (True, 200, 1)
    assert isinstance(body["message_id"], int)
    assert body["cost"] == 0.038
    assert body["currency"] == "EUR"


def test_send_counts_parts_for_every_recipient(client: httpx.Client, customer: Customer) -> None:
    answer = post(
        client, "/v1/send", customer, phoneNumbers="0612345678,0612345679", message="a" * 161
    )
    assert answer.json()["nb_sms"] == 4
    assert answer.json()["cost"] == pytest.approx(0.152)


def test_send_counts_ucs2_parts_for_text_outside_gsm(
    client: httpx.Client, customer: Customer
) -> None:
    answer = post(client, "/v1/send", customer, phoneNumbers="0612345678", message="ç" * 71)
    assert answer.json()["nb_sms"] == 2


def test_send_counts_a_number_given_twice_once(client: httpx.Client, customer: Customer) -> None:
    answer = post(
        client, "/v1/send", customer, phoneNumbers="0612345678, +33612345678", message="Bonjour"
    )
    assert answer.json()["nb_sms"] == 1


def test_send_leaves_out_invalid_numbers(client: httpx.Client, customer: Customer) -> None:
    answer = post(
        client, "/v1/send", customer, phoneNumbers="0612345678,hello,0142685300", message="Hi"
    )
    assert answer.json()["nb_sms"] == 1


def test_send_accepts_a_json_list_of_numbers(client: httpx.Client, customer: Customer) -> None:
    answer = post(
        client, "/v1/send", customer, phoneNumbers=["0612345678", "0612345679"], message="Hi"
    )
    assert answer.json()["nb_sms"] == 2


def test_send_accepts_a_form_body(client: httpx.Client, customer: Customer) -> None:
    answer = client.post(
        "/v1/send",
        data={
            "apiKey": customer.key,
            "phoneNumbers": "0612345678",
            "message": "Hi",
            "sandbox": "1",
        },
    )
    assert answer.json()["success"] is True


def test_send_answers_in_xml(client: httpx.Client, customer: Customer) -> None:
    answer = post(client, "/v1/send?_format=xml", customer, phoneNumbers="0612345678", message="Hi")
    entries = [e.text for e in ET.fromstring(answer.content)]
    assert entries[:2] == ["true", "200"]
    assert entries[3:] == ["1", "0.038", "EUR"]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"message": "Hi"}, 2),
        ({"phoneNumbers": "", "message": "Hi"}, 2),
        ({"phoneNumbers": " , ,", "message": "Hi"}, 2),
        ({"phoneNumbers": ",".join(["0612345678"] * 501), "message": "Hi"}, 50),
        ({"phoneNumbers": "0612345678"}, 43),
        ({"phoneNumbers": "0612345678", "message": "   "}, 43),
        ({"phoneNumbers": "0612345678", "message": "a" * 1531}, 52),
        ({"phoneNumbers": "0612345678", "message": "Hi", "sender": "AB"}, 44),
        ({"phoneNumbers": "0612345678", "message": "Hi", "sender": "TWELVECHARS1"}, 44),
        ({"phoneNumbers": "0612345678", "message": "Hi", "sender": "Acme Corp"}, 44),
        ({"phoneNumbers": "hello,0142685300", "message": "Hi"}, 55),
        ({"phoneNumbers": {"a": 1}, "message": "Hi"}, 6),
        ({"phoneNumbers": "0612345678", "message": ["Hi"]}, 6),
    ],
)
def test_send_refusals_carry_their_code(
    client: httpx.Client, customer: Customer, params: dict[str, Any], code: int
) -> None:
    answer = post(client, "/v1/send", customer, **params)
    assert answer.status_code == 400
    assert answer.json()["success"] is False
    assert answer.json()["code"] == code


@pytest.mark.parametrize(
    ("option", "element"),
    [
        ({"tag": "Has Spaces"}, "children[tag].data"),
        ({"tag": "x" * 21}, "children[tag].data"),
        ({"sandbox": "maybe"}, "children[sandbox].data"),
    ],
)
def test_send_validation_errors_list_their_fields(
    client: httpx.Client, customer: Customer, option: dict[str, str], element: str
) -> None:
    answer = post(client, "/v1/send", customer, phoneNumbers="0612345678", message="Hi", **option)
    assert answer.status_code == 400
    body = answer.json()
    assert list(body) == ["success", "code", "error"]
    assert body["code"] == 9
    assert body["error"] == [
        {"elementId": element, "message": "Au moins une contrainte n'est pas respectée"}
    ]


def test_send_accepts_sender_and_tag(client: httpx.Client, customer: Customer) -> None:
    answer = post(
        client, "/v1/send", customer,
        phoneNumbers="0612345678", message="Hi", sender="Acme", tag="promo-2026",
    )  # fmt: skip
    assert answer.json()["success"] is True


# --- bulk-send --------------------------------------------------------------------------


def test_bulk_send_answer_has_the_contract_keys_and_types(
    client: httpx.Client, customer: Customer
) -> None:
    answer = post(
        client, "/v1/bulk-send", customer,
        SMSList=[
            {"phoneNumber": "0612345678", "message": "Bonjour"},
            {"phoneNumber": "0612345679", "message": "a" * 200},
        ],
    )  # fmt: skip
    assert answer.status_code == 200
    body = answer.json()
    assert list(body) == [
        "success", "code", "message_id", "currency", "cost", "nbSMS", "SMSResponse_List",
    ]  # fmt: skip
    assert (body["nbSMS"], body["cost"]) == (3, pytest.approx(0.114))
    first, second = body["SMSResponse_List"]
    assert list(first) == ["success", "code", "nbSms", "cost", "phoneNumber"]
    assert first == {
        "success": True, "code": 200, "nbSms": 1, "cost": 0.038, "phoneNumber": "+33612345678",
    }  # fmt: skip
    assert second["nbSms"] == 2


def test_bulk_send_answers_bad_items_one_by_one(client: httpx.Client, customer: Customer) -> None:
    answer = post(
        client, "/v1/bulk-send", customer,
        SMSList=[
            {"phoneNumber": "0612345678", "message": "Bonjour"},
            {"phoneNumber": "hello", "message": "Bonjour"},
            {"message": "Bonjour"},
            {"phoneNumber": "0612345679"},
            {"phoneNumber": "+33612345678", "message": "again"},
        ],
    )  # fmt: skip
    items = answer.json()["SMSResponse_List"]
    assert [(i["success"], i["code"]) for i in items] == [
        (True, 200), (False, 9), (False, 2), (False, 43), (False, 9),
    ]  # fmt: skip
    assert items[1]["phoneNumber"] == "hello"
    assert answer.json()["nbSMS"] == 1


@pytest.mark.parametrize(
    ("sms_list", "code"),
    [
        (None, 5),
        ([], 5),
        ("nope", 6),
        ([["0612345678", "Hi"]], 6),
        ([{"phoneNumber": "0612345678", "message": "Hi"}] * 501, 50),
        ([{"phoneNumber": "hello", "message": "Hi"}], 55),
    ],
)
def test_bulk_send_refusals_carry_their_code(
    client: httpx.Client, customer: Customer, sms_list: object, code: int
) -> None:
    params = {} if sms_list is None else {"SMSList": sms_list}
    answer = post(client, "/v1/bulk-send", customer, **params)
    assert answer.status_code == 400
    assert answer.json()["code"] == code


def test_bulk_send_recipients_have_their_own_text_and_status(
    client: httpx.Client, customer: Customer
) -> None:
    answer = post(
        client, "/v1/bulk-send", customer, sandbox=1,
        SMSList=[{"phoneNumber": "0612345678", "message": "Bonjour"}],
    )  # fmt: skip
    message_id = answer.json()["message_id"]
    status = client.post(
        "/v1/multi-status",
        json={
            "apiKey": customer.key,
            "SMSStatut_List": [{"phoneNumber": "0612345678", "messageId": message_id}],
        },
    )
    assert status.json()["StatutResponse_List"][0]["status"] == "Delivered"


def test_send_requires_a_key(client: httpx.Client, server: object) -> None:
    answer = client.post("/v1/send", json={"phoneNumbers": "0612345678", "message": "Hi"})
    assert (answer.status_code, answer.json()["code"]) == (401, 1)


def test_send_is_post_only(client: httpx.Client, server: object) -> None:
    answer = client.get("/v1/send")
    assert answer.status_code == 405
    assert answer.json()["success"] is False
