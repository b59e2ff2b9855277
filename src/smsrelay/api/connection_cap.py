"""How many connections the server holds at once, and how it refuses the one too many.

Past `max_connections` (lowered to what the descriptor limit allows) a new connection is
answered at once with HTTP 503 and the v1 body code 500 ("try again"), then read and
discarded for a moment so that closing it does not reset the answer in transit. The
refusal is logged once per episode, not per connection, so that a flood cannot fill the
log. `http_server.GuardedProtocol` asks the `ConnectionGuard` when a connection opens.
"""

from __future__ import annotations

import asyncio
import http
import logging
import resource

from smsrelay.api.errors import error_body
from smsrelay.api.formats import JSON_MEDIA_TYPE, encode_json
from smsrelay.config import ConfigError, Settings
from smsrelay.domain.problems import Language, Problem, Refused

log = logging.getLogger(__name__)

# Descriptors the process needs besides its connections: the listening socket, the
# database and its journal, the delivery worker's pipes, log files, and connections
# being refused (at most LINGERING_REFUSALS of them at a time hold one for a while).
RESERVED_DESCRIPTORS = 64
# How long a refused connection is kept, reading and discarding, after its answer, unless
# its client closes first (a normal one does on reading the answer): closing with the
# request unread would reset the connection, and the reset can destroy the answer in transit.
# Past LINGERING_REFUSALS at once (a flood), the oldest is closed to make room.
REFUSAL_LINGER = 1.0
LINGERING_REFUSALS = RESERVED_DESCRIPTORS // 2


def coded_answer(status: int, problem: Problem, language: Language) -> bytes:
    """A whole HTTP response carrying the v1 error body of `problem`, closing the connection."""
    body = encode_json(error_body(Refused(problem), language))
    phrase = http.HTTPStatus(status).phrase
    head = (
        f"HTTP/1.1 {status} {phrase}\r\ncontent-type: {JSON_MEDIA_TYPE}\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def connection_cap(wanted: int) -> int:
    """How many connections may be open: `wanted`, or fewer if the descriptor limit is lower.

    The soft limit is first raised towards the hard one, as far as `wanted` needs; a cap
    above what the process can open would let the kernel refuse clients with no answer.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = wanted + RESERVED_DESCRIPTORS
    if soft != resource.RLIM_INFINITY and soft < needed:
        soft = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return wanted
    if soft <= RESERVED_DESCRIPTORS:
        raise ConfigError(
            f"the descriptor limit ({soft}, ulimit -n) leaves no room for connections: "
            f"it must exceed {RESERVED_DESCRIPTORS}"
        )
    cap = soft - RESERVED_DESCRIPTORS
    log.warning(
        "the descriptor limit (%d, ulimit -n) allows %d connections, not max_connections %d",
        soft,
        cap,
        wanted,
    )
    return cap


class ConnectionGuard:
    """What every connection of one server shares: the bounds, the ready-made answers, and
    whether new connections are being refused (logged once per episode, not per refusal,
    so that a flood cannot fill the log)."""

    def __init__(self, settings: Settings) -> None:
        self.header_timeout = settings.header_timeout
        self.body_timeout = settings.body_timeout
        self.keepalive_timeout = settings.keepalive_timeout
        # The watchdog of a connection never sleeps longer than the shortest deadline, so
        # that a phase that begins while it sleeps is never checked late.
        self.watch_interval = min(self.header_timeout, self.body_timeout, self.keepalive_timeout)
        self.max_connections = connection_cap(settings.max_connections)
        self.busy = coded_answer(503, Problem.BUSY, settings.language)
        self.late = coded_answer(408, Problem.MALFORMED, settings.language)
        self.malformed = coded_answer(400, Problem.MALFORMED, settings.language)
        self.refused = 0
        self.lingering: dict[_Refusal, None] = {}  # oldest first

    def refuse(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        if self.refused == 0:
            log.warning(
                "%d connections open (max_connections): new ones are answered 503 until some close",
                self.max_connections,
            )
        self.refused += 1
        if len(self.lingering) >= LINGERING_REFUSALS:
            oldest = next(iter(self.lingering))
            del self.lingering[oldest]
            oldest.transport.close()
        refusal = _Refusal(self, loop)
        transport.set_protocol(refusal)
        refusal.connection_made(transport)

    def closed(self, still_open: int) -> None:
        if self.refused and still_open < self.max_connections:
            log.info("connections below max_connections again; %d were refused", self.refused)
            self.refused = 0


class _Refusal(asyncio.Protocol):
    """A connection past the cap: answered at once, then drained until the client closes."""

    transport: asyncio.Transport

    def __init__(self, guard: ConnectionGuard, loop: asyncio.AbstractEventLoop) -> None:
        self.guard = guard
        self.loop = loop
        self.linger: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.transport = transport
        self.guard.lingering[self] = None
        transport.write(self.guard.busy)
        if transport.can_write_eof():
            transport.write_eof()
        self.linger = self.loop.call_later(REFUSAL_LINGER, transport.close)

    def data_received(self, data: bytes) -> None:
        """The request nobody will serve: read only so that closing does not reset."""

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.lingering.pop(self, None)
        if self.linger is not None:
            self.linger.cancel()
