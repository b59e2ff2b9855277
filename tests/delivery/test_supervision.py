"""A task of the delivery side that dies is never silent: it is reported, and replaced."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from smsrelay.config import ConnectorSettings, Settings, SimulatorSettings
from smsrelay.delivery.carriers.base import Carrier, ReplySink, ReportSink
from smsrelay.delivery.carriers.simulator import SimulatorCarrier
from smsrelay.delivery.carriers.smpp import SmppCarrier
from smsrelay.delivery.engine import DeliveryEngine
from smsrelay.delivery.inline import InlineDelivery
from smsrelay.delivery.supervision import (
    RESTART_MAX,
    RESTART_MIN,
    RestartPauses,
    death_of,
    start_long_lived,
)
from smsrelay.delivery.worker import DeliveryWorker, _serve, how_it_ended
from smsrelay.domain.records import AwaitingReport, Outbound, Submission
from smsrelay.domain.status import FINAL_STATES, State
from tests.delivery.test_engine import states, store_with_message, until_final

# Every report within 0.3 s, and a validity of 1 s for the SMS that never get one: every
# recipient is final within seconds, whichever engine submitted it.
FAST = SimulatorSettings(time_scale=200.0, max_delay=60.0, stop_replies=0.0)


class DyingCarrier:
    """The simulator, with a link task that fails after the first batch: a carrier bug."""

    name = "simulator"

    def __init__(self) -> None:
        self._inner = SimulatorCarrier(FAST)
        self._submitted = asyncio.Event()
        self._link: asyncio.Task[None] | None = None

    async def start(
        self, reports: ReportSink, replies: ReplySink, awaiting: Sequence[AwaitingReport]
    ) -> None:
        await self._inner.start(reports, replies, awaiting)
        self._link = start_long_lived(self._break(), "operator-link")

    async def _break(self) -> None:
        await self._submitted.wait()
        raise ConnectionAbortedError("the link's read loop hit a bug")

    async def submit(self, batch: Sequence[Outbound]) -> list[Submission]:
        answers = await self._inner.submit(batch)
        self._submitted.set()
        return answers

    async def stop(self) -> None:
        if self._link is not None:
            self._link.cancel()
            await asyncio.gather(self._link, return_exceptions=True)
        await self._inner.stop()


def test_a_long_lived_task_that_raises_reaches_the_loops_handler_named() -> None:
    seen: list[dict[str, Any]] = []

    async def run() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _, context: seen.append(context))

        async def fails() -> None:
            raise ValueError("boom")

        async def returns() -> None:
            return None

        async def waits() -> None:
            await asyncio.sleep(3600)

        cancelled = start_long_lived(waits(), "waits")
        tasks = [start_long_lived(fails(), "fails"), start_long_lived(returns(), "returns")]
        await asyncio.sleep(0)
        cancelled.cancel()
        await asyncio.gather(*tasks, cancelled, return_exceptions=True)
        await asyncio.sleep(0)

    asyncio.run(run())
    assert [death_of(context) for context in seen] == ["task fails died: ValueError('boom')"]


def test_other_loop_faults_are_no_task_death() -> None:
    assert death_of({"message": "Task exception was never retrieved"}) is None


def test_restart_pauses_start_short_double_and_stay_bounded() -> None:
    pauses = RestartPauses()
    drawn = [pauses.after_death() for _ in range(12)]
    assert drawn[0] == RESTART_MIN
    assert all(RESTART_MIN <= pause <= RESTART_MAX for pause in drawn)
    assert drawn[-1] >= RESTART_MAX / 2


def inline_run(path: Path, carriers: list[Carrier]) -> tuple[list[str | None], list[State]]:
    """Inline delivery of one send, an engine per carrier in turn: every `problem` it showed
    (each change once) until the last engine ran, and the recipients' final states."""
    settings = Settings(simulator=FAST, validity=1.0)

    async def run() -> tuple[list[str | None], list[State]]:
        store, account_id, message_id = await store_with_message(path)
        delivery = InlineDelivery(lambda: DeliveryEngine(store, settings, carriers.pop(0)))
        await delivery.start()
        shown = [delivery.problem]
        deadline = time.monotonic() + 15
        while (carriers or delivery.problem is not None) and time.monotonic() < deadline:
            if delivery.problem != shown[-1]:
                shown.append(delivery.problem)
            await asyncio.sleep(0.01)
        final = await until_final(store, account_id, message_id)
        if delivery.problem != shown[-1]:
            shown.append(delivery.problem)
        await delivery.stop()
        await store.close()
        return shown, final

    return asyncio.run(run())


def test_inline_delivery_replaces_an_engine_whose_task_died_and_delivers_what_it_left(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.CRITICAL, logger="smsrelay.delivery.inline"):
        shown, final = inline_run(tmp_path / "inline.db", [DyingCarrier(), SimulatorCarrier(FAST)])
    assert len(shown) == 3
    assert shown[0] is None
    assert shown[1] is not None
    assert "task operator-link died: ConnectionAbortedError" in shown[1]
    assert shown[2] is None
    assert set(final) <= FINAL_STATES
    assert any(record.exc_info for record in caplog.records), "logged without its traceback"


def test_the_worker_process_stops_with_a_failure_when_one_of_its_tasks_dies(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = tmp_path / "worker.db"
    settings = Settings(database=f"sqlite:///{database}", simulator=FAST)
    wake_reader, wake_writer = os.pipe()
    status_reader, status_writer = os.pipe()

    async def run() -> tuple[bool, list[State]]:
        store, account_id, message_id = await store_with_message(database)
        served = await asyncio.wait_for(
            _serve(settings, wake_reader, status_writer, DyingCarrier()), 20
        )
        left = await states(store, account_id, message_id)
        await store.close()
        return served, left

    try:
        with caplog.at_level(logging.CRITICAL, logger="smsrelay.delivery.worker"):
            served, left = asyncio.run(run())
        assert os.read(status_reader, 16) == b"R"
    finally:
        for fd in (wake_reader, wake_writer, status_reader, status_writer):
            os.close(fd)
    assert served is False
    assert any("operator-link died" in record.getMessage() for record in caplog.records)
    assert left, "the recipients are still in the database for the next worker"


def deaths_while(work: Any) -> list[str]:
    """The task deaths the loop's handler hears of while `work()` runs, and shortly after."""
    heard: list[str] = []

    async def run() -> None:
        asyncio.get_running_loop().set_exception_handler(
            lambda _, context: heard.append(death_of(context) or context["message"])
        )
        await work()
        await asyncio.sleep(0.2)

    asyncio.run(run())
    return heard


def test_the_simulators_report_task_that_dies_is_heard_of() -> None:
    def broken_sink(receipt: object) -> asyncio.Future[None]:
        raise RuntimeError("the matcher refused a report")

    async def work() -> None:
        carrier = SimulatorCarrier(FAST)
        await carrier.start(broken_sink, broken_sink, [])
        await carrier.submit([Outbound(1, 1, "+33600000001", "Hi", None, "gsm7", 1)])
        await asyncio.sleep(1.5)  # +33600000001 is reported after one second
        await carrier.stop()

    [death] = deaths_while(work)
    assert death.startswith("task simulator-reports died: RuntimeError")


def test_an_smpp_link_task_that_dies_is_heard_of() -> None:
    # A host name DNS cannot even encode (a label over 63 characters) fails outside the
    # errors a bind retries on: the link's loop ends, and must not end in silence.
    connector = ConnectorSettings(name="bad", system_id="x", host="x" * 70 + ".example")

    async def work() -> None:
        carrier = SmppCarrier(connector, 3600.0)
        await carrier.start(lambda _: asyncio.Future(), lambda _: asyncio.Future(), [])
        await asyncio.sleep(0.3)
        await carrier.stop()

    [death] = deaths_while(work)
    assert death.startswith("task smpp-bad died: ")


class CarrierThatCannotStart(SimulatorCarrier):
    """An operator connection refused at start (a bad setting, a network down)."""

    async def start(
        self, reports: ReportSink, replies: ReplySink, awaiting: Sequence[AwaitingReport]
    ) -> None:
        raise ConnectionRefusedError("the operator refused the connection")


def test_inline_delivery_tries_again_when_the_new_engine_cannot_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    carriers: list[Carrier] = [
        DyingCarrier(),
        CarrierThatCannotStart(FAST),
        SimulatorCarrier(FAST),
    ]
    with caplog.at_level(logging.CRITICAL, logger="smsrelay.delivery.inline"):
        shown, final = inline_run(tmp_path / "inline.db", carriers)
    assert any(p and "operator-link died" in p for p in shown)
    assert any(p and p.startswith("delivery engine could not start") for p in shown)
    assert shown[-1] is None
    assert set(final) <= FINAL_STATES


class CarrierDyingAtOnce(DyingCarrier):
    """A carrier whose link fails as soon as it starts, every time."""

    async def _break(self) -> None:
        raise ConnectionResetError("the operator hung up at once")


def test_inline_delivery_keeps_replacing_engines_that_die_at_once_until_one_runs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    carriers: list[Carrier] = [CarrierDyingAtOnce(), CarrierDyingAtOnce(), SimulatorCarrier(FAST)]
    with caplog.at_level(logging.CRITICAL, logger="smsrelay.delivery.inline"):
        shown, final = inline_run(tmp_path / "inline.db", carriers)
    deaths = [r for r in caplog.records if "ConnectionResetError" in r.getMessage()]
    assert len(deaths) == 2
    assert shown[-1] is None
    assert set(final) <= FINAL_STATES


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (-9, "(pid 7) was killed by SIGKILL"),
        (-40, "(pid 7) was killed by signal 40"),
        (70, "(pid 7) stopped: one of its tasks died (see its log)"),
        (1, "(pid 7) exited with status 1"),
    ],
)
def test_how_a_worker_ended_is_told_in_words(code: int, words: str) -> None:
    assert how_it_ended(7, code) == words


def test_waking_a_worker_that_was_just_killed_never_raises() -> None:
    """The send that wakes it is stored: nothing may turn it into an error answer."""

    async def run() -> list[str | None]:
        store, _, _ = await store_with_message(Path(tmpdir) / "w.db")
        await store.close()
        worker = DeliveryWorker(Settings(database=f"sqlite:///{tmpdir}/w.db", simulator=FAST))
        await worker.start()
        problems = [await until(lambda: worker.problem is None, worker)]
        assert worker.pid is not None
        os.kill(worker.pid, signal.SIGKILL)
        time.sleep(0.5)  # the loop does not run: the server has not heard of it yet
        worker.wake()
        worker.wake()
        problems.append(await until(lambda: worker.problem is not None, worker))
        problems.append(await until(lambda: worker.problem is None, worker))
        await worker.stop()
        return problems

    with tempfile.TemporaryDirectory() as tmpdir:
        problems = asyncio.run(run())
    assert problems[0] is None
    assert problems[1] is not None
    assert "killed by SIGKILL" in problems[1]
    assert problems[2] is None


async def until(condition: Any, worker: DeliveryWorker) -> str | None:
    deadline = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < deadline, worker.problem
        await asyncio.sleep(0.01)
    return worker.problem
