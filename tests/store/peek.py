"""Reading (and, rarely, writing) a store's tables directly, whichever the database.

The tests check what the store's methods do through its methods; a few need to see a
table the methods do not show (the history, the kept reports). The SQL is written once,
in what both databases understand, with `?` placeholders: on PostgreSQL they become
`$1..$n`. SQLite is read on the store's own connection (it sees its own writes, and an
in-memory database has no other); PostgreSQL on a connection of its own to this
process's test database, on the test's event loop.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import sqlite3
from typing import Any

import asyncpg

from smsrelay.store import sqlite_path
from smsrelay.store.base import Store
from smsrelay.store.sqlite import SQLiteStore
from tests import databases
from tests.databases import sync

Row = tuple[Any, ...]


def numbered(sql: str) -> str:
    """`?` placeholders as PostgreSQL's `$1..$n` (our SQL has no `?` inside literals)."""
    count = itertools.count(1)
    return re.sub(r"\?", lambda _: f"${next(count)}", sql)


async def _postgres(sql: str, params: tuple[object, ...]) -> list[Row]:
    database = databases.current_postgres
    assert database is not None, "a PostgreSQL store outside the postgres_database fixture"
    connection = await asyncpg.connect(database.url)
    try:
        return [tuple(record) for record in await connection.fetch(numbered(sql), *params)]
    finally:
        await connection.close()


def rows(store: Store, sql: str, *params: object) -> list[Row]:
    """The rows `sql` reads from the store's database, as tuples."""
    if isinstance(store, SQLiteStore):
        return [tuple(row) for row in store._db.execute(sql, params).fetchall()]
    return sync(_postgres(sql, params))


def value(store: Store, sql: str, *params: object) -> Any:
    """The first column of the one row `sql` reads."""
    [row] = rows(store, sql, *params)[:1]
    return row[0]


def execute(store: Store, sql: str, *params: object) -> None:
    """A write outside the store's methods, committed at once."""
    rows(store, sql, *params)


async def read(url: str, sql: str, *params: object) -> list[Row]:
    """The rows `sql` reads from the database `url` names, on a connection of its own:
    for a test whose store is opened inside its own loop (`asyncio.run`), or by another
    process. Awaited inside that loop; `read_now` outside any."""
    if not url.startswith(("postgresql://", "postgres://")):
        with contextlib.closing(sqlite3.connect(sqlite_path(url))) as db:
            return [tuple(row) for row in db.execute(sql, params).fetchall()]
    connection = await asyncpg.connect(url)
    try:
        return [tuple(record) for record in await connection.fetch(numbered(sql), *params)]
    finally:
        await connection.close()


def read_now(url: str, sql: str, *params: object) -> list[Row]:
    """`read`, from a test's code outside any running loop."""
    return sync(read(url, sql, *params))
