"""Tasks of the delivery side that cannot die unnoticed.

The dispatcher, the receipt matcher, the expiry sweep and every carrier's read or
reconnect loop are meant to run until they are stopped. A bug or an unforeseen error
that ends one of them would otherwise leave the process up and doing nothing: sends
accepted, never delivered, and nobody told. Each such task is started with
`start_long_lived`, which hands an exception that ends it to the event loop's exception
handler, marked as a task death; the code that owns the loop (the worker process, or the
API when delivery runs inline) installs a handler that logs it loudly and replaces what
died. A task that returns on its own ended because it was asked to (the dispatcher's
`stop`), and a cancelled one was stopped: neither is a death.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Coroutine, Mapping
from typing import Any, Final

TASK_DEATH: Final = "smsrelay_task_death"
"""The key that marks an exception handler's context as a long-lived task's death."""

# Pauses before starting again what died (a worker, an engine): from RESTART_MIN,
# doubling up to RESTART_MAX while it keeps dying young; one that ran STABLE_AFTER
# seconds starts the count again.
RESTART_MIN: Final = 0.5
RESTART_MAX: Final = 30.0
STABLE_AFTER: Final = 60.0


def start_long_lived(coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
    """Run `coro` as a task whose failure reaches the loop's exception handler at once."""
    task = asyncio.get_running_loop().create_task(coro, name=name)
    task.add_done_callback(_report_death)
    return task


def _report_death(task: asyncio.Task[None]) -> None:
    if task.cancelled() or task.exception() is None:
        return
    task.get_loop().call_exception_handler(
        {
            "message": f"task {task.get_name()} died",
            "exception": task.exception(),
            "task": task,
            TASK_DEATH: True,
        }
    )


def death_of(context: Mapping[str, Any]) -> str | None:
    """What died, for an exception handler's `context`; None when it is no task death."""
    if not context.get(TASK_DEATH):
        return None
    return f"{context['message']}: {context['exception']!r}"


def backoff(attempt: int, low: float, high: float) -> float:
    """The pause before try `attempt` + 1 (0-based): `low`, then doubling up to `high`.

    Each pause is drawn between half its ceiling and the ceiling, never below `low`, so
    that whatever failed together does not retry together.
    """
    ceiling = min(high, low * 2.0 ** min(attempt, 64))
    return max(low, random.uniform(ceiling / 2, ceiling))


class RestartPauses:
    """The pause before each restart of one thing that keeps dying (a worker, an engine)."""

    def __init__(self) -> None:
        self._deaths = 0
        self._started = time.monotonic()

    def started(self) -> None:
        self._started = time.monotonic()

    def after_death(self) -> float:
        if time.monotonic() - self._started >= STABLE_AFTER:
            self._deaths = 0
        pause = backoff(self._deaths, RESTART_MIN, RESTART_MAX)
        self._deaths += 1
        return pause
