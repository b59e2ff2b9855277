"""The whole system as a user runs it: the CLI, `smsrelay serve` in its own process, HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.conftest import free_port
from tests.serving import SMSRELAY, Served, cli, serve_process, until_healthy


@pytest.fixture
def environment(database_url: str) -> dict[str, str]:
    return os.environ | {
        # Of the test's kind: a new SQLite file, or this process's PostgreSQL database
        # emptied (each test stops its server before the next one empties it).
        "SMSRELAY_DATABASE": database_url,
        "SMSRELAY_PORT": str(free_port()),
        # Random outcomes within a fraction of a second; the report owed by the
        # never-reported test number runs out of validity after 3 seconds.
        "SMSRELAY_SIMULATOR_TIME_SCALE": "2000",
        "SMSRELAY_VALIDITY": "3",
    }


@pytest.fixture
def served(served_process: Served) -> str:
    return served_process.base


@pytest.fixture
def served_process(environment: dict[str, str], tmp_path: Path) -> Iterator[Served]:
    with serve_process(environment, tmp_path / "server.log") as running:
        yield running


def delivery_worker(server_pid: int) -> psutil.Process:
    """The delivery worker child of the server `server_pid`, once it has one."""
    deadline = time.monotonic() + 20
    while True:
        workers = [
            child
            for child in psutil.Process(server_pid).children()
            if "multiprocessing" in " ".join(child.cmdline())
            and "resource_tracker" not in " ".join(child.cmdline())
        ]
        if workers:
            return workers[0]
        assert time.monotonic() < deadline, "no delivery worker appeared"
        time.sleep(0.1)


def health(base: str) -> tuple[int, dict[str, Any]]:
    answer = httpx.get(f"{base}/health", timeout=5)
    return answer.status_code, answer.json()


def multi_status(base: str, key: str, pairs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    answer = httpx.post(f"{base}/v1/multi-status", json={"apiKey": key, "SMSStatut_List": pairs})
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["StatutResponse_List"]
    return items


def test_sent_sms_reach_delivered_not_delivered_and_waiting(
    served: str, environment: dict[str, str]
) -> None:
    account_id = cli(environment, "account", "create", "acme", "--credits", "100")
    key = cli(environment, "key", "create", account_id)
    random_numbers = [f"+336{n:08d}" for n in range(12000000, 12000200)]
    numbers = ["+33600000001", "0600000002", "+33600000003", *random_numbers]
    sent = httpx.post(
        f"{served}/v1/send",
        json={"apiKey": key, "phoneNumbers": ",".join(numbers), "message": "Bonjour"},
    ).json()
    assert sent["success"] is True
    assert sent["nb_sms"] == len(numbers)
    pairs = [{"phoneNumber": n, "messageId": sent["message_id"]} for n in numbers]

    time.sleep(1.5)  # the magic numbers report after one real second
    items = multi_status(served, key, pairs)
    assert [i["status"] for i in items[:3]] == ["Delivered", "Not delivered", "Waiting"]
    assert items[1]["phoneNumber"] == "+33600000002"
    assert {"Delivered", "Not delivered"} <= {i["status"] for i in items[3:]}

    time.sleep(3)  # past the validity: what never got a report is Not delivered
    items = multi_status(served, key, pairs)
    assert items[2]["status"] == "Not delivered"
    assert "Waiting" not in {i["status"] for i in items}


def test_a_revoked_key_is_refused_by_the_running_server(
    served: str, environment: dict[str, str]
) -> None:
    key = cli(
        environment,
        "key",
        "create",
        cli(environment, "account", "create", "acme", "--credits", "100"),
    )
    pairs = [{"phoneNumber": "0612345678", "messageId": 1}]
    assert multi_status(served, key, pairs)[0]["code"] == 4
    cli(environment, "key", "revoke", key)
    answer = httpx.post(f"{served}/v1/multi-status", json={"apiKey": key, "SMSStatut_List": pairs})
    assert (answer.status_code, answer.json()["code"]) == (401, 10)


def test_the_delivery_worker_stops_when_the_server_is_killed(
    environment: dict[str, str], tmp_path: Path
) -> None:
    cli(environment, "migrate")
    with (tmp_path / "server.log").open("wb") as output:
        process = subprocess.Popen(
            [SMSRELAY, "serve"], env=environment, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        workers = [delivery_worker(process.pid)]
        process.kill()
        process.wait(10)
        _, alive = psutil.wait_procs(workers, timeout=15)
        assert alive == []
    finally:
        if process.poll() is None:
            process.kill()


def test_a_killed_delivery_worker_costs_no_send_and_is_replaced(
    served_process: Served, environment: dict[str, str]
) -> None:
    served = served_process.base
    account_id = cli(environment, "account", "create", "acme", "--credits", "100")
    key = cli(environment, "key", "create", account_id)
    until_healthy(served)
    worker = delivery_worker(served_process.process.pid)

    worker.send_signal(signal.SIGKILL)
    deadline = time.monotonic() + 5
    down = health(served)
    while down[0] == 200 and time.monotonic() < deadline:  # the server hears of it at once
        down = health(served)
    sent = [
        httpx.post(
            f"{served}/v1/send",
            json={"apiKey": key, "phoneNumbers": "+33600000001", "message": f"n{n}"},
        )
        for n in range(5)
    ]
    still_down = health(served)[0]
    assert down[0] == 503
    assert "killed by SIGKILL" in down[1]["reason"]
    assert [(answer.status_code, answer.json()["success"]) for answer in sent] == [(200, True)] * 5
    assert still_down == 503, "the sends were not made while no worker ran"
    balance = httpx.get(f"{served}/v1/me", params={"apiKey": key}).json()["credits"]["solde"]
    spent = sum(round(answer.json()["cost"] * 1000) for answer in sent)
    assert round(float(balance) * 1000) == 100_000 - spent

    until_healthy(served)
    assert delivery_worker(served_process.process.pid).pid != worker.pid
    pairs = [{"phoneNumber": "+33600000001", "messageId": a.json()["message_id"]} for a in sent]
    deadline = time.monotonic() + 15
    while {item["status"] for item in multi_status(served, key, pairs)} != {"Delivered"}:
        assert time.monotonic() < deadline, multi_status(served, key, pairs)
        time.sleep(0.2)
    log = served_process.log.read_text()
    assert "delivery worker (pid" in log
    assert "killed by SIGKILL" in log
