"""The only code that speaks SQL. `open_store` picks the implementation from a URL."""

from __future__ import annotations

from pathlib import Path

from smsrelay.store.base import Store, StoreError
from smsrelay.store.postgres import PostgresStore
from smsrelay.store.sqlite import SQLiteStore

__all__ = ["Store", "StoreError", "open_store", "sqlite_path"]

_POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def sqlite_path(url: str) -> Path:
    """`sqlite:///var/x.db` is relative to the working folder, `sqlite:////srv/x.db` absolute."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise StoreError(
            f"unsupported database URL {url!r}:"
            " expected sqlite:///PATH or postgresql://user@host:port/dbname"
        )
    return Path(url[len(prefix) :])


def open_store(
    url: str,
    *,
    synchronous: str = "FULL",
    busy_timeout: float = 10.0,
    background: bool = False,
    pool_size: int = 10,
) -> Store:
    """The store `url` names. `synchronous`, `busy_timeout` and `background` are SQLite's;
    `pool_size`, the connections a PostgreSQL store keeps open at most. A PostgreSQL store
    connects on first use, on the loop that uses it."""
    if url.startswith(_POSTGRES_SCHEMES):
        return PostgresStore(url, pool_size)
    return SQLiteStore.open(sqlite_path(url), synchronous, busy_timeout, background)
