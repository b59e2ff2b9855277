"""The dispatcher's turns: two batches in flight, never more than its budget unrecorded."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence

from smsrelay.config import Settings, SimulatorSettings
from smsrelay.delivery.carriers.simulator import SimulatorCarrier
from smsrelay.delivery.engine import DeliveryEngine
from smsrelay.domain.records import Outbound, Submission
from smsrelay.domain.status import State
from tests.store import peek

from .test_engine import PHONES, store_with_message, until_final

BUDGET = 64  # what dispatch_budget gives a connector of window 64
SETTINGS = Settings(dispatch_batch=BUDGET)


class SlowOperator(SimulatorCarrier):
    """An operator that takes `delay` seconds to answer a batch, and is watched doing it.

    At every submission it counts, in the database, the recipients claimed and not yet
    recorded (state `queued`): a crash would send those again.
    """

    def __init__(self, database_url: str, delay: float) -> None:
        super().__init__(SimulatorSettings(time_scale=1000.0, delivered=1.0, undelivered=0.0))
        self.delay = delay
        self.submitted: Counter[str] = Counter()
        self.answering = 0
        self.most_answering = 0
        self.most_unrecorded = 0
        self.first_batch = asyncio.Event()
        self.database_url = database_url

    async def submit(self, batch: Sequence[Outbound]) -> list[Submission]:
        [(queued,)] = await peek.read(
            self.database_url, "SELECT count(*) FROM recipients WHERE state = 'queued'"
        )
        self.most_unrecorded = max(self.most_unrecorded, queued)
        self.submitted.update(out.phone for out in batch)
        self.answering += 1
        self.most_answering = max(self.most_answering, self.answering)
        self.first_batch.set()
        try:
            await asyncio.sleep(self.delay)
            return await super().submit(batch)
        finally:
            self.answering -= 1


async def run_with_operator(database_url: str, delay: float) -> SlowOperator:
    store, account_id, message_id = await store_with_message(database_url)
    carrier = SlowOperator(database_url, delay)
    engine = DeliveryEngine(store, SETTINGS, carrier)
    await engine.start()
    assert set(await until_final(store, account_id, message_id)) == {State.DELIVERED}
    await engine.stop()
    await store.close()
    return carrier


def test_a_second_batch_is_submitted_while_the_first_waits_for_its_answers(
    database_url: str,
) -> None:
    carrier = asyncio.run(run_with_operator(database_url, delay=0.05))
    assert carrier.most_answering == 2


def test_never_more_than_the_budget_is_claimed_and_unrecorded(database_url: str) -> None:
    carrier = asyncio.run(run_with_operator(database_url, delay=0.02))
    assert 0 < carrier.most_unrecorded <= BUDGET


def test_every_recipient_is_submitted_once(database_url: str) -> None:
    carrier = asyncio.run(run_with_operator(database_url, delay=0.01))
    assert carrier.submitted == Counter(PHONES)


def test_a_clean_stop_records_the_batches_in_flight(database_url: str) -> None:
    """What the operator took before a stop is recorded, and not sent again after it."""

    async def run() -> SlowOperator:
        store, account_id, message_id = await store_with_message(database_url)
        carrier = SlowOperator(database_url, delay=0.2)
        first = DeliveryEngine(store, SETTINGS, carrier)
        await first.start()
        await carrier.first_batch.wait()
        started = time.monotonic()
        await first.stop()
        assert time.monotonic() - started >= 0.1  # it waited for the answers
        queued = "SELECT count(*) FROM recipients WHERE state = 'queued'"
        assert await peek.read(database_url, queued) == [(0,)]
        second = DeliveryEngine(store, SETTINGS, carrier)
        await second.start()
        assert set(await until_final(store, account_id, message_id)) == {State.DELIVERED}
        await second.stop()
        await store.close()
        return carrier

    carrier = asyncio.run(run())
    assert carrier.submitted == Counter(PHONES)
