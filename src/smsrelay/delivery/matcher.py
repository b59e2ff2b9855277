"""Applies delivery reports and STOP replies to recipients, in batches.

Reports arrive one by one from the carrier; writing each in its own transaction would
cap the rate at a few thousand a second on SQLite. They are gathered for a few
milliseconds and applied in one transaction, by the rules of domain.status. A batch the
store refuses (the database is briefly locked by another process) stays queued and is
tried again: a report is dropped only when it is applied, or withdrawn (below).

Each sink returns a future (`Storing`) that is done once the report is durably stored,
and never fails. A carrier acknowledges a report to the operator (SMPP `deliver_sm_resp`)
only then, so that an operator re-sends whatever a crash interrupted. A carrier whose
operator will send a report again (an SMSC that unbinds, a lost connection) withdraws it
with `cancel`: it is then dropped if it is not being written, so that it is applied once,
from the operator's second copy, and not twice; a report being written is not withdrawn
(`cancel` answers False) until that write is refused, and is acknowledged if it succeeds.

Replies (messages recipients send back) go the same way and are all kept for the
customer whose SMS they answer. A STOP reply (`domain.replies.is_stop`, with the
configured keywords) also puts its number on that account's STOP list and marks the
recipient `stopSms`. A reply that answers no SMS we know of is kept without an account.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Generic, TypeVar

import msgspec

from smsrelay.domain.records import Receipt, Reply
from smsrelay.domain.replies import DEFAULT_STOP_KEYWORDS, is_stop
from smsrelay.store.base import DeliveryStore, StoreError

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.02
MAX_BATCH = 1000

T = TypeVar("T")


class Storing(asyncio.Future[None]):
    """Done once a report or reply is stored; cancelled once withdrawn, never applied.

    `cancel` withdraws it. Queued, it is dropped at once. In a batch being written it
    cannot be (the write may commit it): `cancel` answers False, and the write decides:
    stored, the future is done; refused, it is dropped then, and cancelled.
    """

    def __init__(self, *, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop=loop)
        self.writing = False  # in the batch being written
        self.withdrawn = False  # withdrawn while being written: dropped if the write fails

    def cancel(self, msg: object = None) -> bool:
        if self.writing:
            self.withdrawn = True
            return False
        return super().cancel(msg)


class _Queue(Generic[T]):
    """What waits to be stored, in arrival order, with the futures the carrier waits on."""

    def __init__(self) -> None:
        self._waiting: list[tuple[T, Storing]] = []

    def __bool__(self) -> bool:
        return bool(self._waiting)

    def put(self, item: T) -> Storing:
        done = Storing(loop=asyncio.get_running_loop())
        self._waiting.append((item, done))
        return done

    def batch(self) -> list[T]:
        """The next batch to write, without what was withdrawn; it is being written."""
        self._waiting = [entry for entry in self._waiting if not entry[1].cancelled()]
        batch = self._waiting[:MAX_BATCH]
        for _, done in batch:
            done.writing = True
        return [item for item, _ in batch]

    def stored(self, count: int) -> None:
        """The batch (the first `count`) is stored: tell the carrier."""
        for _, done in self._waiting[:count]:
            done.writing = False
            done.set_result(None)
        del self._waiting[:count]

    def refused(self, count: int) -> None:
        """The batch was refused: it stays queued, but for what was withdrawn meanwhile."""
        for _, done in self._waiting[:count]:
            done.writing = False
            if done.withdrawn:
                done.cancel()
        self._waiting = [entry for entry in self._waiting if not entry[1].cancelled()]


class ReceiptMatcher:
    def __init__(
        self, store: DeliveryStore, stop_keywords: frozenset[str] = DEFAULT_STOP_KEYWORDS
    ) -> None:
        self._store = store
        self._stop_keywords = stop_keywords
        self._pending: _Queue[Receipt] = _Queue()
        self._replies: _Queue[Reply] = _Queue()
        self._arrived = asyncio.Event()

    def receive(self, receipt: Receipt) -> Storing:
        """The carrier's report sink: never blocks, never loses the report."""
        done = self._pending.put(receipt)
        self._arrived.set()
        return done

    def receive_reply(self, reply: Reply) -> Storing:
        """The carrier's reply sink: never blocks, never loses a reply."""
        stop = is_stop(reply.text, self._stop_keywords)
        done = self._replies.put(msgspec.structs.replace(reply, stop=stop))
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
            batch = self._pending.batch()
            try:
                await self._store.apply_receipts(batch, time.time())
            except StoreError as exc:
                self._pending.refused(len(batch))
                log.warning("applying %d reports failed (%s); they stay queued", len(batch), exc)
                return False
            except BaseException:
                self._pending.refused(len(batch))
                raise
            self._pending.stored(len(batch))
        return True

    async def _record_replies(self) -> bool:
        while self._replies:
            replies = self._replies.batch()
            try:
                matched = await self._store.record_replies(replies, time.time())
            except StoreError as exc:
                self._replies.refused(len(replies))
                log.warning("recording %d replies failed (%s); they stay queued", len(replies), exc)
                return False
            except BaseException:
                self._replies.refused(len(replies))
                raise
            self._replies.stored(len(replies))
            if matched < len(replies):
                log.warning(
                    "%d replies answer no SMS we know of; kept without an account",
                    len(replies) - matched,
                )
        return True
