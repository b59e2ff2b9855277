"""What only the SQLite store does, on a real file: write-ahead logging, its lock, its
query plans and statements, its URLs. What every store does is in test_store.py."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from smsrelay.store import StoreError, sqlite_path
from smsrelay.store.migrations import migration_files
from smsrelay.store.sqlite import LOOKUP_STATUSES, SQLiteStore
from tests.databases import sync
from tests.store.test_store import NOW, PHONES, new_message


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    opened = SQLiteStore.open(tmp_path / "s.db")
    sync(opened.migrate())
    yield opened
    sync(opened.close())


@pytest.fixture
def account_id(store: SQLiteStore) -> int:
    return sync(store.create_account("acme", "FR", "fr", 100_000, int(NOW))).id


# --- migrations -------------------------------------------------------------------------


def test_concurrent_migrations_apply_each_file_once(tmp_path: Path) -> None:
    applied: list[list[str]] = []

    def migrate() -> None:
        opened = SQLiteStore.open(tmp_path / "race.db")
        applied.append(sync(opened.migrate()))
        sync(opened.close())

    threads = [threading.Thread(target=migrate) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every_file = [name for _, name, _ in migration_files("sqlite")]
    assert sorted(applied, key=len) == [[], [], [], every_file]


def test_stores_opened_at_once_on_a_new_file_all_open(tmp_path: Path) -> None:
    """The API and its delivery worker open a new file together: while one switches it
    to WAL, SQLite answers the other BUSY without waiting (one round in ten failed)."""
    failures: list[BaseException] = []

    def open_store(path: Path) -> None:
        try:
            sync(SQLiteStore.open(path).close())
        except StoreError as exc:
            failures.append(exc)

    for round_ in range(40):
        threads = [
            threading.Thread(target=open_store, args=(tmp_path / f"new-{round_}.db",))
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert failures == []


def test_database_uses_write_ahead_logging(store: SQLiteStore, tmp_path: Path) -> None:
    mode = sqlite3.connect(tmp_path / "s.db").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


@pytest.mark.parametrize(
    ("url", "path"),
    [("sqlite:///var/smsrelay.db", "var/smsrelay.db"), ("sqlite:////srv/x.db", "/srv/x.db")],
)
def test_sqlite_urls_name_relative_and_absolute_files(url: str, path: str) -> None:
    assert sqlite_path(url) == Path(path)


@pytest.mark.parametrize("url", ["postgresql://localhost/x", "sqlite://", "var/x.db"])
def test_unsupported_database_urls_are_refused(url: str) -> None:
    with pytest.raises(StoreError):
        sqlite_path(url)


# --- the status lookup ------------------------------------------------------------------


def test_lookup_plan_walks_the_pairs_and_probes_the_primary_key(store: SQLiteStore) -> None:
    plan = [row[3] for row in store._db.execute("EXPLAIN QUERY PLAN " + LOOKUP_STATUSES, ("[]", 0))]
    assert plan[0].startswith("SCAN j")
    assert plan[1] == "SEARCH r USING PRIMARY KEY (account_id=? AND message_id=? AND phone=?)"


def test_releasing_claims_reads_only_the_claimed(store: SQLiteStore) -> None:
    plan = store._db.execute(
        "EXPLAIN QUERY PLAN SELECT account_id, message_id, phone FROM recipients"
        " WHERE state = 'queued'"
    ).fetchall()
    assert "INDEX recipients_queued" in plan[0][3]


def test_lookup_of_many_pairs_is_one_statement(store: SQLiteStore, account_id: int) -> None:
    message_id = new_message(store, account_id)
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    pairs = [(message_id, p) for p in PHONES] + [(message_id + 1, p) for p in PHONES] * 100
    found = sync(store.lookup_statuses(account_id, pairs))
    store._db.set_trace_callback(None)
    assert len(statements) == 1
    assert set(found) == {(message_id, p) for p in PHONES}


# --- errors -----------------------------------------------------------------------------


def test_a_database_locked_by_another_process_is_a_store_error(tmp_path: Path) -> None:
    first = SQLiteStore.open(tmp_path / "locked.db")
    sync(first.migrate())
    holder = sqlite3.connect(tmp_path / "locked.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    first._db.execute("PRAGMA busy_timeout = 50")
    try:
        with pytest.raises(StoreError):
            sync(first.create_account("acme", "FR", "fr", 0, int(NOW)))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        sync(first.close())
