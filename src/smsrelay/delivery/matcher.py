"""Applies delivery reports and STOP replies to recipients, in batches.

Reports arrive one by one from the carrier; writing each in its own transaction would
cap the rate at a few thousand a second on SQLite. They are gathered for a few
milliseconds and applied in one transaction, by the rules of domain.status. A batch the
store refuses (the database is briefly locked by another process) stays queued and is
tried again: a report is dropped only when it is applied.

Each sink returns a future that is done once the report is durably stored. A carrier
acknowledges a report to the operator (SMPP `deliver_sm_resp`) only then, so that an
operator re-sends whatever a crash interrupted.

Replies (messages recipients send back) go the same way. Only STOP replies are kept
(`domain.replies.is_stop` with the default keywords): each puts its number on the STOP
list of the account whose SMS it answers and marks that recipient `stopSms`. Any other
reply is logged at debug level and dropped for now: storing replies for the customer to
read is a later issue. A STOP reply that answers no SMS we know of is logged and dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time

from smsrelay.domain.replies import DEFAULT_STOP_KEYWORDS, is_stop
from smsrelay.store.base import Receipt, Reply, Store, StoreError

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.02
MAX_BATCH = 1000


class ReceiptMatcher:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._pending: list[Receipt] = []
        self._pending_done: list[asyncio.Future[None]] = []
        self._stops: list[Reply] = []
        self._stops_done: list[asyncio.Future[None]] = []
        self._arrived = asyncio.Event()

    def receive(self, receipt: Receipt) -> asyncio.Future[None]:
        """The carrier's report sink: never blocks, never loses the report."""
        done = asyncio.get_running_loop().create_future()
        self._pending.append(receipt)
        self._pending_done.append(done)
        self._arrived.set()
        return done

    def receive_reply(self, reply: Reply) -> asyncio.Future[None]:
        """The carrier's reply sink: never blocks, never loses a STOP."""
        done = asyncio.get_running_loop().create_future()
        if not is_stop(reply.text, DEFAULT_STOP_KEYWORDS):
            log.debug(
                "reply to %s %s is not a STOP; dropped: %r",
                reply.carrier,
                reply.operator_ref,
                reply.text,
            )
            done.set_result(None)
            return done
        self._stops.append(reply)
        self._stops_done.append(done)
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
        """Apply everything received, reports first; stop at the first refusal."""
        while self._pending:
            batch = self._pending[:MAX_BATCH]
            try:
                await self._store.apply_receipts(batch, time.time())
            except StoreError as exc:
                log.warning("applying %d reports failed (%s); they stay queued", len(batch), exc)
                return
            del self._pending[: len(batch)]
            _settle(self._pending_done, len(batch))
        while self._stops:
            stops = self._stops[:MAX_BATCH]
            try:
                matched = await self._store.record_stop_replies(stops, time.time())
            except StoreError as exc:
                log.warning(
                    "recording %d STOP replies failed (%s); they stay queued", len(stops), exc
                )
                return
            del self._stops[: len(stops)]
            _settle(self._stops_done, len(stops))
            if matched < len(stops):
                log.warning(
                    "%d STOP replies answer no SMS we know of; dropped", len(stops) - matched
                )
        self._arrived.clear()


def _settle(waiting: list[asyncio.Future[None]], count: int) -> None:
    """Tell the carrier that the first `count` of `waiting` are stored."""
    for done in waiting[:count]:
        if not done.done():
            done.set_result(None)
    del waiting[:count]
