"""Credit under fire: many sends at once never take an account below zero."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import httpx

from smsrelay.domain.records import NewMessage, NewRecipient, NotEnoughCredit
from smsrelay.service import accounts
from smsrelay.store.sqlite import SQLiteStore
from tests.conftest import Admin, Customer, Server

PRICE = 38  # thousandths: one French SMS part
SENDS = 240
AFFORDABLE = 97


async def fire(base_url: str, key: str) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=SENDS)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as http:
        return await asyncio.gather(
            *(
                http.post(
                    "/v1/send",
                    json={"apiKey": key, "phoneNumbers": f"+3361234{n:04d}", "message": "Hi"},
                )
                for n in range(SENDS)
            )
        )


def test_parallel_sends_spend_exactly_the_credit_and_no_more(
    server: Server, admin: Admin, client: httpx.Client
) -> None:
    account = admin.account("thrifty", credits=AFFORDABLE * PRICE / 1000)
    thrifty = Customer(account, admin.key(account))
    answers = asyncio.run(fire(server.base_url, thrifty.key))
    codes = sorted(a.json()["code"] for a in answers)
    assert codes == [11] * (SENDS - AFFORDABLE) + [200] * AFFORDABLE
    me = client.get("/v1/me", params={"apiKey": thrifty.key}).json()
    assert me["credits"]["solde"] == "0.000"


def test_two_connections_never_overdraw_an_account(tmp_path: Path) -> None:
    """Two writers on one file (the server and an admin tool, say), racing for the credit."""
    path = tmp_path / "race.db"
    first = SQLiteStore.open(path)
    asyncio.run(first.migrate())
    account = asyncio.run(accounts.create_account(first, "acme", credits=AFFORDABLE * PRICE / 1000))
    accepted: list[int] = []

    def spend() -> None:
        store = SQLiteStore.open(path)
        message = NewMessage(
            account.id,
            "Hi",
            None,
            None,
            False,
            1,
            PRICE,
            [NewRecipient("+33612345678", None, "gsm7", 1, PRICE, "FR")],
        )
        for _ in range(SENDS // 2):
            try:
                asyncio.run(store.create_message(message, 0.0))
                accepted.append(1)
            except NotEnoughCredit:
                pass
        asyncio.run(store.close())

    threads = [threading.Thread(target=spend) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    found = asyncio.run(first.find_account("acme"))
    asyncio.run(first.close())
    assert found is not None
    assert (len(accepted), found.credits) == (AFFORDABLE, 0)
