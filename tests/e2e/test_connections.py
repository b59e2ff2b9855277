"""`smsrelay serve` (uvloop, httptools) under the connections of issue 9: hundreds that send
nothing or half their headers, with a descriptor limit below their number."""

from __future__ import annotations

import os
import resource
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.serving import serve_process

DESCRIPTORS = 200  # ulimit -n of the server; it may serve 200 - 64 connections at once
HOSTILE = 400
HEADER_TIMEOUT = 1.0
PATIENCE = HEADER_TIMEOUT + 10.0


def limit_descriptors() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (DESCRIPTORS, DESCRIPTORS))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`smsrelay serve` with at most DESCRIPTORS descriptors; its address and its log."""
    environment = os.environ | {
        "SMSRELAY_DATABASE": f"sqlite:///{tmp_path / 'e2e.db'}",
        "SMSRELAY_PORT": str(free_port()),
        "SMSRELAY_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
    }
    with serve_process(environment, tmp_path / "server.log", limit_descriptors) as running:
        yield running.base, running.log


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
