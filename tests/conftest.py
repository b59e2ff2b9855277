"""Fixtures that start real parts: a migrated SQLite file, a uvicorn server on loopback."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Coroutine, Iterator
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
from tests.smsc.esme import outcomes

T = TypeVar("T")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's SMSRELAY_* variables must not change what a test sees."""
    import os

    for name in list(os.environ):
        if name.startswith("SMSRELAY_") and name != "SMSRELAY_REQUIRE_POSTGRES":
            monkeypatch.delenv(name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'smsrelay.db'}"


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
