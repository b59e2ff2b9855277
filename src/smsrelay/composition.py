"""The composition root: which store and which delivery engine `Settings` ask for.

The API, the delivery worker and the command line each need a store, opened with the
options of their role; the API also needs a delivery engine, in a process of its own or
in its loop. Choosing them is here, once, so that the rest of the code receives a store
and an engine and never reads the settings to decide which.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal, Protocol

from smsrelay.config import Settings
from smsrelay.delivery.engine import DeliveryEngine
from smsrelay.delivery.inline import InlineDelivery
from smsrelay.store import Store, open_store

Role = Literal["api", "delivery", "command"]


class Delivery(Protocol):
    """The API's handle on the delivery engine, wherever it runs."""

    problem: str | None  # None while an engine runs; else why none does (/health)

    async def start(self) -> None: ...

    def wake(self) -> None: ...

    async def stop(self) -> None: ...


# How long each role waits for SQLite's write lock, at least: a client waits for the
# API's writes, so the worker's can wait longer; a command line waits as long as it must.
_LEAST_BUSY_TIMEOUT: dict[Role, float] = {"api": 0.0, "delivery": 30.0, "command": 10.0}


def store_for(settings: Settings, role: Role) -> Store:
    """The configured database, opened for `role`. The delivery worker also leaves
    SQLite's lock to the API when both want it (`background`)."""
    return open_store(
        settings.database,
        synchronous=settings.sqlite_synchronous,
        busy_timeout=max(settings.sqlite_busy_timeout, _LEAST_BUSY_TIMEOUT[role]),
        background=role == "delivery",
        pool_size=settings.postgres_pool_size,
    )


def delivery_for(settings: Settings, store: Store) -> Delivery:
    """The engine in a worker process of its own (`delivery = "process"`, its own store)
    or in the API's loop on the API's store."""
    if settings.delivery == "process":
        # Imported here: the worker process imports this module for `store_for`.
        from smsrelay.delivery.worker import DeliveryWorker

        return DeliveryWorker(settings)
    return InlineDelivery(lambda: DeliveryEngine(store, settings))


@asynccontextmanager
async def api_parts(settings: Settings) -> AsyncIterator[tuple[Store, Delivery]]:
    """The API's store, migrated, and its running delivery engine; both stopped after."""
    store = store_for(settings, "api")
    try:
        await store.migrate()
        delivery = delivery_for(settings, store)
        await delivery.start()
        try:
            yield store, delivery
        finally:
            await delivery.stop()
    finally:
        await store.close()
