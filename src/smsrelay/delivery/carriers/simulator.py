"""A simulated operator, so that statuses move by themselves in a demo and in tests.

Each recipient's fate (delivered, undelivered, expired, refused, never reported) and the
delay of its report are drawn from a random generator seeded by the configured seed and
the recipient itself. The same SMS therefore always meets the same fate, even across a
restart: the schedule of reports owed is rebuilt from the store, as a real operator would
still send them. Delays follow a log-normal law (most within seconds, a tail of hours),
divided by `time_scale`. The test numbers of `MAGIC_NUMBERS` have a fixed fate and a
delay in real seconds, whatever the time scale.

A share of the delivered SMS (`stop_replies`) are answered "STOP" by their recipient,
some (time-scaled) seconds after the report. The same seeded generator decides it, so
the same SMS always gets its reply or never does. A reply is scheduled when its report
is sent: after a restart, the replies of SMS still awaiting their report come as
planned, while a reply owed for an SMS already reported delivered is lost (see
docs/simulator.md).
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
from smsrelay.delivery.carriers.base import ReplySink, ReportSink
from smsrelay.delivery.supervision import start_long_lived
from smsrelay.domain.records import AwaitingReport, Outbound, Receipt, Reply, Submission
from smsrelay.domain.status import State

log = logging.getLogger(__name__)

_SIGMA = 1.3  # spread of the log-normal delays: about 1 in 100 reports is 20x the median
# Median network time between a delivery report and the recipient's STOP: people read
# the SMS, then answer; same spread and cap as the reports.
_REPLY_MEDIAN = 60.0
STOP_TEXT = "STOP"


class Fate(NamedTuple):
    """What the network will do with one SMS: its final report, after how long."""

    state: State  # SUBMITTED: accepted, then never reported
    delay: float  # seconds of network time after submission; 0 for a refusal
    refused: bool = False  # refused by the operator at submission
    stop_after: float | None = None  # the recipient answers STOP this long after the report


MAGIC_NUMBERS: dict[str, Fate] = {
    "+33600000001": Fate(State.DELIVERED, 1.0),
    "+33600000002": Fate(State.UNDELIVERABLE, 1.0),
    "+33600000003": Fate(State.SUBMITTED, 0.0),
    "+33600000004": Fate(State.REJECTED, 0.0, refused=True),
    "+33600000005": Fate(State.EXPIRED, 5.0),
    "+33600000006": Fate(State.DELIVERED, 60.0),
    "+33600000007": Fate(State.DELIVERED, 1.0, stop_after=1.0),
}


class OutcomeModel:
    def __init__(self, settings: SimulatorSettings) -> None:
        self.settings = settings
        self._mu = math.log(settings.median_delay)
        self._reply_mu = math.log(_REPLY_MEDIAN)

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
        if share < s.delivered:
            # Drawn after the fate, from the same generator: the fates of a seed are
            # the same with or without STOP replies.
            if draw.random() < s.stop_replies:
                after = min(draw.lognormvariate(self._reply_mu, _SIGMA), s.max_delay)
                return Fate(State.DELIVERED, delay, stop_after=after / s.time_scale)
            return Fate(State.DELIVERED, delay)
        for state, bound in (
            (State.UNDELIVERABLE, s.delivered + s.undelivered),
            (State.EXPIRED, s.delivered + s.undelivered + s.expired),
        ):
            if share < bound:
                return Fate(state, delay)
        if share < s.delivered + s.undelivered + s.expired + s.rejected:
            return Fate(State.REJECTED, 0.0, refused=True)
        return Fate(State.SUBMITTED, 0.0)


class _Due(NamedTuple):
    """Something the network owes at wall time `at`: a report, or the STOP after it."""

    at: float
    ref: str
    reply: bool  # False: the report of `fate`; True: the recipient's STOP reply
    phone: str
    fate: Fate


class SimulatorCarrier:
    """The in-process operator: answers submissions at once, reports and replies later."""

    name = "simulator"

    def __init__(self, settings: SimulatorSettings) -> None:
        self.model = OutcomeModel(settings)
        self._due: list[_Due] = []  # a heap, soonest first
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(
        self, reports: ReportSink, replies: ReplySink, awaiting: Sequence[AwaitingReport]
    ) -> None:
        for pending in awaiting:
            fate = self.model.fate(pending.operator_ref, pending.phone)
            self._schedule(pending.operator_ref, pending.phone, fate, pending.submitted_at)
        self._task = start_long_lived(self._report_loop(reports, replies), "simulator-reports")

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
                        (),
                        fate.state,
                        "refused by the operator",
                    )
                )
                continue
            answers.append(
                Submission(
                    out.account_id, out.message_id, out.phone, self.name, (ref,), State.SUBMITTED
                )
            )
            self._schedule(ref, out.phone, fate, now)
        self._wake.set()
        return answers

    def _schedule(self, ref: str, phone: str, fate: Fate, submitted_at: float) -> None:
        if fate.state is not State.SUBMITTED and not fate.refused:
            heapq.heappush(self._due, _Due(submitted_at + fate.delay, ref, False, phone, fate))

    async def _report_loop(self, reports: ReportSink, replies: ReplySink) -> None:
        while True:
            now = time.time()
            while self._due and self._due[0].at <= now:
                due = heapq.heappop(self._due)
                if due.reply:
                    replies(Reply(self.name, due.phone, STOP_TEXT, now, due.ref))
                    continue
                reports(Receipt(self.name, due.ref, due.fate.state, now, phone=due.phone))
                if due.fate.stop_after is not None:
                    # Owed from the moment the report is sent, and only held here: a
                    # restart before it comes loses it (the SMS is no longer awaited).
                    heapq.heappush(
                        self._due, due._replace(at=now + due.fate.stop_after, reply=True)
                    )
            self._wake.clear()
            timeout = self._due[0].at - now if self._due else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
