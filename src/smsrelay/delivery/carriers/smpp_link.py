"""The connection of one SMPP connector: connect, bind, stay bound, reconnect.

`SmppLink` runs one task that connects and binds (one transceiver session, or a
transmitter and a receiver), waits for a session to close, and starts again after a
pause that doubles from `reconnect_min` up to `reconnect_max`. The pause is drawn in the
upper half of that range: several smsrelay processes cut off by the same SMSC restart
then do not all knock at once. A refused bind is retried the same way, its status
logged: a wrong password stays wrong, but SMSCs also refuse binds while they restart or
when an old session is not yet gone (ESME_RALYBND, ESME_RBINDFAIL).

The two sessions of a transmitter+receiver pair live and die together. A connector that
could still submit but no longer hear its receipts would leave them piling up at the
SMSC, and one rule (any session lost: rebind both) is simpler to reason about.

Keepalive is the Session's own: an enquire_link every `enquire_link` seconds, the
connection dropped when one goes unanswered, which reaches this loop as a closed session.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from typing import Final

from smsrelay.config import ConnectorSettings
from smsrelay.delivery.supervision import backoff, start_long_lived
from smsrelay.smpp.errors import SmppError
from smsrelay.smpp.pdu import (
    BIND_RECEIVER,
    BIND_TRANSCEIVER,
    BIND_TRANSMITTER,
    ESME_ROK,
    Bind,
    encode_bind,
)
from smsrelay.smpp.session import Session

log = logging.getLogger(__name__)

LinkHandler = Callable[[Session, int, int, int, bytes], None]
"""A Session handler told which session the request came on, so it can answer there."""

_BIND_NAMES: Final = {
    BIND_TRANSCEIVER: "bind_transceiver",
    BIND_TRANSMITTER: "bind_transmitter",
    BIND_RECEIVER: "bind_receiver",
}
# Longest a stop waits for an SMSC to answer unbind (or submit_timeout, if shorter).
UNBIND_WAIT: Final = 5.0


class SmppLink:
    """Keeps a connector's sessions bound; `transmitter` is the one to submit on."""

    def __init__(self, settings: ConnectorSettings, handler: LinkHandler) -> None:
        self.settings = settings
        self._handler = handler
        self._binds = (
            (BIND_TRANSCEIVER,)
            if settings.bind == "transceiver"
            else (BIND_TRANSMITTER, BIND_RECEIVER)
        )
        self._sessions: tuple[Session, ...] = ()  # bound, transmitting one first
        self._task: asyncio.Task[None] | None = None

    @property
    def transmitter(self) -> Session | None:
        """The bound session submit_sm goes on; None while connecting or binding."""
        return self._sessions[0] if self._sessions else None

    def start(self) -> None:
        """Start connecting in the background: the caller does not wait for the SMSC."""
        self._task = start_long_lived(self._run(), f"smpp-{self.settings.name}")

    async def stop(self) -> None:
        """Stop reconnecting, then unbind what is bound (each wait bounded)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        sessions, self._sessions = self._sessions, ()
        await asyncio.gather(*(self._unbind(session) for session in sessions))

    async def _run(self) -> None:
        s = self.settings
        failures = 0
        while True:
            sessions = await self._open()
            if sessions:
                failures = 0
                self._sessions = sessions
                log.info("SMPP %s: bound to %s:%d (%s)", s.name, s.host, s.port, s.bind)
                await asyncio.wait(
                    [x.closed for x in sessions], return_when=asyncio.FIRST_COMPLETED
                )
                self._sessions = ()
                log.warning("SMPP %s: connection lost; reconnecting", s.name)
                await asyncio.gather(*(self._unbind(session) for session in sessions))
            delay = backoff(failures, s.reconnect_min, s.reconnect_max)
            failures += 1
            await asyncio.sleep(delay)

    async def _open(self) -> tuple[Session, ...]:
        """Connect and bind every session; () after logging why not.

        Whatever was opened is cut unless all of it is handed over, even when the task
        is cancelled half-way.
        """
        s = self.settings
        opened: list[Session] = []
        try:
            for command_id in self._binds:
                status = await self._bind(command_id, opened)
                if status != ESME_ROK:
                    log.warning(
                        "SMPP %s: %s refused with status 0x%08X",
                        s.name,
                        _BIND_NAMES[command_id],
                        status,
                    )
                    return ()
            ready, opened = tuple(opened), []
            return ready
        except (OSError, TimeoutError, SmppError) as exc:
            log.warning("SMPP %s: cannot bind to %s:%d: %s", s.name, s.host, s.port, exc)
            return ()
        finally:
            for session in opened:
                session.abort()

    async def _bind(self, command_id: int, opened: list[Session]) -> int:
        """Open one session (added to `opened` first) and bind it; the bind's status."""
        s = self.settings
        session = Session(
            None, window=s.window, timeout=s.submit_timeout, enquire_interval=s.enquire_link
        )
        # Set before connecting, so that no PDU can arrive without a handler.
        session.handler = functools.partial(self._handler, session)
        opened.append(session)
        async with asyncio.timeout(s.submit_timeout):
            await asyncio.get_running_loop().create_connection(lambda: session, s.host, s.port)
        bind = Bind(s.system_id, s.password, s.system_type)
        status, _ = await session.request(command_id, encode_bind(bind))
        return status

    async def _unbind(self, session: Session) -> None:
        """Unbind politely, but cut the connection rather than wait on a silent SMSC,
        and when cancelled half-way (a stop during the rebind after a lost session)."""
        wait = min(self.settings.submit_timeout, UNBIND_WAIT)
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await session.unbind(wait)
        finally:
            if not session.closed.done():
                session.abort()
