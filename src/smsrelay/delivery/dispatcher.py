"""Hands due recipients to the carrier and records what the operator answered.

A recipient is claimed (state `queued`) in the same transaction that reads it, so two
loops never send it twice; claims left by a process that died are released at start-up
and sent again (at least once, never zero times).

Two batches take turns: while the operator answers one, the other is recorded and the
next claimed. Done strictly one after the other, the worker's transactions, its CPU and
the operator's round trip added up (measured: the worker sat idle a quarter of its time,
waiting for answers). Each batch holds half of `batch`, so what a crash can leave
submitted and not recorded, and have sent again, is never more than `batch`: with SMPP,
the connectors' windows (`dispatch_budget`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Sequence

from smsrelay.config import Settings
from smsrelay.delivery.carriers.base import Carrier, CarrierError
from smsrelay.domain.records import Outbound, Submission
from smsrelay.store.base import DeliveryStore, StoreError

log = logging.getLogger(__name__)

EXPIRY_SWEEP_INTERVAL = 1.0
RETRY_PAUSE = 1.0


def dispatch_budget(settings: Settings) -> int:
    """Recipients claimed and not yet recorded, at most: with SMPP connectors, no more
    than their windows hold.

    A batch is recorded once every SMS in it is answered; a crash before that sends the
    whole batch again. Bounding the budget by the connectors' windows bounds the SMS an
    operator may receive twice after a crash by what could be in flight anyway.
    """
    if not settings.connectors:
        return settings.dispatch_batch
    return min(settings.dispatch_batch, sum(c.window for c in settings.connectors))


class Dispatcher:
    def __init__(self, store: DeliveryStore, carrier: Carrier, settings: Settings) -> None:
        self._store = store
        self._carrier = carrier
        budget = dispatch_budget(settings)
        # Batches submitted and not yet recorded, at most; a budget of one cannot be split.
        self._depth = 2 if budget >= 2 else 1
        self._batch = budget // self._depth
        self._interval = settings.dispatch_interval
        self._validity = settings.validity
        self._work = asyncio.Event()
        self._stopping = False
        # Set when a failed dispatch may have left recipients claimed: they are given
        # back before anything else is claimed, or they would never be sent.
        self._claims_left = False

    def wake(self) -> None:
        """Called after a send is accepted, so it leaves without waiting for the next poll."""
        self._work.set()

    def stop(self) -> None:
        """Claim nothing more; `run` returns once the batches in flight are recorded."""
        self._stopping = True
        self._work.set()

    async def run(self) -> None:
        while not self._stopping:
            if self._claims_left:
                try:
                    await self._store.release_claims(time.time())
                except StoreError as exc:
                    log.warning("releasing claims failed (%s); trying again", exc)
                    await asyncio.sleep(RETRY_PAUSE)
                    continue
                self._claims_left = False
            try:
                await self._dispatch()
            except StoreError as exc:
                log.warning("dispatch failed (%s); its recipients will be sent again", exc)
            except Exception:
                log.exception("dispatch failed; its recipients will be sent again")
            else:
                return
            self._claims_left = True
            await asyncio.sleep(RETRY_PAUSE)

    async def _dispatch(self) -> None:
        """Claim, submit and record until stopped; raises on the first failure.

        In steady flow each turn is one transaction: record the batch the operator has
        answered and claim the next. The batches still in flight when it raises are
        abandoned (cancelled): their recipients stay claimed, and `run` gives them back
        to be sent again.
        """
        in_flight: deque[asyncio.Task[list[Submission]]] = deque()
        claimed: list[Outbound] = []  # claimed, not yet submitted
        try:
            while True:
                if not claimed and not self._stopping and len(in_flight) < self._depth:
                    self._work.clear()
                    claimed = await self._store.claim_due(time.time(), self._batch)
                if claimed and len(in_flight) < self._depth:
                    full = len(claimed) == self._batch
                    in_flight.append(asyncio.create_task(self._submit(claimed)))
                    claimed = []
                    if full and len(in_flight) < self._depth:
                        continue  # more may be due: put the next batch in flight too
                if in_flight:
                    answers = await in_flight.popleft()
                    self._work.clear()
                    claimed = await self._store.record_submissions(
                        answers,
                        time.time(),
                        self._validity,
                        claim=0 if self._stopping else self._batch,
                    )
                elif self._stopping:
                    return
                else:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._work.wait(), self._interval)
        finally:
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)

    async def _submit(self, batch: Sequence[Outbound]) -> list[Submission]:
        answers = await self._carrier.submit(batch)
        if len(answers) != len(batch):
            raise CarrierError(f"{len(batch)} submitted, {len(answers)} answered")
        return answers

    async def sweep_expired(self) -> None:
        """Recipients whose validity ended without a final report become Not delivered."""
        while True:
            now = time.time()
            try:
                expired = await self._store.expire_overdue(now)
                await self._store.forget_unmatched_receipts(now - self._validity)
            except StoreError as exc:
                log.warning("expiry sweep failed (%s); trying again", exc)
            except Exception:
                log.exception("expiry sweep failed; trying again")
            else:
                if expired:
                    log.info("%d recipients expired without a final report", expired)
            await asyncio.sleep(EXPIRY_SWEEP_INTERVAL)
