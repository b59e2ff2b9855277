"""Connections as a hostile or broken client holds them: bounded in time and in number.

The server here is built by `server_config`, as `smsrelay serve` builds it, on the asyncio
loop so that its log reaches caplog; tests/e2e/test_connections.py runs the real command.
Every deadline is configured at one second; the checks allow several seconds more, so a
busy machine cannot fail them, and a server without the deadline fails them all the same.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import httpx
import msgspec
import pytest
import uvicorn

from smsrelay.api.app import create_app
from smsrelay.api.http_server import server_config
from smsrelay.config import Settings
from tests.conftest import Customer

DEADLINE = 1.0
MAX_CONNECTIONS = 30
# Long enough for any deadline of one second to have passed on a loaded machine.
PATIENCE = DEADLINE + 5.0


@contextmanager
def guarded_server(settings: Settings) -> Iterator[str]:
    server = uvicorn.Server(
        server_config(create_app(settings), settings, loop="asyncio", log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "the server did not start"
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    try:
        yield f"127.0.0.1:{settings.port}"
    finally:
        server.should_exit = True
        thread.join(20)


@pytest.fixture
def bounded(settings: Settings) -> Settings:
    return msgspec.structs.replace(
        settings,
        header_timeout=DEADLINE,
        body_timeout=DEADLINE,
        keepalive_timeout=DEADLINE,
        max_connections=MAX_CONNECTIONS,
    )


@pytest.fixture
def address(bounded: Settings) -> Iterator[str]:
    with guarded_server(bounded) as running:
        yield running


def connect(address: str) -> socket.socket:
    host, port = address.split(":")
    return socket.create_connection((host, int(port)), timeout=PATIENCE)


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes; fails if it is still open after PATIENCE."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def read_answer(sock: socket.socket) -> bytes:
    """One whole answer (its head and its content-length of body), the connection left open."""

    def more() -> bytes:
        chunk = sock.recv(65536)
        assert chunk, "closed before the end of the answer"
        return chunk

    received = b""
    while b"\r\n\r\n" not in received:
        received += more()
    head, _, body = received.partition(b"\r\n\r\n")
    length = re.search(rb"(?im)^content-length: (\d+)", head)
    assert length is not None, head
    while len(body) < int(length[1]):
        body += more()
    return head + b"\r\n\r\n" + body


def answer_of(raw: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)


def served(address: str) -> bool:
    """A normal client, on a new connection: is it answered /health ok?"""
    answer = httpx.get(f"http://{address}/health", timeout=PATIENCE)
    return answer.status_code == 200


def test_uvicorn_is_the_version_http_server_was_written_against() -> None:
    """src/smsrelay/api/http_server.py subclasses uvicorn's httptools protocol and uses
    its private parts, and cli.py uvicorn.config.STARTUP_FAILURE: uvicorn promises none of
    them, so a new version of uvicorn must be reviewed against them before it is used."""
    installed = importlib.metadata.version("uvicorn")
    assert installed == "0.54.0", (
        f"uvicorn {installed} is installed, not 0.54.0: review src/smsrelay/api/http_server.py "
        "(the private uvicorn internals its docstring lists) and STARTUP_FAILURE in "
        "src/smsrelay/cli.py against it, then change the version here"
    )


def test_connections_that_send_nothing_are_closed_without_an_answer(address: str) -> None:
    with ExitStack() as stack:
        started = time.monotonic()
        idle = [stack.enter_context(connect(address)) for _ in range(10)]
        assert served(address)
        assert [read_until_closed(sock) for sock in idle] == [b""] * 10
        assert time.monotonic() - started >= DEADLINE * 0.8  # their deadline, not sooner
        assert served(address)


def test_headers_sent_in_part_are_answered_408_and_closed(address: str) -> None:
    with ExitStack() as stack:
        partial = [stack.enter_context(connect(address)) for _ in range(10)]
        for sock in partial:
            sock.sendall(b"POST /v1/send HTTP/1.1\r\nHost: smsrelay\r\nContent-Ty")
        assert served(address)
        answers = [answer_of(read_until_closed(sock)) for sock in partial]
        assert {(status, body["code"]) for status, body in answers} == {(408, 90)}
        assert served(address)


def test_headers_dripped_within_the_deadline_are_served(address: str) -> None:
    with connect(address) as sock:
        for piece in (b"GET /hea", b"lth HTTP/1.1\r\n", b"Host: smsrelay\r\n", b"\r\n"):
            sock.sendall(piece)
            time.sleep(DEADLINE / 10)
        assert read_answer(sock).startswith(b"HTTP/1.1 200 ")


def test_a_body_that_keeps_dripping_is_cut_off_at_its_own_deadline(
    bounded: Settings, customer: Customer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="smsrelay")
    body = json.dumps({"apiKey": customer.key, "phoneNumbers": "0612345678", "message": "Hi"})
    head = f"POST /v1/send HTTP/1.1\r\nHost: smsrelay\r\nContent-Length: {len(body) + 1000}\r\n"
    # The headers' deadline far beyond PATIENCE: the body's is the one that cuts.
    patient_headers = msgspec.structs.replace(bounded, header_timeout=PATIENCE * 10)
    with guarded_server(patient_headers) as address, connect(address) as sock:
        sock.sendall(head.encode() + b"Content-Type: application/json\r\n\r\n")
        started = time.monotonic()
        sock.settimeout(DEADLINE / 10)
        received = b""
        for byte in body.encode() + b" " * 1000:
            sock.sendall(bytes([byte]))  # a byte every 0.1 s: never idle, never finished
            try:
                received = sock.recv(65536)
            except TimeoutError:
                continue
            break
        assert time.monotonic() - started < PATIENCE
        sock.settimeout(PATIENCE)
        received += read_until_closed(sock)
    assert answer_of(received)[0] == 408
    assert answer_of(received)[1]["code"] == 90
    assert "POST /v1/send: body not received within 1 s" in caplog.text
    assert all(record.exc_info is None for record in caplog.records)
    assert "unexpected fault" not in caplog.text


def test_a_body_sent_in_pieces_within_its_deadline_is_served(
    address: str, customer: Customer
) -> None:
    numbers = ",".join(f"+336{n:08d}" for n in range(12000000, 12000500))
    body = json.dumps({"apiKey": customer.key, "phoneNumbers": numbers, "message": "Hi"})
    head = f"POST /v1/send HTTP/1.1\r\nHost: smsrelay\r\nContent-Length: {len(body)}\r\n\r\n"
    with connect(address) as sock:
        sock.sendall(head.encode())
        quarter = len(body) // 4 + 1
        for start in range(0, len(body), quarter):
            time.sleep(DEADLINE / 10)
            sock.sendall(body[start : start + quarter].encode())
        status, answer = answer_of(read_answer(sock))
    assert (status, answer["success"], answer["nb_sms"]) == (200, True, 500)


def test_an_idle_keep_alive_connection_is_closed_after_its_timeout(
    address: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="smsrelay")
    request = b"GET /health HTTP/1.1\r\nHost: smsrelay\r\n\r\n"
    with connect(address) as sock:
        sock.sendall(request)
        assert read_answer(sock).startswith(b"HTTP/1.1 200 ")
        sock.sendall(request)  # reused at once: kept alive
        assert read_answer(sock).startswith(b"HTTP/1.1 200 ")
        started = time.monotonic()
        assert read_until_closed(sock) == b""
        assert time.monotonic() - started >= DEADLINE * 0.8
    # Closed by the one keep-alive timeout there is, the one that says so.
    assert "sent no request within 1 s: closed" in caplog.text


@pytest.mark.parametrize(
    ("target", "length", "status"),
    [("/nowhere", 1, 404), ("/v1/send?_format=yaml", 1, 400), ("/v1/send", 1001, 413)],
    ids=["unknown route", "bad _format", "declared length too large"],
)
@pytest.mark.parametrize(
    ("rest_sent", "closed_by", "not_by"),
    [
        (True, "sent no request within 1 s: closed", "body not received"),
        (False, "body not received within 1 s; connection closed", "sent no request"),
    ],
    ids=["body sent after: idle timeout", "body never sent: body timeout"],
)
def test_a_request_answered_before_its_body_arrived_is_closed_all_the_same(
    bounded: Settings,
    caplog: pytest.LogCaptureFixture,
    target: str,
    length: int,
    status: int,
    rest_sent: bool,
    closed_by: str,
    not_by: str,
) -> None:
    """Once the body has all arrived the connection is idle, and the keep-alive timeout
    closes it; while the body is still owed, the body's deadline does, with no 408 (an
    answer was given). Each case names the deadline that closed it in the log."""
    caplog.set_level(logging.DEBUG, logger="smsrelay")
    head = f"POST {target} HTTP/1.1\r\nHost: smsrelay\r\nContent-Length: {length}\r\n\r\n"
    small_bodies = msgspec.structs.replace(bounded, max_body_bytes=1000)
    with guarded_server(small_bodies) as address, connect(address) as sock:
        sock.sendall(head.encode())
        assert answer_of(read_answer(sock))[0] == status  # kept alive, the body still owed
        if rest_sent:
            sock.sendall(b"x" * length)  # it used to cancel every timeout for good
        assert read_until_closed(sock) == b""
    assert closed_by in caplog.text
    assert not_by not in caplog.text


def test_a_kept_alive_connection_sending_only_empty_lines_is_closed_all_the_same(
    address: str,
) -> None:
    with connect(address) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: smsrelay\r\n\r\n")
        assert read_answer(sock).startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"\r\n")  # skipped by the parser, yet it used to cancel the timeout
        assert read_until_closed(sock) == b""


def test_a_next_request_sent_in_part_on_a_kept_alive_connection_is_answered_408(
    address: str,
) -> None:
    with connect(address) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: smsrelay\r\n\r\n")
        assert read_answer(sock).startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"GET /health HTTP/1.1\r\nHo")
        assert answer_of(read_until_closed(sock))[0] == 408


def test_past_the_cap_a_connection_is_refused_503_until_others_close(address: str) -> None:
    with ExitStack() as stack:
        for _ in range(MAX_CONNECTIONS):
            stack.enter_context(connect(address))
        time.sleep(0.2)  # the server has accepted them all
        refused = httpx.get(f"http://{address}/health", timeout=PATIENCE)
        assert refused.status_code == 503
        assert refused.json() == {
            "success": False,
            "code": 500,
            "message": "Service momentanément indisponible, réessayez",
        }
    deadline = time.monotonic() + PATIENCE
    while not served(address):
        assert time.monotonic() < deadline, "still refused after the connections closed"
        time.sleep(0.05)


CHUNKED_HEAD = (
    b"POST /v1/send HTTP/1.1\r\nHost: smsrelay\r\nTransfer-Encoding: chunked\r\n"
    b"Content-Type: application/json\r\n\r\n"
)


@pytest.mark.parametrize(
    ("request_bytes", "named"),
    [
        (CHUNKED_HEAD + b'5\r\n{"api\r\nnot a chunk size\r\n', "POST /v1/send"),
        (b"POST /v1/send HTTP/1.1\r\nHost smsrelay\r\n\r\n", "127.0.0.1:"),
        (b"CONNECT smsrelay:443 HTTP/1.1\r\nHost: smsrelay\r\n\r\n", "CONNECT"),
    ],
    ids=["broken chunk", "header without colon", "target that is no URL"],
)
def test_an_unreadable_request_is_answered_code_90_and_logged_in_one_line(
    address: str, caplog: pytest.LogCaptureFixture, request_bytes: bytes, named: str
) -> None:
    caplog.set_level(logging.INFO)
    with connect(address) as sock:
        sock.sendall(request_bytes)
        status, body = answer_of(read_until_closed(sock))
    assert (status, body["code"]) == (400, 90)
    assert served(address)
    lines = [r for r in caplog.records if "malformed request" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].levelno == logging.INFO
    assert named in lines[0].getMessage()
    assert all(record.exc_info is None for record in caplog.records)
    assert "unexpected fault" not in caplog.text


def test_a_client_leaving_in_the_middle_of_a_chunked_body_is_logged_in_one_line(
    address: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with connect(address) as sock:
        sock.sendall(CHUNKED_HEAD + b'5\r\n{"api\r\n')
        time.sleep(0.2)  # the application is waiting for the rest
    deadline = time.monotonic() + PATIENCE
    while "left before the end of its body" not in caplog.text:
        assert time.monotonic() < deadline, caplog.text
        time.sleep(0.05)
    assert served(address)
    assert all(record.exc_info is None for record in caplog.records)
    assert "unexpected fault" not in caplog.text


@pytest.fixture
def uvicorn_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog with uvicorn's own lines too: its logger does not propagate to the root."""
    caplog.set_level(logging.INFO)
    uvicorn_logger = logging.getLogger("uvicorn")
    uvicorn_logger.addHandler(caplog.handler)
    try:
        yield caplog
    finally:
        uvicorn_logger.removeHandler(caplog.handler)


def read_answers(sock: socket.socket, count: int) -> list[bytes]:
    """The next `count` answers, pipelined ones included, the connection left open."""
    received = b""
    answers = []
    while len(answers) < count:
        head, separator, rest = received.partition(b"\r\n\r\n")
        length = re.search(rb"(?im)^content-length: (\d+)", head)
        if separator and length is not None and len(rest) >= int(length[1]):
            answers.append(head + separator + rest[: int(length[1])])
            received = rest[int(length[1]) :]
            continue
        chunk = sock.recv(65536)
        assert chunk, f"closed after {len(answers)} answers of {count}"
        received += chunk
    assert received == b"", "more answers than requests"
    return answers


def upgrade_request(protocol: str, extra: str = "") -> bytes:
    """A GET /health asking to switch to `protocol`, with what a WebSocket client sends."""
    return (
        "GET /health HTTP/1.1\r\nHost: smsrelay\r\nConnection: keep-alive, Upgrade\r\n"
        f"Upgrade: {protocol}\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        f"{extra}\r\n"
    ).encode()


@pytest.mark.parametrize("protocol", ["h2c", "websocket"])
def test_an_upgrade_request_is_served_as_plain_http_on_a_connection_still_bounded(
    address: str, uvicorn_log: pytest.LogCaptureFixture, protocol: str
) -> None:
    """The v1 API is HTTP/1.1 only: the Upgrade header is ignored (RFC 9110 section 7.8
    lets a server that keeps its protocol do so). The request is answered as any other,
    the connection stays HTTP, under its deadlines, and nobody can fill the log with it."""
    request = upgrade_request(protocol)
    with connect(address) as sock:
        for _ in range(25):
            sock.sendall(request)
            assert read_answers(sock, 1)[0].startswith(b"HTTP/1.1 200 ")
        sock.sendall(request * 25)  # pipelined, in one write
        answers = read_answers(sock, 25)
        assert all(answer.startswith(b"HTTP/1.1 200 ") for answer in answers)
        sock.sendall(b"GET /health HTTP/1.1\r\nHo")
        status, body = answer_of(read_until_closed(sock))
    assert (status, body["code"]) == (408, 90)
    assert [r.getMessage() for r in uvicorn_log.records if r.levelno >= logging.WARNING] == []
    assert "headers not received within 1 s" in uvicorn_log.text


def test_an_idle_connection_after_an_upgrade_request_is_closed_after_its_timeout(
    address: str, uvicorn_log: pytest.LogCaptureFixture
) -> None:
    uvicorn_log.set_level(logging.DEBUG, logger="smsrelay")
    with connect(address) as sock:
        sock.sendall(upgrade_request("websocket"))
        assert read_answers(sock, 1)[0].startswith(b"HTTP/1.1 200 ")
        assert read_until_closed(sock) == b""
    assert "sent no request within 1 s: closed" in uvicorn_log.text
    assert [r.getMessage() for r in uvicorn_log.records if r.levelno >= logging.WARNING] == []


@pytest.mark.parametrize(
    "body", ["Content-Length: 5\r\n", "Transfer-Encoding: chunked\r\n"], ids=["length", "chunked"]
)
def test_an_upgrade_request_with_a_body_is_answered_code_90_in_one_line(
    address: str, uvicorn_log: pytest.LogCaptureFixture, body: str
) -> None:
    """The HTTP parser skips the body of a request that asks to upgrade, so that body
    cannot be read, nor the next request found after it: refused, whatever follows."""
    smuggled = b"GET /health HTTP/1.1\r\nHost: smsrelay\r\n\r\n"
    with connect(address) as sock:
        sock.sendall(upgrade_request("h2c", body) + smuggled)
        status, answer = answer_of(read_until_closed(sock))
    assert (status, answer["code"]) == (400, 90)
    lines = [r for r in uvicorn_log.records if "upgrade" in r.getMessage().lower()]
    assert [r.levelno for r in lines] == [logging.INFO]
    assert "127.0.0.1:" in lines[0].getMessage()
    assert [r.getMessage() for r in uvicorn_log.records if r.levelno >= logging.WARNING] == []
