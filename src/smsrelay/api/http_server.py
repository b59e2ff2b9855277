"""The HTTP server's side of a connection: how long a client may take, how many may be open.

uvicorn 0.54 with httptools bounds neither. A connection that sends nothing, or a request
line and half its headers, is kept until the client leaves; a body may trickle for ever;
and past the descriptor limit new connections fail, normal clients' included. Here its
httptools protocol gets the missing bounds where the parser reports progress, checked by
one watchdog timer per connection, and a cap on open connections checked when one is
accepted. `server_config` is the one configuration of both `smsrelay serve` and the
servers tests start in-process, so that what the tests prove is what runs.

What a client sees: past the cap, HTTP 503 with the v1 body code 500 ("try again"); headers
or a body that do not arrive in time, HTTP 408 with code 90; an unparsable request
(a broken chunked body), HTTP 400 with code 90. Each is one line in the log, never a
traceback. docs/operations.md explains the settings.

The v1 API is HTTP/1.1 and nothing else (`ws="none"`: no WebSocket, which would escape
every deadline here). A request asking to upgrade (`Connection: upgrade`, `Upgrade: h2c`)
is served as if it had not asked, as RFC 9110 section 7.8 allows, with no log line: uvicorn
would warn once per request, so that anyone could fill the log.

It relies on private parts of uvicorn 0.54.0 (`uvicorn._types`, `_start_asgi_task`,
`cycle`, `pipeline`, `flow.read_paused`, `_unset_keepalive_if_required`, a copy of
`data_received`): tests/api/test_connections.py fails on any other version of uvicorn, so
that an upgrade is reviewed here first.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

import httptools
import uvicorn
from starlette.applications import Starlette
from uvicorn._types import ASGI3Application
from uvicorn.config import Config, LoopFactoryType
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from smsrelay.api.connection_cap import ConnectionGuard
from smsrelay.config import Settings

log = logging.getLogger(__name__)

# What the connection waits for from its client: anything at all (just opened), the end
# of a request's headers, the end of its body, a next request (idle after an answer);
# None while the server has the turn (the application is answering).
_Phase = Literal["opened", "headers", "body", "idle"] | None


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with deadlines for the headers and the body, the cap
    on open connections, and coded answers instead of its text/plain 400.

    A request only notes when each phase began (two reads of the loop's clock): one
    watchdog timer per connection, re-armed when it fires, compares that with the
    deadline. A timer armed and cancelled per phase would cost ten times as much per
    request. The watchdog is armed when the connection opens and stops only when it is
    lost: it never depends on the next phase to arm it again, so no order of events can
    leave an open connection unwatched. A deadline counts only time the server was
    reading: while uvicorn itself paused reading (a body past its buffer, a pipelined
    request), it starts again.
    """

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        if not isinstance(config, ServerConfig):
            raise TypeError("GuardedProtocol reads its bounds from a ServerConfig")
        self.guard = config.guard
        self._phase: _Phase = "opened"
        self._since = 0.0  # when the phase began, on the loop's clock
        self._watchdog: asyncio.TimerHandle | None = None
        self._answering: RequestResponseCycle | None = None
        self._ended = False  # the server ended the connection, and logged why

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.guard.max_connections:
            self.guard.refuse(transport, self.loop)
            return
        super().connection_made(transport)
        self._since = self.loop.time()
        self._watchdog = self.loop.call_later(self.guard.watch_interval, self._watch)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_watching()
        cycle = self.cycle
        if (
            not self._ended
            and cycle is not None
            and cycle.more_body
            and not cycle.response_complete
        ):
            log.info("%s: the client left before the end of its body", self._request())
        super().connection_lost(exc)
        self.guard.closed(len(self.connections))

    def data_received(self, data: bytes) -> None:
        # uvicorn's own, but for a parser error: its answer is text/plain and its warning
        # says neither who nor what; for an upgrade, which it warns of and then drops the
        # rest of `data`; and no keep-alive timer to cancel (on_response_complete).
        unread = memoryview(data)
        while unread:
            try:
                self.parser.feed_data(unread)
                return
            except httptools.HttpParserError as exc:
                self._end(f"malformed request ({_fault(exc)})", self.guard.malformed)
                return
            except httptools.HttpParserUpgrade as upgrade:
                # The parser stopped after a request asking to upgrade (served as a plain
                # one, having no body) and has already resumed: what follows is the next
                # request. A loop, not a call per request: `data` may hold thousands.
                if self._ended:
                    return
                unread = unread[upgrade.args[0] :]

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._phase != "opened":  # the first request's deadline runs from the connection
            self._begin("headers")
        self._phase = "headers"

    def on_headers_complete(self) -> None:
        self._phase = None
        if self.parser.should_upgrade() and _declares_body(self.headers):
            # httptools skips the body of a request that asks to upgrade: it could be
            # neither read nor told from the request after it (which it may smuggle).
            method = self.parser.get_method().decode("ascii", "replace")
            self._end(f"{method} asks to upgrade and has a body: refused", self.guard.malformed)
            return
        super().on_headers_complete()

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
        super()._start_asgi_task(cycle, app)
        self._answering = cycle
        if cycle.more_body:
            self._begin("body")

    def on_message_complete(self) -> None:
        if self._ended:  # refused at its headers (on_headers_complete): no request to complete
            return
        super().on_message_complete()
        cycle = self.cycle
        if cycle is not None and cycle.response_complete:
            # Answered before its body had all arrived (a 404, a bad _format, a 413 from
            # the declared length): the body read now was the last the client owed.
            self._begin("idle")
        else:
            self._phase = None

    def on_response_complete(self) -> None:
        # uvicorn arms its keep-alive timer here, but cancels it on any bytes, even the
        # empty lines the parser skips (one "\r\n" and the connection was never closed),
        # or the rest of a body answered early. The "idle" phase is the keep-alive timeout,
        # the only one: uvicorn's is cancelled as soon as armed.
        super().on_response_complete()
        self._unset_keepalive_if_required()
        answered = self._answering
        if self._phase is None and answered is not None and answered.response_complete:
            self._begin("idle")

    def _begin(self, phase: _Phase) -> None:
        self._phase = phase
        self._since = self.loop.time()

    def _limit(self) -> float:
        if self._phase == "body":
            return self.guard.body_timeout
        if self._phase == "idle":
            return self.guard.keepalive_timeout
        return self.guard.header_timeout

    def _watch(self) -> None:
        """Check the deadline of the phase, if the client has the turn, and sleep again."""
        delay = self.guard.watch_interval
        if self._phase is not None:
            now = self.loop.time()
            if self.flow.read_paused:
                self._since = now
            left = self._since + self._limit() - now
            if left > 0:
                delay = min(left, delay)
            else:
                self._expire()
        self._watchdog = self.loop.call_later(delay, self._watch)

    def _stop_watching(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    def _expire(self) -> None:
        if self._phase in ("opened", "idle"):
            log.debug("%s sent no request within %g s: closed", self._client(), self._limit())
            self._ended = True
            self._phase = None
            self.transport.close()
        else:
            self._end(f"{self._phase} not received within {self._limit():g} s", self.guard.late)

    def _end(self, reason: str, answer: bytes) -> None:
        """End the connection of the request at fault, answering it when nothing else is
        being answered on this connection (a pipelined request's answer would be mixed)."""
        self._ended = True
        self._phase = None
        log.info("%s: %s; connection closed", self._request(), reason)
        cycle = self.cycle
        at_fault = cycle if cycle is not None and cycle.more_body else None
        answering = self._answering
        if answering is not None and answering is not at_fault and not answering.response_complete:
            answering.keep_alive = False  # closes once that answer is sent
            self.pipeline.clear()
            self.flow.pause_reading()
            return
        if at_fault is not None:
            if at_fault.response_started:
                answer = b""
            at_fault.disconnected = True  # what the application still sends goes nowhere
            at_fault.message_event.set()
        self.transport.write(answer)
        self.transport.close()

    def _client(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "a client"

    def _request(self) -> str:
        """Who sent the request at fault and, as far as it was read, what it asked."""
        scope = self.scope
        if scope is None or "method" not in scope:
            return self._client()
        if "path" not in scope:  # its target was no URL (on_headers_complete)
            return f"{self._client()} {scope['method']}"
        return f"{self._client()} {scope['method']} {scope['path']}"


def _fault(exc: httptools.HttpParserError) -> str:
    """What the parser found wrong, in words of our own when a callback raised: uvicorn's
    on_headers_complete raises on a target that is no URL (`CONNECT host:443`), whose text
    would otherwise be the parser's "User callback error" or the client's whole target."""
    if isinstance(exc.__context__, httptools.HttpParserInvalidURLError):
        return "request target that is no URL"
    return str(exc)


def _declares_body(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether a request's headers (names in lower case) announce a body of any length."""
    for name, value in headers:
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip(b"0")):
            return True
    return False


class ServerConfig(uvicorn.Config):
    """uvicorn's configuration, with the guard its connections share."""

    def __init__(
        self,
        app: Starlette,
        settings: Settings,
        *,
        loop: LoopFactoryType,
        log_level: str,
        access_log: bool,
    ) -> None:
        super().__init__(
            app,
            host=settings.host,
            port=settings.port,
            loop=loop,
            http=GuardedProtocol,
            ws="none",
            log_level=log_level,
            access_log=access_log,
        )
        self.guard = ConnectionGuard(settings)


def server_config(
    app: Starlette,
    settings: Settings,
    *,
    loop: LoopFactoryType = "uvloop",
    log_level: str | None = None,
    access_log: bool = False,
) -> ServerConfig:
    """The server's configuration: production uses uvloop, tests may use asyncio.

    Raises ConfigError when the descriptor limit leaves no room for connections.
    """
    return ServerConfig(
        app, settings, loop=loop, log_level=log_level or settings.log_level, access_log=access_log
    )
