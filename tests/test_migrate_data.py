"""`smsrelay migrate-data`: an installation made by a real run moves to PostgreSQL whole.

The source is the SQLite file of a real server (API, dispatcher, simulated operator)
that accepted sends, delivered them and took a STOP; the target is this test process's
PostgreSQL database, emptied. The command is run as a user runs it, in a process of its
own.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx
import pytest

from smsrelay.config import Settings
from smsrelay.store import open_store
from smsrelay.store.migrations import migration_files, split_statements
from smsrelay.store.transfer import TABLES
from tests.conftest import Admin, start_server
from tests.databases import PostgresDatabase

SMSRELAY = str(Path(sys.executable).with_name("smsrelay"))
pytestmark = [pytest.mark.sqlite_only, pytest.mark.postgres]  # from SQLite, into PostgreSQL


def migrate_data(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SMSRELAY, "migrate-data", *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def installation(settings: Settings, admin: Admin) -> str:
    """A SQLite installation after a real run; its URL. Nothing runs on it any more."""
    acme, other = admin.account("acme", credits=100.0), admin.account("other")
    keys = admin.key(acme), admin.key(other)
    admin.run(admin.store.revoke_api_key(admin.key(acme).split(".")[0], 1))
    with start_server(settings) as server, httpx.Client(base_url=server.base_url) as http:
        for n in range(30):
            answer = http.post(
                "/v1/send",
                json={
                    "apiKey": keys[n % 2],
                    "phoneNumbers": f"+336123456{n:02d},+337123456{n:02d}",
                    "message": "Bonjour" if n % 3 else "x" * 200,  # long SMS: parts
                    "sender": "acme",
                    "tag": f"t{n % 4}",
                },
            )
            assert answer.json()["success"], answer.text
        http.post("/v1/stop-sms/add", json={"apiKey": keys[0], "phoneNumber": "+33611111111"})
        http.post(
            "/v1/send",
            json={
                "apiKey": keys[0],
                "phoneNumbers": "+33600000007",  # the simulator answers STOP
                "message": "Promo",
                "sender": "acme",
            },
        )
        deadline = time.monotonic() + 20
        while not _settled(settings.database) and time.monotonic() < deadline:
            time.sleep(0.1)
    assert _settled(settings.database)
    return settings.database


def _settled(url: str) -> bool:
    """Everything handed to the operator, reports in, the STOP reply taken."""
    with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
        return (
            db.execute(
                "SELECT NOT EXISTS (SELECT 1 FROM recipients WHERE state IN ('accepted', 'queued'))"
                " AND EXISTS (SELECT 1 FROM recipients WHERE state = 'delivered')"
                " AND EXISTS (SELECT 1 FROM replies)"
            ).fetchone()[0]
            == 1
        )


def _columns(table: str) -> str:
    """The columns of `table`, as the SQLite schema lists them."""
    with sqlite3.connect(":memory:") as db:
        for _, _, sql in migration_files("sqlite"):
            for statement in split_statements(sql):
                db.execute(statement)
        return ", ".join(row[1] for row in db.execute(f"PRAGMA table_info({table})"))


def _rows(url: str, table: str) -> list[tuple[object, ...]]:
    """Every row of `table` in key order (text byte by byte, as SQLite orders it),
    booleans as SQLite's 0 and 1."""
    key = dict(TABLES)[table]
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
            select = f"SELECT {_columns(table)} FROM {table} ORDER BY {', '.join(key)}"
            return [tuple(row) for row in db.execute(select)]
    text_keys = {"phone"} | ({"id"} if table == "api_keys" else set())
    order = ", ".join(f'{c} COLLATE "C"' if c in text_keys else c for c in key)

    async def read() -> list[tuple[object, ...]]:
        connection = await asyncpg.connect(url)
        try:
            rows = await connection.fetch(f"SELECT {_columns(table)} FROM {table} ORDER BY {order}")
        finally:
            await connection.close()
        return [tuple(int(v) if isinstance(v, bool) else v for v in row) for row in rows]

    return asyncio.run(read())


def _all_rows(url: str) -> int:
    return sum(len(_rows(url, table)) for table, _ in TABLES)


def test_an_installation_moves_whole_and_the_counts_are_compared(
    installation: str, postgres_database: PostgresDatabase
) -> None:
    target = postgres_database.empty()
    done = migrate_data("--from", installation, "--to", target, "--chunk-rows", "7")
    assert done.returncode == 0, done.stderr
    assert "DIFFERENT" not in done.stdout
    assert all(table in done.stdout for table, _ in TABLES)
    for table, _ in TABLES:
        source_rows = _rows(installation, table)
        if table in ("accounts", "messages", "recipients", "status_events", "api_keys"):
            assert source_rows, f"the run made no {table}"
        assert _rows(target, table) == source_rows, table
    # The copy is an installation PostgreSQL serves: same statuses, new ids after the old.

    async def served() -> tuple[int, int]:
        store = open_store(target)
        try:
            account = await store.create_account("newcomer", "FR", "fr", 0, 0)
            found = await store.lookup_statuses(1, [(1, "+33612345600")])
            return account.id, len(found)
        finally:
            await store.close()

    assert asyncio.run(served()) == (3, 1)


def test_a_non_empty_target_is_refused_unless_resuming(
    installation: str, postgres_database: PostgresDatabase
) -> None:
    target = postgres_database.empty()
    assert migrate_data("--from", installation, "--to", target).returncode == 0
    again = migrate_data("--from", installation, "--to", target)
    assert again.returncode == 1
    assert "holds rows already" in again.stderr
    assert "--resume" in again.stderr
    assert "Traceback" not in again.stderr


def test_an_interrupted_copy_goes_on_where_it_stopped(
    installation: str, postgres_database: PostgresDatabase
) -> None:
    """Ctrl-C in the middle: what was committed stays, and --resume copies the rest once."""
    target = postgres_database.empty()
    command = [
        SMSRELAY,
        "migrate-data",
        "--from",
        installation,
        "--to",
        target,
        "--chunk-rows",
        "1",
    ]
    running = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not _rows(target, "recipients") and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(running.pid, signal.SIGINT)
    _, stderr = running.communicate(timeout=60)
    assert running.returncode == 1
    assert "interrupted" in stderr
    assert "--resume" in stderr
    assert "Traceback" not in stderr
    assert 0 < _all_rows(target) < _all_rows(installation)
    resumed = migrate_data("--from", installation, "--to", target, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    for table, _ in TABLES:
        assert _rows(target, table) == _rows(installation, table), table


def test_bad_urls_get_one_line(tmp_path: Path, postgres_database: PostgresDatabase) -> None:
    missing = migrate_data("--from", f"sqlite:///{tmp_path}/none.db", "--to", postgres_database.url)
    assert missing.returncode == 1
    assert missing.stderr.startswith("smsrelay: no SQLite database")
    source = f"sqlite:///{tmp_path}/empty.db"
    sqlite3.connect(tmp_path / "empty.db").close()
    assert migrate_data("--from", source, "--to", source).stderr.startswith(
        "smsrelay: --to must be a postgresql:// URL"
    )
    unreachable = migrate_data("--from", source, "--to", "postgresql://nobody@127.0.0.1:1/x")
    assert unreachable.returncode == 1
    assert len(unreachable.stderr.strip().splitlines()) == 1
    assert "Traceback" not in unreachable.stderr
