"""One SMPP connection, either side: framing, sequence numbers, requests and responses.

Both the ESME (smsrelay's operator carrier) and the SMSC simulator run this protocol;
what differs is the handler given the requests the peer sends. The handler may answer
at once or later with `respond`: the ESME acknowledges a deliver_sm only after it has
stored the receipt, so that a crash before then makes the SMSC send it again.

What the session does by itself: it answers enquire_link and unbind, sends an
enquire_link every `enquire_interval` seconds and drops the connection when the peer
does not answer one within the next interval, refuses a PDU length outside 16 bytes ..
64 KiB with a generic_nack and closes (the stream cannot be re-synchronised), and fails
every pending request with `SessionClosed` when the connection ends.

An unbind is answered only once every request the handler was given is answered, or
`timeout` seconds after it came: the peer that unbinds while we still owe it a
deliver_sm_resp (a receipt being stored) gets that answer first, instead of sending the
receipt again on its next bind. Meanwhile nothing new is sent on the session. The
handler hears of the unbind through `unbound`: what the peer will send again anyway it
may give up on, and `forget`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from typing import cast

from smsrelay.smpp.errors import SessionClosed, SessionTimeout
from smsrelay.smpp.pdu import (
    ENQUIRE_LINK,
    ENQUIRE_LINK_RESP,
    ESME_RINVCMDID,
    ESME_RINVCMDLEN,
    ESME_ROK,
    GENERIC_NACK,
    HEADER,
    HEADER_SIZE,
    MAX_PDU,
    RESP,
    UNBIND,
    UNBIND_RESP,
    frame,
    next_sequence,
)

log = logging.getLogger(__name__)

Handler = Callable[[int, int, int, bytes], None]
"""Called with (command_id, command_status, sequence, body) for each request of the
peer but enquire_link and unbind; it answers with `Session.respond`, now or later."""

Response = tuple[int, bytes]  # (command_status, body) of the peer's response


class Session(asyncio.Protocol):
    """An SMPP session over one TCP connection (create it inside the running loop).

    `window` bounds the requests `request` keeps outstanding; `timeout` is the default
    time a request waits for its response. Without a handler, every request of the peer
    gets a generic_nack ESME_RINVCMDID.
    """

    def __init__(
        self,
        handler: Handler | None = None,
        *,
        window: int = 64,
        timeout: float = 30.0,
        enquire_interval: float | None = 30.0,
    ) -> None:
        self.handler = handler
        self.timeout = timeout
        self.enquire_interval = enquire_interval
        # Done (never failed) when the connection has ended, whoever ended it.
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # Done (never failed) when the peer has sent unbind: what it is still owed an
        # answer for, it will send again on its next bind.
        self.unbound: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._window = asyncio.Semaphore(window)
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._sequence = 0
        self._pending: dict[int, tuple[asyncio.Future[Response], asyncio.TimerHandle]] = {}
        self._keepalive: asyncio.Task[None] | None = None
        self._owed: set[int] = set()  # sequences of the peer's requests not yet answered
        # The peer's unbind waiting for those answers: its sequence, and its deadline.
        self._unbind: tuple[int, asyncio.TimerHandle] | None = None

    # -- requests and responses --------------------------------------------------------

    async def request(
        self, command_id: int, body: bytes = b"", timeout: float | None = None
    ) -> Response:
        """Send a request within the window and wait for its (status, body).

        Raises `SessionTimeout` (the window slot is freed) or `SessionClosed`.
        """
        async with self._window:
            return await self.request_nowait(command_id, body, timeout)

    def request_nowait(
        self, command_id: int, body: bytes = b"", timeout: float | None = None
    ) -> asyncio.Future[Response]:
        """Write a request now, outside the window; the future gets its response.

        For what must not queue behind the window (enquire_link) or must be on the wire
        before something else is written (a receipt sent before a submit_sm_resp).
        """
        if self._transport is None or self._transport.is_closing():
            raise SessionClosed("the session is not connected")
        if self._unbind is not None:
            raise SessionClosed("the peer unbound")
        loop = asyncio.get_running_loop()
        self._sequence = sequence = next_sequence(self._sequence)
        future: asyncio.Future[Response] = loop.create_future()
        wait = self.timeout if timeout is None else timeout
        timer = loop.call_later(wait, self._expire, command_id, sequence, wait)
        self._pending[sequence] = (future, timer)
        self._transport.write(frame(command_id, ESME_ROK, sequence, body))
        return future

    def respond(self, command_id: int, status: int, sequence: int, body: bytes = b"") -> None:
        """Answer request `sequence`; `command_id` is the request's (or its response's).

        Dropped silently once the connection is closing: the peer will ask again.
        """
        self._write(command_id | RESP, status, sequence, body)
        self.forget(sequence)

    def forget(self, sequence: int) -> None:
        """Request `sequence` will not be answered: an unbind no longer waits for it."""
        self._owed.discard(sequence)
        if self._unbind is not None and not self._owed:
            self._answer_unbind()

    def _answer_unbind(self) -> None:
        """Answer the peer's unbind (what was owed is answered, or its wait is over)."""
        if self._unbind is None:
            return
        (sequence, deadline), self._unbind = self._unbind, None
        deadline.cancel()
        if self._owed:
            log.warning(
                "SMPP peer unbound; %d of its requests unanswered after %g s",
                len(self._owed),
                self.timeout,
            )
        self._write(UNBIND_RESP, ESME_ROK, sequence)
        self.close()

    def _expire(self, command_id: int, sequence: int, timeout: float) -> None:
        future, _ = self._pending.pop(sequence)
        if not future.done():
            future.set_exception(SessionTimeout(command_id, sequence, timeout))

    def _write(self, command_id: int, status: int, sequence: int, body: bytes = b"") -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(frame(command_id, status, sequence, body))

    # -- closing -----------------------------------------------------------------------

    def close(self) -> None:
        """Close after writing what is buffered; pending requests fail once it is done."""
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        """Cut the connection at once, discarding what is not yet written."""
        if self._transport is not None:
            self._transport.abort()

    async def unbind(self, timeout: float | None = None) -> None:
        """Say goodbye (unbind, wait for unbind_resp or the timeout), then close."""
        with contextlib.suppress(SessionClosed, SessionTimeout):  # leaving anyway
            await self.request_nowait(UNBIND, timeout=timeout)
        self.close()
        await self.closed

    # -- asyncio.Protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport; uvloop's is not a subclass of asyncio.Transport.
        self._transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:  # a PDU must not wait for Nagle's algorithm
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.enquire_interval is not None:
            self._keepalive = asyncio.get_running_loop().create_task(
                self._enquire_links(self.enquire_interval), name="smpp-enquire-link"
            )

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        at, end = 0, len(buffer)
        transport = self._transport
        # Stop reading once closing: what follows a dropped connection is never seen.
        while end - at >= 4 and transport is not None and not transport.is_closing():
            length = int.from_bytes(buffer[at : at + 4], "big")
            if length < HEADER_SIZE or length > MAX_PDU:
                sequence = HEADER.unpack_from(buffer, at)[3] if end - at >= HEADER_SIZE else 0
                log.warning("SMPP PDU length %d refused; closing", length)
                self._write(GENERIC_NACK, ESME_RINVCMDLEN, sequence)
                self.close()
                break
            if end - at < length:
                break
            _, command_id, status, sequence = HEADER.unpack_from(buffer, at)
            body = bytes(buffer[at + HEADER_SIZE : at + length])
            at += length
            self._dispatch(command_id, status, sequence, body)
        del buffer[:at]

    def _dispatch(self, command_id: int, status: int, sequence: int, body: bytes) -> None:
        if command_id & RESP:  # a response, or a generic_nack: both answer a request
            pending = self._pending.pop(sequence, None)
            if pending is not None:  # else a late answer to a request that timed out
                future, timer = pending
                timer.cancel()
                if not future.done():
                    future.set_result((status, body))
        elif command_id == ENQUIRE_LINK:
            self._write(ENQUIRE_LINK_RESP, ESME_ROK, sequence)
        elif command_id == UNBIND:
            if self._unbind is not None:  # asked twice: the first answer will do
                return
            deadline = asyncio.get_running_loop().call_later(self.timeout, self._answer_unbind)
            self._unbind = (sequence, deadline)
            self.unbound.set_result(None)
            if not self._owed:
                self._answer_unbind()
        elif self.handler is None:
            self._write(GENERIC_NACK, ESME_RINVCMDID, sequence)
        else:
            self._owed.add(sequence)
            self.handler(command_id, status, sequence, body)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
        if self._unbind is not None:
            self._unbind[1].cancel()
        reason = f"connection lost: {exc}" if exc else "connection closed"
        pending, self._pending = self._pending, {}
        for future, timer in pending.values():
            timer.cancel()
            if not future.done():
                future.set_exception(SessionClosed(reason))
        if not self.closed.done():
            self.closed.set_result(None)

    async def _enquire_links(self, interval: float) -> None:
        """Probe the peer; one unanswered enquire_link means the link is dead."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.request_nowait(ENQUIRE_LINK, timeout=interval)
            except SessionTimeout:
                log.warning("SMPP peer did not answer enquire_link in %g s; closing", interval)
                self.abort()
                return
            except SessionClosed:
                return


async def connect(
    host: str,
    port: int,
    handler: Handler | None = None,
    *,
    window: int = 64,
    timeout: float = 30.0,
    enquire_interval: float | None = 30.0,
) -> Session:
    """A session over a new TCP connection to `host:port` (not yet bound)."""
    session = Session(handler, window=window, timeout=timeout, enquire_interval=enquire_interval)
    await asyncio.get_running_loop().create_connection(lambda: session, host, port)
    return session
