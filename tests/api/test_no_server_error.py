"""Bad input gets a coded answer, never a 500: every field of every endpoint, every type."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Customer

WRONG_VALUES: list[Any] = [
    None, True, 0, -1, 2**64, 1.5, "", " ", "x", "\x00\ud7ff\uffff", "]]>", [], {}, [None],
    [[]], [{}], {"a": {"b": []}}, "9" * 5000,
]  # fmt: skip

VALID: dict[str, dict[str, Any]] = {
    "/v1/multi-status": {"SMSStatut_List": [{"phoneNumber": "0612345678", "messageId": 1}]},
    "/v1/send": {"phoneNumbers": "0612345678", "message": "Hi", "sender": "Acme", "tag": "t"},
    "/v1/bulk-send": {"SMSList": [{"phoneNumber": "0612345678", "message": "Hi"}]},
}
ITEM_FIELDS = {
    "/v1/multi-status": ("SMSStatut_List", ["phoneNumber", "messageId"]),
    "/v1/bulk-send": ("SMSList", ["phoneNumber", "message"]),
}


def cases() -> list[tuple[str, str, Any]]:
    found = []
    for path, params in VALID.items():
        for field in [*params, "apiKey", "_format", "sandbox"]:
            found.extend((path, field, value) for value in WRONG_VALUES)
        if path in ITEM_FIELDS:
            _, item_fields = ITEM_FIELDS[path]
            found.extend(
                (path, f"item.{field}", value) for field in item_fields for value in WRONG_VALUES
            )
    return found


def assert_coded(answer: httpx.Response) -> None:
    assert answer.status_code < 500, answer.text
    body = answer.json()
    assert isinstance(body["success"], bool)
    assert isinstance(body["code"], int)


def test_wrong_values_in_every_field_get_coded_answers(
    client: httpx.Client, customer: Customer
) -> None:
    for path, field, value in cases():
        params = {"apiKey": customer.key, **VALID[path]}
        if field.startswith("item."):
            list_name, _ = ITEM_FIELDS[path]
            params[list_name] = [{**params[list_name][0], field[5:]: value}]
        else:
            params[field] = value
        assert_coded(client.post(path, json=params))


@pytest.mark.parametrize("path", list(VALID))
@pytest.mark.parametrize(
    "body",
    [b"", b"{}", b"null", b"[]", b'"text"', b"{" * 10000, b"a=1&a[b]=2", b"a[" * 100 + b"=1"],
)
def test_odd_bodies_get_coded_answers(client: httpx.Client, path: str, body: bytes) -> None:
    assert_coded(client.post(path, content=body))
