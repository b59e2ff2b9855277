"""The whole system as a user runs it: the CLI, `smsrelay serve` in its own process, HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.conftest import free_port

SMSRELAY = str(Path(sys.executable).with_name("smsrelay"))


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [SMSRELAY, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def environment(tmp_path: Path) -> dict[str, str]:
    return os.environ | {
        "SMSRELAY_DATABASE": f"sqlite:///{tmp_path / 'e2e.db'}",
        "SMSRELAY_PORT": str(free_port()),
        # Random outcomes within a fraction of a second; the report owed by the
        # never-reported test number runs out of validity after 3 seconds.
        "SMSRELAY_SIMULATOR_TIME_SCALE": "2000",
        "SMSRELAY_VALIDITY": "3",
    }


@pytest.fixture
def served(environment: dict[str, str], tmp_path: Path) -> Iterator[str]:
    cli(environment, "migrate")
    log = tmp_path / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [SMSRELAY, "serve"], env=environment, stdout=output, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{environment['SMSRELAY_PORT']}"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(f"{base}/health", timeout=1)
            break
        except httpx.TransportError:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
    yield base
    process.send_signal(signal.SIGINT)
    assert process.wait(15) == 0, log.read_text()
    assert "Traceback" not in log.read_text()


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
        deadline = time.monotonic() + 20
        workers: list[psutil.Process] = []
        while not workers:
            assert time.monotonic() < deadline, "no delivery worker appeared"
            time.sleep(0.1)
            workers = [
                child
                for child in psutil.Process(process.pid).children()
                if "multiprocessing" in " ".join(child.cmdline())
                and "resource_tracker" not in " ".join(child.cmdline())
            ]
        process.kill()
        process.wait(10)
        _, alive = psutil.wait_procs(workers, timeout=15)
        assert alive == []
    finally:
        if process.poll() is None:
            process.kill()
