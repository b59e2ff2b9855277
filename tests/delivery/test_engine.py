"""Dispatcher, simulator and matcher together, on a real SQLite file."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

from smsrelay.config import Settings, SimulatorSettings
from smsrelay.delivery.carriers.simulator import SimulatorCarrier
from smsrelay.delivery.engine import DeliveryEngine
from smsrelay.domain.status import FINAL_STATES, State
from smsrelay.store.base import NewMessage, NewRecipient, Outbound, Submission
from smsrelay.store.sqlite import SQLiteStore

PHONES = [f"+3361234{n:04d}" for n in range(300)]


async def states(store: SQLiteStore, account_id: int, message_id: int) -> list[State]:
    found = await store.lookup_statuses(account_id, [(message_id, p) for p in PHONES])
    return [State(found[(message_id, p)][0]) for p in PHONES]


async def until_final(store: SQLiteStore, account_id: int, message_id: int) -> list[State]:
    deadline = time.monotonic() + 10
    while True:
        current = await states(store, account_id, message_id)
        if all(s in FINAL_STATES for s in current) or time.monotonic() > deadline:
            return current
        await asyncio.sleep(0.05)


async def store_with_message(path: Path) -> tuple[SQLiteStore, int, int]:
    """A migrated store holding one accepted send to PHONES: (store, account, message)."""
    store = SQLiteStore.open(path)
    await store.migrate()
    account = await store.create_account("acme", "FR", "fr", 0, int(time.time()))
    recipients = [NewRecipient(p, None, "gsm7", 1) for p in PHONES]
    message = NewMessage(account.id, "Bonjour", None, None, False, 300, 0, recipients)
    return store, account.id, await store.create_message(message, time.time())


def scenario(tmp_path: Path, restart_after: float | None) -> list[State]:
    # Every report lands within 0.3 s, well before the validity ends at 1 s: no race
    # between a late report and the expiry sweep can make two runs differ.
    settings = Settings(
        simulator=SimulatorSettings(time_scale=200.0, seed=5, max_delay=60.0), validity=1.0
    )

    async def run() -> list[State]:
        store, account_id, message_id = await store_with_message(tmp_path / "engine.db")
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


def test_every_recipient_reaches_a_final_state(tmp_path: Path) -> None:
    final = scenario(tmp_path, restart_after=None)
    assert all(s in FINAL_STATES for s in final)
    assert {State.DELIVERED, State.UNDELIVERABLE} <= set(final)


def test_a_restart_in_the_middle_loses_nothing_and_changes_no_fate(tmp_path: Path) -> None:
    straight = scenario(tmp_path / "a", restart_after=None)
    restarted = scenario(tmp_path / "b", restart_after=0.02)
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


def test_recipients_of_a_failed_dispatch_are_sent_again(tmp_path: Path) -> None:
    async def run() -> list[State]:
        store, account_id, message_id = await store_with_message(tmp_path / "retry.db")
        carrier = ForgetfulCarrier()
        engine = DeliveryEngine(store, Settings(), carrier)
        await engine.start()
        final = await until_final(store, account_id, message_id)
        await engine.stop()
        await store.close()
        assert carrier.batches >= 2
        return final

    assert set(asyncio.run(run())) == {State.DELIVERED}
