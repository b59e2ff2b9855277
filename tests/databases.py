"""The databases the tests run on: a SQLite file, and a real PostgreSQL database.

Every test that touches a store runs once per kind (`[sqlite]`, `[postgresql]`) through
the `store_kind` parameter, which `conftest.pytest_generate_tests` adds to every test whose
fixtures need it. A test that is SQLite-only by nature (WAL, lock files, query plans) says
so with `@pytest.mark.sqlite_only`.

PostgreSQL: one database per test process, named at random, created on the server named
by SMSRELAY_TEST_POSTGRES, migrated once with the store's own `migrate()` and dropped at
the end of the session. Before each test every table but `schema_migrations` is emptied
and its identities restarted, so each test starts as on a new database (ids from 1).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg

from smsrelay.store import open_store

T = TypeVar("T")

STORE_KINDS = ("sqlite", "postgresql")
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
REQUIRE_POSTGRES = "SMSRELAY_REQUIRE_POSTGRES"
_CONNECT_TIMEOUT = 5.0

# The running loop-free test code reaches PostgreSQL through one loop per test (see `sync`).
_loop: asyncio.AbstractEventLoop | None = None


def sync(work: Coroutine[Any, Any, T]) -> T:
    """Run `work` on this test's event loop.

    One loop for the whole test, not one per call (`asyncio.run`): a PostgreSQL store's
    connections belong to the loop that opened them. `close_loop` ends it after the test.
    """
    global _loop
    if threading.current_thread() is not threading.main_thread():
        return asyncio.run(work)  # a test's own threads: each its own store, its own loop
    if _loop is None or _loop.is_closed():
        _loop = asyncio.new_event_loop()
    return _loop.run_until_complete(work)


def close_loop() -> None:
    global _loop
    if _loop is not None and not _loop.is_closed():
        _loop.run_until_complete(_loop.shutdown_asyncgens())
        _loop.close()
    _loop = None


# Where the test databases are created: read at import, before any test cleans the
# environment of SMSRELAY_* variables.
POSTGRES_ADMIN_URL = os.environ.get("SMSRELAY_TEST_POSTGRES") or DEFAULT_POSTGRES


def postgres_required() -> bool:
    return bool(os.environ.get(REQUIRE_POSTGRES))


def unavailable_message(admin_url: str) -> str:
    return (
        f"no PostgreSQL at {admin_url}: set SMSRELAY_TEST_POSTGRES="
        "postgresql://user@host:port/db to run these"
    )


def _database_url(admin_url: str, name: str) -> str:
    """The admin URL with its database name replaced by `name` (query string kept)."""
    base, _, query = admin_url.partition("?")
    scheme, _, rest = base.partition("://")
    server = rest.split("/", 1)[0]
    return f"{scheme}://{server}/{name}" + (f"?{query}" if query else "")


@dataclass
class PostgresDatabase:
    """The database of this test process on the PostgreSQL server."""

    admin_url: str
    name: str
    url: str
    tables: tuple[str, ...] = ()

    @classmethod
    def reachable(cls, admin_url: str) -> bool:
        async def probe() -> None:
            connection = await asyncpg.connect(admin_url, timeout=_CONNECT_TIMEOUT)
            await connection.close()

        try:
            asyncio.run(probe())
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):  # timeouts included
            return False
        return True

    @classmethod
    def create(cls, admin_url: str) -> PostgresDatabase:
        name = f"smsrelay_test_{os.getpid()}_{secrets.token_hex(4)}"

        async def create() -> None:
            admin = await asyncpg.connect(admin_url, timeout=_CONNECT_TIMEOUT)
            try:
                await admin.execute(f'CREATE DATABASE "{name}"')
            finally:
                await admin.close()

        asyncio.run(create())
        return cls(admin_url, name, _database_url(admin_url, name))

    def migrate(self) -> None:
        """Migrate with the store's own `migrate()`; note the tables to empty."""

        async def migrate() -> None:
            store = open_store(self.url)
            try:
                await store.migrate()
            finally:
                await store.close()
            connection = await asyncpg.connect(self.url, timeout=_CONNECT_TIMEOUT)
            try:
                rows = await connection.fetch(
                    "SELECT tablename FROM pg_tables"
                    " WHERE schemaname = 'public' AND tablename <> 'schema_migrations'"
                    " ORDER BY tablename"
                )
            finally:
                await connection.close()
            self.tables = tuple(row["tablename"] for row in rows)

        asyncio.run(migrate())

    def empty(self) -> str:
        """Empty every table of ours and restart its ids: as a new database. Its URL."""

        async def truncate() -> None:
            connection = await asyncpg.connect(self.url, timeout=_CONNECT_TIMEOUT)
            try:
                names = ", ".join(f'"{table}"' for table in self.tables)
                await connection.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
            finally:
                await connection.close()

        if self.tables:
            asyncio.run(truncate())
        return self.url

    def drop(self) -> None:
        async def drop() -> None:
            admin = await asyncpg.connect(self.admin_url, timeout=_CONNECT_TIMEOUT)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            finally:
                await admin.close()

        asyncio.run(drop())


# Set while this process's PostgreSQL database exists: `tests/store/peek.py` reads with it.
current_postgres: PostgresDatabase | None = None
