"""Golden answers: every v1 endpoint's keys, order and JSON types (v1-api.md §4), in both forms.

Each endpoint is asked once in JSON, checked against its shape, then asked again with
`_format=xml`: the XML must carry exactly the JSON values, in the same order, strings in
CDATA and numbers or booleans bare (v1-api.md §2, "XML form").
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.api.helpers import send
from tests.conftest import Customer

# --- shapes: a key's spec is a type (exact: True is no int), a tuple of types, a pattern that
# the string must match, a dict (an object, keys in that order) or [spec] (a non-empty list).

NUMBER = (int, float)
DIGITS = re.compile(r"[0-9]+")
ZERO_ONE = re.compile(r"[01]")
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")
AMOUNT = re.compile(r"-?[0-9]+\.[0-9]{3}")


def assert_shape(value: Any, spec: Any, path: str = "$") -> None:
    if isinstance(spec, dict):
        assert isinstance(value, dict), f"{path} is {value!r}, not an object"
        assert list(value) == list(spec), f"{path} keys"
        for key, member in spec.items():
            assert_shape(value[key], member, f"{path}.{key}")
    elif isinstance(spec, list):
        assert isinstance(value, list), f"{path} is {value!r}, not a list"
        assert value, f"{path} is empty: nothing to check the items against"
        for index, item in enumerate(value):
            assert_shape(item, spec[0], f"{path}[{index}]")
    elif isinstance(spec, re.Pattern):
        assert isinstance(value, str), f"{path} is {value!r}, not a string"
        assert spec.fullmatch(value), f"{path} is {value!r}, not {spec.pattern}"
    else:
        types = spec if isinstance(spec, tuple) else (spec,)
        assert type(value) in types, f"{path} is {value!r}, not {spec}"


# --- the XML form, read back as a tree comparable to the JSON answer ---------------------

Leaf = tuple[str, str]  # ("cdata", text) for a string, ("bare", text) for a number or boolean
_LEAF = re.compile(r"<entry/>|<entry>(?:(<!\[CDATA\[)|([^<]*)</entry>)")


def entry_tree(value: Any) -> Any:
    """What the XML form must hold for a JSON value: keys dropped, containers as lists."""
    if isinstance(value, dict):
        return [entry_tree(member) for member in value.values()]
    if isinstance(value, list):
        return [entry_tree(member) for member in value]
    if value is None:
        return None
    if isinstance(value, str):
        return ("cdata", value)
    return ("bare", json.dumps(value))  # true/false, 200, 0.038: as the JSON body writes them


def xml_tree(answer: httpx.Response) -> list[Any]:
    """An XML answer as `entry_tree` writes it; a leaf's kind is read from the raw text."""
    assert answer.headers["content-type"].startswith("text/xml")
    assert answer.content.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    root = ET.fromstring(answer.content)
    assert root.tag == "result"
    leaves = _LEAF.finditer(answer.text)

    def read(element: ET.Element) -> Any:
        if len(element):
            return [read(child) for child in element]
        raw = next(leaves)
        if raw[0] == "<entry/>":
            return None
        if raw[1]:
            return ("cdata", element.text or "")
        text = raw[2].strip()
        return ("bare", text) if text else []  # `<entry></entry>` is an empty list

    return [read(child) for child in root]


# --- the calls ----------------------------------------------------------------------------


class Request(NamedTuple):
    method: str
    path: str
    params: dict[str, Any]


def call(client: httpx.Client, request: Request, fmt: str | None = None) -> httpx.Response:
    query = {"_format": fmt} if fmt else {}
    if request.method == "GET":
        return client.get(request.path, params=request.params | query)
    return client.post(request.path, params=query, json=request.params)


def in_three_days() -> dict[str, Any]:
    day = datetime.now(ZoneInfo("Europe/Paris")) + timedelta(days=3)
    return {"scheduledDeliveryDate": day.strftime("%d/%m/%Y"), "time": 10, "minute": 30}


def add_stop(client: httpx.Client, customer: Customer, number: str) -> int:
    answer = client.post("/v1/stop-sms/add", json={"apiKey": customer.key, "phoneNumber": number})
    assert answer.status_code == 200, answer.text
    return int(answer.json()["stopId"])


NUMBERS = ("+33612345601", "+33612345602")  # one per call, for endpoints that change state
Prepare = Callable[[httpx.Client, Customer, int], Request]


def _send(client: httpx.Client, customer: Customer, n: int) -> Request:
    return Request(
        "POST", "/v1/send", {"apiKey": customer.key, "phoneNumbers": "0612345678", "message": "Hi"}
    )


def _send_scheduled(client: httpx.Client, customer: Customer, n: int) -> Request:
    request = _send(client, customer, n)
    return request._replace(params=request.params | in_three_days())


def _bulk_send(client: httpx.Client, customer: Customer, n: int) -> Request:
    sms = [{"phoneNumber": "0612345678", "message": "Hi"}, {"phoneNumber": "0612345679"}]
    return Request("POST", "/v1/bulk-send", {"apiKey": customer.key, "SMSList": sms})


def _multi_status(client: httpx.Client, customer: Customer, n: int) -> Request:
    message_id = send(client, customer.key, "0612345678", sandbox=1)
    pair = {"phoneNumber": "0612345678", "messageId": message_id}
    return Request("POST", "/v1/multi-status", {"apiKey": customer.key, "SMSStatut_List": [pair]})


def _message_status(client: httpx.Client, customer: Customer, n: int) -> Request:
    message_id = send(client, customer.key, "0612345678", sandbox=1)
    params = {"apiKey": customer.key, "messageId": message_id, "phoneNumber": "0612345678"}
    return Request("GET", "/v1/message-status", params)


def _bulk_status(client: httpx.Client, customer: Customer, n: int) -> Request:
    message_id = send(client, customer.key, "0612345678,0612345679", sandbox=1)
    return Request("GET", "/v1/bulk-status", {"apiKey": customer.key, "messageId": message_id})


def _bulk_status_by_tag(client: httpx.Client, customer: Customer, n: int) -> Request:
    send(client, customer.key, "0612345678,0612345679", sandbox=1, tag="golden")
    return Request("GET", "/v1/bulk-status-by-tag", {"apiKey": customer.key, "tag": "golden"})


def _message_cancel(client: httpx.Client, customer: Customer, n: int) -> Request:
    message_id = send(client, customer.key, "0612345678", **in_three_days())
    return Request("GET", "/v1/message-cancel", {"apiKey": customer.key, "messageId": message_id})


def _me(client: httpx.Client, customer: Customer, n: int) -> Request:
    return Request("GET", "/v1/me", {"apiKey": customer.key})


def _stop_list(client: httpx.Client, customer: Customer, n: int) -> Request:
    add_stop(client, customer, NUMBERS[n])
    return Request("GET", "/v1/stop-sms/list", {"apiKey": customer.key})


def _stop_add(client: httpx.Client, customer: Customer, n: int) -> Request:
    return Request("POST", "/v1/stop-sms/add", {"apiKey": customer.key, "phoneNumber": NUMBERS[n]})


def _stop_delete(client: httpx.Client, customer: Customer, n: int) -> Request:
    stop_id = add_stop(client, customer, NUMBERS[n])
    return Request("GET", "/v1/stop-sms/delete", {"apiKey": customer.key, "id": stop_id})


def _lookup(client: httpx.Client, customer: Customer, n: int) -> Request:
    return Request("POST", "/v1/lookup", {"apiKey": customer.key, "phoneNumbers": "0612345678"})


SEND = {"success": bool, "code": int, "message_id": int, "nb_sms": int, "cost": NUMBER,
        "currency": str}  # fmt: skip
BULK_SEND = {
    "success": bool, "code": int, "message_id": int, "currency": str, "cost": NUMBER,
    "nbSMS": int,
    "SMSResponse_List": [
        {"success": bool, "code": int, "nbSms": int, "cost": NUMBER, "phoneNumber": str},
    ],
}  # fmt: skip
MULTI_STATUS = {
    "success": bool, "code": int,
    "StatutResponse_List": [{
        "success": bool, "code": int, "phoneNumber": E164, "messageId": int, "status": str,
        "date": DIGITS, "stopSms": ZERO_ONE, "isSpam": ZERO_ONE,
    }],
}  # fmt: skip
MESSAGE_STATUS = {
    "success": bool, "code": int, "number": E164, "messageId": DIGITS, "stopSms": bool,
    "date": DIGITS, "statut": str, "cost": NUMBER, "countryCode": str, "currency": str,
}  # fmt: skip
RECIPIENT = {"phoneNumber": E164, "status": str, "stopSMS": bool, "date": DIGITS}
BULK_STATUS = {"success": bool, "code": int, "message_id": DIGITS,
               "StatutResponse_List": [RECIPIENT]}  # fmt: skip
TAG_STATUS = {"success": bool, "code": int, "currentPage": int, "total": int,
              "StatutResponse_List": [RECIPIENT]}  # fmt: skip
ME = {
    "success": bool, "code": int, "user": {"username": str},
    "credits": {
        "creditSms": int, "creditSmsLowCost": int, "creditHlr": int, "toSend": int,
        "solde": AMOUNT, "currency": str, "balance": AMOUNT,
    },
}  # fmt: skip
STOP_LIST = {"success": bool, "code": int, "nbData": int,
             "data": [{"id": int, "phoneNumber": E164, "createdAt": DATETIME}]}  # fmt: skip
LOOKUP = {
    "success": bool, "code": int,
    "lookup": [{
        "request": str, "success": bool, "countryCode": str, "prefixCode": int,
        "phoneNumber": E164, "type": str, "network": str,
        "format": {"e164": E164, "international": str, "national": str, "rfc3966": str},
    }],
}  # fmt: skip


class Golden(NamedTuple):
    prepare: Prepare
    shape: dict[str, Any]
    fresh: str | None = None  # the key naming what the call created, new at each call
    changes_state: bool = False  # the XML call needs its own preparation


GOLDEN = {
    "send": Golden(_send, SEND, "message_id", True),
    "send-scheduled": Golden(
        _send_scheduled, SEND | {"scheduledDeliveryDate": DATETIME}, "message_id", True
    ),
    "bulk-send": Golden(_bulk_send, BULK_SEND, "message_id", True),
    "multi-status": Golden(_multi_status, MULTI_STATUS),
    "message-status": Golden(_message_status, MESSAGE_STATUS),
    "bulk-status": Golden(_bulk_status, BULK_STATUS),
    "bulk-status-by-tag": Golden(_bulk_status_by_tag, TAG_STATUS),
    "message-cancel": Golden(
        _message_cancel, {"success": bool, "code": int, "message": str}, changes_state=True
    ),
    "me": Golden(_me, ME),
    "stop-sms/list": Golden(_stop_list, STOP_LIST),
    "stop-sms/add": Golden(
        _stop_add, {"success": bool, "code": int, "stopId": int}, "stopId", True
    ),
    "stop-sms/delete": Golden(_stop_delete, {"success": bool, "code": int}, changes_state=True),
    "lookup": Golden(_lookup, LOOKUP),
}
ENDPOINTS = [pytest.param(golden, id=name) for name, golden in GOLDEN.items()]


@pytest.mark.parametrize("golden", ENDPOINTS)
def test_json_answer_has_the_contract_keys_in_order_with_their_types(
    client: httpx.Client, customer: Customer, golden: Golden
) -> None:
    answer = call(client, golden.prepare(client, customer, 0))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["success"], body["code"]) == (True, 200)
    assert_shape(body, golden.shape)


@pytest.mark.parametrize("golden", ENDPOINTS)
def test_xml_answer_holds_the_json_values_in_order(
    client: httpx.Client, customer: Customer, golden: Golden
) -> None:
    request = golden.prepare(client, customer, 0)
    body = call(client, request).json()
    if golden.changes_state:
        request = golden.prepare(client, customer, 1)
    answer = call(client, request, "xml")
    assert answer.status_code == 200, answer.text
    entries = xml_tree(answer)
    if golden.fresh:
        kind, text = entries[list(body).index(golden.fresh)]
        assert kind == "bare"
        assert text.isdigit()
        assert int(text) != body[golden.fresh]
        body = body | {golden.fresh: int(text)}
    assert entries == entry_tree(body)


def test_me_balance_repeats_solde(client: httpx.Client, customer: Customer) -> None:
    send(client, customer.key, "0612345678")
    credits = call(client, _me(client, customer, 0)).json()["credits"]
    assert credits["balance"] == credits["solde"] == "999.962"


# --- error answers -------------------------------------------------------------------------


class Failing(NamedTuple):
    request: Callable[[Customer], Request]
    code: int
    http: int


ERRORS = {
    "send": Failing(lambda c: Request("POST", "/v1/send", {"apiKey": c.key, "message": "Hi"}),
                    2, 400),
    "bulk-send": Failing(lambda c: Request("POST", "/v1/bulk-send", {"apiKey": c.key}), 5, 400),
    "multi-status": Failing(lambda c: Request("POST", "/v1/multi-status", {"apiKey": c.key}),
                            5, 400),
    "message-status": Failing(
        lambda c: Request("GET", "/v1/message-status", {"apiKey": c.key, "phoneNumber": "06"}),
        3, 400,
    ),
    "bulk-status": Failing(
        lambda c: Request("GET", "/v1/bulk-status", {"apiKey": c.key, "messageId": 99999}),
        4, 400,
    ),
    "bulk-status-by-tag": Failing(
        lambda c: Request("GET", "/v1/bulk-status-by-tag", {"apiKey": c.key, "tag": "none"}),
        4, 400,
    ),
    "message-cancel": Failing(lambda c: Request("GET", "/v1/message-cancel", {"apiKey": c.key}),
                              3, 400),
    "me": Failing(lambda c: Request("GET", "/v1/me", {"apiKey": c.key + "x"}), 10, 401),
    "stop-sms/list": Failing(lambda c: Request("GET", "/v1/stop-sms/list", {}), 1, 401),
    "stop-sms/add": Failing(
        lambda c: Request("POST", "/v1/stop-sms/add", {"apiKey": c.key, "phoneNumber": "hello"}),
        9, 400,
    ),
    "stop-sms/delete": Failing(lambda c: Request("GET", "/v1/stop-sms/delete", {"apiKey": c.key}),
                               3, 400),
    "lookup": Failing(lambda c: Request("POST", "/v1/lookup", {"apiKey": c.key}), 2, 400),
}  # fmt: skip


@pytest.mark.parametrize("failing", [pytest.param(f, id=name) for name, f in ERRORS.items()])
def test_error_answer_is_success_code_message_in_json_and_xml(
    client: httpx.Client, customer: Customer, failing: Failing
) -> None:
    request = failing.request(customer)
    answer = call(client, request)
    assert answer.status_code == failing.http
    body = answer.json()
    assert_shape(body, {"success": bool, "code": int, "message": str})
    assert (body["success"], body["code"]) == (False, failing.code)
    xml = call(client, request, "xml")
    assert xml.status_code == failing.http
    assert xml_tree(xml) == entry_tree(body)


def test_field_error_answer_lists_its_fields_in_json_and_xml(
    client: httpx.Client, customer: Customer
) -> None:
    send(client, customer.key, "0612345678", sandbox=1, tag="golden")
    request = Request(
        "GET", "/v1/bulk-status-by-tag", {"apiKey": customer.key, "tag": "golden", "page": "0"}
    )
    body = call(client, request).json()
    assert_shape(
        body, {"success": bool, "code": int, "error": [{"elementId": str, "message": str}]}
    )
    assert (body["success"], body["code"]) == (False, 9)
    assert xml_tree(call(client, request, "xml")) == entry_tree(body)
