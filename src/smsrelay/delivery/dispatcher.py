"""Hands due recipients to the carrier and records what the operator answered.

A recipient is claimed (state `queued`) in the same transaction that reads it, so two
loops never send it twice; claims left by a process that died are released at start-up
and sent again (at least once, never zero times).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from smsrelay.config import Settings
from smsrelay.delivery.carriers.base import Carrier, CarrierError
from smsrelay.store.base import Store, StoreError

log = logging.getLogger(__name__)

EXPIRY_SWEEP_INTERVAL = 1.0
RETRY_PAUSE = 1.0


class Dispatcher:
    def __init__(
        self, store: Store, carrier: Carrier, settings: Settings, batch: int | None = None
    ) -> None:
        self._store = store
        self._carrier = carrier
        self._batch = batch or settings.dispatch_batch
        self._interval = settings.dispatch_interval
        self._validity = settings.validity
        self._work = asyncio.Event()
        # Set when a failed dispatch may have left recipients claimed: they are given
        # back before anything else is claimed, or they would never be sent.
        self._claims_left = False

    def wake(self) -> None:
        """Called after a send is accepted, so it leaves without waiting for the next poll."""
        self._work.set()

    async def run(self) -> None:
        while True:
            if self._claims_left:
                try:
                    await self._store.release_claims(time.time())
                except StoreError as exc:
                    log.warning("releasing claims failed (%s); trying again", exc)
                    await asyncio.sleep(RETRY_PAUSE)
                    continue
                self._claims_left = False
            try:
                sent = await self.dispatch_once()
            except StoreError as exc:
                log.warning("dispatch failed (%s); its recipients will be sent again", exc)
                self._claims_left = True
                await asyncio.sleep(RETRY_PAUSE)
                continue
            except Exception:
                log.exception("dispatch failed; its recipients will be sent again")
                self._claims_left = True
                await asyncio.sleep(RETRY_PAUSE)
                continue
            if sent < self._batch:
                self._work.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._work.wait(), self._interval)

    async def dispatch_once(self) -> int:
        batch = await self._store.claim_due(time.time(), self._batch)
        if not batch:
            return 0
        answers = await self._carrier.submit(batch)
        if len(answers) != len(batch):
            raise CarrierError(f"{len(batch)} submitted, {len(answers)} answered")
        await self._store.record_submissions(answers, time.time(), self._validity)
        return len(batch)

    async def sweep_expired(self) -> None:
        """Recipients whose validity ended without a final report become Not delivered."""
        while True:
            now = time.time()
            try:
                expired = await self._store.expire_overdue(now)
                await self._store.forget_early_receipts(now - self._validity)
            except StoreError as exc:
                log.warning("expiry sweep failed (%s); trying again", exc)
            except Exception:
                log.exception("expiry sweep failed; trying again")
            else:
                if expired:
                    log.info("%d recipients expired without a final report", expired)
            await asyncio.sleep(EXPIRY_SWEEP_INTERVAL)
