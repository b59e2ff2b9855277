"""The delivery engine in a process of its own, so that sending uses the second core.

Accepting a send and delivering it compete for one event loop when they share a process:
measured, delivery (claims, submissions, reports) costs more CPU per SMS than accepting
it, and the API's acceptance fell from 15,000 to 4,000 recipients/s while it ran. In its
own process the engine works beside the API; the two meet only in the database (WAL
lets each read while the other writes; writes are short transactions).

The API wakes the dispatcher through a pipe: one byte per accepted send, so that it
leaves at once rather than at the next poll. The pipe is also how the worker notices that
the server is gone, even when it was killed outright: its end reads EOF, and the worker
stops cleanly, writing down every report it already received.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
from multiprocessing.connection import Connection

import uvloop

from smsrelay.config import Settings
from smsrelay.delivery.engine import DeliveryEngine
from smsrelay.store import open_store

log = logging.getLogger(__name__)

STOP_TIMEOUT = 15.0


class DeliveryWorker:
    """The API's handle on the worker process: start it, wake it, stop it."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._process: multiprocessing.process.BaseProcess | None = None
        self._pipe: Connection | None = None

    def start(self) -> None:
        # spawn, not fork: the API process holds an event loop and a database connection
        # that a forked child must not inherit. A multiprocessing pipe, because spawn
        # hands its ends to the child; both sides then use its descriptors as raw bytes.
        context = multiprocessing.get_context("spawn")
        reader, writer = context.Pipe(duplex=False)
        self._process = context.Process(
            target=run_worker, args=(self._settings, reader), name="smsrelay-delivery"
        )
        self._process.start()
        reader.close()
        os.set_blocking(writer.fileno(), False)
        self._pipe = writer

    def wake(self) -> None:
        """Tell the dispatcher that sends are waiting; never blocks the caller."""
        if self._pipe is None:
            return
        # A full pipe already holds a wake-up the worker has not read yet.
        with contextlib.suppress(BlockingIOError):
            os.write(self._pipe.fileno(), b"\x01")

    def stop(self) -> None:
        if self._pipe is not None:
            self._pipe.close()  # EOF: the worker's signal to finish
            self._pipe = None
        if self._process is not None:
            self._process.join(STOP_TIMEOUT)
            if self._process.is_alive():
                log.warning("delivery worker did not stop in %.0f s; killing it", STOP_TIMEOUT)
                self._process.kill()
                self._process.join()
            self._process = None


def run_worker(settings: Settings, pipe: Connection) -> None:
    """The worker process's entry point."""
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s[delivery]: %(message)s",
    )
    # Ctrl-C reaches the whole process group; the API decides when the worker stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # uvloop, as the API's uvicorn uses: the worker's sockets (SMPP) and timers are its
    # hot path, and the default loop measured a third of its time in loop overhead.
    uvloop.run(_serve(settings, pipe.fileno()))


async def _serve(settings: Settings, wake_fd: int) -> None:
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    store = open_store(
        settings.database,
        synchronous=settings.sqlite_synchronous,
        # Its writes can wait (a client waits for the API's), so it waits longer.
        busy_timeout=max(settings.sqlite_busy_timeout, 30.0),
        background=True,
    )
    engine = DeliveryEngine(store, settings)

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
    try:
        await stopping.wait()
    finally:
        await engine.stop()
        await store.close()
