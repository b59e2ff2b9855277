"""What the dispatcher needs of an operator connection, real (SMPP) or simulated."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Protocol

from smsrelay.domain.records import AwaitingReport, Outbound, Receipt, Reply, Submission

# Both return a future that is done once what they were given is durably stored: a
# carrier acknowledges it to the operator then, and not before. A carrier whose operator
# will send it again cancels the future: it is withdrawn unless it is being written
# (`delivery.matcher.Storing`).
ReportSink = Callable[[Receipt], "asyncio.Future[None]"]
ReplySink = Callable[[Reply], "asyncio.Future[None]"]


class CarrierError(Exception):
    """The operator connection failed or answered something we cannot use."""


class Carrier(Protocol):
    name: str

    async def start(
        self, reports: ReportSink, replies: ReplySink, awaiting: Sequence[AwaitingReport]
    ) -> None:
        """Connect, and deliver every report to `reports`, every reply to `replies`.

        A reply is a message a recipient sends back (an SMPP deliver_sm that is not a
        receipt). Neither sink blocks: the carrier may call them from its read loop.

        `awaiting` lists what the operator still owes a report for: a real operator
        re-sends those by itself, the simulator rebuilds its schedule from them.
        """
        ...

    async def submit(self, batch: Sequence[Outbound]) -> list[Submission]:
        """Hand a batch to the operator; one answer per recipient, in order."""
        ...

    async def stop(self) -> None: ...
