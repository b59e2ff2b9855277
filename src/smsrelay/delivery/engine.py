"""Starts and stops the delivery side of the process: carrier, matcher, dispatcher."""

from __future__ import annotations

import asyncio
import contextlib
import time

from smsrelay.config import Settings
from smsrelay.delivery.carriers.base import Carrier
from smsrelay.delivery.carriers.simulator import SimulatorCarrier
from smsrelay.delivery.dispatcher import Dispatcher
from smsrelay.delivery.matcher import ReceiptMatcher
from smsrelay.store.base import Store


class DeliveryEngine:
    def __init__(self, store: Store, settings: Settings, carrier: Carrier | None = None) -> None:
        self.store = store
        self.carrier = carrier or SimulatorCarrier(settings.simulator)
        self.matcher = ReceiptMatcher(store)
        self.dispatcher = Dispatcher(store, self.carrier, settings)
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self.store.release_claims(time.time())
        awaiting = await self.store.awaiting_reports(self.carrier.name)
        await self.carrier.start(self.matcher.receive, self.matcher.receive_reply, awaiting)
        self._tasks = [
            asyncio.create_task(self.matcher.run(), name="receipt-matcher"),
            asyncio.create_task(self.dispatcher.run(), name="dispatcher"),
            asyncio.create_task(self.dispatcher.sweep_expired(), name="expiry-sweep"),
        ]

    async def stop(self) -> None:
        """Stop sending, then write down every report and reply already received."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.carrier.stop()
        with contextlib.suppress(Exception):
            await self.matcher.flush()
