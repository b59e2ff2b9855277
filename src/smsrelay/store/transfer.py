"""Moving an installation from its SQLite file to PostgreSQL, table by table, resumably.

Rows are copied in the source's key order, a chunk at a time, each chunk with `COPY` in
a transaction of its own: whatever stops the copy (Ctrl-C, a lost connection, a crash),
the target holds a prefix of every table, so a second run with `resume` reads where
each table's prefix ends and goes on from there. Both databases are migrated to the
current schema first; the target's column types say how a value is written (SQLite's
0/1 become booleans). At the end the identities are moved past the copied ids, so the
next account or message gets a new id, never one a copied row holds.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import asyncpg

from smsrelay.store.base import StoreError

# In the order their references need; each with the columns of its key, as SQLite
# orders them (text compared byte by byte: the target compares with COLLATE "C").
TABLES: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("accounts", ("id",)),
    ("api_keys", ("id",)),
    ("messages", ("id",)),
    ("recipients", ("account_id", "message_id", "phone")),
    ("parts", ("account_id", "message_id", "phone", "part")),
    ("status_events", ("id",)),
    ("stop_list", ("id",)),
    ("replies", ("id",)),
    ("latest_recipient", ("phone",)),
    ("claimed_numbers", ("phone",)),
    ("early_receipts", ("id",)),
    ("ambiguous_receipts", ("id",)),
)
# Tables whose id is an identity: moved past the copied ids at the end.
_IDENTITIES: Final = (
    "accounts",
    "messages",
    "status_events",
    "stop_list",
    "replies",
    "early_receipts",
    "ambiguous_receipts",
)


@dataclass(frozen=True, slots=True)
class TableCount:
    table: str
    source: int
    target: int


Progress = Callable[[str, int, int], None]  # table, rows copied by this chunk, rows in all


class TargetNotEmpty(StoreError):
    """The target holds rows already and the copy was not told to resume."""


async def copy_database(
    source: sqlite3.Connection,
    target: asyncpg.Connection,
    *,
    resume: bool,
    chunk_rows: int = 5000,
    progress: Progress | None = None,
) -> list[TableCount]:
    """Copy every table of `source` (migrated) into `target` (migrated); the counts of
    both per table, read at the end."""
    if not resume and await _holds_rows(target):
        raise TargetNotEmpty(
            "the target database holds rows already: copy into an empty one,"
            " or add --resume to go on with a copy that was interrupted"
        )
    for table, key in TABLES:
        columns = await _target_columns(target, table)
        total = source.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        after = await _last_key(target, table, key, dict(columns)) if resume else None
        if progress is not None:
            progress(table, await _count(target, table), total)
        for rows in _chunks(source, table, key, [c for c, _ in columns], after, chunk_rows):
            records = [_record(row, columns) for row in rows]
            async with target.transaction():
                await target.copy_records_to_table(
                    table, records=records, columns=[c for c, _ in columns]
                )
            if progress is not None:
                progress(table, len(records), total)
    for table in _IDENTITIES:
        await target.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
            f" coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
        )
    return [
        TableCount(
            table,
            source.execute(f"SELECT count(*) FROM {table}").fetchone()[0],
            await _count(target, table),
        )
        for table, _ in TABLES
    ]


async def _holds_rows(target: asyncpg.Connection) -> bool:
    for table, _ in TABLES:
        if await target.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table})"):
            return True
    return False


async def _count(target: asyncpg.Connection, table: str) -> int:
    return int(await target.fetchval(f"SELECT count(*) FROM {table}"))


async def _target_columns(target: asyncpg.Connection, table: str) -> list[tuple[str, str]]:
    rows = await target.fetch(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        table,
    )
    return [(row["column_name"], row["data_type"]) for row in rows]


async def _last_key(
    target: asyncpg.Connection, table: str, key: Sequence[str], kinds: dict[str, str]
) -> tuple[Any, ...] | None:
    """Where the copied prefix of `table` ends, in the source's order: text compared
    byte by byte (COLLATE "C"), as SQLite compares it."""
    order = ", ".join(
        f'{column} COLLATE "C" DESC' if kinds[column] == "text" else f"{column} DESC"
        for column in key
    )
    row = await target.fetchrow(f"SELECT {', '.join(key)} FROM {table} ORDER BY {order} LIMIT 1")
    return None if row is None else tuple(row)


def _chunks(
    source: sqlite3.Connection,
    table: str,
    key: Sequence[str],
    columns: Sequence[str],
    after: tuple[Any, ...] | None,
    size: int,
) -> Iterator[list[tuple[Any, ...]]]:
    """The source's rows after `after`, in key order, `size` at a time (keyset pages: a
    page costs the same at the end of a 10 M-row table as at its start)."""
    listed = ", ".join(columns)
    keys = ", ".join(key)
    positions = [columns.index(column) for column in key]
    while True:
        where = "" if after is None else f" WHERE ({keys}) > ({', '.join('?' * len(key))})"
        rows = source.execute(
            f"SELECT {listed} FROM {table}{where} ORDER BY {keys} LIMIT ?",
            (*(after or ()), size),
        ).fetchall()
        if not rows:
            return
        yield rows
        after = tuple(rows[-1][p] for p in positions)


def _record(row: Sequence[Any], columns: Sequence[tuple[str, str]]) -> tuple[Any, ...]:
    """A SQLite row as the target's column types take it."""
    return tuple(
        _CONVERT.get(kind, _same)(value) if value is not None else None
        for value, (_, kind) in zip(row, columns, strict=True)
    )


def _same(value: Any) -> Any:
    return value


_CONVERT: Final[dict[str, Callable[[Any], Any]]] = {
    "boolean": bool,
    "double precision": float,
    "bigint": int,
    "integer": int,
    "bytea": bytes,
}
