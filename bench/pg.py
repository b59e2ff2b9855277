"""PostgreSQL for the benchmarks: a fresh database of their own, filled from their SQLite
file by smsrelay's own copier, and the CPU time PostgreSQL spends on it.

Used by `multi_status.py`, `reports.py` and the end-to-end benchmark (`PgReader`). A
benchmark is given an *admin* URL (`--database postgresql://user@host:port/dbname`): it
creates a database with a random name there, works in it, and drops it at the end
whatever happens (`BenchDatabase` is a context manager). It never touches another
database: the admin one is only connected to, to create and drop ours.

PostgreSQL's work happens in its own processes, not in smsrelay's: a figure of CPU per
request that left them out would flatter it against SQLite, whose work is done inside
the server. `PostgresCpu` reads their utime + stime from /proc: the backends serving our
database (their process title names it) and the server's shared helpers (WAL writer,
checkpointer, background writer, autovacuum), which work for every database and so count
a little of whatever else runs beside the benchmark; other databases' backends are not
counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Coroutine, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import psutil

from multi_status_data import log
from smsrelay.store import open_store
from smsrelay.store.postgres_connection import redacted
from smsrelay.store.transfer import copy_database

COPY_CHUNK_ROWS = 50_000  # rows per COPY transaction: large, the target is a fresh database
CONNECT_TIMEOUT = 10.0
QUERY_TIMEOUT = 60.0  # a read beside the server, or at the end over the whole run
T = TypeVar("T")
# Process titles of the server's own helpers ("postgres: 15/main: walwriter").
_HELPERS = (
    "checkpointer",
    "background writer",
    "walwriter",
    "autovacuum launcher",
    "autovacuum worker",
    "logical replication launcher",
    "stats collector",
    "archiver",
)


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def database_url(admin_url: str, name: str) -> str:
    """`admin_url` pointing at the database `name` instead (user, host, port, query kept)."""
    parts = urlsplit(admin_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


class BenchDatabase:
    """A fresh, empty database on the server of `admin_url`, dropped on exit.

    Its name is random (`smsrelay_bench_<pid>_<hex>`), so two runs, or a run beside the
    test suite (whose databases are `smsrelay_test_*`), never meet.
    """

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.name = f"smsrelay_bench_{os.getpid()}_{secrets.token_hex(4)}"
        self.url = database_url(admin_url, self.name)

    def __enter__(self) -> BenchDatabase:
        asyncio.run(self._admin(f'CREATE DATABASE "{self.name}"'))
        log(f"postgresql: created database {self.name} on {redacted(self.admin_url)}")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.drop()

    def drop(self) -> None:
        """Drop the database, ending any session still in it (a server killed late)."""
        asyncio.run(self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        log(f"postgresql: dropped database {self.name}")

    async def _admin(self, sql: str) -> None:
        connection = await asyncpg.connect(self.admin_url, timeout=CONNECT_TIMEOUT)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    def migrate(self) -> None:
        """smsrelay's PostgreSQL migrations, as `smsrelay migrate` applies them."""

        async def run() -> None:
            store = open_store(self.url)
            try:
                await store.migrate()
            finally:
                await store.close()

        asyncio.run(run())

    def copy_from(self, sqlite_file: Path, chunk_rows: int = COPY_CHUNK_ROWS) -> float:
        """Migrate, copy every table of `sqlite_file` with smsrelay's copier
        (`smsrelay migrate-data`'s), check the counts, ANALYZE; the seconds it took."""
        started = time.perf_counter()
        self.migrate()
        last_log = [0.0]

        def progress(table: str, rows: int, total: int) -> None:
            now = time.perf_counter()
            if now - last_log[0] > 10.0:
                last_log[0] = now
                log(f"  copying {table}: {total:,} rows in all")

        async def run() -> None:
            source = sqlite3.connect(f"file:{sqlite_file}?mode=ro", uri=True)
            target = await asyncpg.connect(self.url, timeout=CONNECT_TIMEOUT)
            try:
                counts = await copy_database(
                    source, target, resume=False, chunk_rows=chunk_rows, progress=progress
                )
                wrong = [c for c in counts if c.source != c.target]
                if wrong:
                    raise RuntimeError(f"copy to PostgreSQL lost rows: {wrong}")
                # Fresh tables have no statistics: the planner must see the real sizes.
                await target.execute("ANALYZE")
            finally:
                await target.close()
                source.close()

        asyncio.run(run())
        return time.perf_counter() - started


def postgres_version(database: BenchDatabase) -> str:
    """The server's version, for the report ("15.20")."""

    async def read() -> str:
        connection = await asyncpg.connect(database.url, timeout=CONNECT_TIMEOUT)
        try:
            return str(await connection.fetchval("SHOW server_version"))
        finally:
            await connection.close()

    return asyncio.run(read()).split()[0]


# --- CPU accounting ----------------------------------------------------------------------


def _postmasters() -> list[psutil.Process]:
    """Every local PostgreSQL server's main process (a `postgres` whose parent is not one)."""
    found = []
    for process in psutil.process_iter(["name"]):
        with contextlib.suppress(psutil.Error):
            if process.info["name"] == "postgres" and process.parent().name() != "postgres":
                found.append(process)
    return found


class PostgresCpu:
    """CPU seconds PostgreSQL has spent on database `name`: its backends and the shared
    helpers, read from /proc. Unavailable (None) when no server runs on this machine."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.available = bool(_postmasters())

    def _per_process(self) -> dict[int, float]:
        tick = os.sysconf("SC_CLK_TCK")
        seconds: dict[int, float] = {}
        for postmaster in _postmasters():
            children: list[psutil.Process] = []
            with contextlib.suppress(psutil.Error):
                children = postmaster.children()
            for child in children:
                try:
                    title = " ".join(child.cmdline())
                    ours = self.name in title.split() or any(h in title for h in _HELPERS)
                    if not ours:
                        continue
                    stat = Path(f"/proc/{child.pid}/stat").read_text().rpartition(")")[2]
                    fields = stat.split()
                    seconds[child.pid] = (int(fields[11]) + int(fields[12])) / tick
                except (psutil.Error, OSError):
                    continue
        return seconds

    def read(self) -> dict[int, float]:
        """A snapshot, to be given to `since`."""
        return self._per_process() if self.available else {}

    def since(self, before: dict[int, float]) -> float:
        """CPU seconds spent since `before`: a process started meanwhile counts from zero,
        one that ended meanwhile is lost (backends stay while a pool holds them)."""
        now = self.read()
        return sum(cpu - before.get(pid, 0.0) for pid, cpu in now.items())


# --- reading beside a running server -----------------------------------------------------


class _Rows:
    """What `PgReader.execute` returns: the few cursor methods the benchmarks use."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self._rows = rows

    def fetchone(self) -> Any:
        """The first row, None when there is none (typed Any, as sqlite3's)."""
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._rows

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self._rows)


class PgReader:
    """A blocking, read-only connection to a PostgreSQL database, shaped like the
    `sqlite3.Connection` the end-to-end benchmark reads its SQLite file with (`execute`
    with `?` placeholders, `fetchone`, `fetchall`, iteration, `close`), so that its
    sampler and checks read either store with the same SQL.

    asyncpg is asynchronous and the sampler is called from inside the load's event loop:
    the connection lives on a loop of its own, in a thread, and each query waits for its
    answer as a read of the SQLite file would.
    """

    def __init__(self, url: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._connection: asyncpg.Connection = self._wait(
            asyncpg.connect(url, timeout=CONNECT_TIMEOUT)
        )
        self._wait(self._connection.execute("SET default_transaction_read_only = on"))

    def _wait(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(QUERY_TIMEOUT)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _Rows:
        numbered = iter(range(1, len(params) + 1))
        text = re.sub(r"\?", lambda _: f"${next(numbered)}", sql)
        rows = self._wait(self._connection.fetch(text, *params))
        return _Rows([tuple(row) for row in rows])

    def close(self) -> None:
        try:
            self._wait(self._connection.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(QUERY_TIMEOUT)
            self._loop.close()
