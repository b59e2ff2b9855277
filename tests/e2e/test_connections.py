"""`smsrelay serve` (uvloop, httptools) under the connections of issue 9: hundreds that send
nothing or half their headers, with a descriptor limit below their number."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.e2e.test_serve import SMSRELAY, cli

DESCRIPTORS = 200  # ulimit -n of the server; it may serve 200 - 64 connections at once
HOSTILE = 400
HEADER_TIMEOUT = 1.0
PATIENCE = HEADER_TIMEOUT + 10.0


def limit_descriptors() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (DESCRIPTORS, DESCRIPTORS))


def healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`smsrelay serve` with at most DESCRIPTORS descriptors; its address and its log."""
    port = free_port()
    environment = os.environ | {
        "SMSRELAY_DATABASE": f"sqlite:///{tmp_path / 'e2e.db'}",
        "SMSRELAY_PORT": str(port),
        "SMSRELAY_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
    }
    cli(environment, "migrate")
    log = tmp_path / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [SMSRELAY, "serve"],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            preexec_fn=limit_descriptors,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        # Ready means /health 200: it answers 503 too while the delivery worker starts.
        deadline = time.monotonic() + 20
        while not healthy(base):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"the server did not start: {log.read_text()}"
            time.sleep(0.1)
        yield base, log
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(15) == 0, log.read_text()


def test_hundreds_of_silent_connections_past_the_descriptor_limit_leave_clients_served(
    served: tuple[str, Path],
) -> None:
    base, log = served
    port = int(base.rsplit(":", 1)[1])
    with ExitStack() as stack:
        hostile = []
        for number in range(HOSTILE):
            sock = stack.enter_context(socket.create_connection(("127.0.0.1", port)))
            sock.settimeout(PATIENCE)
            if number % 2:
                sock.sendall(b"POST /v1/send HTTP/1.1\r\nHost: smsrelay\r\nContent-")
            hostile.append(sock)

        # While they are open, a client is told "busy, try again" in the v1 form, then
        # served as soon as the server has closed the silent ones.
        answers = []
        deadline = time.monotonic() + PATIENCE
        while not answers or answers[-1].status_code != 200:
            assert time.monotonic() < deadline, [a.status_code for a in answers]
            answers.append(httpx.get(f"{base}/health", timeout=PATIENCE))
            time.sleep(0.05)
        refusals = [(a.status_code, a.json().get("code")) for a in answers[:-1]]
        assert refusals, "the client was never refused: the cap was not reached"
        assert refusals == [(503, 500)] * len(refusals)

        for sock in hostile:  # every one of them closed by the server, none left open
            while sock.recv(65536):
                pass
    text = log.read_text()
    assert f"allows {DESCRIPTORS - 64} connections, not max_connections 1000" in text
    assert "Traceback" not in text
