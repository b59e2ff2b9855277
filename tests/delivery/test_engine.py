"""Dispatcher, simulator and matcher together, on a real database of each kind."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import msgspec
import pytest

from smsrelay.config import Settings, SimulatorSettings
from smsrelay.delivery.carriers.base import ReplySink, ReportSink
from smsrelay.delivery.carriers.simulator import OutcomeModel, SimulatorCarrier
from smsrelay.delivery.engine import DeliveryEngine
from smsrelay.delivery.matcher import ReceiptMatcher
from smsrelay.domain.records import (
    AwaitingReport,
    NewMessage,
    NewRecipient,
    Outbound,
    Reply,
    Submission,
)
from smsrelay.domain.status import FINAL_STATES, State
from smsrelay.store import open_store, sqlite_path
from smsrelay.store.base import Store

PHONES = [f"+3361234{n:04d}" for n in range(300)]


async def states(
    store: Store, account_id: int, message_id: int, phones: Sequence[str] = PHONES
) -> list[State]:
    found = await store.lookup_statuses(account_id, [(message_id, p) for p in phones])
    return [State(found[(message_id, p)][0]) for p in phones]


async def until_final(store: Store, account_id: int, message_id: int) -> list[State]:
    deadline = time.monotonic() + 10
    while True:
        current = await states(store, account_id, message_id)
        if all(s in FINAL_STATES for s in current) or time.monotonic() > deadline:
            return current
        await asyncio.sleep(0.05)


async def store_with_message(
    database: str | Path, phones: Sequence[str] = PHONES, busy_timeout: float = 10.0
) -> tuple[Store, int, int]:
    """A migrated store holding one accepted send to `phones`: (store, account, message).
    `database` is a URL, or the path of a SQLite file."""
    url = database if isinstance(database, str) else f"sqlite:///{database}"
    store = open_store(url, busy_timeout=busy_timeout)
    await store.migrate()
    account = await store.create_account("acme", "FR", "fr", 0, int(time.time()))
    recipients = [NewRecipient(p, None, "gsm7", 1) for p in phones]
    message = NewMessage(account.id, "Bonjour", None, None, False, len(phones), 0, recipients)
    return store, account.id, await store.create_message(message, time.time())


def scenario(database_url: str, restart_after: float | None) -> list[State]:
    # Every report lands within 0.3 s, well before the validity ends at 1 s: no race
    # between a late report and the expiry sweep can make two runs differ.
    settings = Settings(
        simulator=SimulatorSettings(time_scale=200.0, seed=5, max_delay=60.0), validity=1.0
    )

    async def run() -> list[State]:
        store, account_id, message_id = await store_with_message(database_url)
        engine = DeliveryEngine(store, settings)
        await engine.start()
        if restart_after is not None:
            await asyncio.sleep(restart_after)
            await engine.stop()
            engine = DeliveryEngine(store, settings)
            await engine.start()
        final = await until_final(store, account_id, message_id)
        await engine.stop()
        await store.close()
        return final

    return asyncio.run(run())


def test_every_recipient_reaches_a_final_state(database_url: str) -> None:
    final = scenario(database_url, restart_after=None)
    assert all(s in FINAL_STATES for s in final)
    assert {State.DELIVERED, State.UNDELIVERABLE} <= set(final)


def test_a_restart_in_the_middle_loses_nothing_and_changes_no_fate(
    new_database: Callable[[], str],
) -> None:
    # Each run on a new database: the same ids, so the same fates the seed gives them.
    straight = scenario(new_database(), restart_after=None)
    restarted = scenario(new_database(), restart_after=0.02)
    assert restarted == straight


class ForgetfulCarrier(SimulatorCarrier):
    """An operator connection that loses the answer to its first batch."""

    def __init__(self) -> None:
        super().__init__(SimulatorSettings(time_scale=1000.0, delivered=1.0, undelivered=0.0))
        self.batches = 0

    async def submit(self, batch: Sequence[Outbound]) -> list[Submission]:
        self.batches += 1
        answers = await super().submit(batch)
        return answers[:-1] if self.batches == 1 else answers


def test_recipients_of_a_failed_dispatch_are_sent_again(database_url: str) -> None:
    async def run() -> list[State]:
        store, account_id, message_id = await store_with_message(database_url)
        carrier = ForgetfulCarrier()
        engine = DeliveryEngine(store, Settings(), carrier)
        await engine.start()
        final = await until_final(store, account_id, message_id)
        await engine.stop()
        await store.close()
        assert carrier.batches >= 2
        return final

    assert set(asyncio.run(run())) == {State.DELIVERED}


def outbound(account_id: int, message_id: int, phone: str) -> Outbound:
    """The recipient as the dispatcher hands it over: what its operator id is made of."""
    return Outbound(account_id, message_id, phone, "Bonjour", None, "gsm7", 1)


async def stops_of(store: Store, account_id: int) -> set[str]:
    return {entry.phone for entry in await store.list_stops(account_id)}


async def until_stopped(store: Store, account_id: int, count: int) -> set[str]:
    deadline = time.monotonic() + 10
    while True:
        current = await stops_of(store, account_id)
        if len(current) >= count or time.monotonic() > deadline:
            return current
        await asyncio.sleep(0.05)


async def stop_flags(
    store: Store, account_id: int, message_id: int, phones: Sequence[str] = PHONES
) -> dict[str, int]:
    """Each recipient's `stopSms`, read by the statement `/v1/multi-status` runs."""
    found = await store.lookup_statuses(account_id, [(message_id, p) for p in phones])
    return {phone: row[2] for (_, phone), row in found.items()}


def test_the_stop_test_number_ends_on_the_stop_list_of_the_account_that_sent_it(
    database_url: str,
) -> None:
    phones = ["+33600000007", "+33600000001"]

    async def run() -> None:
        store, account_id, message_id = await store_with_message(database_url, phones)
        bystander = await store.create_account("other", "FR", "fr", 0, int(time.time()))
        engine = DeliveryEngine(store, Settings())
        await engine.start()
        assert await until_stopped(store, account_id, 1) == {"+33600000007"}
        await engine.stop()
        assert await stop_flags(store, account_id, message_id, phones) == {
            "+33600000007": 1,
            "+33600000001": 0,
        }
        assert await states(store, account_id, message_id, phones) == [State.DELIVERED] * 2
        assert await stops_of(store, bystander.id) == set()
        await store.close()

    asyncio.run(run())


def test_the_sms_answered_stop_are_those_the_seed_decides(database_url: str) -> None:
    settings = Settings(
        simulator=SimulatorSettings(time_scale=1000.0, seed=5, max_delay=60.0, stop_replies=0.2)
    )
    model = OutcomeModel(settings.simulator)

    async def run() -> None:
        store, account_id, message_id = await store_with_message(database_url)
        expected = {
            phone
            for phone in PHONES
            if model.fate(
                model.operator_ref(outbound(account_id, message_id, phone)), phone
            ).stop_after
            is not None
        }
        assert 20 < len(expected) < 100
        engine = DeliveryEngine(store, settings)
        await engine.start()
        assert await until_stopped(store, account_id, len(expected)) == expected
        await engine.stop()
        flags = await stop_flags(store, account_id, message_id)
        assert {phone for phone, flag in flags.items() if flag} == expected
        await store.close()

    asyncio.run(run())


class PoliteCarrier(SimulatorCarrier):
    """An operator whose recipients answer "Merci, bonne journée !" instead of STOP."""

    def __init__(self) -> None:
        super().__init__(
            SimulatorSettings(
                time_scale=1000.0, max_delay=60.0, delivered=1.0, undelivered=0.0, stop_replies=1.0
            )
        )
        self.replied = 0

    async def start(
        self, reports: ReportSink, replies: ReplySink, awaiting: Sequence[AwaitingReport]
    ) -> None:
        def thank(reply: Reply) -> None:
            self.replied += 1
            replies(msgspec.structs.replace(reply, text="Merci, bonne journée !"))

        await super().start(reports, thank, awaiting)


def test_replies_that_are_not_stops_change_nothing(database_url: str) -> None:
    async def run() -> None:
        store, account_id, message_id = await store_with_message(database_url)
        carrier = PoliteCarrier()
        engine = DeliveryEngine(store, Settings(), carrier)
        await engine.start()
        deadline = time.monotonic() + 10
        while carrier.replied < len(PHONES) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await engine.stop()
        assert carrier.replied == len(PHONES)
        assert await stops_of(store, account_id) == set()
        assert set((await stop_flags(store, account_id, message_id)).values()) == {0}
        await store.close()

    asyncio.run(run())


@pytest.mark.sqlite_only  # a store another connection holds locked, and its busy timeout
def test_stop_replies_stay_queued_while_the_store_is_locked(database_url: str) -> None:
    settings = Settings(
        simulator=SimulatorSettings(
            time_scale=1000.0, delivered=1.0, undelivered=0.0, stop_replies=0.0
        )
    )
    model = OutcomeModel(settings.simulator)
    phone = PHONES[0]

    async def run() -> None:
        path = sqlite_path(database_url)
        store, account_id, message_id = await store_with_message(database_url, busy_timeout=0.05)
        engine = DeliveryEngine(store, settings)
        await engine.start()
        await until_final(store, account_id, message_id)
        await engine.stop()
        ref = model.operator_ref(outbound(account_id, message_id, phone))
        matcher = ReceiptMatcher(store)
        matcher.receive_reply(Reply("simulator", phone, "STOP", time.time(), ref))

        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            await matcher.flush()
            await matcher.flush()
            assert await stops_of(store, account_id) == set()
        finally:
            holder.execute("ROLLBACK")
            holder.close()

        await matcher.flush()
        assert await stops_of(store, account_id) == {phone}
        assert (await stop_flags(store, account_id, message_id, [phone]))[phone] == 1
        await store.close()

    asyncio.run(run())
