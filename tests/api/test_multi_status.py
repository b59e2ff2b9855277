"""`/v1/multi-status` against the contract (v1-api.md §1-2) and the seed document."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from typing import Any

import httpx
import pytest

from tests.api.helpers import send
from tests.conftest import Admin, Customer

MAGIC_DELIVERED = "+33600000001"
MAGIC_WAITING = "+33600000003"
MAGIC_REFUSED = "+33600000004"
NO_PHONE = "Le numéro de téléphone est requis"
NO_ID = "L'identifiant du message est requis"
NOT_FOUND = "Numéro introuvable"
NOT_MOBILE = "Ce numéro ne semble pas être un numéro de mobile"


def status(client: httpx.Client, key: str, pairs: list[dict[str, Any]], **extra: Any) -> Any:
    return client.post("/v1/multi-status", json={"apiKey": key, "SMSStatut_List": pairs, **extra})


def wait_for(client: httpx.Client, key: str, pair: dict[str, Any], wanted: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        item: dict[str, Any] = status(client, key, [pair]).json()["StatutResponse_List"][0]
        if item.get("status") == wanted or time.monotonic() > deadline:
            return item
        time.sleep(0.05)


@pytest.fixture
def sandbox_id(client: httpx.Client, customer: Customer) -> int:
    """A sandbox send: delivered at once, never handed to the operator."""
    return send(client, customer.key, "+33619922264,0699999993", sandbox=1)


# --- the seed document's own examples -------------------------------------------------


def test_found_item_has_the_contract_fields_in_order_with_their_types(
    client: httpx.Client, customer: Customer, sandbox_id: int
) -> None:
    answer = status(
        client, customer.key, [{"phoneNumber": "+33619922264", "messageId": sandbox_id}]
    )
    assert answer.status_code == 200
    body = answer.json()
    assert list(body) == ["success", "code", "StatutResponse_List"]
    assert body["success"] is True
    assert body["code"] == 200
    item = body["StatutResponse_List"][0]
    assert list(item) == [
        "success", "code", "phoneNumber", "messageId", "status", "date", "stopSms", "isSpam",
    ]  # fmt: skip
    assert item["success"] is True
    assert item["code"] == 200
    assert item["phoneNumber"] == "+33619922264"
    assert item["messageId"] == sandbox_id
    assert item["status"] == "Delivered"
    assert isinstance(item["date"], str)
    assert abs(int(item["date"]) - time.time()) < 60
    assert (item["stopSms"], item["isSpam"]) == ("0", "0")


def test_seed_curl_request_with_national_numbers_answers_in_e164(
    client: httpx.Client, customer: Customer, sandbox_id: int
) -> None:
    body = (
        f'{{"apiKey": "{customer.key}","SMSStatut_List": [{{"phoneNumber": "0619922264", '
        f'"messageId": {sandbox_id}}},{{"phoneNumber": "0699999992", "messageId": 1000}},'
        f'{{"phoneNumber": "0699999991", "messageId": 1222}}]}}'
    )
    answer = client.post(
        "/v1/multi-status", content=body, headers={"Content-Type": "application/json"}
    )
    items = answer.json()["StatutResponse_List"]
    assert items[0]["phoneNumber"] == "+33619922264"
    assert items[0]["status"] == "Delivered"
    assert items[1] == {
        "success": False,
        "code": 4,
        "phoneNumber": "+33699999992",
        "messageId": 1000,
        "status": "Numéro introuvable",
    }
    assert items[2]["phoneNumber"] == "+33699999991"
    assert items[2]["code"] == 4


def test_seed_php_request_posts_json_labelled_as_a_form(
    client: httpx.Client, customer: Customer, sandbox_id: int
) -> None:
    fields = {
        "apiKey": customer.key,
        "SMSStatut_List": [{"phoneNumber": "+33619922264", "messageId": sandbox_id}],
    }
    answer = client.post(
        "/v1/multi-status",
        content=json.dumps(fields),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.json()["StatutResponse_List"][0]["status"] == "Delivered"


def test_seed_python_request_without_content_type(
    client: httpx.Client, customer: Customer, sandbox_id: int
) -> None:
    data = {
        "apiKey": customer.key,
        "SMSStatut_List": [{"phoneNumber": "+33619922264", "messageId": sandbox_id}],
    }
    request = client.build_request("POST", "/v1/multi-status", content=json.dumps(data))
    assert "content-type" not in request.headers
    answer = client.send(request)
    assert answer.json()["success"] is True
    assert answer.json()["StatutResponse_List"][0]["status"] == "Delivered"


def xml_entries(element: ET.Element) -> list[Any]:
    """The `<entry>` tree as nested lists of texts, the way a positional reader sees it."""
    return [xml_entries(child) if len(child) else (child.text or "") for child in element]


def test_xml_answer_matches_the_seed_entry_by_entry(
    client: httpx.Client, customer: Customer, sandbox_id: int
) -> None:
    answer = client.post(
        "/v1/multi-status?_format=xml",
        json={
            "apiKey": customer.key,
            "SMSStatut_List": [
                {"phoneNumber": "+33619922264", "messageId": sandbox_id},
                {"phoneNumber": "+33699999992", "messageId": 1000},
            ],
        },
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/xml")
    assert answer.content.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    root = ET.fromstring(answer.content)
    assert root.tag == "result"
    found = xml_entries(root)[2][0]
    assert xml_entries(root)[:2] == ["true", "200"]
    assert found[:5] == ["true", "200", "+33619922264", str(sandbox_id), "Delivered"]
    assert found[6:] == ["0", "0"]
    assert xml_entries(root)[2][1] == ["false", "4", "+33699999992", "1000", "Numéro introuvable"]
    text = answer.text
    assert "<entry><![CDATA[+33619922264]]></entry>" in text
    assert f"<entry>{sandbox_id}</entry>" in text
    assert "<entry>true</entry>" in text
    assert "<entry><![CDATA[Numéro introuvable]]></entry>" in text


def test_xml_format_may_come_in_the_body(
    client: httpx.Client, customer: Customer, sandbox_id: int
) -> None:
    answer = status(
        client, customer.key, [{"phoneNumber": "+33619922264", "messageId": sandbox_id}],
        _format="xml",
    )  # fmt: skip
    assert ET.fromstring(answer.content).tag == "result"


def test_error_answer_in_json_is_the_seed_body(client: httpx.Client, server: object) -> None:
    answer = client.post("/v1/multi-status", json={"apiKey": "nope", "SMSStatut_List": []})
    assert answer.status_code == 401
    assert answer.json() == {"success": False, "code": 10, "message": "Clef API incorrecte"}
    assert list(answer.json()) == ["success", "code", "message"]


def test_error_answer_in_xml_is_the_seed_body(client: httpx.Client, server: object) -> None:
    answer = client.post("/v1/multi-status?_format=xml", json={"apiKey": "nope"})
    assert answer.status_code == 401
    assert xml_entries(ET.fromstring(answer.content)) == ["false", "10", "Clef API incorrecte"]
    assert "<entry><![CDATA[Clef API incorrecte]]></entry>" in answer.text


# --- every input form -----------------------------------------------------------------


def test_php_bracket_form_body(client: httpx.Client, customer: Customer, sandbox_id: int) -> None:
    answer = client.post(
        "/v1/multi-status",
        data={
            "apiKey": customer.key,
            "SMSStatut_List[0][phoneNumber]": "0619922264",
            "SMSStatut_List[0][messageId]": str(sandbox_id),
            "SMSStatut_List[1][phoneNumber]": "0699999993",
            "SMSStatut_List[1][messageId]": str(sandbox_id),
        },
    )
    items = answer.json()["StatutResponse_List"]
    assert [i["status"] for i in items] == ["Delivered", "Delivered"]
    assert items[0]["messageId"] == sandbox_id


def test_get_with_query_string(client: httpx.Client, customer: Customer, sandbox_id: int) -> None:
    answer = client.get(
        "/v1/multi-status",
        params={
            "apiKey": customer.key,
            "SMSStatut_List[0][phoneNumber]": "+33619922264",
            "SMSStatut_List[0][messageId]": sandbox_id,
        },
    )
    assert answer.json()["StatutResponse_List"][0]["status"] == "Delivered"


def test_get_with_a_json_list_in_the_query_string(
    client: httpx.Client, customer: Customer, sandbox_id: int
) -> None:
    pairs = json.dumps([{"phoneNumber": "+33619922264", "messageId": sandbox_id}])
    answer = client.get(
        "/v1/multi-status", params={"apiKey": customer.key, "SMSStatut_List": pairs}
    )
    assert answer.json()["StatutResponse_List"][0]["status"] == "Delivered"


def test_get_carrying_a_json_body_is_read_like_a_post(
    client: httpx.Client, customer: Customer, sandbox_id: int
) -> None:
    body = {
        "apiKey": customer.key,
        "SMSStatut_List": [{"phoneNumber": "+33619922264", "messageId": sandbox_id}],
    }
    answer = client.request("GET", "/v1/multi-status", content=json.dumps(body))
    assert answer.json()["StatutResponse_List"][0]["status"] == "Delivered"


def test_message_id_as_numeric_string_is_answered_as_a_number(
    client: httpx.Client, customer: Customer, sandbox_id: int
) -> None:
    pairs = [{"phoneNumber": "+33619922264", "messageId": f" 000{sandbox_id} "}]
    item = status(client, customer.key, pairs).json()["StatutResponse_List"][0]
    assert item["messageId"] == sandbox_id
    assert item["status"] == "Delivered"


def test_numbers_in_other_notations_find_the_same_recipient(
    client: httpx.Client, customer: Customer, sandbox_id: int
) -> None:
    forms = [
        "+33 6 19 92 22 64", "0033619922264", "06.19.92.22.64", "+33 (0)6 19 92 22 64",
        "+330619922264",  # read verbatim first, then as phonenumbers reads it
    ]  # fmt: skip
    items = status(
        client, customer.key, [{"phoneNumber": f, "messageId": sandbox_id} for f in forms]
    ).json()["StatutResponse_List"]
    assert [i["status"] for i in items] == ["Delivered"] * len(forms)
    assert {i["phoneNumber"] for i in items} == {"+33619922264"}


# --- the three public statuses ----------------------------------------------------------


def test_statuses_move_from_waiting_to_delivered_and_not_delivered(
    client: httpx.Client, customer: Customer
) -> None:
    message_id = send(client, customer.key, f"{MAGIC_DELIVERED},{MAGIC_WAITING},{MAGIC_REFUSED}")
    pair = {"messageId": message_id}
    delivered = wait_for(client, customer.key, pair | {"phoneNumber": MAGIC_DELIVERED}, "Delivered")
    refused = wait_for(client, customer.key, pair | {"phoneNumber": MAGIC_REFUSED}, "Not delivered")
    waiting = status(client, customer.key, [pair | {"phoneNumber": MAGIC_WAITING}]).json()
    assert delivered["status"] == "Delivered"
    assert refused["status"] == "Not delivered"
    assert waiting["StatutResponse_List"][0]["status"] == "Waiting"


# --- order, duplicates, isolation -------------------------------------------------------


def test_items_come_back_in_request_order_with_duplicates(
    client: httpx.Client, customer: Customer, sandbox_id: int
) -> None:
    pairs = [
        {"phoneNumber": "+33699999993", "messageId": sandbox_id},
        {"phoneNumber": "+33600000009", "messageId": sandbox_id},
        {"phoneNumber": "+33619922264", "messageId": sandbox_id},
        {"phoneNumber": "+33699999993", "messageId": sandbox_id},
    ]
    items = status(client, customer.key, pairs).json()["StatutResponse_List"]
    assert [(i["phoneNumber"], i["code"]) for i in items] == [
        ("+33699999993", 200), ("+33600000009", 4), ("+33619922264", 200), ("+33699999993", 200),
    ]  # fmt: skip


def test_another_accounts_message_answers_not_found(
    client: httpx.Client, admin: Admin, customer: Customer, sandbox_id: int
) -> None:
    other = admin.account("rival")
    pairs = [{"phoneNumber": "+33619922264", "messageId": sandbox_id}]
    item = status(client, admin.key(other), pairs).json()["StatutResponse_List"][0]
    assert item == {
        "success": False,
        "code": 4,
        "phoneNumber": "+33619922264",
        "messageId": sandbox_id,
        "status": "Numéro introuvable",
    }


def test_five_hundred_pairs_are_answered(
    client: httpx.Client, customer: Customer, sandbox_id: int
) -> None:
    pairs = [{"phoneNumber": "+33619922264", "messageId": sandbox_id}] * 500
    items = status(client, customer.key, pairs).json()["StatutResponse_List"]
    assert len(items) == 500
    assert {i["status"] for i in items} == {"Delivered"}


# --- per-item errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pair", "code", "text"),
    [
        ({"messageId": 12}, 2, NO_PHONE),
        ({"phoneNumber": "", "messageId": 12}, 2, NO_PHONE),
        ({"phoneNumber": "   ", "messageId": 12}, 2, NO_PHONE),
        ({"phoneNumber": "0612345678"}, 3, NO_ID),
        ({"phoneNumber": "0612345678", "messageId": ""}, 3, NO_ID),
        ({"phoneNumber": "0612345678", "messageId": "12a"}, 3, NO_ID),
        ({"phoneNumber": "0612345678", "messageId": 1.5}, 3, NO_ID),
        ({"phoneNumber": "0612345678", "messageId": True}, 3, NO_ID),
        ({"phoneNumber": "0612345678", "messageId": [1]}, 3, NO_ID),
        ({"phoneNumber": "0612345678", "messageId": "9" * 25}, 3, NO_ID),
        ({"phoneNumber": "0612345678", "messageId": 99999}, 4, NOT_FOUND),
        ({"phoneNumber": "0612345678", "messageId": -1}, 4, NOT_FOUND),
        ({"phoneNumber": "0612345678", "messageId": 2**70}, 4, NOT_FOUND),
        ({"phoneNumber": "hello", "messageId": 12}, 9, NOT_MOBILE),
        ({"phoneNumber": "0142685300", "messageId": 12}, 9, NOT_MOBILE),
        ({"phoneNumber": {"a": 1}, "messageId": 12}, 9, NOT_MOBILE),
        ({"phoneNumber": True, "messageId": 12}, 9, NOT_MOBILE),
    ],
)  # fmt: skip
def test_item_errors_carry_their_code_and_text(
    client: httpx.Client, customer: Customer, pair: dict[str, Any], code: int, text: str
) -> None:
    answer = status(client, customer.key, [pair])
    assert answer.status_code == 200
    body = answer.json()
    assert (body["success"], body["code"]) == (True, 200)
    item = body["StatutResponse_List"][0]
    assert list(item) == ["success", "code", "phoneNumber", "messageId", "status"]
    assert (item["success"], item["code"], item["status"]) == (False, code, text)


def test_item_error_echoes_an_unreadable_number_as_sent(
    client: httpx.Client, customer: Customer
) -> None:
    item = status(client, customer.key, [{"phoneNumber": "hello", "messageId": "7"}]).json()
    assert item["StatutResponse_List"][0]["phoneNumber"] == "hello"
    assert item["StatutResponse_List"][0]["messageId"] == 7


def test_item_errors_keep_the_json_types_of_the_contract(
    client: httpx.Client, customer: Customer
) -> None:
    pairs = [
        {"messageId": "199897"},
        {"phoneNumber": 612345678},
        {"phoneNumber": [1], "messageId": 1},
        {"phoneNumber": {"a": 1}, "messageId": "x"},
        {"phoneNumber": True, "messageId": [2]},
        {"phoneNumber": None, "messageId": None},
    ]
    items = status(client, customer.key, pairs).json()["StatutResponse_List"]
    for item in items:
        assert item["success"] is False
        assert item["phoneNumber"] is None or isinstance(item["phoneNumber"], str)
        assert item["messageId"] is None or type(item["messageId"]) is int
    assert items[0]["messageId"] == 199897
    assert items[1]["phoneNumber"] == "+33612345678"


def test_item_error_shows_a_readable_number_in_e164(
    client: httpx.Client, customer: Customer
) -> None:
    pairs = [{"phoneNumber": "0612345678", "messageId": "12a"}]
    item = status(client, customer.key, pairs).json()["StatutResponse_List"][0]
    assert (item["code"], item["phoneNumber"], item["messageId"]) == (3, "+33612345678", None)


def test_integral_float_message_id_is_read_as_an_integer(
    client: httpx.Client, customer: Customer, sandbox_id: int
) -> None:
    pairs = [{"phoneNumber": "+33619922264", "messageId": float(sandbox_id)}]
    item = status(client, customer.key, pairs).json()["StatutResponse_List"][0]
    assert (item["status"], item["messageId"]) == ("Delivered", sandbox_id)


def test_item_errors_keep_every_position_in_xml(client: httpx.Client, customer: Customer) -> None:
    answer = client.post(
        "/v1/multi-status?_format=xml",
        json={"apiKey": customer.key, "SMSStatut_List": [{"messageId": 5}]},
    )
    item = xml_entries(ET.fromstring(answer.content))[2][0]
    assert item == ["false", "2", "", "5", "Le numéro de téléphone est requis"]


# --- top-level errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code", "http"),
    [
        ({"SMSStatut_List": [{"phoneNumber": "0612345678", "messageId": 1}]}, 1, 401),
        ({"apiKey": "", "SMSStatut_List": []}, 1, 401),
        ({"apiKey": 12345}, 10, 401),
        ({"apiKey": "0123456789ab.notthesecret"}, 10, 401),
    ],
)
def test_key_errors(
    client: httpx.Client, server: object, body: dict[str, Any], code: int, http: int
) -> None:
    answer = client.post("/v1/multi-status", json=body)
    assert (answer.status_code, answer.json()["code"]) == (http, code)
    assert answer.json()["success"] is False


@pytest.mark.parametrize(
    ("pairs", "code"),
    [
        (None, 5),
        ([], 5),
        ("", 5),
        ("not a list", 6),
        ({"phoneNumber": "0612345678", "messageId": 1}, 6),
        ([1, 2], 6),
        (["0612345678"], 6),
        ([[1]], 6),
        (42, 6),
        ([{"phoneNumber": "0612345678", "messageId": 1}] * 501, 50),
    ],
)
def test_list_errors(client: httpx.Client, customer: Customer, pairs: object, code: int) -> None:
    body: dict[str, Any] = {"apiKey": customer.key}
    if pairs is not None:
        body["SMSStatut_List"] = pairs
    answer = client.post("/v1/multi-status", json=body)
    assert answer.status_code == 400
    assert answer.json() == {"success": False, "code": code, "message": answer.json()["message"]}


@pytest.mark.parametrize(
    "body",
    [b'{"apiKey": "x", ', b"[1, 2]", b"not json, not a form", b"\xff\xfe=1", b'{"a": 1} x'],
)
def test_unreadable_body_is_code_90(client: httpx.Client, server: object, body: bytes) -> None:
    answer = client.post("/v1/multi-status", content=body)
    assert answer.status_code == 400
    assert answer.json()["code"] == 90


def test_unreadable_body_answers_in_the_format_of_the_query(
    client: httpx.Client, server: object
) -> None:
    answer = client.post("/v1/multi-status?_format=xml", content=b'{"apiKey": ')
    assert xml_entries(ET.fromstring(answer.content))[:2] == ["false", "90"]


def test_multipart_body_is_code_90(client: httpx.Client, customer: Customer) -> None:
    answer = client.post(
        "/v1/multi-status",
        files={"SMSStatut_List[0][phoneNumber]": (None, "0612345678")},
        data={"apiKey": customer.key},
    )
    assert (answer.status_code, answer.json()["code"]) == (400, 90)


def test_null_format_means_json(client: httpx.Client, customer: Customer) -> None:
    answer = status(
        client, customer.key, [{"phoneNumber": "0612345678", "messageId": 1}], _format=None
    )
    assert answer.json()["code"] == 200


@pytest.mark.parametrize("fmt", ["yaml", "XMLX", "1"])
def test_unknown_format_is_code_6_in_json(
    client: httpx.Client, customer: Customer, fmt: str
) -> None:
    answer = client.post(f"/v1/multi-status?_format={fmt}", json={"apiKey": customer.key})
    assert answer.status_code == 400
    assert answer.json()["code"] == 6


def test_revoked_key_is_refused(client: httpx.Client, admin: Admin, customer: Customer) -> None:
    from smsrelay.service import accounts

    admin.run(accounts.revoke_api_key(admin.store, customer.key))
    answer = status(client, customer.key, [{"phoneNumber": "0612345678", "messageId": 1}])
    assert (answer.status_code, answer.json()["code"]) == (401, 10)


def test_ten_megabyte_body_is_refused_with_413_and_a_code(
    client: httpx.Client, customer: Customer
) -> None:
    body = b'{"apiKey": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    answer = client.post("/v1/multi-status", content=body)
    assert answer.status_code == 413
    assert answer.json()["code"] == 90
    assert answer.json()["success"] is False


def test_oversized_chunked_body_is_refused_while_streaming(
    client: httpx.Client, customer: Customer
) -> None:
    def chunks() -> Any:
        for _ in range(40):
            yield b"x" * 65536

    answer = client.post("/v1/multi-status", content=chunks())
    assert answer.status_code == 413
    assert answer.json()["code"] == 90


def test_english_account_reads_english_texts(
    client: httpx.Client, admin: Admin, sandbox_id: int
) -> None:
    account = admin.account("london", language="en")
    pairs = [{"phoneNumber": "0612345678", "messageId": sandbox_id}]
    item = status(client, admin.key(account), pairs).json()["StatutResponse_List"][0]
    assert item["status"] == "Number not found"


def test_unknown_endpoint_answers_a_coded_404(client: httpx.Client) -> None:
    answer = client.get("/v1/no-such-thing")
    assert answer.status_code == 404
    assert answer.json()["success"] is False
