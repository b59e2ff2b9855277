"""The delivery engine in the API's own event loop (`delivery = "inline"`).

For tests and machines with one core: nothing to spawn, one process to watch. What the
worker process does for a task that dies, this does in place: the death is logged with
its traceback, `/health` says so until the engine runs again, and a new engine is
started after a pause (`supervision.RestartPauses`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from smsrelay.delivery.engine import DeliveryEngine
from smsrelay.delivery.supervision import RestartPauses, death_of

log = logging.getLogger(__name__)

LoopFaultHandler = Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object]


class InlineDelivery:
    """The API's handle on an engine in its loop; `problem` is None while one runs."""

    def __init__(self, engines: Callable[[], DeliveryEngine]) -> None:
        """`engines` builds a new engine (on the API's store) for each start."""
        self._engines = engines
        self._engine: DeliveryEngine | None = None
        self._pauses = RestartPauses()
        self._restarting: asyncio.Task[None] | None = None
        # A death heard while a restart runs: the engine it starts may be the one that
        # died, so the restart goes round once more.
        self._died_again = False
        # Held while an engine starts or stops: a restart never stops an engine that is
        # still starting (a task may die during the very first start).
        self._changing = asyncio.Lock()
        self._previous_handler: LoopFaultHandler | None = None
        self.problem: str | None = "delivery engine starting"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._previous_handler = loop.get_exception_handler()
        loop.set_exception_handler(self._on_loop_fault)
        async with self._changing:
            await self._start_engine()

    def wake(self) -> None:
        if self._engine is not None:
            self._engine.dispatcher.wake()

    async def stop(self) -> None:
        if self._restarting is not None:
            self._restarting.cancel()
            await asyncio.gather(self._restarting, return_exceptions=True)
        engine, self._engine = self._engine, None
        if engine is not None:
            await engine.stop()
        asyncio.get_running_loop().set_exception_handler(self._previous_handler)
        self.problem = "delivery engine stopped"

    async def _start_engine(self) -> None:
        # Held before it starts: one that fails half-way is stopped before the next try.
        self._engine = self._engines()
        await self._engine.start()
        self._pauses.started()
        self.problem = None

    def _on_loop_fault(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        death = death_of(context)
        if death is None:
            if self._previous_handler is not None:
                self._previous_handler(loop, context)
            else:
                loop.default_exception_handler(context)
            return
        if self._restarting is not None:
            log.critical("%s while the engine restarts", death, exc_info=context["exception"])
            self._died_again = True
            return
        pause = self._pauses.after_death()
        self.problem = f"delivery engine stopped: {death}; it starts again in {pause:.1f} s"
        log.critical("%s", self.problem, exc_info=context["exception"])
        self._restarting = loop.create_task(self._restart(pause), name="delivery-restart")

    async def _restart(self, pause: float) -> None:
        """Replace the engine, trying again after each failure, until one runs."""
        while True:
            self._died_again = False
            try:
                async with self._changing:
                    engine, self._engine = self._engine, None
                    if engine is not None:
                        await engine.stop()
                    await asyncio.sleep(pause)
                    await self._start_engine()
            except Exception:
                pause = self._pauses.after_death()
                self.problem = f"delivery engine could not start; it tries again in {pause:.1f} s"
                log.exception("%s", self.problem)
                continue
            if self._died_again:
                pause = self._pauses.after_death()
                self.problem = f"delivery engine died as it started; again in {pause:.1f} s"
                continue
            self._restarting = None
            return
