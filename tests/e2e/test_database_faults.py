"""A database smsrelay cannot use: one clear line at start-up, a coded 503 while running.

`smsrelay serve` as a user runs it. At start-up, a URL that does not connect, a role or
a database that does not exist, a SQLite path that cannot be a file: one line on
stderr, exit status 1, no traceback. While running on PostgreSQL, the server's
connections are cut (as a restarted or failed-over database cuts them): every answer is
a success or HTTP 503 with code 500, service comes back by itself, and every send
answered 200 is stored once.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.conftest import free_port
from tests.databases import PostgresDatabase
from tests.serving import SMSRELAY, cli, serve_process


def environment(database: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSRELAY_")}
    env |= {
        "SMSRELAY_DATABASE": database,
        "SMSRELAY_PORT": str(free_port()),
        "SMSRELAY_SIMULATOR_TIME_SCALE": "1000",
    }
    return env | {"HOME": str(tmp_path)}


@pytest.mark.parametrize(
    ("database", "said"),
    [
        ("postgresql://postgres@127.0.0.1:1/smsrelay", "cannot connect to PostgreSQL"),
        ("postgresql://no_such_role@127.0.0.1:5432/postgres", 'role "no_such_role"'),
        ("postgresql://postgres@127.0.0.1:5432/no_such_database", '"no_such_database"'),
        ("sqlite:///{tmp}", "cannot open SQLite database"),  # a folder, not a file
        ("mysql://root@127.0.0.1/smsrelay", "unsupported database URL"),
    ],
)
def test_a_database_that_cannot_be_used_is_one_line_at_start_up(
    database: str, said: str, tmp_path: Path
) -> None:
    env = environment(database.format(tmp=tmp_path), tmp_path)
    done = subprocess.run(
        [SMSRELAY, "serve"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 1
    assert done.stderr.startswith("smsrelay: ")
    assert said in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


@pytest.mark.postgres
@pytest.mark.timeout(120)
def test_connections_cut_under_a_running_server_cost_a_503_not_a_send(
    postgres_database: PostgresDatabase, tmp_path: Path
) -> None:
    env = environment(postgres_database.empty(), tmp_path)
    cli(env, "account", "create", "acme", "--credits", "1000")
    key = cli(env, "key", "create", "acme")
    answered: list[int] = []
    with (
        serve_process(env, tmp_path / "serve.log") as served,
        httpx.Client(base_url=served.base, timeout=10) as http,
    ):

        def send(n: int) -> int:
            answer = http.post(
                "/v1/send",
                json={"apiKey": key, "phoneNumbers": f"+336123{n:05d}", "message": "Bonjour"},
            )
            assert answer.status_code in (200, 503), answer.text
            assert answer.json()["code"] in (200, 500)
            return answer.status_code

        answered += [send(n) for n in range(5)]
        cut = asyncio.run(_cut_connections(postgres_database))
        assert cut > 0
        answered += [send(n) for n in range(5, 40)]
        assert answered[-5:] == [200] * 5  # back by itself
    log = (tmp_path / "serve.log").read_text()
    assert "Traceback" not in log
    stored = asyncio.run(_count(postgres_database.url, "SELECT count(*) FROM messages"))
    assert stored == answered.count(200)


async def _cut_connections(database: PostgresDatabase) -> int:
    """Terminate every connection to the test database but our own."""
    admin = await asyncpg.connect(database.admin_url)
    try:
        rows = await admin.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            database.name,
        )
    finally:
        await admin.close()
    return len(rows)


async def _count(url: str, sql: str) -> int:
    connection = await asyncpg.connect(url)
    try:
        return int(await connection.fetchval(sql))
    finally:
        await connection.close()
