"""What the SMSC owes its ESMEs (receipts, replies), held until acknowledged.

A real SMSC keeps a receipt until the ESME answers its deliver_sm with ESME_ROK: it
sends it again after `resend_timeout` without an answer or after an error answer, and
to whichever receiver bind of the same system_id is up after a reconnection. An ESME
that acknowledges only after its durable write therefore loses nothing when it crashes.
Held in memory: a restart of the simulator forgets what it owed.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections.abc import Coroutine
from typing import Any, NamedTuple

from smsrelay.smpp.errors import SessionClosed, SessionTimeout
from smsrelay.smpp.pdu import DELIVER_SM, ESME_ROK
from smsrelay.smpp.session import Response, Session

log = logging.getLogger(__name__)


class Owed(NamedTuple):
    at: float  # Unix time it is due
    order: int  # what was put first goes first among equal times
    system_id: str
    body: bytes  # the deliver_sm body
    what: str  # for the log: "receipt 1234 DELIVRD"


class Outbox:
    def __init__(self, resend_timeout: float) -> None:
        self.resend_timeout = resend_timeout
        self._due: list[Owed] = []  # a heap, soonest first
        self._parked: dict[str, list[Owed]] = {}  # due, waiting for a receiver bind
        self._receivers: dict[str, list[Session]] = {}
        self._order = itertools.count()
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._runner = asyncio.get_running_loop().create_task(self._run(), name="smsc-outbox")

    async def stop(self) -> None:
        tasks = [*self._tasks, *([self._runner] if self._runner else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def add_receiver(self, system_id: str, session: Session) -> None:
        """A receiver or transceiver bound: it gets what was waiting for one."""
        self._receivers.setdefault(system_id, []).append(session)
        for owed in self._parked.pop(system_id, []):
            heapq.heappush(self._due, owed)
        self._wake.set()

    def remove_receiver(self, system_id: str, session: Session) -> None:
        receivers = self._receivers.get(system_id, [])
        if session in receivers:
            receivers.remove(session)

    def put(self, at: float, system_id: str, body: bytes, what: str) -> None:
        heapq.heappush(self._due, Owed(at, next(self._order), system_id, body, what))
        self._wake.set()

    def send_now(self, system_id: str, body: bytes, what: str) -> None:
        """Write the deliver_sm before returning, if a receiver is bound; else queue it."""
        owed = Owed(time.time(), next(self._order), system_id, body, what)
        session = self._receiver(owed)
        if session is not None:
            try:
                written = session.request_nowait(DELIVER_SM, owed.body, self.resend_timeout)
            except SessionClosed:  # closing, not yet removed: like no receiver at all
                self.remove_receiver(system_id, session)
            else:
                self._track(self._deliver(owed, session, written))
                return
        heapq.heappush(self._due, owed)  # to another receiver, or parked for the next
        self._wake.set()

    def _receiver(self, owed: Owed) -> Session | None:
        receivers = self._receivers.get(owed.system_id)
        return receivers[owed.order % len(receivers)] if receivers else None

    def _park(self, owed: Owed) -> None:
        self._parked.setdefault(owed.system_id, []).append(owed)

    def _track(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self) -> None:
        while True:
            now = time.time()
            while self._due and self._due[0].at <= now:
                owed = heapq.heappop(self._due)
                session = self._receiver(owed)
                if session is None:
                    self._park(owed)
                else:
                    self._track(self._deliver(owed, session))
            # A timer rather than asyncio.wait_for, which in Python 3.11 can swallow
            # the cancellation of stop() when the event is set at the same moment.
            self._wake.clear()
            timer = None
            if self._due:
                loop = asyncio.get_running_loop()
                timer = loop.call_later(self._due[0].at - now, self._wake.set)
            try:
                await self._wake.wait()
            finally:
                if timer is not None:
                    timer.cancel()

    async def _deliver(
        self, owed: Owed, session: Session, written: asyncio.Future[Response] | None = None
    ) -> None:
        """Send (unless `written` already) and wait for the ESME's answer; put the PDU
        back unless it was ESME_ROK."""
        retry_at = time.time()
        try:
            if written is None:
                status, _ = await session.request(DELIVER_SM, owed.body, self.resend_timeout)
            else:
                status, _ = await written
            if status == ESME_ROK:
                return
            log.info("%s refused by the ESME (status 0x%X); resending later", owed.what, status)
            retry_at += self.resend_timeout
        except SessionTimeout:
            log.info("%s unacknowledged; resending", owed.what)
        except SessionClosed:
            log.info("%s lost with its connection; resending", owed.what)
            self.remove_receiver(owed.system_id, session)  # before its closing is reported
        self.put(retry_at, owed.system_id, owed.body, owed.what)
