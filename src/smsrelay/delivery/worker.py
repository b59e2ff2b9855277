"""The delivery engine in a process of its own, so that sending uses the second core.

Accepting a send and delivering it compete for one event loop when they share a process:
measured, delivery (claims, submissions, reports) costs more CPU per SMS than accepting
it, and the API's acceptance fell from 15,000 to 4,000 recipients/s while it ran. In its
own process the engine works beside the API; the two meet only in the database (WAL
lets each read while the other writes; writes are short transactions).

Two pipes join them. The API wakes the dispatcher through one: a byte per accepted send,
so that it leaves at once rather than at the next poll. That pipe is also how the worker
notices that the server is gone, even when it was killed outright: its end reads EOF,
and the worker stops cleanly, writing down every report it already received. The worker
answers through the other: a byte once its engine runs, and EOF when it ends, however it
ends (SIGKILL included), so that the API knows at once and starts another.

A worker that dies costs no send: sends are stored by the API, and the new worker's
dispatcher finds every due recipient in the database, claims left by the dead one
included. While none runs, `/health` says why (HTTP 503); restarts are spaced by a
backoff so that a worker that cannot start (a broken connector setting) does not spin.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import sys
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Final

import uvloop

from smsrelay.composition import store_for
from smsrelay.config import Settings
from smsrelay.delivery.carriers.base import Carrier
from smsrelay.delivery.engine import DeliveryEngine
from smsrelay.delivery.supervision import RestartPauses, death_of, start_long_lived

log = logging.getLogger(__name__)

STOP_TIMEOUT: Final = 15.0
# The worker's exit status when one of its long-lived tasks died (sysexits' EX_SOFTWARE).
EXIT_TASK_DIED: Final = 70
_READY: Final = b"R"


class DeliveryWorker:
    """The API's handle on the worker process: start it, keep one running, wake it, stop it.

    `problem` is None while a worker runs, and otherwise says why none does.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._process: BaseProcess | None = None
        self._wake_pipe: Connection | None = None
        self._supervising: asyncio.Task[None] | None = None
        self.problem: str | None = "delivery worker starting"

    async def start(self) -> None:
        self._supervising = start_long_lived(self._supervise(), "delivery-worker-supervisor")

    @property
    def pid(self) -> int | None:
        """The running worker's process id; None between two workers."""
        return None if self._process is None else self._process.pid

    def wake(self) -> None:
        """Tell the dispatcher that sends are waiting; never blocks, never raises.

        It is called after a send was stored, so that nothing here may turn a stored send
        into an error answer (a client would send it again and pay twice).
        """
        pipe = self._wake_pipe
        if pipe is None:
            return
        try:
            os.write(pipe.fileno(), b"\x01")
        except BlockingIOError:
            pass  # a full pipe already holds a wake-up the worker has not read yet
        except OSError as exc:
            # The worker is gone (EPIPE): its status pipe has told `_supervise`, which
            # starts another; that one reads every due recipient from the database.
            log.debug("delivery worker not woken: %s", exc)

    async def stop(self) -> None:
        if self._supervising is not None:
            self._supervising.cancel()
            await asyncio.gather(self._supervising, return_exceptions=True)
            self._supervising = None
        await self._reap()  # its wake pipe closed: the worker's signal to finish
        self.problem = "delivery worker stopped"

    async def _supervise(self) -> None:
        """Keep a worker running: whatever fails here is logged and tried again later."""
        pauses = RestartPauses()
        while True:
            try:
                ending = await self._run_one(pauses)
            except Exception as exc:  # spawning failed: no descriptors or processes left
                log.exception("delivery worker could not be started or watched")
                if self._process is not None and self._process.is_alive():
                    self._process.kill()  # a worker nobody watches must not go on
                await self._reap()
                ending = f"could not be started or watched ({exc!r})"
            delay = pauses.after_death()
            self.problem = f"delivery worker {ending}; a new one starts in {delay:.1f} s"
            log.error("%s", self.problem)
            await asyncio.sleep(delay)

    async def _run_one(self, pauses: RestartPauses) -> str:
        """Start a worker and wait for it to end; how it ended, in words."""
        status = self._spawn()
        pauses.started()
        try:
            await self._until_exit(status)
        finally:
            status.close()
        return await self._reap()

    def _spawn(self) -> Connection:
        """Start a worker; the end of its status pipe."""
        # spawn, not fork: the API process holds an event loop and a database connection
        # that a forked child must not inherit. Multiprocessing pipes, because spawn hands
        # their ends to the child; both sides then use the descriptors as raw bytes.
        context = multiprocessing.get_context("spawn")
        wake_reader, wake_writer = context.Pipe(duplex=False)
        status_reader, status_writer = context.Pipe(duplex=False)
        process = context.Process(
            target=run_worker,
            args=(self._settings, wake_reader, status_writer),
            name="smsrelay-delivery",
        )
        try:
            process.start()
        except BaseException:
            for end in (wake_reader, wake_writer, status_reader, status_writer):
                end.close()
            raise
        # Held at once, so that whatever fails from here on can stop it; and only the
        # child holds these ends now: its exit closes them, whatever ends it.
        self._process, self._wake_pipe = process, wake_writer
        wake_reader.close()
        status_writer.close()
        os.set_blocking(wake_writer.fileno(), False)
        os.set_blocking(status_reader.fileno(), False)
        return status_reader

    async def _until_exit(self, status: Connection) -> None:
        """Wait for the worker to end, marking it running once it says it is ready."""
        loop = asyncio.get_running_loop()
        ended = loop.create_future()
        fd = status.fileno()

        def on_status() -> None:
            try:
                data = os.read(fd, 64)
            except BlockingIOError:
                return
            if not data:
                loop.remove_reader(fd)
                if not ended.done():
                    ended.set_result(None)
            elif _READY in data:
                self.problem = None
                log.info("delivery worker running (pid %s)", self.pid)

        loop.add_reader(fd, on_status)
        try:
            await ended
        finally:
            loop.remove_reader(fd)

    async def _reap(self) -> str:
        """Close the worker's wake pipe (on the loop, where `wake` writes to it) and collect
        the worker, killed if it has not ended within STOP_TIMEOUT; how it ended, in words.
        """
        process, self._process = self._process, None
        if self._wake_pipe is not None:
            self._wake_pipe.close()
            self._wake_pipe = None
        if process is None:
            return "is gone"
        # In a thread: the status pipe's EOF may come before the child is done exiting.
        await asyncio.to_thread(_join, process)
        ending = how_it_ended(process.pid, process.exitcode)
        process.close()
        return ending


def _join(process: BaseProcess) -> None:
    process.join(STOP_TIMEOUT)
    if process.is_alive():
        log.warning("delivery worker did not stop in %.0f s; killing it", STOP_TIMEOUT)
        process.kill()
        process.join()


def how_it_ended(pid: int | None, exit_code: int | None) -> str:
    """A worker's end in words, from its exit code (negative: the signal that killed it)."""
    if exit_code is not None and exit_code < 0:
        try:
            by = signal.Signals(-exit_code).name
        except ValueError:  # a real-time signal has no name
            by = f"signal {-exit_code}"
        return f"(pid {pid}) was killed by {by}"
    if exit_code == EXIT_TASK_DIED:
        return f"(pid {pid}) stopped: one of its tasks died (see its log)"
    return f"(pid {pid}) exited with status {exit_code}"


def run_worker(settings: Settings, wake: Connection, status: Connection) -> None:
    """The worker process's entry point."""
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s[delivery]: %(message)s",
    )
    # Ctrl-C reaches the whole process group; the API decides when the worker stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # uvloop, as the API's uvicorn uses: the worker's sockets (SMPP) and timers are its
    # hot path, and the default loop measured a third of its time in loop overhead.
    if not uvloop.run(_serve(settings, wake.fileno(), status.fileno())):
        sys.exit(EXIT_TASK_DIED)


async def _serve(
    settings: Settings, wake_fd: int, status_fd: int, carrier: Carrier | None = None
) -> bool:
    """Deliver until the API's pipe closes; False when a task died and the worker must go.

    `carrier` replaces the configured one (tests give one that fails).
    """
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    died: list[str] = []

    def on_loop_fault(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        death = death_of(context)
        if death is None:
            loop.default_exception_handler(context)
            return
        log.critical(
            "%s; the worker stops and the server starts another",
            death,
            exc_info=context["exception"],
        )
        died.append(death)
        stopping.set()

    loop.set_exception_handler(on_loop_fault)
    store = store_for(settings, "delivery")
    engine = DeliveryEngine(store, settings, carrier)

    def on_wake() -> None:
        try:
            data = os.read(wake_fd, 4096)
        except BlockingIOError:
            return
        if data:
            engine.dispatcher.wake()
        else:
            loop.remove_reader(wake_fd)
            stopping.set()

    os.set_blocking(wake_fd, False)
    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    await engine.start()
    loop.add_reader(wake_fd, on_wake)
    with contextlib.suppress(BrokenPipeError):  # the API is gone: the wake pipe says so
        os.write(status_fd, _READY)
    try:
        await stopping.wait()
    finally:
        await engine.stop()
        await store.close()
    return not died
