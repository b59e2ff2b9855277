"""Applies delivery reports and STOP replies to recipients, in batches.

Reports arrive one by one from the carrier; writing each in its own transaction would
cap the rate at a few thousand a second on SQLite. They are gathered for a few
milliseconds and applied in one transaction, by the rules of domain.status. A batch the
store refuses (the database is briefly locked by another process) stays queued and is
tried again: a report is dropped only when it is applied.

Each sink returns a future that is done once the report is durably stored. A carrier
acknowledges a report to the operator (SMPP `deliver_sm_resp`) only then, so that an
operator re-sends whatever a crash interrupted.

Replies (messages recipients send back) go the same way and are all kept for the
customer whose SMS they answer. A STOP reply (`domain.replies.is_stop`, with the
configured keywords) also puts its number on that account's STOP list and marks the
recipient `stopSms`. A reply that answers no SMS we know of is kept without an account.
"""

from __future__ import annotations

import asyncio
import logging
import time

import msgspec

from smsrelay.domain.replies import DEFAULT_STOP_KEYWORDS, is_stop
from smsrelay.store.base import Receipt, Reply, Store, StoreError

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.02
MAX_BATCH = 1000


class ReceiptMatcher:
    def __init__(self, store: Store, stop_keywords: frozenset[str] = DEFAULT_STOP_KEYWORDS) -> None:
        self._store = store
        self._stop_keywords = stop_keywords
        self._pending: list[Receipt] = []
        self._pending_done: list[asyncio.Future[None]] = []
        self._replies: list[Reply] = []
        self._replies_done: list[asyncio.Future[None]] = []
        self._arrived = asyncio.Event()

    def receive(self, receipt: Receipt) -> asyncio.Future[None]:
        """The carrier's report sink: never blocks, never loses the report."""
        done = asyncio.get_running_loop().create_future()
        self._pending.append(receipt)
        self._pending_done.append(done)
        self._arrived.set()
        return done

    def receive_reply(self, reply: Reply) -> asyncio.Future[None]:
        """The carrier's reply sink: never blocks, never loses a reply."""
        done = asyncio.get_running_loop().create_future()
        stop = is_stop(reply.text, self._stop_keywords)
        self._replies.append(msgspec.structs.replace(reply, stop=stop))
        self._replies_done.append(done)
        self._arrived.set()
        return done

    async def run(self) -> None:
        while True:
            await self._arrived.wait()
            await asyncio.sleep(FLUSH_INTERVAL)
            try:
                await self.flush()
            except Exception:
                log.exception("applying reports and replies failed; they stay queued")

    async def flush(self) -> None:
        """Apply everything received, reports first; stop at the first refusal.

        What arrives while a batch is written is applied in the same flush: the wake-up
        is cleared only once both queues are empty, or it would wait for the next arrival.
        """
        while self._pending or self._replies:
            if not await self._apply_reports() or not await self._record_replies():
                return
        self._arrived.clear()

    async def _apply_reports(self) -> bool:
        while self._pending:
            batch = self._pending[:MAX_BATCH]
            try:
                await self._store.apply_receipts(batch, time.time())
            except StoreError as exc:
                log.warning("applying %d reports failed (%s); they stay queued", len(batch), exc)
                return False
            del self._pending[: len(batch)]
            _settle(self._pending_done, len(batch))
        return True

    async def _record_replies(self) -> bool:
        while self._replies:
            replies = self._replies[:MAX_BATCH]
            try:
                matched = await self._store.record_replies(replies, time.time())
            except StoreError as exc:
                log.warning("recording %d replies failed (%s); they stay queued", len(replies), exc)
                return False
            del self._replies[: len(replies)]
            _settle(self._replies_done, len(replies))
            if matched < len(replies):
                log.warning(
                    "%d replies answer no SMS we know of; kept without an account",
                    len(replies) - matched,
                )
        return True


def _settle(waiting: list[asyncio.Future[None]], count: int) -> None:
    """Tell the carrier that the first `count` of `waiting` are stored."""
    for done in waiting[:count]:
        if not done.done():
            done.set_result(None)
    del waiting[:count]
