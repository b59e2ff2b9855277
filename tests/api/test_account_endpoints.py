"""`/v1/me` and the opt-out (STOP) list (v1-api.md §4), and what the list does to sends."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.conftest import Admin, Customer

PARIS = ZoneInfo("Europe/Paris")
LISTED = "+33612345678"
OTHER = "+33612345679"


def post(client: httpx.Client, path: str, key: str, **params: Any) -> httpx.Response:
    return client.post(path, json={"apiKey": key, **params})


def get(client: httpx.Client, path: str, key: str, **params: Any) -> httpx.Response:
    return client.get(path, params={"apiKey": key, **params})


def send(client: httpx.Client, key: str, numbers: str, **extra: Any) -> dict[str, Any]:
    params = {"phoneNumbers": numbers, "message": "Bonjour"} | extra
    answer = post(client, "/v1/send", key, **params)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def credits(client: httpx.Client, key: str) -> dict[str, Any]:
    answer = get(client, "/v1/me", key)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()["credits"]
    return found


def thousandths(solde: str) -> int:
    return round(float(solde) * 1000)


def in_days(days: int) -> dict[str, Any]:
    day = datetime.now(PARIS) + timedelta(days=days)
    return {"scheduledDeliveryDate": day.strftime("%d/%m/%Y"), "time": 10, "minute": 30}


def add_stop(client: httpx.Client, key: str, number: str) -> httpx.Response:
    return post(client, "/v1/stop-sms/add", key, phoneNumber=number)


def stop_list(client: httpx.Client, key: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = get(client, "/v1/stop-sms/list", key).json()["data"]
    return data


# --- /v1/me -------------------------------------------------------------------------------


def test_me_names_the_account(client: httpx.Client, customer: Customer) -> None:
    assert get(client, "/v1/me", customer.key).json()["user"] == {"username": "acme"}


def test_me_shows_the_balance_with_three_decimals(client: httpx.Client, admin: Admin) -> None:
    account = admin.account("tiny", credits=12.5)
    found = credits(client, admin.key(account))
    assert (found["solde"], found["balance"], found["currency"]) == ("12.500", "12.500", "EUR")


def test_me_balance_goes_down_by_the_cost_of_a_send(
    client: httpx.Client, customer: Customer
) -> None:
    before = thousandths(credits(client, customer.key)["solde"])
    cost = send(client, customer.key, f"{LISTED},{OTHER}", message="a" * 161)["cost"]
    after = thousandths(credits(client, customer.key)["solde"])
    assert cost == 0.152
    assert before - after == 152


def test_me_balance_is_untouched_by_a_sandbox_send(
    client: httpx.Client, customer: Customer
) -> None:
    send(client, customer.key, f"{LISTED},{OTHER}", sandbox=1)
    assert credits(client, customer.key)["solde"] == "1000.000"


def test_me_counts_the_sms_the_balance_buys_at_home_prices(
    client: httpx.Client, customer: Customer
) -> None:
    send(client, customer.key, LISTED)
    found = credits(client, customer.key)
    balance = thousandths(found["solde"])
    assert balance == 999_962
    assert found["creditSms"] == 26_314  # 999.962 EUR at 0.038 a part, rounded down
    assert found["creditSmsLowCost"] == 33_332  # ... and at 0.030
    assert found["creditHlr"] == 0


def test_me_sells_nothing_without_credit(client: httpx.Client, admin: Admin) -> None:
    found = credits(client, admin.key(admin.account("broke", credits=0)))
    assert (found["solde"], found["creditSms"], found["creditSmsLowCost"]) == ("0.000", 0, 0)


def test_me_to_send_counts_the_parts_of_a_scheduled_send(
    client: httpx.Client, customer: Customer
) -> None:
    answer = send(client, customer.key, f"{LISTED},{OTHER}", message="a" * 161, **in_days(3))
    assert answer["nb_sms"] == 4
    assert credits(client, customer.key)["toSend"] == 4


def test_me_to_send_leaves_out_sends_already_gone(client: httpx.Client, customer: Customer) -> None:
    send(client, customer.key, LISTED)
    assert credits(client, customer.key)["toSend"] == 0


def test_me_to_send_leaves_out_a_sandbox_send(client: httpx.Client, customer: Customer) -> None:
    send(client, customer.key, LISTED, sandbox=1, **in_days(3))
    assert credits(client, customer.key)["toSend"] == 0


def test_cancelling_a_scheduled_send_refunds_it_and_empties_to_send(
    client: httpx.Client, customer: Customer
) -> None:
    message_id = send(client, customer.key, LISTED, **in_days(3))["message_id"]
    answer = get(client, "/v1/message-cancel", customer.key, messageId=message_id)
    assert answer.json()["message"] == "L'envoi du SMS a été annulé."
    found = credits(client, customer.key)
    assert (found["solde"], found["toSend"]) == ("1000.000", 0)


# --- the STOP list ------------------------------------------------------------------------


def test_stop_add_returns_the_new_entrys_id(client: httpx.Client, customer: Customer) -> None:
    answer = add_stop(client, customer.key, LISTED)
    assert answer.status_code == 200
    body = answer.json()
    assert (body["success"], body["code"]) == (True, 200)
    assert [entry["id"] for entry in stop_list(client, customer.key)] == [body["stopId"]]


def test_stop_list_shows_the_number_in_e164_with_its_creation_time(
    client: httpx.Client, customer: Customer
) -> None:
    add_stop(client, customer.key, "06 12 34 56 78")
    body = get(client, "/v1/stop-sms/list", customer.key).json()
    assert body["nbData"] == 1
    (entry,) = body["data"]
    assert entry["phoneNumber"] == LISTED
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", entry["createdAt"])
    created = datetime.strptime(entry["createdAt"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=PARIS)
    assert abs((datetime.now(PARIS) - created).total_seconds()) < 60


def test_stop_list_is_empty_at_first(client: httpx.Client, customer: Customer) -> None:
    body = get(client, "/v1/stop-sms/list", customer.key).json()
    assert body == {"success": True, "code": 200, "nbData": 0, "data": []}


def test_stop_list_shows_only_the_accounts_own_numbers(
    client: httpx.Client, admin: Admin, customer: Customer
) -> None:
    add_stop(client, customer.key, LISTED)
    assert stop_list(client, admin.key(admin.account("rival"))) == []


@pytest.mark.parametrize("again", [LISTED, "0612345678", "0033612345678"])
def test_stop_add_twice_answers_3(client: httpx.Client, customer: Customer, again: str) -> None:
    add_stop(client, customer.key, LISTED)
    answer = add_stop(client, customer.key, again)
    assert (answer.status_code, answer.json()["code"]) == (400, 3)
    assert len(stop_list(client, customer.key)) == 1


@pytest.mark.parametrize("number", ["hello", "123", "+33 6"])
def test_stop_add_of_not_a_phone_number_answers_9(
    client: httpx.Client, customer: Customer, number: str
) -> None:
    answer = add_stop(client, customer.key, number)
    assert (answer.status_code, answer.json()["code"]) == (400, 9)


@pytest.mark.parametrize("params", [{}, {"phoneNumber": ""}, {"phoneNumber": "  "}])
def test_stop_add_without_number_answers_2(
    client: httpx.Client, customer: Customer, params: dict[str, str]
) -> None:
    answer = post(client, "/v1/stop-sms/add", customer.key, **params)
    assert (answer.status_code, answer.json()["code"]) == (400, 2)


@pytest.mark.parametrize("params", [{}, {"id": ""}])
def test_stop_delete_without_id_answers_3(
    client: httpx.Client, customer: Customer, params: dict[str, str]
) -> None:
    answer = get(client, "/v1/stop-sms/delete", customer.key, **params)
    assert (answer.status_code, answer.json()["code"]) == (400, 3)


def test_stop_delete_of_an_unknown_id_answers_4(client: httpx.Client, customer: Customer) -> None:
    stop_id = add_stop(client, customer.key, LISTED).json()["stopId"]
    answer = get(client, "/v1/stop-sms/delete", customer.key, id=stop_id + 1)
    assert (answer.status_code, answer.json()["code"]) == (400, 4)


def test_stop_delete_of_another_accounts_id_answers_4_and_keeps_it(
    client: httpx.Client, admin: Admin, customer: Customer
) -> None:
    stop_id = add_stop(client, customer.key, LISTED).json()["stopId"]
    answer = get(client, "/v1/stop-sms/delete", admin.key(admin.account("rival")), id=stop_id)
    assert (answer.status_code, answer.json()["code"]) == (400, 4)
    assert [entry["id"] for entry in stop_list(client, customer.key)] == [stop_id]


def test_stop_delete_removes_the_entry(client: httpx.Client, customer: Customer) -> None:
    stop_id = add_stop(client, customer.key, LISTED).json()["stopId"]
    answer = get(client, "/v1/stop-sms/delete", customer.key, id=stop_id)
    assert answer.json() == {"success": True, "code": 200}
    assert stop_list(client, customer.key) == []


def test_stop_delete_twice_answers_4(client: httpx.Client, customer: Customer) -> None:
    stop_id = add_stop(client, customer.key, LISTED).json()["stopId"]
    get(client, "/v1/stop-sms/delete", customer.key, id=stop_id)
    answer = get(client, "/v1/stop-sms/delete", customer.key, id=stop_id)
    assert (answer.status_code, answer.json()["code"]) == (400, 4)


def test_a_deleted_number_can_be_sent_to_again(client: httpx.Client, customer: Customer) -> None:
    stop_id = add_stop(client, customer.key, LISTED).json()["stopId"]
    get(client, "/v1/stop-sms/delete", customer.key, id=stop_id)
    assert send(client, customer.key, LISTED)["nb_sms"] == 1


# --- sends to listed numbers --------------------------------------------------------------


def test_send_to_listed_numbers_only_answers_14_and_charges_nothing(
    client: httpx.Client, customer: Customer
) -> None:
    add_stop(client, customer.key, LISTED)
    answer = post(client, "/v1/send", customer.key, phoneNumbers="0612345678", message="Hi")
    assert (answer.status_code, answer.json()["code"]) == (400, 14)
    assert credits(client, customer.key)["solde"] == "1000.000"


def test_send_to_a_mix_sends_the_others_and_charges_only_them(
    client: httpx.Client, customer: Customer
) -> None:
    add_stop(client, customer.key, LISTED)
    answer = send(client, customer.key, f"{LISTED},{OTHER}")
    assert (answer["nb_sms"], answer["cost"]) == (1, 0.038)
    assert credits(client, customer.key)["solde"] == "999.962"
    recipients = get(client, "/v1/bulk-status", customer.key, messageId=answer["message_id"])
    assert [i["phoneNumber"] for i in recipients.json()["StatutResponse_List"]] == [OTHER]


def test_another_accounts_stop_list_does_not_block_a_send(
    client: httpx.Client, admin: Admin, customer: Customer
) -> None:
    add_stop(client, admin.key(admin.account("rival")), LISTED)
    assert send(client, customer.key, LISTED)["nb_sms"] == 1


def test_bulk_send_answers_14_for_the_listed_item_and_200_for_the_others(
    client: httpx.Client, customer: Customer
) -> None:
    add_stop(client, customer.key, LISTED)
    sms = [{"phoneNumber": "0612345678", "message": "Hi"}, {"phoneNumber": OTHER, "message": "Hi"}]
    body = post(client, "/v1/bulk-send", customer.key, SMSList=sms).json()
    items = [(i["success"], i["code"], i["nbSms"], i["cost"]) for i in body["SMSResponse_List"]]
    assert items == [(False, 14, 0, 0.0), (True, 200, 1, 0.038)]
    assert (body["nbSMS"], body["cost"]) == (1, 0.038)
    assert credits(client, customer.key)["solde"] == "999.962"


def test_bulk_send_to_listed_numbers_only_answers_14(
    client: httpx.Client, customer: Customer
) -> None:
    add_stop(client, customer.key, LISTED)
    sms = [{"phoneNumber": LISTED, "message": "Hi"}]
    answer = post(client, "/v1/bulk-send", customer.key, SMSList=sms)
    assert (answer.status_code, answer.json()["code"]) == (400, 14)
