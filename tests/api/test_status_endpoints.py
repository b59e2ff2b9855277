"""`message-status`, `bulk-status` and `bulk-status-by-tag` (v1-api.md §4), over HTTP."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.api.helpers import send
from tests.conftest import Admin, Customer

MAGIC_DELIVERED = "+33600000001"  # Delivered after 1 s (docs/simulator.md)
MAGIC_UNDELIVERED = "+33600000002"  # Not delivered after 1 s
MAGIC_SILENT = "+33600000003"  # never reported: Waiting
FRENCH = "+33612345678"
MOROCCAN = "+212612345678"


def bulk_send(client: httpx.Client, key: str, numbers: list[str], **extra: Any) -> int:
    sms = [{"phoneNumber": number, "message": "Bonjour"} for number in numbers]
    answer = client.post("/v1/bulk-send", json={"apiKey": key, "SMSList": sms, **extra})
    assert answer.status_code == 200, answer.text
    return int(answer.json()["message_id"])


def get(client: httpx.Client, path: str, **params: Any) -> httpx.Response:
    return client.get(path, params={k: v for k, v in params.items() if v is not None})


def message_status(client: httpx.Client, key: str, message_id: int, number: str) -> Any:
    answer = get(client, "/v1/message-status", apiKey=key, messageId=message_id, phoneNumber=number)
    assert answer.status_code == 200, answer.text
    return answer.json()


def wait_for_statut(
    client: httpx.Client, key: str, message_id: int, number: str, wanted: str
) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        body: dict[str, Any] = message_status(client, key, message_id, number)
        if body["statut"] == wanted or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def statuses_by_number(client: httpx.Client, key: str, message_id: int) -> dict[str, str]:
    answer = get(client, "/v1/bulk-status", apiKey=key, messageId=message_id)
    return {i["phoneNumber"]: i["status"] for i in answer.json()["StatutResponse_List"]}


def numbers(count: int, start: int = 0) -> list[str]:
    return [f"+336123{n:05d}" for n in range(start, start + count)]


# --- message-status -----------------------------------------------------------------------


def test_message_status_is_waiting_then_delivered(client: httpx.Client, customer: Customer) -> None:
    message_id = send(client, customer.key, MAGIC_DELIVERED)
    first = message_status(client, customer.key, message_id, MAGIC_DELIVERED)
    last = wait_for_statut(client, customer.key, message_id, MAGIC_DELIVERED, "Delivered")
    assert first["statut"] == "Waiting"
    assert last["statut"] == "Delivered"
    assert int(last["date"]) >= int(first["date"])


def test_message_status_becomes_not_delivered(client: httpx.Client, customer: Customer) -> None:
    message_id = send(client, customer.key, MAGIC_UNDELIVERED)
    body = wait_for_statut(client, customer.key, message_id, MAGIC_UNDELIVERED, "Not delivered")
    assert body["statut"] == "Not delivered"


def test_message_status_stays_waiting_without_a_report(
    client: httpx.Client, customer: Customer
) -> None:
    message_id = send(client, customer.key, f"{MAGIC_DELIVERED},{MAGIC_SILENT}")
    wait_for_statut(client, customer.key, message_id, MAGIC_DELIVERED, "Delivered")
    assert message_status(client, customer.key, message_id, MAGIC_SILENT)["statut"] == "Waiting"


def test_message_status_reads_a_national_number(client: httpx.Client, customer: Customer) -> None:
    message_id = send(client, customer.key, FRENCH, sandbox=1)
    body = message_status(client, customer.key, message_id, "06 12 34 56 78")
    assert (body["number"], body["statut"]) == (FRENCH, "Delivered")
    assert body["messageId"] == str(message_id)


def test_message_status_of_another_accounts_message_answers_like_a_missing_one(
    client: httpx.Client, admin: Admin, customer: Customer
) -> None:
    message_id = send(client, customer.key, FRENCH, sandbox=1)
    rival = admin.key(admin.account("rival"))
    theirs = get(client, "/v1/message-status", apiKey=rival, messageId=message_id,
                 phoneNumber=FRENCH)  # fmt: skip
    missing = get(client, "/v1/message-status", apiKey=rival, messageId=message_id + 1000,
                  phoneNumber=FRENCH)  # fmt: skip
    assert theirs.status_code == missing.status_code == 400
    assert theirs.json() == missing.json() == {
        "success": False, "code": 4, "message": "Numéro introuvable",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"apiKey": None}, 1),
        ({"apiKey": ""}, 1),
        ({"phoneNumber": None}, 2),
        ({"phoneNumber": " "}, 2),
        ({"messageId": None}, 3),
        ({"messageId": "abc"}, 3),
        ({"messageId": 0}, 4),
        ({"phoneNumber": "0699999999"}, 4),
        ({"phoneNumber": "hello"}, 4),
        ({"apiKey": "0123456789ab.wrong"}, 10),
    ],
    ids=["no-key", "empty-key", "no-number", "blank-number", "no-id", "unreadable-id",
         "id-zero", "other-number", "not-a-number", "wrong-key"],
)  # fmt: skip
def test_message_status_refusals_carry_their_code(
    client: httpx.Client, customer: Customer, change: dict[str, Any], code: int
) -> None:
    message_id = send(client, customer.key, FRENCH, sandbox=1)
    params = {"apiKey": customer.key, "messageId": message_id, "phoneNumber": FRENCH} | change
    answer = get(client, "/v1/message-status", **params)
    assert answer.status_code == (401 if code in (1, 10) else 400)
    assert (answer.json()["success"], answer.json()["code"]) == (False, code)


def test_message_status_cost_is_the_recipients_price_in_france(
    client: httpx.Client, customer: Customer
) -> None:
    message_id = send(client, customer.key, FRENCH)
    body = message_status(client, customer.key, message_id, FRENCH)
    assert (body["cost"], body["countryCode"], body["currency"]) == (0.038, "FR", "EUR")


def test_message_status_cost_counts_every_part(client: httpx.Client, customer: Customer) -> None:
    message_id = send(client, customer.key, FRENCH, message="a" * 161)
    assert message_status(client, customer.key, message_id, FRENCH)["cost"] == 0.076


def test_message_status_shows_a_moroccan_number_with_its_own_price(
    client: httpx.Client, customer: Customer
) -> None:
    message_id = send(client, customer.key, f"{FRENCH},{MOROCCAN}")
    body = message_status(client, customer.key, message_id, MOROCCAN)
    assert (body["number"], body["countryCode"], body["cost"]) == (MOROCCAN, "MA", 0.085)


# --- bulk-status --------------------------------------------------------------------------


def test_bulk_status_lists_every_recipient_of_a_send(
    client: httpx.Client, customer: Customer
) -> None:
    message_id = send(client, customer.key, "0612345678,0612345679,+212612345678", sandbox=1)
    body = get(client, "/v1/bulk-status", apiKey=customer.key, messageId=message_id).json()
    assert body["message_id"] == str(message_id)
    assert statuses_by_number(client, customer.key, message_id) == {
        "+33612345678": "Delivered", "+33612345679": "Delivered", MOROCCAN: "Delivered",
    }  # fmt: skip


def test_bulk_status_gives_each_recipient_its_own_status(
    client: httpx.Client, customer: Customer
) -> None:
    message_id = send(client, customer.key, f"{MAGIC_DELIVERED},{MAGIC_UNDELIVERED},{MAGIC_SILENT}")
    wanted = {
        MAGIC_DELIVERED: "Delivered", MAGIC_UNDELIVERED: "Not delivered", MAGIC_SILENT: "Waiting",
    }  # fmt: skip
    deadline = time.monotonic() + 10
    while (found := statuses_by_number(client, customer.key, message_id)) != wanted:
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert found == wanted


def test_bulk_status_lists_the_recipients_of_a_bulk_send(
    client: httpx.Client, customer: Customer
) -> None:
    message_id = bulk_send(client, customer.key, numbers(3), sandbox=1)
    assert sorted(statuses_by_number(client, customer.key, message_id)) == numbers(3)


def test_bulk_status_of_another_accounts_send_answers_like_a_missing_one(
    client: httpx.Client, admin: Admin, customer: Customer
) -> None:
    message_id = send(client, customer.key, FRENCH, sandbox=1)
    rival = admin.key(admin.account("rival"))
    theirs = get(client, "/v1/bulk-status", apiKey=rival, messageId=message_id)
    missing = get(client, "/v1/bulk-status", apiKey=rival, messageId=message_id + 1000)
    assert theirs.status_code == missing.status_code == 400
    assert theirs.json() == missing.json()
    assert theirs.json()["code"] == 4


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"apiKey": None}, 1),
        ({"messageId": None}, 3),
        ({"messageId": "abc"}, 3),
        ({"messageId": 99999999}, 4),
        ({"apiKey": "0123456789ab.wrong"}, 10),
    ],
    ids=["no-key", "no-id", "unreadable-id", "unknown-id", "wrong-key"],
)
def test_bulk_status_refusals_carry_their_code(
    client: httpx.Client, customer: Customer, change: dict[str, Any], code: int
) -> None:
    message_id = send(client, customer.key, FRENCH, sandbox=1)
    answer = get(client, "/v1/bulk-status", **{"apiKey": customer.key, "messageId": message_id}
                 | change)  # fmt: skip
    assert answer.status_code == (401 if code in (1, 10) else 400)
    assert (answer.json()["success"], answer.json()["code"]) == (False, code)


# --- bulk-status-by-tag -------------------------------------------------------------------


@pytest.fixture
def six_hundred_tagged(client: httpx.Client, customer: Customer) -> list[str]:
    """Two bulk sends of 300 recipients each, both tagged `promo`."""
    first, second = numbers(300), numbers(300, start=300)
    bulk_send(client, customer.key, first, sandbox=1, tag="promo")
    bulk_send(client, customer.key, second, sandbox=1, tag="promo")
    return first + second


@pytest.mark.parametrize(
    ("page", "current", "count"),
    [(None, 1, 500), ("1", 1, 500), ("2", 2, 100), ("3", 3, 0)],
    ids=["default-page", "page-1", "page-2", "page-3"],
)
def test_bulk_status_by_tag_pages_by_500(
    client: httpx.Client,
    customer: Customer,
    six_hundred_tagged: list[str],
    page: str | None,
    current: int,
    count: int,
) -> None:
    answer = get(client, "/v1/bulk-status-by-tag", apiKey=customer.key, tag="promo", page=page)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["currentPage"], body["total"]) == (current, 600)
    assert len(body["StatutResponse_List"]) == count


def test_bulk_status_by_tag_pages_cover_every_recipient_once(
    client: httpx.Client, customer: Customer, six_hundred_tagged: list[str]
) -> None:
    seen = [
        item["phoneNumber"]
        for page in ("1", "2")
        for item in get(client, "/v1/bulk-status-by-tag", apiKey=customer.key, tag="promo",
                        page=page).json()["StatutResponse_List"]
    ]  # fmt: skip
    assert sorted(seen) == sorted(six_hundred_tagged)


def test_bulk_status_by_tag_lists_only_that_tag(client: httpx.Client, customer: Customer) -> None:
    send(client, customer.key, "0612345678", sandbox=1, tag="spring")
    send(client, customer.key, "0612345679", sandbox=1, tag="autumn")
    send(client, customer.key, "0612345670", sandbox=1)
    body = get(client, "/v1/bulk-status-by-tag", apiKey=customer.key, tag="spring").json()
    assert body["total"] == 1
    assert [i["phoneNumber"] for i in body["StatutResponse_List"]] == ["+33612345678"]


def test_bulk_status_by_tag_without_tag_answers_9(client: httpx.Client, customer: Customer) -> None:
    answer = get(client, "/v1/bulk-status-by-tag", apiKey=customer.key)
    assert (answer.status_code, answer.json()["code"]) == (400, 9)


def test_bulk_status_by_tag_unknown_tag_answers_4(client: httpx.Client, customer: Customer) -> None:
    send(client, customer.key, "0612345678", sandbox=1, tag="spring")
    answer = get(client, "/v1/bulk-status-by-tag", apiKey=customer.key, tag="winter")
    assert (answer.status_code, answer.json()["code"]) == (400, 4)


def test_bulk_status_by_tag_of_another_account_answers_4(
    client: httpx.Client, admin: Admin, customer: Customer
) -> None:
    send(client, customer.key, "0612345678", sandbox=1, tag="spring")
    rival = admin.key(admin.account("rival"))
    answer = get(client, "/v1/bulk-status-by-tag", apiKey=rival, tag="spring")
    assert (answer.status_code, answer.json()["code"]) == (400, 4)


@pytest.mark.parametrize("page", ["0", "-1", "abc", "1.5", "9" * 12])
def test_bulk_status_by_tag_bad_page_answers_9(
    client: httpx.Client, customer: Customer, page: str
) -> None:
    send(client, customer.key, "0612345678", sandbox=1, tag="spring")
    answer = get(client, "/v1/bulk-status-by-tag", apiKey=customer.key, tag="spring", page=page)
    assert (answer.status_code, answer.json()["code"]) == (400, 9)
