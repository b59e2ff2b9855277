"""Input cannot buy memory for good: a real `smsrelay serve` process, its RSS before and after.

A cache keyed by what clients send keeps whatever they send. 200 multi-status requests that
each carried a different 1 MB "phone number" used to keep 182 MiB in the server's number
cache until it restarted, and `/v1/stop-sms/add` did the same.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import free_port
from tests.serving import cli, serve_process

HOSTILE_LENGTH = 1_000_000  # a 1 MB "number": under the 1 MiB body limit with its JSON
GROWTH_LIMIT_MIB = 8
"""What a burst may leave behind (allocator pools). The defect this guards against kept
more than 1 MiB per request, for good: 200 requests would leave 200 MiB."""


@dataclass
class Server:
    """`smsrelay serve` with an account's key, and its memory as the kernel counts it."""

    base: str
    key: str
    process: psutil.Process

    def rss_mib(self) -> float:
        return float(self.process.memory_info().rss) / 2**20


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Server]:
    env = os.environ | {
        "SMSRELAY_DATABASE": f"sqlite:///{tmp_path / 'memory.db'}",
        "SMSRELAY_PORT": str(free_port()),
    }
    with serve_process(env, tmp_path / "server.log") as running:
        key = cli(env, "key", "create", cli(env, "account", "create", "acme", "--credits", "100"))
        yield Server(running.base, key, psutil.Process(running.process.pid))


def hostile_number(n: int) -> str:
    """A different 1 MB run of digits for each `n`."""
    return f"{n:06d}".ljust(HOSTILE_LENGTH, "9")


def burst(client: httpx.Client, key: str, start: int, count: int) -> None:
    """`count` multi-status requests, each with a new long number, and a quarter as many of
    each other endpoint that reads one."""
    for n in range(start, start + count):
        pairs = [{"phoneNumber": hostile_number(n), "messageId": 1}]
        status = client.post("/v1/multi-status", json={"apiKey": key, "SMSStatut_List": pairs})
        assert status.json()["StatutResponse_List"][0]["code"] == 9
        if n % 4:
            continue
        others = {
            "/v1/stop-sms/add": ({"phoneNumber": hostile_number(-n)}, 9),
            "/v1/message-status": ({"phoneNumber": hostile_number(-n), "messageId": 1}, 4),
            "/v1/send": ({"phoneNumbers": hostile_number(-n), "message": "Bonjour"}, 55),
        }
        for path, (params, code) in others.items():
            assert client.post(path, json={"apiKey": key, **params}).json()["code"] == code


def test_a_burst_of_long_numbers_leaves_the_servers_memory_where_it_was(
    served: Server,
) -> None:
    with httpx.Client(base_url=served.base, timeout=30) as client:
        burst(client, served.key, 0, 10)  # the first requests build what every request reuses
        before = served.rss_mib()
        burst(client, served.key, 10, 200)
        after = served.rss_mib()
    assert after - before < GROWTH_LIMIT_MIB, (before, after)
