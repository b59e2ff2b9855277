"""Starts and stops the delivery side of the process: carrier, matcher, dispatcher."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from smsrelay.config import Settings
from smsrelay.delivery.carriers.base import Carrier
from smsrelay.delivery.carriers.routing import Router, RoutingCarrier
from smsrelay.delivery.carriers.simulator import SimulatorCarrier
from smsrelay.delivery.carriers.smpp import SmppCarrier
from smsrelay.delivery.dispatcher import Dispatcher
from smsrelay.delivery.matcher import ReceiptMatcher
from smsrelay.delivery.supervision import start_long_lived
from smsrelay.domain.replies import DEFAULT_STOP_KEYWORDS
from smsrelay.store.base import DeliveryStore

log = logging.getLogger(__name__)

STOP_GRACE = 5.0


def configured_carrier(settings: Settings) -> Carrier:
    """The configured SMPP connectors behind a router; the simulator when there are none."""
    connectors = settings.connectors
    if not connectors:
        return SimulatorCarrier(settings.simulator)
    fallback = next((c.name for c in connectors if c.fallback), None)
    return RoutingCarrier(
        {c.name: SmppCarrier(c, settings.validity) for c in connectors},
        Router({c.name: c.prefixes for c in connectors}, fallback),
    )


class DeliveryEngine:
    def __init__(
        self, store: DeliveryStore, settings: Settings, carrier: Carrier | None = None
    ) -> None:
        self.store = store
        self.carrier = carrier or configured_carrier(settings)
        self._connectors = bool(settings.connectors)
        self.matcher = ReceiptMatcher(
            store, frozenset(settings.stop_keywords) or DEFAULT_STOP_KEYWORDS
        )
        self.dispatcher = Dispatcher(store, self.carrier, settings)
        self._dispatching: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self.store.release_claims(time.time())
        # The simulator rebuilds from this what it still owes; an SMSC re-sends unacknowledged
        # receipts by itself, so with connectors the (long) list is not read at all.
        awaiting = [] if self._connectors else await self.store.awaiting_reports(self.carrier.name)
        await self.carrier.start(self.matcher.receive, self.matcher.receive_reply, awaiting)
        self._dispatching = start_long_lived(self.dispatcher.run(), "dispatcher")
        self._tasks = [
            start_long_lived(self.matcher.run(), "receipt-matcher"),
            self._dispatching,
            start_long_lived(self.dispatcher.sweep_expired(), "expiry-sweep"),
        ]

    async def stop(self) -> None:
        """Stop sending, then write down every report and reply already received.

        The batches in flight are given `STOP_GRACE` seconds to be answered and recorded:
        recorded, they are not sent again after a restart.
        """
        self.dispatcher.stop()
        if self._dispatching is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._dispatching), STOP_GRACE)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.carrier.stop()
        try:
            await self.matcher.flush()
        except Exception:
            # Still unacknowledged, so the operator sends them again to the next engine.
            log.exception("reports received before the stop were not written")
