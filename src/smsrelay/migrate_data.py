"""`smsrelay migrate-data`: an installation's SQLite file copied into PostgreSQL.

Both databases are brought to the current schema with the stores' own migrations, then
`store.transfer.copy_database` copies the rows under a progress bar, and the counts of
every table are compared. Interrupted, the copy keeps what it committed, and the same
command with `--resume` goes on from there.
"""

from __future__ import annotations

import asyncio
import sqlite3

import asyncpg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from smsrelay.store import StoreError, open_store, sqlite_path
from smsrelay.store.postgres_connection import DRIVER_ERRORS
from smsrelay.store.transfer import TableCount, copy_database

__all__ = ["migrate_data"]

_COPY_ERRORS: tuple[type[Exception], ...] = (*DRIVER_ERRORS, sqlite3.Error)


def migrate_data(
    source_url: str, target_url: str, *, resume: bool, chunk_rows: int, console: Console
) -> bool:
    """Copy, show the counts; whether every table's counts agree. Raises StoreError
    with one line for what the user must mend (a URL, a non-empty target)."""
    if not target_url.startswith(("postgresql://", "postgres://")):
        raise StoreError(f"--to must be a postgresql:// URL, not {target_url!r}")
    path = sqlite_path(source_url)
    if not path.is_file():
        raise StoreError(f"no SQLite database at {path}")
    try:
        counts = asyncio.run(_copy(source_url, target_url, resume, chunk_rows, console))
    except _COPY_ERRORS as exc:
        raise StoreError(
            f"the copy stopped: {exc}; what was copied is kept: run the same command"
            " with --resume to go on"
        ) from exc
    table = Table("table", "SQLite", "PostgreSQL", "")
    for count in counts:
        table.add_row(
            count.table,
            f"{count.source:,}",
            f"{count.target:,}",
            "ok" if count.source == count.target else "DIFFERENT",
        )
    console.print(table)
    return all(count.source == count.target for count in counts)


async def _copy(
    source_url: str, target_url: str, resume: bool, chunk_rows: int, console: Console
) -> list[TableCount]:
    for url in (source_url, target_url):
        store = open_store(url, pool_size=1)
        try:
            await store.migrate()
        finally:
            await store.close()
    source = sqlite3.connect(f"file:{sqlite_path(source_url)}?mode=ro", uri=True)
    try:
        target = await _connect(target_url)
        try:
            with Progress(
                TextColumn("{task.description:<20}"),
                BarColumn(),
                MofNCompleteColumn(),
                console=console,
            ) as bar:
                tasks: dict[str, TaskID] = {}

                def advance(table: str, rows: int, total: int) -> None:
                    if table not in tasks:
                        tasks[table] = bar.add_task(table, total=total, completed=rows)
                    else:
                        bar.advance(tasks[table], rows)

                return await copy_database(
                    source, target, resume=resume, chunk_rows=chunk_rows, progress=advance
                )
        finally:
            await target.close()
    finally:
        source.close()


async def _connect(url: str) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(url)
    except DRIVER_ERRORS as exc:
        raise StoreError(f"cannot connect to {url}: {exc}") from exc
