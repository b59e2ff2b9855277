"""Another process holding the SQLite write lock must not freeze the server."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator

import httpx
import pytest

from smsrelay.store import sqlite_path
from tests.conftest import Customer, Server

# SQLite's write lock, taken by another process. PostgreSQL locks rows, not the database.
pytestmark = pytest.mark.sqlite_only


@pytest.fixture
def write_lock(server: Server, customer: Customer) -> Iterator[None]:
    holder = sqlite3.connect(sqlite_path(server.settings.database), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    yield
    holder.execute("ROLLBACK")
    holder.close()


def test_a_send_answers_try_again_quickly(
    client: httpx.Client, customer: Customer, write_lock: None
) -> None:
    started = time.monotonic()
    answer = client.post(
        "/v1/send", json={"apiKey": customer.key, "phoneNumbers": "0612345678", "message": "Hi"}
    )
    assert time.monotonic() - started < 2
    assert answer.status_code == 503
    assert answer.json() == {
        "success": False,
        "code": 500,
        "message": "Service momentanément indisponible, réessayez",
    }


def test_status_queries_still_answer(
    client: httpx.Client, customer: Customer, write_lock: None
) -> None:
    pairs = [{"phoneNumber": "0612345678", "messageId": 1}]
    started = time.monotonic()
    answer = client.post("/v1/multi-status", json={"apiKey": customer.key, "SMSStatut_List": pairs})
    assert time.monotonic() - started < 1
    assert answer.json()["StatutResponse_List"][0]["code"] == 4
