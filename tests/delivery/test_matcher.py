"""The matcher tells a carrier when a report is stored, never before."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from smsrelay.delivery.matcher import ReceiptMatcher
from smsrelay.domain.records import Receipt, Reply
from smsrelay.domain.status import State
from smsrelay.store import open_store as open_url
from smsrelay.store import sqlite_path
from smsrelay.store.base import Store
from tests import databases
from tests.store import peek

REPORT = Receipt("smsc", "42", State.DELIVERED, 0.0)


async def open_store(database: str | Path, busy_timeout: float = 0.05) -> Store:
    """`database`'s store, migrated; a path is a SQLite file's. `busy_timeout` is SQLite's:
    how long a write waits for another connection's lock before it is refused."""
    url = database if isinstance(database, str) else f"sqlite:///{database}"
    store = open_url(url, busy_timeout=busy_timeout)
    await store.migrate()
    return store


@contextlib.asynccontextmanager
async def writes_held(url: str) -> AsyncIterator[None]:
    """Another connection holds every table against writes until the block ends (SQLite:
    BEGIN IMMEDIATE; PostgreSQL: LOCK TABLE, which reads still pass); then it commits."""
    if url.startswith("sqlite:///"):
        holder = sqlite3.connect(sqlite_path(url), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            holder.execute("COMMIT")
            holder.close()
        return
    assert databases.current_postgres is not None
    tables = ", ".join(f'"{table}"' for table in databases.current_postgres.tables)
    connection = await asyncpg.connect(url)
    try:
        async with connection.transaction():
            await connection.execute(f"LOCK TABLE {tables} IN EXCLUSIVE MODE")
            yield
    finally:
        await connection.close()


def test_a_report_is_acknowledged_once_stored(database_url: str) -> None:
    async def scenario() -> tuple[bool, bool]:
        store = await open_store(database_url)
        matcher = ReceiptMatcher(store)
        stored = matcher.receive(REPORT)
        before = stored.done()
        await matcher.flush()
        await store.close()
        return before, stored.done()

    assert asyncio.run(scenario()) == (False, True)


@pytest.mark.sqlite_only  # refused by another connection's lock, after the busy timeout
def test_a_report_the_database_refused_is_not_acknowledged(tmp_path: Path) -> None:
    async def scenario() -> tuple[bool, bool]:
        matcher = ReceiptMatcher(await open_store(tmp_path / "m.db"))
        other = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        stored = matcher.receive(REPORT)
        await matcher.flush()
        refused = stored.done()
        other.execute("COMMIT")
        other.close()
        await matcher.flush()
        return refused, stored.done()

    assert asyncio.run(scenario()) == (False, True)


def test_a_reply_is_acknowledged_once_stored(database_url: str) -> None:
    async def scenario() -> tuple[bool, bool]:
        store = await open_store(database_url)
        matcher = ReceiptMatcher(store)
        stored = matcher.receive_reply(Reply("smsc", "+33612345678", "Merci", 0.0))
        before = stored.done()
        await matcher.flush()
        await store.close()
        return before, stored.done()

    assert asyncio.run(scenario()) == (False, True)


def test_configured_keywords_decide_what_is_a_stop(database_url: str) -> None:
    async def scenario() -> list[peek.Row]:
        store = await open_store(database_url)
        matcher = ReceiptMatcher(store, frozenset({"halt"}))
        for text in ("HALT", "STOP"):
            matcher.receive_reply(Reply("smsc", "+33612345678", text, 0.0))
        await matcher.flush()
        await store.close()
        return await peek.read(database_url, "SELECT text, stop FROM replies ORDER BY id")

    assert asyncio.run(scenario()) == [("HALT", 1), ("STOP", 0)]


def test_a_report_that_arrives_while_replies_are_written_is_stored_without_another(
    database_url: str,
) -> None:
    async def scenario() -> bool:
        store = await open_store(database_url, busy_timeout=5.0)
        matcher = ReceiptMatcher(store)
        running = asyncio.create_task(matcher.run())
        async with writes_held(database_url):  # the reply's write waits for the lock
            matcher.receive_reply(Reply("smsc", "+33612345678", "Merci", 0.0))
            await asyncio.sleep(0.1)
            stored = matcher.receive(REPORT)  # while the reply is being written
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(stored), 2.0)
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await store.close()
        return stored.done()

    assert asyncio.run(scenario())


def early_count(path: Path) -> int:
    """Copies of REPORT applied: it names no SMS, so each waits in early_receipts."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        return int(db.execute("SELECT count(*) FROM early_receipts").fetchone()[0])


@pytest.mark.sqlite_only  # refused by another connection's lock, after the busy timeout
def test_a_withdrawn_report_still_queued_is_never_applied(tmp_path: Path) -> None:
    """A carrier whose operator will send the report again withdraws it: applied from
    that second copy only, never twice."""
    path = tmp_path / "m.db"

    async def scenario() -> None:
        matcher = ReceiptMatcher(await open_store(path))
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        stored = matcher.receive(REPORT)
        await matcher.flush()  # refused: it stays queued
        assert stored.cancel()
        holder.execute("ROLLBACK")
        holder.close()
        await matcher.flush()
        assert stored.cancelled()

    asyncio.run(scenario())
    assert early_count(path) == 0


@pytest.mark.sqlite_only  # refused by another connection's lock, after the busy timeout
def test_a_report_being_written_is_withdrawn_only_if_the_write_is_refused(
    tmp_path: Path,
) -> None:
    path = tmp_path / "m.db"

    async def withdrawn_while_written(refused: bool) -> bool:
        store = await open_store(path, busy_timeout=0.3 if refused else 10)
        matcher = ReceiptMatcher(store)
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        stored = matcher.receive(REPORT)
        flushing = asyncio.create_task(matcher.flush())
        await asyncio.sleep(0.1)  # the write waits for the lock
        assert not stored.cancel()  # it may yet be committed: not withdrawn
        assert not stored.done()
        if not refused:
            holder.execute("ROLLBACK")
        await flushing
        if holder.in_transaction:
            holder.execute("ROLLBACK")
        holder.close()
        await matcher.flush()
        await store.close()
        return stored.cancelled()

    assert asyncio.run(withdrawn_while_written(refused=False)) is False  # stored: done
    assert early_count(path) == 1
    assert asyncio.run(withdrawn_while_written(refused=True)) is True  # dropped, not applied
    assert early_count(path) == 1
