"""The SMSC simulator's server: binds, submit_sm, faults, and what it then owes.

Each connection is a `Session` whose handler is a `_Connection` (its bind state and its
unanswered submit_sm). A submit_sm first meets the per-attempt faults (dropped
connection, no answer, throttling, full queue), then its fate (`fates`), then is
answered with a message id from a counter that starts at the current time in
microseconds: ids never repeat across restarts as long as fewer than a million are
issued a second, unless a fault makes them (`IdCounter`). Its receipts and its
recipient's STOP go to the `Outbox`, which delivers them to a receiver or transceiver
bind of the same system_id.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time

from smsrelay.delivery.carriers.simulator import STOP_TEXT, Fate
from smsrelay.domain.status import State
from smsrelay.smpp.codec import ShortMessage, decode_sm
from smsrelay.smpp.errors import PduError
from smsrelay.smpp.pdu import (
    BIND_RECEIVER,
    BIND_TRANSCEIVER,
    BIND_TRANSMITTER,
    BINDS,
    ESME_RALYBND,
    ESME_RBINDFAIL,
    ESME_RINVBNDSTS,
    ESME_RINVCMDID,
    ESME_RINVPASWD,
    ESME_RINVSYSID,
    ESME_RMSGQFUL,
    ESME_ROK,
    ESME_RSUBMITFAIL,
    ESME_RTHROTTLED,
    GENERIC_NACK,
    SUBMIT_SM,
    decode_bind,
    encode_message_id,
)
from smsrelay.smpp.session import Session
from smsrelay.smsc.decisions import DecisionLog, DecisionRecord
from smsrelay.smsc.fates import Fates, Submitted, read_submit
from smsrelay.smsc.outbox import Outbox
from smsrelay.smsc.receipts import STAT, ReceiptWriter, format_id
from smsrelay.smsc.settings import SmscSettings

log = logging.getLogger(__name__)

SMSC_SYSTEM_ID = "SMSRELAYSIM"  # what bind responses name the SMSC
_RECEIVES = frozenset({BIND_RECEIVER, BIND_TRANSCEIVER})
_TRANSMITS = frozenset({BIND_TRANSMITTER, BIND_TRANSCEIVER})


class SmscServer:
    def __init__(self, settings: SmscSettings) -> None:
        self.settings = settings
        self.fates = Fates(settings.outcomes, settings.faults.permanent_error)
        self.receipts = ReceiptWriter(settings.receipt_id_format, settings.faults)
        self.outbox = Outbox(settings.resend_timeout)
        self._faults = random.Random(f"{settings.outcomes.seed}:faults")
        self.first_id = time.time_ns() // 1000
        self.numbers = IdCounter(self.first_id, settings.faults.restart_ids_every)
        self._decisions: DecisionLog | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()

    @property
    def port(self) -> int:
        """The port listened on (the one chosen by the system when configured as 0)."""
        assert self._server is not None, "not started"
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._decisions = DecisionLog(self.settings.decisions_log)
        self._server = await asyncio.get_running_loop().create_server(
            self._accept, self.settings.host, self.settings.port
        )
        self.outbox.start()
        log.info("SMSC simulator listening on %s:%d", self.settings.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        await self.outbox.stop()
        for connection in list(self._connections):
            connection.session.abort()
        if self._server is not None:
            await self._server.wait_closed()
        if self._decisions is not None:
            self._decisions.close()

    def _accept(self) -> Session:
        connection = _Connection(self)
        self._connections.add(connection)
        connection.session.closed.add_done_callback(lambda _: self._closed(connection))
        return connection.session

    def _closed(self, connection: _Connection) -> None:
        self._connections.discard(connection)
        if connection.bind in _RECEIVES and connection.system_id is not None:
            self.outbox.remove_receiver(connection.system_id, connection.session)

    def submit(self, connection: _Connection, sequence: int, body: bytes) -> None:
        session = connection.session
        try:
            sm = decode_sm(SUBMIT_SM, sequence, body)
        except PduError as exc:
            log.warning("malformed submit_sm refused: %s", exc)
            session.respond(SUBMIT_SM, ESME_RSUBMITFAIL, sequence)
            return
        faults = self.settings.faults
        draw = self._faults.random()
        if draw < faults.drop_connection:
            session.abort()
            return
        if draw < faults.drop_connection + faults.unanswered:
            session.forget(sequence)  # lost, as far as the SMSC knows: an unbind won't wait
            return
        draw -= faults.drop_connection + faults.unanswered
        if draw < faults.throttle or connection.unanswered >= self.settings.window:
            session.respond(SUBMIT_SM, ESME_RTHROTTLED, sequence)
            return
        if draw < faults.throttle + faults.queue_full:
            session.respond(SUBMIT_SM, ESME_RMSGQFUL, sequence)
            return
        self._accept_submit(connection, sequence, sm)

    def _accept_submit(self, connection: _Connection, sequence: int, sm: ShortMessage) -> None:
        part = read_submit(sm)
        decision = self.fates.decide(part)
        now = time.time()
        if decision.status != ESME_ROK:
            self._decide(now, None, None, part, "refused", decision.status)
            connection.answer(sequence, decision.status, b"")
            return
        number = connection.numbers.next()
        message_id = format_id(number, self.settings.message_id_format)
        assert connection.system_id is not None  # bound, or it could not submit
        report_at, stop_at = self._schedule(
            connection.system_id, sm, part, number, decision.fate, now
        )
        fate = STAT[decision.fate.state][0] if report_at is not None else "none"
        self._decide(now, number, message_id, part, fate, ESME_ROK, report_at, stop_at)
        connection.answer(sequence, ESME_ROK, encode_message_id(message_id))

    def _schedule(
        self,
        system_id: str,
        sm: ShortMessage,
        part: Submitted,
        number: int,
        fate: Fate,
        now: float,
    ) -> tuple[float | None, float | None]:
        """Put the receipts and the reply of a part accepted at `now` in the outbox.

        Returns when its final receipt and its STOP are due (None: never). A receipt
        written before the submit_sm_resp ignores the fate's delay. Only the first part
        of a long SMS is answered STOP: a person answers a message, not each part.
        """
        if fate.state is State.SUBMITTED:
            return None, None
        faults = self.settings.faults
        report_at = now if faults.report_before_response else now + fate.delay
        if _receipt_wanted(sm.registered_delivery, fate.state):
            receipt = self.receipts.receipt(sm, part.text, number, fate.state, now, report_at)
            what = f"receipt {number} {STAT[fate.state][0]}"
            if faults.report_before_response:
                self.outbox.send_now(system_id, receipt, what)
            else:
                self.outbox.put(report_at, system_id, receipt, what)
            if faults.duplicate_reports:
                self.outbox.put(report_at, system_id, receipt, what + " (again)")
            if faults.out_of_order:
                late = self.receipts.receipt(sm, part.text, number, State.ENROUTE, now, report_at)
                self.outbox.put(report_at, system_id, late, f"receipt {number} ENROUTE (late)")
        if fate.stop_after is None or part.part != 1:
            return report_at, None
        stop_at = report_at + fate.stop_after
        reply = self.receipts.reply(sm, STOP_TEXT)
        self.outbox.put(stop_at, system_id, reply, f"{STOP_TEXT} from {sm.destination_addr}")
        return report_at, stop_at

    def _decide(
        self,
        at: float,
        number: int | None,
        message_id: str | None,
        part: Submitted,
        fate: str,
        status: int,
        report_at: float | None = None,
        stop_at: float | None = None,
    ) -> None:
        """Log a decision; `number` and `message_id` are None for a refused part."""
        assert self._decisions is not None
        self._decisions.write(
            DecisionRecord(
                at,
                number,
                message_id,
                part.source,
                part.destination,
                part.part,
                part.parts,
                fate,
                status,
                report_at,
                stop_at,
            )
        )


class IdCounter:
    """Message numbers from `first`, going back to `first` after every `restart_every`
    numbers issued (0: never), as an SMSC whose counter restarts does."""

    def __init__(self, first: int, restart_every: int = 0) -> None:
        self._first = first
        self._restart_every = restart_every
        self._issued = 0

    def next(self) -> int:
        if self._restart_every and self._issued == self._restart_every:
            self._issued = 0
        self._issued += 1
        return self._first + self._issued - 1


class _Connection:
    """One ESME connection: its bind, and the submit_sm it has not yet had answered."""

    def __init__(self, server: SmscServer) -> None:
        self.server = server
        settings = server.settings
        faults = settings.faults
        # The server's counter, or (ids_per_connection) one of its own from the same start.
        self.numbers = (
            IdCounter(server.first_id, faults.restart_ids_every)
            if faults.ids_per_connection
            else server.numbers
        )
        self.session = Session(
            self.on_request,
            window=settings.window,
            timeout=settings.resend_timeout,
            enquire_interval=settings.enquire_interval,
        )
        self.bind = 0  # the bind's command id once bound
        self.system_id: str | None = None
        self.unanswered = 0  # answers held back by the response delay

    def on_request(self, command_id: int, status: int, sequence: int, body: bytes) -> None:
        if command_id in BINDS:
            self._bind(command_id, sequence, body)
        elif command_id == SUBMIT_SM:
            if self.bind in _TRANSMITS:
                self.server.submit(self, sequence, body)
            else:
                self.session.respond(SUBMIT_SM, ESME_RINVBNDSTS, sequence)
        else:
            self.session.respond(GENERIC_NACK, ESME_RINVCMDID, sequence)

    def answer(self, sequence: int, status: int, body: bytes) -> None:
        """The submit_sm_resp, now or after the configured response delay."""
        delay = self.server.settings.response_delay
        if not delay:
            self.session.respond(SUBMIT_SM, status, sequence, body)
            return
        self.unanswered += 1
        asyncio.get_running_loop().call_later(delay, self._answer_late, sequence, status, body)

    def _answer_late(self, sequence: int, status: int, body: bytes) -> None:
        self.unanswered -= 1
        self.session.respond(SUBMIT_SM, status, sequence, body)

    def _bind(self, command_id: int, sequence: int, body: bytes) -> None:
        settings = self.server.settings
        try:
            bind = decode_bind(command_id, body)
        except PduError as exc:
            log.warning("malformed bind refused: %s", exc)
            self.session.respond(command_id, ESME_RBINDFAIL, sequence)
            return
        if self.bind:
            status = ESME_RALYBND
        elif bind.system_id != settings.system_id:
            status = ESME_RINVSYSID
        elif bind.password != settings.password:
            status = ESME_RINVPASWD
        else:
            status = ESME_ROK
        if status != ESME_ROK:
            self.session.respond(command_id, status, sequence)
            return
        self.bind, self.system_id = command_id, bind.system_id
        self.session.respond(command_id, ESME_ROK, sequence, encode_message_id(SMSC_SYSTEM_ID))
        if command_id in _RECEIVES:
            self.server.outbox.add_receiver(bind.system_id, self.session)


def _receipt_wanted(registered_delivery: int, state: State) -> bool:
    """registered_delivery's low bits: 1, a receipt of any final outcome; 2, of failures."""
    wanted = registered_delivery & 0x03
    return wanted == 1 or (wanted == 2 and state is not State.DELIVERED)


async def serve_smsc(settings: SmscSettings) -> None:
    """Run an SMSC simulator until cancelled."""
    server = SmscServer(settings)
    await server.start()
    try:
        await asyncio.get_running_loop().create_future()
    finally:
        await server.stop()
