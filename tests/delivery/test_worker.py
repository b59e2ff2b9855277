"""The delivery engine in its own process: statuses move, and it stops with the server."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import msgspec
import pytest

from smsrelay.config import Settings
from tests.conftest import Admin, Customer, Server, start_server


@pytest.fixture
def worker_server(settings: Settings, admin: Admin) -> Iterator[Server]:
    with start_server(msgspec.structs.replace(settings, delivery="process")) as running:
        yield running


def test_a_send_is_delivered_by_the_worker_process(
    worker_server: Server, customer: Customer
) -> None:
    with httpx.Client(base_url=worker_server.base_url, timeout=10) as client:
        sent = client.post(
            "/v1/send",
            json={"apiKey": customer.key, "phoneNumbers": "+33600000001", "message": "Hi"},
        ).json()
        pair = {"phoneNumber": "+33600000001", "messageId": sent["message_id"]}
        deadline = time.monotonic() + 15
        status = "Waiting"
        while status != "Delivered" and time.monotonic() < deadline:
            time.sleep(0.2)
            answer = client.post(
                "/v1/multi-status", json={"apiKey": customer.key, "SMSStatut_List": [pair]}
            ).json()
            status = answer["StatutResponse_List"][0]["status"]
    assert status == "Delivered"
