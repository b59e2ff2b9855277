"""A pool of PostgreSQL connections, and the two things every query of the store does with it.

The pool is opened on first use, on the event loop that uses it: `open_store` is called
before any loop runs (the CLI, the test fixtures), and asyncpg's connections belong to
the loop that opened them. A write is one transaction on one connection; reads take any
connection. Every driver and network error is translated into StoreError where it
enters our code, with one line saying what failed: callers never see asyncpg.
`PostgresStore` (postgres.py) and its delivery half (postgres_delivery.py) build on this.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeAlias
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from smsrelay.domain.status import StatusChange
from smsrelay.store.base import ConflictError, StoreError
from smsrelay.store.migrations import migration_files

# Held, for its transaction, by whoever migrates: several processes starting at once
# (the API, its delivery worker, a CLI) apply each migration once, in turn.
MIGRATION_LOCK = 0x736D_7372_6C79  # "smsrly"
# How long opening a connection may take before the store answers "cannot connect".
CONNECT_TIMEOUT = 10.0

# One statement for a whole batch of history rows: a row per index of the arrays.
_INSERT_EVENTS = (
    "INSERT INTO status_events (account_id, message_id, phone, at, state, source, detail)"
    " SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::float8[],"
    " $5::text[], $6::text[], $7::text[])"
)

# A number already on the list takes no id: ON CONFLICT alone would draw one from the
# identity and waste it, and the next entry's id would differ from SQLite's.
ADD_STOP = (
    "INSERT INTO stop_list (account_id, phone, source, created_at)"
    " SELECT $1, $2, $3, $4 WHERE NOT EXISTS"
    " (SELECT 1 FROM stop_list WHERE account_id = $1 AND phone = $2)"
    " ON CONFLICT DO NOTHING"
)

# A connection taken from the pool, for one transaction.
Connection: TypeAlias = "asyncpg.pool.PoolConnectionProxy[asyncpg.Record]"
_Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"


def columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """`rows` turned into `width` arrays, one per column: the parameters of `unnest`."""
    return (
        [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]
    )


def updated(status: str) -> int:
    """How many rows a statement touched, from asyncpg's status line ("UPDATE 3")."""
    return int(status.rsplit(" ", 1)[-1])


async def record_changes(connection: Connection, changes: Sequence[StatusChange]) -> None:
    """The one way this store records a change of state: its `status_events` rows, one
    statement for the batch, in the caller's transaction."""
    if changes:
        await connection.execute(_INSERT_EVENTS, *columns(changes, 7))


def redacted(url: str) -> str:
    """`url` without its password (after the user, or as `?password=`), fit for a
    message or a log line."""
    parts = urlsplit(url)
    if parts.password is not None:
        host = parts.netloc.rsplit("@", 1)[-1]
        parts = parts._replace(netloc=f"{parts.username or ''}:***@{host}")
    query = "&".join(
        "password=***" if pair.startswith("password=") else pair for pair in parts.query.split("&")
    )
    return urlunsplit(parts._replace(query=query))


# Everything asyncpg and the network raise: the server's errors, the client's (a broken
# or closed connection), its internal state errors (a connection cut in the middle of
# an operation), the socket's. Translated where they enter, so nothing above the store
# sees a driver error and a lost connection is a 503, never a 500.
DRIVER_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
    TimeoutError,
)

# Opening the pool also raises ValueError for a malformed URL.
_OPENING_ERRORS: tuple[type[Exception], ...] = (*DRIVER_ERRORS, ValueError)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


@contextmanager
def translated(action: str) -> Iterator[None]:
    """Driver and network errors raised inside become ConflictError or StoreError."""
    try:
        yield
    except (asyncpg.UniqueViolationError, asyncpg.ForeignKeyViolationError) as exc:
        raise ConflictError(_one_line(exc)) from exc
    except DRIVER_ERRORS as exc:
        raise StoreError(f"PostgreSQL {action} failed: {_one_line(exc)}") from exc


class PostgresConnection:
    def __init__(self, url: str, pool_size: int = 10) -> None:
        self._url = url
        self._pool_size = pool_size
        self._pool: _Pool | None = None
        self._opening = asyncio.Lock()
        self._closed = False

    async def _connected(self) -> _Pool:
        """The pool, opened now if this is the first use; never half-open. A closed store
        stays closed: reopening would leave a pool nobody closes."""
        if self._closed:
            raise StoreError(f"the PostgreSQL store of {redacted(self._url)} is closed")
        if self._pool is None:
            async with self._opening:
                if self._pool is None:
                    self._pool = await self._open_pool()
        return self._pool

    async def _open_pool(self) -> _Pool:
        try:
            return await asyncpg.create_pool(
                self._url,
                min_size=1,
                max_size=self._pool_size,
                timeout=CONNECT_TIMEOUT,
            )
        except _OPENING_ERRORS as exc:
            raise StoreError(
                f"cannot connect to PostgreSQL at {redacted(self._url)}: {_one_line(exc)}"
            ) from exc

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[Connection]:
        """One write transaction on one connection: committed when the body returns,
        rolled back when it raises (NotEnoughCredit included)."""
        pool = await self._connected()
        with translated("write"):
            async with pool.acquire() as connection, connection.transaction():
                yield connection

    async def _read(self, sql: str, *params: object) -> list[Any]:
        pool = await self._connected()
        with translated("read"):
            rows: list[Any] = await pool.fetch(sql, *params)
        return rows

    async def migrate(self) -> list[str]:
        """Apply the pending `migrations/postgres` files, each recorded, in one transaction
        holding the migration lock: a second process waits, then finds them applied."""
        applied: list[str] = []
        async with self._write() as connection:
            await connection.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
            await connection.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY,"
                " name text NOT NULL, applied_at bigint NOT NULL)"
            )
            done = {
                row[0] for row in await connection.fetch("SELECT version FROM schema_migrations")
            }
            for version, name, sql in migration_files("postgres"):
                if version in done:
                    continue
                # No parameters: asyncpg sends the file as one simple query, every
                # statement of it inside this transaction.
                await connection.execute(sql)
                await connection.execute(
                    "INSERT INTO schema_migrations"
                    " VALUES ($1, $2, extract(epoch FROM now())::bigint)",
                    version,
                    name,
                )
                applied.append(name)
        return applied

    async def close(self) -> None:
        self._closed = True
        if self._pool is not None:
            pool, self._pool = self._pool, None
            with translated("close"):
                await pool.close()
