"""A minimal ESME built on `Session`, and the helpers that run an SMSC around it."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import msgspec

from smsrelay.config import SimulatorSettings
from smsrelay.smpp.codec import ShortMessage, decode_sm, encode_sm
from smsrelay.smpp.pdu import (
    BIND_TRANSCEIVER,
    DELIVER_SM,
    ESME_ROK,
    SUBMIT_SM,
    Bind,
    decode_message_id,
    encode_bind,
)
from smsrelay.smpp.session import Session, connect
from smsrelay.smsc.server import SmscServer
from smsrelay.smsc.settings import Faults, SmscSettings

T = TypeVar("T")
HOST = "127.0.0.1"
SENDER = "SMSRELAY"
RECIPIENT = "33611223344"


def outcomes(state: str = "delivered", **changes: float) -> SimulatorSettings:
    """Every SMS meets `state`'s fate, within milliseconds; no STOP unless changed."""
    shares = dict.fromkeys(("delivered", "undelivered", "expired", "rejected"), 0.0)
    shares[state] = 1.0
    every = SimulatorSettings(time_scale=1000.0, stop_replies=0.0)
    return msgspec.structs.replace(every, **(shares | changes))


class Esme:
    """Binds, submits, and collects every deliver_sm, acknowledging it (or not)."""

    def __init__(self, ack: int | None = ESME_ROK) -> None:
        self.ack = ack  # the deliver_sm_resp status; None: never answer
        self.received: asyncio.Queue[ShortMessage] = asyncio.Queue()
        # Whether `watched` (a submit's answer) had arrived when each deliver_sm came.
        self.watched: asyncio.Future[Any] | None = None
        self.answered_first: list[bool] = []
        self.session: Session

    def __call__(self, command_id: int, status: int, sequence: int, body: bytes) -> None:
        assert command_id == DELIVER_SM
        if self.watched is not None:
            self.answered_first.append(self.watched.done())
        self.received.put_nowait(decode_sm(command_id, sequence, body))
        if self.ack is not None:
            self.session.respond(DELIVER_SM, self.ack, sequence, b"\0")

    async def bind(self, command_id: int = BIND_TRANSCEIVER, **changes: str) -> int:
        bind = msgspec.structs.replace(Bind("smsrelay", "smsrelay"), **changes)
        status, _ = await self.session.request(command_id, encode_bind(bind), 2)
        return status

    def submit_body(
        self, destination: str = RECIPIENT, text: bytes = b"Bonjour", **fields: Any
    ) -> bytes:
        fields = {"registered_delivery": 1} | fields
        sm = ShortMessage(SENDER, destination, text, 5, 0, 1, 1, **fields)
        return encode_sm(SUBMIT_SM, sm)

    async def submit(
        self, destination: str = RECIPIENT, text: bytes = b"Bonjour", **fields: Any
    ) -> tuple[int, str]:
        status, body = await self.session.request(
            SUBMIT_SM, self.submit_body(destination, text, **fields), 2
        )
        return status, decode_message_id(body)

    async def next(self, timeout: float = 2.0) -> ShortMessage:
        return await asyncio.wait_for(self.received.get(), timeout)

    async def nothing_more(self, wait: float = 0.3) -> bool:
        await asyncio.sleep(wait)
        return self.received.empty()


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    async def bounded() -> T:
        async with asyncio.timeout(15):
            return await scenario()

    return asyncio.run(bounded())


@asynccontextmanager
async def running(settings: SmscSettings) -> AsyncIterator[SmscServer]:
    server = SmscServer(settings)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def bound(
    server: SmscServer, command_id: int = BIND_TRANSCEIVER, ack: int | None = ESME_ROK
) -> Esme:
    esme = Esme(ack)
    esme.session = await connect(HOST, server.port, esme, timeout=2, enquire_interval=None)
    assert await esme.bind(command_id) == ESME_ROK
    return esme


def with_faults(settings: SmscSettings, **faults: Any) -> SmscSettings:
    return msgspec.structs.replace(settings, faults=Faults(**faults))


def receipt_fields(receipt: ShortMessage) -> dict[str, str]:
    text = receipt.short_message.decode("ascii")
    fields = re.findall(r"(id|sub|dlvrd|submit date|done date|stat|err|text):(\S*)", text)
    return dict(fields)
