"""Numbered SQL files per dialect (`sqlite/0001_initial.sql`), applied in order.

Each file runs inside the migrating transaction, so a failed migration leaves nothing
half-done, and a second process starting at the same time waits on the lock instead of
applying it twice.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from importlib import resources


def migration_files(dialect: str) -> list[tuple[int, str, str]]:
    """(version, name, SQL) for every migration of `dialect`, in version order."""
    folder = resources.files(__name__).joinpath(dialect)
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def split_statements(sql: str) -> Iterator[str]:
    """Single statements of a script: `executescript` would commit the open transaction."""
    pending = ""
    for line in sql.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            if pending.strip():
                yield pending.strip()
            pending = ""
    if pending.strip() and not all(
        part.strip().startswith("--") or not part.strip() for part in pending.splitlines()
    ):
        raise ValueError(f"incomplete SQL statement at the end of a migration: {pending!r}")
