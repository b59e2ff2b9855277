"""Several operator connections behind one carrier: each SMS goes to the connector that
serves its destination.

A connector serves the E.164 prefixes it lists; the longest matching prefix of all
connectors wins (`+3361` before `+33`), and the fallback connector takes what no prefix
matches. An SMS no connector serves is refused at once (Not delivered, "no route"), not
held: no later attempt could route it either.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from smsrelay.delivery.carriers.base import Carrier, ReplySink, ReportSink
from smsrelay.domain.records import AwaitingReport, Outbound, Submission
from smsrelay.domain.status import State

NO_ROUTE = "no connector serves this number"


class Router:
    """The destination → connector rule, apart from any connection, to test it alone."""

    def __init__(self, prefixes: Mapping[str, Sequence[str]], fallback: str | None) -> None:
        # Longest first, so that the first match is the most specific one.
        self._prefixes = sorted(
            ((prefix, name) for name, listed in prefixes.items() for prefix in listed),
            key=lambda entry: -len(entry[0]),
        )
        self._fallback = fallback

    def route(self, phone: str) -> str | None:
        for prefix, name in self._prefixes:
            if phone.startswith(prefix):
                return name
        return self._fallback


class RoutingCarrier:
    name = "router"

    def __init__(self, carriers: Mapping[str, Carrier], router: Router) -> None:
        self._carriers = dict(carriers)
        self._router = router

    async def start(
        self, reports: ReportSink, replies: ReplySink, awaiting: Sequence[AwaitingReport]
    ) -> None:
        """Start every connector; none needs `awaiting` (an SMSC re-sends by itself)."""
        for carrier in self._carriers.values():
            await carrier.start(reports, replies, ())

    async def submit(self, batch: Sequence[Outbound]) -> list[Submission]:
        """Each connector gets its share at once; answers come back in batch order."""
        answers: list[Submission | None] = [None] * len(batch)
        shares: dict[str, list[int]] = {}
        for index, outbound in enumerate(batch):
            name = self._router.route(outbound.phone)
            if name is None:
                answers[index] = Submission(
                    outbound.account_id,
                    outbound.message_id,
                    outbound.phone,
                    self.name,
                    (),
                    State.REJECTED,
                    NO_ROUTE,
                )
            else:
                shares.setdefault(name, []).append(index)
        results = await asyncio.gather(
            *(
                self._carriers[name].submit([batch[i] for i in indices])
                for name, indices in shares.items()
            )
        )
        for indices, submitted in zip(shares.values(), results, strict=True):
            for index, answer in zip(indices, submitted, strict=True):
                answers[index] = answer
        return [answer for answer in answers if answer is not None]

    async def stop(self) -> None:
        await asyncio.gather(*(carrier.stop() for carrier in self._carriers.values()))
