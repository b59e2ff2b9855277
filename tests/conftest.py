"""Fixtures that start real parts: a database of each kind (a SQLite file, a PostgreSQL
database), a uvicorn server on loopback."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn

from smsrelay.api.app import create_app
from smsrelay.api.http_server import server_config
from smsrelay.config import Settings, SimulatorSettings
from smsrelay.domain.records import Account
from smsrelay.service import accounts
from smsrelay.smsc.settings import SmscSettings
from smsrelay.store import open_store
from smsrelay.store.base import Store
from tests import databases
from tests.databases import STORE_KINDS, PostgresDatabase
from tests.smsc.esme import outcomes

T = TypeVar("T")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's SMSRELAY_* variables must not change what a test sees."""
    import os

    for name in list(os.environ):
        if name.startswith("SMSRELAY_") and name not in (
            databases.REQUIRE_POSTGRES,
            "SMSRELAY_TEST_POSTGRES",
        ):
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def _one_event_loop_per_test() -> Iterator[None]:
    """`databases.sync` runs a test's coroutines on one loop; it ends with the test."""
    yield
    databases.close_loop()


# --- the two kinds of store -------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite_only: a SQLite behaviour (WAL, lock files, query plans), not a store's"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that reaches a database runs on each kind: `[sqlite]`, `[postgresql]`."""
    if "store_kind" not in metafunc.fixturenames:
        return
    kinds = ["sqlite"] if metafunc.definition.get_closest_marker("sqlite_only") else STORE_KINDS
    metafunc.parametrize(
        "store_kind",
        [
            pytest.param(kind, marks=[pytest.mark.postgres] if kind == "postgresql" else [])
            for kind in kinds
        ],
        ids=list(kinds),
        indirect=True,
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Without PostgreSQL, every postgresql test is skipped for one reason: say it in one
    line of the summary, not in one line per test function."""
    report = yield
    if (
        report.skipped
        and isinstance(report.longrepr, tuple)
        and databases.unavailable_message(databases.POSTGRES_ADMIN_URL) in report.longrepr[2]
    ):
        checked = inspect.getsourcelines(PostgresDatabase.reachable)[1]
        report.longrepr = (databases.__file__, checked, report.longrepr[2])
    return report


@pytest.fixture
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[PostgresDatabase]:
    """This process's PostgreSQL database, migrated; skipped (or failed, in CI) without a
    server. Checked once: a fixture's failure is kept for the session."""
    admin_url = databases.POSTGRES_ADMIN_URL
    if not PostgresDatabase.reachable(admin_url):
        message = databases.unavailable_message(admin_url)
        if databases.postgres_required():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    database = PostgresDatabase.create(admin_url)
    try:
        database.migrate()
        databases.current_postgres = database
        yield database
    finally:
        databases.current_postgres = None
        database.drop()


@pytest.fixture
def new_database(
    store_kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Callable[[], str]:
    """Gives the URL of an empty database of the test's kind at each call: a new SQLite
    file, or this process's PostgreSQL database emptied."""
    if store_kind == "postgresql":
        postgres: PostgresDatabase = request.getfixturevalue("postgres_database")
        return postgres.empty
    numbers = itertools.count(1)

    def new_file() -> str:
        number = next(numbers)
        return f"sqlite:///{tmp_path / ('smsrelay.db' if number == 1 else f'smsrelay-{number}.db')}"

    return new_file


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def database_url(new_database: Callable[[], str]) -> str:
    return new_database()


@pytest.fixture
def settings(database_url: str) -> Settings:
    # A network a thousand times faster than real: random outcomes land within
    # milliseconds, while the test numbers keep their delays in real seconds.
    return Settings(
        database=database_url,
        port=free_port(),
        # No random STOP replies: a test that wants one sends to +33600000007.
        simulator=SimulatorSettings(time_scale=1000.0, stop_replies=0.0),
        # In the server's own loop: a worker process per test would cost a second each.
        # tests/delivery/test_worker.py and the end-to-end tests run the worker.
        delivery="inline",
    )


class Admin:
    """The administrator's side: its own connection to the server's database file."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.loop = asyncio.new_event_loop()
        self.store: Store = open_store(url)
        self.run(self.store.migrate())

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(work)

    def account(
        self,
        name: str = "acme",
        *,
        region: str = "FR",
        language: str = "fr",
        credits: float = 1000.0,
        quiet_hours: bool = False,
    ) -> Account:
        return self.run(
            accounts.create_account(
                self.store,
                name,
                region=region,
                language=language,
                credits=credits,
                quiet_hours=quiet_hours,
            )
        )

    def key(self, account: Account) -> str:
        return self.run(accounts.create_api_key(self.store, account))

    def close(self) -> None:
        self.run(self.store.close())
        self.loop.close()


@pytest.fixture
def admin(database_url: str) -> Iterator[Admin]:
    tool = Admin(database_url)
    yield tool
    tool.close()


@dataclass
class Server:
    base_url: str
    settings: Settings


def _start(settings: Settings) -> tuple[uvicorn.Server, threading.Thread]:
    # The production configuration (connection bounds included), on asyncio's own loop.
    config = server_config(create_app(settings), settings, loop="asyncio", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    return server, thread


@contextmanager
def start_server(settings: Settings) -> Iterator[Server]:
    """A real smsrelay server (API, dispatcher, simulator) on a loopback port."""
    running, thread = _start(settings)
    try:
        yield Server(f"http://127.0.0.1:{settings.port}", settings)
    finally:
        running.should_exit = True
        thread.join(20)


@pytest.fixture
def server(settings: Settings, admin: Admin) -> Iterator[Server]:
    with start_server(settings) as running:
        yield running


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        yield http


@dataclass
class Customer:
    account: Account
    key: str


@pytest.fixture
def customer(admin: Admin) -> Customer:
    account = admin.account("acme")
    return Customer(account, admin.key(account))


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    """The SMSC simulator's decisions log."""
    return tmp_path / "decisions.jsonl"


@pytest.fixture
def smsc(log_path: Path) -> SmscSettings:
    """An SMSC simulator on a free port: every SMS delivered within milliseconds, every
    decision in `log_path`."""
    return SmscSettings(port=0, outcomes=outcomes(), decisions_log=str(log_path))
