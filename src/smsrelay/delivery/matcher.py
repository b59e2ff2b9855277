"""Applies delivery reports to recipients, in batches, by the rules of domain.status.

Reports arrive one by one from the carrier; writing each in its own transaction would
cap the rate at a few thousand a second on SQLite. They are gathered for a few
milliseconds and applied in one transaction. A batch the store refuses (the database is
briefly locked by another process) stays queued and is tried again: a report is dropped
only when it is applied.
"""

from __future__ import annotations

import asyncio
import logging
import time

from smsrelay.store.base import Receipt, Store, StoreError

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.02
MAX_BATCH = 1000


class ReceiptMatcher:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._pending: list[Receipt] = []
        self._arrived = asyncio.Event()

    def receive(self, receipt: Receipt) -> None:
        """The carrier's sink: never blocks, never loses the report."""
        self._pending.append(receipt)
        self._arrived.set()

    async def run(self) -> None:
        while True:
            await self._arrived.wait()
            await asyncio.sleep(FLUSH_INTERVAL)
            try:
                await self.flush()
            except Exception:
                log.exception("applying reports failed; they stay queued")

    async def flush(self) -> None:
        while self._pending:
            batch = self._pending[:MAX_BATCH]
            try:
                await self._store.apply_receipts(batch, time.time())
            except StoreError as exc:
                log.warning("applying %d reports failed (%s); they stay queued", len(batch), exc)
                return
            del self._pending[: len(batch)]
        self._arrived.clear()
