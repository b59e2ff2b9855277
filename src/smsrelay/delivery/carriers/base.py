"""What the dispatcher needs of an operator connection, real (SMPP) or simulated."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from smsrelay.store.base import AwaitingReport, Outbound, Receipt, Submission

ReportSink = Callable[[Receipt], None]


class CarrierError(Exception):
    """The operator connection failed or answered something we cannot use."""


class Carrier(Protocol):
    name: str

    async def start(self, reports: ReportSink, awaiting: Sequence[AwaitingReport]) -> None:
        """Connect, and deliver every report to `reports` from now on.

        `awaiting` lists what the operator still owes a report for: a real operator
        re-sends those by itself, the simulator rebuilds its schedule from them.
        """
        ...

    async def submit(self, batch: Sequence[Outbound]) -> list[Submission]:
        """Hand a batch to the operator; one answer per recipient, in order."""
        ...

    async def stop(self) -> None: ...
