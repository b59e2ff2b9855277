"""A simulated operator, so that statuses move by themselves in a demo and in tests.

Each recipient's fate (delivered, undelivered, expired, refused, never reported) and the
delay of its report are drawn from a random generator seeded by the configured seed and
the recipient itself. The same SMS therefore always meets the same fate, even across a
restart: the schedule of reports owed is rebuilt from the store, as a real operator would
still send them. Delays follow a log-normal law (most within seconds, a tail of hours),
divided by `time_scale`. The test numbers of `MAGIC_NUMBERS` have a fixed fate and a
delay in real seconds, whatever the time scale.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import heapq
import logging
import math
import random
import time
from collections.abc import Sequence
from typing import NamedTuple

from smsrelay.config import SimulatorSettings
from smsrelay.delivery.carriers.base import ReportSink
from smsrelay.domain.status import State
from smsrelay.store.base import AwaitingReport, Outbound, Receipt, Submission

log = logging.getLogger(__name__)

_SIGMA = 1.3  # spread of the log-normal delays: about 1 in 100 reports is 20x the median


class Fate(NamedTuple):
    """What the network will do with one SMS: its final report, after how long."""

    state: State  # SUBMITTED: accepted, then never reported
    delay: float  # seconds of network time after submission; 0 for a refusal
    refused: bool = False  # refused by the operator at submission


MAGIC_NUMBERS: dict[str, Fate] = {
    "+33600000001": Fate(State.DELIVERED, 1.0),
    "+33600000002": Fate(State.UNDELIVERABLE, 1.0),
    "+33600000003": Fate(State.SUBMITTED, 0.0),
    "+33600000004": Fate(State.REJECTED, 0.0, refused=True),
    "+33600000005": Fate(State.EXPIRED, 5.0),
    "+33600000006": Fate(State.DELIVERED, 60.0),
}


class OutcomeModel:
    def __init__(self, settings: SimulatorSettings) -> None:
        self.settings = settings
        self._mu = math.log(settings.median_delay)

    def operator_ref(self, outbound: Outbound) -> str:
        """The operator's id for a submission: stable, so a resubmission is recognised."""
        key = f"{self.settings.seed}:{outbound.account_id}:{outbound.message_id}:{outbound.phone}"
        return hashlib.blake2b(key.encode(), digest_size=8).hexdigest()

    def fate(self, operator_ref: str, phone: str) -> Fate:
        magic = MAGIC_NUMBERS.get(phone)
        if magic is not None:
            return magic
        s = self.settings
        draw = random.Random(f"{s.seed}:{operator_ref}")
        share = draw.random()
        delay = min(draw.lognormvariate(self._mu, _SIGMA), s.max_delay) / s.time_scale
        for state, bound in (
            (State.DELIVERED, s.delivered),
            (State.UNDELIVERABLE, s.delivered + s.undelivered),
            (State.EXPIRED, s.delivered + s.undelivered + s.expired),
        ):
            if share < bound:
                return Fate(state, delay)
        if share < s.delivered + s.undelivered + s.expired + s.rejected:
            return Fate(State.REJECTED, 0.0, refused=True)
        return Fate(State.SUBMITTED, 0.0)


class SimulatorCarrier:
    """The in-process operator: answers submissions at once, reports later."""

    name = "simulator"

    def __init__(self, settings: SimulatorSettings) -> None:
        self.model = OutcomeModel(settings)
        self._due: list[tuple[float, str, State]] = []  # (wall time, operator ref, state)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._reports: ReportSink | None = None

    async def start(self, reports: ReportSink, awaiting: Sequence[AwaitingReport]) -> None:
        self._reports = reports
        for pending in awaiting:
            self._schedule(pending.operator_ref, pending.phone, pending.submitted_at)
        self._task = asyncio.create_task(self._report_loop(), name="simulator-reports")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def submit(self, batch: Sequence[Outbound]) -> list[Submission]:
        now = time.time()
        answers = []
        for out in batch:
            ref = self.model.operator_ref(out)
            fate = self.model.fate(ref, out.phone)
            if fate.refused:
                answers.append(
                    Submission(
                        out.account_id,
                        out.message_id,
                        out.phone,
                        self.name,
                        None,
                        fate.state,
                        "refused by the operator",
                    )
                )
                continue
            answers.append(
                Submission(
                    out.account_id, out.message_id, out.phone, self.name, ref, State.SUBMITTED
                )
            )
            self._schedule(ref, out.phone, now)
        self._wake.set()
        return answers

    def _schedule(self, ref: str, phone: str, submitted_at: float) -> None:
        fate = self.model.fate(ref, phone)
        if fate.state is not State.SUBMITTED and not fate.refused:
            heapq.heappush(self._due, (submitted_at + fate.delay, ref, fate.state))

    async def _report_loop(self) -> None:
        assert self._reports is not None
        while True:
            now = time.time()
            while self._due and self._due[0][0] <= now:
                _, ref, state = heapq.heappop(self._due)
                self._reports(Receipt(self.name, ref, state, now))
            self._wake.clear()
            timeout = self._due[0][0] - now if self._due else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
