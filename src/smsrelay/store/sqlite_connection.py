"""One SQLite connection, and the two things every query of the store does with it.

A write is one transaction that takes the write lock up front (`BEGIN IMMEDIATE`), waits
for another process's lock on the event loop rather than in SQLite's busy handler, and
translates every driver error into StoreError. `SQLiteStore` (sqlite.py) and its
delivery half (sqlite_delivery.py) build on this.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Self

import msgspec

from smsrelay.domain.status import StatusChange
from smsrelay.store.base import ConflictError, StoreError

encode_json = msgspec.json.Encoder().encode

# Pauses between tries for another process's write lock, (first, longest). A client
# waits for the API's writes: they try often. The delivery worker's writes can wait, so
# they try less often and leave the lock to the API when both want it.
_PAUSES = {False: (0.0002, 0.001), True: (0.002, 0.02)}

_INSERT_EVENT = (
    "INSERT INTO status_events (account_id, message_id, phone, at, state, source, detail)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def record_changes(db: sqlite3.Connection, changes: Iterable[StatusChange]) -> None:
    """The one way this store records a change of state: its `status_events` row, in
    the caller's transaction."""
    db.executemany(_INSERT_EVENT, changes)


def _enter_wal(db: sqlite3.Connection, busy_timeout: float) -> None:
    """Switch a new file to WAL, or check that it is. While another connection is
    switching the same new file (the API and its delivery worker start together), SQLite
    answers BUSY at once, without its busy handler: try again, until `busy_timeout`."""
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
        time.sleep(0.001)  # at start-up, before any loop runs on this connection


class SQLiteConnection:
    def __init__(
        self, connection: sqlite3.Connection, busy_timeout: float = 10.0, background: bool = False
    ) -> None:
        self._db = connection
        self._busy_timeout = busy_timeout
        self._pauses = _PAUSES[background]

    @classmethod
    def open(
        cls,
        path: Path,
        synchronous: str = "FULL",
        busy_timeout: float = 10.0,
        background: bool = False,
    ) -> Self:
        """Open (creating it and its folder if needed) the database file at `path`.

        `busy_timeout` is how long a write waits for another process's lock (the
        delivery worker's, the CLI's) before answering "try again". The wait is ours, on
        the event loop (see `_begin`), so SQLite's own busy handler is off. A `background`
        store (the delivery worker's) tries less often, leaving the lock to the API.
        """
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            _enter_wal(db, busy_timeout)
            db.execute(f"PRAGMA synchronous = {'FULL' if synchronous == 'FULL' else 'NORMAL'}")
            db.execute("PRAGMA busy_timeout = 0")
            db.execute("PRAGMA foreign_keys = ON")
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open SQLite database {path}: {exc}") from exc
        return cls(db, busy_timeout, background)

    async def _begin(self) -> None:
        """BEGIN IMMEDIATE, waiting for another process's write lock without blocking.

        SQLite's busy handler would sleep inside the call, 5 to 100 ms at a time, and the
        whole event loop with it: measured, the API then spent more time asleep than
        working while the delivery worker wrote. Here each try fails at once, and the
        loop serves other requests between tries.
        """
        deadline = time.monotonic() + self._busy_timeout
        pause, longest = self._pauses
        while True:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                    raise
                if time.monotonic() + pause > deadline:
                    raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, longest)

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[sqlite3.Connection]:
        """One write transaction, taking the lock up front so it cannot fail half-way.

        The body must not await: nothing else may use the connection while it is open.
        """
        try:
            await self._begin()
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.IntegrityError as exc:
            raise ConflictError(str(exc)) from exc
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite write failed: {exc}") from exc

    def _read(self, sql: str, params: Sequence[object]) -> list[Any]:
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite read failed: {exc}") from exc

    async def close(self) -> None:
        self._db.close()
