"""The SMPP session over real loopback TCP: framing, window, timeouts, closing, keepalive."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import NamedTuple, TypeVar

import pytest

from smsrelay.smpp.errors import SessionClosed, SessionTimeout
from smsrelay.smpp.pdu import (
    DELIVER_SM,
    ENQUIRE_LINK,
    ENQUIRE_LINK_RESP,
    ESME_RINVCMDID,
    ESME_RINVCMDLEN,
    ESME_ROK,
    ESME_RTHROTTLED,
    GENERIC_NACK,
    HEADER,
    MAX_PDU,
    MAX_SEQUENCE,
    RESP,
    SUBMIT_SM,
    SUBMIT_SM_RESP,
    UNBIND,
    UNBIND_RESP,
    frame,
    next_sequence,
)
from smsrelay.smpp.session import Session, connect

T = TypeVar("T")
HOST = "127.0.0.1"


class Request(NamedTuple):
    command_id: int
    status: int
    sequence: int
    body: bytes


class Held:
    """A handler that queues every request, for the test to answer when it wants."""

    def __init__(self) -> None:
        self.requests: asyncio.Queue[Request] = asyncio.Queue()

    def __call__(self, command_id: int, status: int, sequence: int, body: bytes) -> None:
        self.requests.put_nowait(Request(command_id, status, sequence, body))

    async def next(self) -> Request:
        return await asyncio.wait_for(self.requests.get(), 2)

    async def nothing_more(self) -> bool:
        await asyncio.sleep(0.1)
        return self.requests.empty()


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    async def bounded() -> T:
        async with asyncio.timeout(10):
            return await scenario()

    return asyncio.run(bounded())


@asynccontextmanager
async def listening(
    handler: Held | None = None, *, enquire_interval: float | None = None, timeout: float = 30.0
) -> AsyncIterator[tuple[int, asyncio.Queue[Session]]]:
    """Sessions served on a free loopback port; the queue gets each accepted one."""
    accepted: asyncio.Queue[Session] = asyncio.Queue()

    def factory() -> Session:
        session = Session(handler, enquire_interval=enquire_interval, timeout=timeout)
        accepted.put_nowait(session)
        return session

    server = await asyncio.get_running_loop().create_server(factory, HOST, 0)
    try:
        yield server.sockets[0].getsockname()[1], accepted
    finally:
        server.close()
        while not accepted.empty():
            accepted.get_nowait().abort()
        await server.wait_closed()


@asynccontextmanager
async def pair(
    handler: Held | None = None,
    *,
    window: int = 64,
    timeout: float = 5.0,
    enquire_interval: float | None = None,
) -> AsyncIterator[tuple[Session, Session]]:
    """A client session connected to a server session whose requests go to `handler`."""
    async with listening(handler) as (port, accepted):
        client = await connect(
            HOST, port, window=window, timeout=timeout, enquire_interval=enquire_interval
        )
        served = await accepted.get()
        try:
            yield client, served
        finally:
            client.abort()
            served.abort()


@asynccontextmanager
async def raw_client(
    handler: Held | None = None, *, enquire_interval: float | None = None, timeout: float = 30.0
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter, Session]]:
    """Bytes written by hand to a served session."""
    async with listening(handler, enquire_interval=enquire_interval, timeout=timeout) as (
        port,
        accepted,
    ):
        reader, writer = await asyncio.open_connection(HOST, port)
        served = await accepted.get()
        try:
            yield reader, writer, served
        finally:
            writer.close()


async def read_pdu(reader: asyncio.StreamReader) -> Request:
    header = await asyncio.wait_for(reader.readexactly(16), 2)
    length, command_id, status, sequence = HEADER.unpack(header)
    return Request(command_id, status, sequence, await reader.readexactly(length - 16))


def test_each_answer_finds_its_request_by_sequence_number() -> None:
    async def scenario() -> None:
        held = Held()
        async with pair(held) as (client, served):
            first = asyncio.ensure_future(client.request(SUBMIT_SM, b"one"))
            second = asyncio.ensure_future(client.request(SUBMIT_SM, b"two"))
            a, b = await held.next(), await held.next()
            assert (a.command_id, a.body, b.body) == (SUBMIT_SM, b"one", b"two")
            assert b.sequence == next_sequence(a.sequence)
            served.respond(SUBMIT_SM, ESME_ROK, b.sequence, b"id-2\0")  # in reverse order
            served.respond(SUBMIT_SM_RESP, ESME_RTHROTTLED, a.sequence)
            assert await second == (ESME_ROK, b"id-2\0")
            assert await first == (ESME_RTHROTTLED, b"")

    run(scenario)


def test_sequence_numbers_wrap_to_one_after_the_largest() -> None:
    assert next_sequence(0) == 1
    assert next_sequence(MAX_SEQUENCE - 1) == MAX_SEQUENCE
    assert next_sequence(MAX_SEQUENCE) == 1


def test_a_pdu_split_across_packets_is_reassembled() -> None:
    async def scenario() -> None:
        held = Held()
        async with raw_client(held) as (_, writer, _):
            pdu = frame(DELIVER_SM, 0, 7, b"receipt body")
            for piece in (pdu[:3], pdu[3:10], pdu[10:17], pdu[17:]):
                writer.write(piece)
                await writer.drain()
                await asyncio.sleep(0.02)
            assert await held.next() == Request(DELIVER_SM, 0, 7, b"receipt body")

    run(scenario)


def test_several_pdus_in_one_packet_are_all_read() -> None:
    async def scenario() -> None:
        held = Held()
        async with raw_client(held) as (reader, writer, _):
            writer.write(
                frame(ENQUIRE_LINK, 0, 1)
                + frame(DELIVER_SM, 0, 2, b"a")
                + frame(ENQUIRE_LINK, 0, 3)
                + frame(DELIVER_SM, 0, 4, b"b")[:20]  # and the start of a fifth
            )
            assert await read_pdu(reader) == Request(ENQUIRE_LINK_RESP, ESME_ROK, 1, b"")
            assert await read_pdu(reader) == Request(ENQUIRE_LINK_RESP, ESME_ROK, 3, b"")
            assert await held.next() == Request(DELIVER_SM, 0, 2, b"a")
            writer.write(frame(DELIVER_SM, 0, 4, b"b")[20:])
            assert await held.next() == Request(DELIVER_SM, 0, 4, b"b")

    run(scenario)


@pytest.mark.parametrize("length", [8, 15, MAX_PDU + 1])
def test_an_impossible_length_gets_a_generic_nack_and_the_connection_closes(
    length: int,
) -> None:
    async def scenario() -> None:
        async with raw_client() as (reader, writer, served):
            writer.write(HEADER.pack(length, SUBMIT_SM, 0, 42) + b"\0" * 16)
            nack = await read_pdu(reader)
            assert (nack.command_id, nack.status, nack.sequence) == (
                GENERIC_NACK,
                ESME_RINVCMDLEN,
                42,
            )
            assert await asyncio.wait_for(reader.read(), 2) == b""  # closed by the session
            await served.closed

    run(scenario)


def test_a_session_without_handler_refuses_requests() -> None:
    async def scenario() -> None:
        async with pair() as (client, _):
            assert await client.request(SUBMIT_SM, b"x") == (ESME_RINVCMDID, b"")

    run(scenario)


def test_the_window_bounds_the_requests_outstanding() -> None:
    async def scenario() -> None:
        held = Held()
        async with pair(held, window=2) as (client, served):
            answers = [
                asyncio.ensure_future(client.request(SUBMIT_SM, b"%d" % n)) for n in range(5)
            ]
            first, second = await held.next(), await held.next()
            assert await held.nothing_more()  # three wait for a free slot
            served.respond(SUBMIT_SM, ESME_ROK, first.sequence)
            third = await held.next()
            assert third.body == b"2"
            assert await held.nothing_more()
            for request in (second, third):
                served.respond(SUBMIT_SM, ESME_ROK, request.sequence)
            for _ in range(2):
                served.respond(SUBMIT_SM, ESME_ROK, (await held.next()).sequence)
            assert [await answer for answer in answers] == [(ESME_ROK, b"")] * 5

    run(scenario)


def test_a_request_that_times_out_frees_its_slot_and_its_late_answer_is_ignored() -> None:
    async def scenario() -> None:
        held = Held()
        async with pair(held, window=1) as (client, served):
            with pytest.raises(SessionTimeout) as raised:
                await client.request(SUBMIT_SM, b"lost", timeout=0.1)
            lost = await held.next()
            assert (raised.value.command_id, raised.value.sequence) == (SUBMIT_SM, lost.sequence)
            answer = asyncio.ensure_future(client.request(SUBMIT_SM, b"next"))
            following = await held.next()  # the slot is free again
            served.respond(SUBMIT_SM, ESME_ROK, lost.sequence, b"late\0")
            served.respond(SUBMIT_SM, ESME_ROK, following.sequence, b"ok\0")
            assert await answer == (ESME_ROK, b"ok\0")

    run(scenario)


def test_the_peer_closing_fails_every_pending_request() -> None:
    async def scenario() -> None:
        held = Held()
        async with pair(held, window=1) as (client, served):
            pending = asyncio.ensure_future(client.request(SUBMIT_SM, b"a"))
            queued = asyncio.ensure_future(client.request(SUBMIT_SM, b"b"))  # behind the window
            await held.next()
            served.abort()
            await client.closed
            for request in (pending, queued):
                with pytest.raises(SessionClosed):
                    await request
            with pytest.raises(SessionClosed):
                client.request_nowait(SUBMIT_SM)
            served.respond(SUBMIT_SM, ESME_ROK, 1)  # too late: dropped, no error

    run(scenario)


def test_enquire_link_and_unbind_are_answered_by_the_session() -> None:
    async def scenario() -> None:
        held = Held()
        async with raw_client(held) as (reader, writer, served):
            writer.write(frame(ENQUIRE_LINK, 0, 5))
            assert await read_pdu(reader) == Request(ENQUIRE_LINK_RESP, ESME_ROK, 5, b"")
            writer.write(frame(UNBIND, 0, 6))
            assert await read_pdu(reader) == Request(UNBIND_RESP, ESME_ROK, 6, b"")
            await served.closed
            assert held.requests.empty()

    run(scenario)


def test_an_unbind_is_answered_after_the_answers_still_owed() -> None:
    async def scenario() -> None:
        held = Held()
        async with raw_client(held) as (reader, writer, served):
            writer.write(frame(DELIVER_SM, 0, 7, b"receipt") + frame(UNBIND, 0, 8))
            await held.next()  # the handler has it, and has not answered yet
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(reader.readexactly(16), 0.2)
            with pytest.raises(SessionClosed):  # nothing new goes out meanwhile
                served.request_nowait(SUBMIT_SM, b"")
            served.respond(DELIVER_SM, ESME_ROK, 7, b"\0")
            assert await read_pdu(reader) == Request(DELIVER_SM | RESP, ESME_ROK, 7, b"\0")
            assert await read_pdu(reader) == Request(UNBIND_RESP, ESME_ROK, 8, b"")
            await asyncio.wait_for(served.closed, 2)

    run(scenario)


def test_an_unbind_waits_for_owed_answers_no_longer_than_the_timeout() -> None:
    async def scenario() -> float:
        held = Held()
        async with raw_client(held, timeout=0.3) as (reader, writer, served):
            writer.write(frame(DELIVER_SM, 0, 7, b"never answered"))
            await held.next()
            started = asyncio.get_running_loop().time()
            writer.write(frame(UNBIND, 0, 8))
            assert await read_pdu(reader) == Request(UNBIND_RESP, ESME_ROK, 8, b"")
            await asyncio.wait_for(served.closed, 2)
            return asyncio.get_running_loop().time() - started

    assert run(scenario) >= 0.25


def test_a_request_the_handler_forgets_does_not_hold_an_unbind() -> None:
    async def scenario() -> None:
        held = Held()
        async with raw_client(held) as (reader, writer, served):
            writer.write(frame(SUBMIT_SM, 0, 7, b"lost") + frame(UNBIND, 0, 8))
            request = await held.next()
            served.forget(request.sequence)
            assert await read_pdu(reader) == Request(UNBIND_RESP, ESME_ROK, 8, b"")

    run(scenario)


def test_unbind_waits_for_the_answer_then_both_sides_close() -> None:
    async def scenario() -> None:
        async with pair() as (client, served):
            await client.unbind(timeout=1)
            await served.closed
            assert client.closed.done()

    run(scenario)


def test_unbind_does_not_close_before_the_peer_answers() -> None:
    async def scenario() -> None:
        peers: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
        server = await asyncio.start_server(
            lambda reader, writer: peers.put_nowait((reader, writer)), HOST, 0
        )
        try:
            client = await connect(HOST, server.sockets[0].getsockname()[1])
            reader, writer = await peers.get()
            leaving = asyncio.ensure_future(client.unbind(timeout=5))
            unbind = await read_pdu(reader)
            await asyncio.sleep(0.1)
            waited = not leaving.done() and not client.closed.done()
            writer.write(frame(UNBIND_RESP, ESME_ROK, unbind.sequence))
            await asyncio.wait_for(leaving, 2)
            assert (unbind.command_id, waited, client.closed.done()) == (UNBIND, True, True)
            writer.close()
        finally:
            server.close()

    run(scenario)


def test_a_live_peer_keeps_the_link_and_a_silent_one_loses_it() -> None:
    async def scenario() -> None:
        async with pair(enquire_interval=0.2) as (client, _):
            await asyncio.sleep(0.7)  # several enquire_links, each answered
            assert not client.closed.done()
        async with raw_client(enquire_interval=0.05) as (reader, _, served):
            probe = await read_pdu(reader)  # the session probes a peer that never answers
            assert probe.command_id == ENQUIRE_LINK
            await asyncio.wait_for(served.closed, 1)

    run(scenario)
