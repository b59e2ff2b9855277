"""The SMPP carrier against the SMSC simulator, over real loopback TCP."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec
import pytest

from smsrelay.config import ConnectorSettings, Settings, SourceRules
from smsrelay.delivery.carriers.routing import RoutingCarrier
from smsrelay.delivery.carriers.smpp import LOST, NOT_BOUND, Pacer, SmppCarrier
from smsrelay.delivery.carriers.smpp_inbound import reply_phone, reply_text
from smsrelay.delivery.engine import DeliveryEngine, configured_carrier
from smsrelay.delivery.matcher import ReceiptMatcher
from smsrelay.domain.records import Outbound, Receipt, Reply, Submission
from smsrelay.domain.segments import segment
from smsrelay.domain.status import State
from smsrelay.smpp.codec import ShortMessage, decode_sm, encode_sm
from smsrelay.smpp.pdu import (
    BINDS,
    DELIVER_SM,
    ESM_DELIVERY_RECEIPT,
    ESM_UDHI,
    ESME_ROK,
    ESME_RTHROTTLED,
    HEADER,
    RESP,
    SUBMIT_SM,
    UNBIND,
    UNBIND_RESP,
    encode_message_id,
    frame,
)
from smsrelay.smpp.session import Session
from smsrelay.smsc.decisions import read_decisions
from smsrelay.smsc.server import SmscServer
from smsrelay.smsc.settings import SmscSettings
from smsrelay.store.sqlite import SQLiteStore
from tests.delivery.test_engine import store_with_message
from tests.smsc.esme import outcomes, run, running, with_faults

PHONE = "+33611223344"
LONG_TEXT = "Votre rendez-vous est confirmé. " * 6  # 192 characters: two parts


def connector(port: int, **changes: Any) -> ConnectorSettings:
    """A connector to the simulator's defaults, with timeouts a test can wait for."""
    settings = ConnectorSettings(
        name="operator",
        system_id="smsrelay",
        password="smsrelay",
        port=port,
        throughput=1000.0,
        submit_timeout=1.0,
        reconnect_min=0.05,
        reconnect_max=0.2,
        submit_id_format="decimal",
        receipt_id_format="decimal",
    )
    return msgspec.structs.replace(settings, **changes)


def outbound(text: str = "Bonjour", *, message_id: int = 1, sender: str | None = None) -> Outbound:
    billed = segment(text)
    return Outbound(1, message_id, PHONE, text, sender, billed.encoding, billed.parts)


class Sinks:
    """The matcher's side: collects what the carrier hands over, and may hold the
    futures that say it is stored."""

    def __init__(self, hold: bool = False) -> None:
        self.hold = hold
        self.receipts: asyncio.Queue[Receipt] = asyncio.Queue()
        self.replies: asyncio.Queue[Reply] = asyncio.Queue()
        self.held: list[asyncio.Future[None]] = []

    def report(self, receipt: Receipt) -> asyncio.Future[None]:
        self.receipts.put_nowait(receipt)
        return self._stored()

    def reply(self, reply: Reply) -> asyncio.Future[None]:
        self.replies.put_nowait(reply)
        return self._stored()

    def _stored(self) -> asyncio.Future[None]:
        stored = asyncio.get_running_loop().create_future()
        if self.hold:
            self.held.append(stored)
        else:
            stored.set_result(None)
        return stored

    def release(self) -> None:
        for stored in self.held:
            stored.set_result(None)
        self.held.clear()


async def until_bound(carrier: SmppCarrier, bound: bool = True) -> None:
    async with asyncio.timeout(5):
        while carrier.bound != bound:
            await asyncio.sleep(0.01)


@asynccontextmanager
async def carrier_for(
    server: SmscServer, sinks: Sinks | None = None, **changes: Any
) -> AsyncIterator[SmppCarrier]:
    """A started carrier bound to `server`, stopped on leaving."""
    sinks = sinks or Sinks()
    carrier = SmppCarrier(connector(server.port, **changes))
    await carrier.start(sinks.report, sinks.reply, [])
    try:
        await until_bound(carrier)
        yield carrier
    finally:
        await carrier.stop()


async def submit_one(carrier: SmppCarrier, out: Outbound | None = None) -> Submission:
    [answer] = await carrier.submit([out or outbound()])
    return answer


# -- submissions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sender", "source"), [(None, "SMSRELAY"), ("+33700000000", "33700000000"), ("Acme", "Acme")]
)
def test_a_submission_carries_the_smsc_id(
    smsc: SmscSettings, log_path: Path, sender: str | None, source: str
) -> None:
    async def scenario() -> Submission:
        async with running(smsc) as server, carrier_for(server) as carrier:
            return await submit_one(carrier, outbound(sender=sender))

    answer = run(scenario)
    [decision] = read_decisions(log_path)
    assert (answer.state, answer.carrier, answer.retry_after) == (State.SUBMITTED, "operator", None)
    assert answer.operator_refs == (str(decision.id),)
    assert (decision.source, decision.destination) == (source, PHONE[1:])


@pytest.mark.parametrize("concatenation", ["udh", "sar"])
def test_a_long_sms_has_one_ref_per_part(
    smsc: SmscSettings, log_path: Path, concatenation: str
) -> None:
    async def scenario() -> Submission:
        async with (
            running(smsc) as server,
            carrier_for(server, concatenation=concatenation) as carrier,
        ):
            return await submit_one(carrier, outbound(LONG_TEXT))

    answer = run(scenario)
    decisions = sorted(read_decisions(log_path), key=lambda d: d.part)
    assert [(d.part, d.parts) for d in decisions] == [(1, 2), (2, 2)]
    assert answer.operator_refs == tuple(str(d.id) for d in decisions)


@pytest.mark.parametrize("bind", ["transceiver", "transmitter+receiver"])
def test_hex_submit_ids_match_decimal_receipt_ids(smsc: SmscSettings, bind: str) -> None:
    settings = msgspec.structs.replace(smsc, message_id_format="hex", receipt_id_format="decimal")
    sinks = Sinks()

    async def scenario() -> tuple[Submission, Receipt]:
        async with (
            running(settings) as server,
            carrier_for(
                server, sinks, bind=bind, submit_id_format="hex", receipt_id_format="decimal"
            ) as carrier,
        ):
            answer = await submit_one(carrier)
            return answer, await asyncio.wait_for(sinks.receipts.get(), 2)

    answer, receipt = run(scenario)
    assert (receipt.carrier, receipt.state) == ("operator", State.DELIVERED)
    assert answer.operator_refs == (receipt.operator_ref,)


@pytest.mark.parametrize(
    ("fault", "detail"), [("throttle", "throttled by the SMSC"), ("queue_full", "SMSC queue full")]
)
def test_a_throttled_sms_is_given_back_with_a_growing_delay(
    smsc: SmscSettings, fault: str, detail: str
) -> None:
    async def scenario() -> list[Submission]:
        async with (
            running(with_faults(smsc, **{fault: 1.0})) as server,
            carrier_for(
                server, reconnect_min=0.05, reconnect_max=10.0, throttle_pause=0.0
            ) as carrier,
        ):
            return [await submit_one(carrier) for _ in range(4)]

    answers = run(scenario)
    assert {(a.state, a.operator_refs, a.detail) for a in answers} == {(State.ACCEPTED, (), detail)}
    delays = [a.retry_after or 0.0 for a in answers]
    assert delays[0] == 0.05  # the first retry waits reconnect_min
    assert 0.2 <= delays[3] <= 0.4  # then doubles, drawn in the upper half of its range


def test_a_permanent_refusal_is_rejected_with_its_status(smsc: SmscSettings) -> None:
    async def scenario() -> Submission:
        async with (
            running(with_faults(smsc, permanent_error=1.0)) as server,
            carrier_for(server) as carrier,
        ):
            return await submit_one(carrier)

    answer = run(scenario)
    assert (answer.state, answer.detail, answer.retry_after) == (
        State.REJECTED,
        "submit_sm refused: 0x00000045",
        None,
    )


def test_an_unanswered_submission_is_retried_after_the_timeout(smsc: SmscSettings) -> None:
    async def scenario() -> tuple[float, Submission]:
        async with (
            running(with_faults(smsc, unanswered=1.0)) as server,
            carrier_for(server, submit_timeout=0.2) as carrier,
        ):
            started = time.monotonic()
            answer = await submit_one(carrier)
            return time.monotonic() - started, answer

    waited, answer = run(scenario)
    assert waited >= 0.2
    assert (answer.state, answer.detail) == (State.ACCEPTED, "no submit_sm_resp in 0.2 s")
    assert answer.retry_after is not None


def test_submissions_are_paced_at_the_throughput(smsc: SmscSettings) -> None:
    batch = [outbound(message_id=n) for n in range(10)]

    async def scenario() -> tuple[float, list[Submission]]:
        async with running(smsc) as server, carrier_for(server, throughput=20.0) as carrier:
            started = time.monotonic()
            answers = await carrier.submit(batch)
            return time.monotonic() - started, answers

    took, answers = run(scenario)
    assert {a.state for a in answers} == {State.SUBMITTED}
    assert [a.message_id for a in answers] == list(range(10))  # in batch order
    assert took >= 9 / 20 - 0.02  # ten submit_sm, 50 ms apart


def test_without_a_bind_every_sms_is_given_back(
    smsc: SmscSettings, caplog: pytest.LogCaptureFixture
) -> None:
    sinks = Sinks()

    async def scenario() -> Submission:
        async with running(smsc) as server:
            carrier = SmppCarrier(connector(server.port, password="wrong"))
            await carrier.start(sinks.report, sinks.reply, [])
            await asyncio.sleep(0.3)  # several refused binds
            assert not carrier.bound
            answer = await submit_one(carrier)
            await carrier.stop()
            return answer

    answer = run(scenario)
    assert (answer.state, answer.detail) == (State.ACCEPTED, NOT_BOUND)
    refusals = [r for r in caplog.records if "bind_transceiver refused" in r.getMessage()]
    assert len(refusals) >= 2
    assert "0x0000000E" in refusals[0].getMessage()  # ESME_RINVPASWD


class Recorder:
    """An SMSC of a few lines that keeps every submit_sm, to read fields the simulator's
    decisions log does not show; it answers them with `statuses` in turn, then ESME_ROK."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.submits: list[ShortMessage] = []

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[int]:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(self._connection, "127.0.0.1", 0)
        try:
            yield int(server.sockets[0].getsockname()[1])
        finally:
            server.close()

    def _connection(self) -> Session:
        session = Session(enquire_interval=None)

        def answer(command_id: int, status: int, sequence: int, body: bytes) -> None:
            if command_id in BINDS:
                session.respond(command_id, ESME_ROK, sequence, encode_message_id("REC"))
            elif command_id == SUBMIT_SM:
                self.submits.append(decode_sm(command_id, sequence, body))
                status = self.statuses.pop(0) if self.statuses else ESME_ROK
                session.respond(SUBMIT_SM, status, sequence, encode_message_id("ab"))

        session.handler = answer
        return session


@pytest.mark.parametrize(
    ("sender", "source", "ton", "npi"),
    [
        ("Acme", "Acme", 5, 0),
        ("+33700000000", "33700000000", 1, 1),
        ("33700000000", "33700000000", 1, 1),
        ("36180", "36180", 3, 0),  # a short code
    ],
)
def test_a_submit_sm_carries_the_addresses_and_asks_for_a_receipt(
    sender: str, source: str, ton: int, npi: int
) -> None:
    recorder = Recorder()

    async def scenario() -> None:
        async with recorder.serving() as port:
            carrier = SmppCarrier(connector(port))
            await carrier.start(Sinks().report, Sinks().reply, [])
            await until_bound(carrier)
            await submit_one(carrier, outbound("Ça coûte 5 €", sender=sender))
            await carrier.stop()

    run(scenario)
    [sm] = recorder.submits
    assert (sm.source_addr, sm.source_addr_ton, sm.source_addr_npi) == (source, ton, npi)
    assert (sm.destination_addr, sm.dest_addr_ton, sm.dest_addr_npi) == (PHONE[1:], 1, 1)
    assert (sm.registered_delivery, sm.data_coding, sm.esm_class) == (1, 8, 0)  # UCS-2, whole
    assert sm.short_message == "Ça coûte 5 €".encode("utf-16-be")


@pytest.mark.parametrize(("validity", "period"), [(48 * 3600.0, "000002000000000R"), (None, "")])
def test_a_submit_sm_asks_the_operator_to_give_up_when_smsrelay_does(
    validity: float | None, period: str
) -> None:
    recorder = Recorder()

    async def scenario() -> None:
        async with recorder.serving() as port:
            carrier = SmppCarrier(connector(port), validity)
            await carrier.start(Sinks().report, Sinks().reply, [])
            await until_bound(carrier)
            await submit_one(carrier, outbound())
            await carrier.stop()

    run(scenario)
    assert [sm.validity_period for sm in recorder.submits] == [period]


def test_configured_connectors_ask_for_the_configured_validity() -> None:
    recorder = Recorder()

    async def scenario() -> None:
        async with recorder.serving() as port:
            settings = Settings(validity=90.0, connectors=[connector(port, fallback=True)])
            carrier = configured_carrier(settings)
            await carrier.start(Sinks().report, Sinks().reply, [])
            async with asyncio.timeout(5):
                while (await carrier.submit([outbound()]))[0].state != State.SUBMITTED:
                    await asyncio.sleep(0.01)  # given back until the bind is done
            await carrier.stop()

    run(scenario)
    assert recorder.submits[-1].validity_period == "000000000130000R"


@pytest.mark.parametrize(
    ("sender", "ton", "npi"), [("36180", 0, 1), ("+36180", 1, 1), ("Acme", 5, 0)]
)
def test_a_connectors_source_rules_set_the_ton_and_npi(sender: str, ton: int, npi: int) -> None:
    recorder = Recorder()
    rules = SourceRules(short_code=(0, 1))

    async def scenario() -> None:
        async with recorder.serving() as port:
            carrier = SmppCarrier(connector(port, source_rules=rules))
            await carrier.start(Sinks().report, Sinks().reply, [])
            await until_bound(carrier)
            await submit_one(carrier, outbound(sender=sender))
            await carrier.stop()

    run(scenario)
    [sm] = recorder.submits
    assert (sm.source_addr, sm.source_addr_ton, sm.source_addr_npi) == (
        sender.removeprefix("+"),
        ton,
        npi,
    )


@pytest.mark.parametrize(("pause", "slowest", "fastest"), [(0.3, 9.9, 0.25), (0.0, 0.2, 0.0)])
def test_a_throttled_answer_pauses_the_whole_connector(
    pause: float, slowest: float, fastest: float
) -> None:
    recorder = Recorder(ESME_RTHROTTLED)

    async def scenario() -> tuple[State, float]:
        async with recorder.serving() as port:
            carrier = SmppCarrier(connector(port, throttle_pause=pause))
            await carrier.start(Sinks().report, Sinks().reply, [])
            await until_bound(carrier)
            throttled = await submit_one(carrier, outbound(message_id=1))
            started = time.monotonic()
            await submit_one(carrier, outbound(message_id=2))  # another SMS altogether
            elapsed = time.monotonic() - started
            await carrier.stop()
            return throttled.state, elapsed

    state, elapsed = run(scenario)
    assert state == State.ACCEPTED  # given back, to be sent again
    assert fastest <= elapsed < slowest


def test_a_long_sms_submitted_again_keeps_its_concatenation_reference() -> None:
    recorder = Recorder(ESME_ROK, ESME_RTHROTTLED)  # part 1 accepted, part 2 throttled

    async def scenario() -> list[Submission]:
        async with recorder.serving() as port:
            carrier = SmppCarrier(connector(port))
            await carrier.start(Sinks().report, Sinks().reply, [])
            await until_bound(carrier)
            answers = [await submit_one(carrier, outbound(LONG_TEXT)) for _ in range(2)]
            other = await submit_one(carrier, outbound(LONG_TEXT, message_id=2))
            await carrier.stop()
            return [*answers, other]

    throttled, resubmitted, other = run(scenario)
    assert [a.state for a in (throttled, resubmitted, other)] == [
        State.ACCEPTED,
        State.SUBMITTED,
        State.SUBMITTED,
    ]
    assert resubmitted.operator_refs == ("ab", "ab")
    # Each part's UDH: 05 00 03, the reference, the count, the part number.
    udhs = [sm.short_message[:6] for sm in recorder.submits]
    assert [(udh[4], udh[5]) for udh in udhs] == [(2, 1), (2, 2)] * 3
    assert len({udh[3] for udh in udhs[:4]}) == 1  # the whole SMS again, same reference
    assert udhs[4][3] != udhs[0][3]  # another SMS, another reference


# -- receipts and replies ----------------------------------------------------------------


def test_a_receipt_is_acknowledged_only_once_stored(smsc: SmscSettings) -> None:
    settings = msgspec.structs.replace(smsc, resend_timeout=0.3)
    sinks = Sinks(hold=True)

    async def scenario() -> None:
        async with running(settings) as server, carrier_for(server, sinks) as carrier:
            await submit_one(carrier)
            first = await asyncio.wait_for(sinks.receipts.get(), 2)
            # Not stored yet, so not acknowledged: the SMSC sends it again.
            again = await asyncio.wait_for(sinks.receipts.get(), 2)
            assert again.operator_ref == first.operator_ref
            sinks.release()
            await asyncio.sleep(1.0)  # three resend timeouts
            assert sinks.receipts.empty()  # acknowledged now: never sent again

    run(scenario)


def test_a_receipt_names_the_handset_it_comes_from(smsc: SmscSettings) -> None:
    sinks = Sinks()

    async def scenario() -> tuple[Submission, Receipt]:
        async with running(smsc) as server, carrier_for(server, sinks) as carrier:
            submission = await submit_one(carrier)
            return submission, await asyncio.wait_for(sinks.receipts.get(), 2)

    submission, receipt = run(scenario)
    # The SMSC writes the recipient international, without "+" (TON 1): read as E.164.
    assert (receipt.operator_ref, receipt.phone) == (submission.operator_refs[0], PHONE)


def test_a_stop_reply_reaches_the_reply_sink_with_the_e164_number(smsc: SmscSettings) -> None:
    settings = msgspec.structs.replace(smsc, outcomes=outcomes(stop_replies=1.0))
    sinks = Sinks()

    async def scenario() -> Reply:
        async with running(settings) as server, carrier_for(server, sinks) as carrier:
            await submit_one(carrier)
            return await asyncio.wait_for(sinks.replies.get(), 5)

    reply = run(scenario)
    assert (reply.carrier, reply.phone, reply.text, reply.operator_ref) == (
        "operator",
        PHONE,
        "STOP",
        None,
    )


@pytest.mark.parametrize(
    ("address", "ton", "e164"),
    [
        ("33611223344", 1, "+33611223344"),  # international
        ("0611223344", 0, "+33611223344"),  # French, written nationally
        ("33611223344", 0, "+33611223344"),  # international digits, TON unknown
        ("447911123456", 0, "+447911123456"),
        ("+33611223344", 0, "+33611223344"),
        ("36180", 3, "36180"),  # a short code is no phone number: kept as it came
    ],
)
def test_a_reply_number_is_read_as_e164(address: str, ton: int, e164: str) -> None:
    assert reply_phone(address, ton) == e164


@pytest.mark.parametrize(
    ("payload", "data_coding", "esm_class", "text"),
    [
        (b"\x00 STOP", 0, 0, "@ STOP"),  # GSM 03.38: 0x00 is "@"
        ("ARRÊT".encode("latin-1"), 0, 0, "ARRÊT"),  # an SMSC sending Latin-1 as default
        ("ARRÊT".encode("utf-16-be"), 8, 0, "ARRÊT"),
        (bytes((5, 0, 3, 7, 2, 1)) + b"STOP", 0, ESM_UDHI, "STOP"),  # a concatenated part
    ],
)
def test_a_reply_text_is_decoded_by_its_coding(
    payload: bytes, data_coding: int, esm_class: int, text: str
) -> None:
    sm = ShortMessage("33611223344", "SMSRELAY", payload, esm_class=esm_class)
    assert reply_text(msgspec.structs.replace(sm, data_coding=data_coding)) == text


# -- the connection --------------------------------------------------------------------------


def test_the_carrier_reconnects_after_the_smsc_drops_the_connection(smsc: SmscSettings) -> None:
    async def scenario() -> tuple[Submission, Submission]:
        dropping = SmscServer(with_faults(smsc, drop_connection=1.0))
        await dropping.start()
        carrier = SmppCarrier(connector(dropping.port))
        sinks = Sinks()
        await carrier.start(sinks.report, sinks.reply, [])
        try:
            await until_bound(carrier)
            lost = await submit_one(carrier)
            await until_bound(carrier)  # bound again to the same SMSC
            port = dropping.port
            await dropping.stop()  # and then it goes away for a while
            await until_bound(carrier, False)
            restarted = msgspec.structs.replace(smsc, port=port)
            async with running(restarted):
                await until_bound(carrier)
                return lost, await submit_one(carrier)
        finally:
            await carrier.stop()

    lost, sent = run(scenario)
    assert (lost.state, lost.detail) == (State.ACCEPTED, LOST)
    assert lost.retry_after is not None
    assert sent.state is State.SUBMITTED


def test_stop_unbinds_and_does_not_reconnect(
    smsc: SmscSettings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    async def scenario() -> float:
        async with running(smsc) as server:
            carrier = SmppCarrier(connector(server.port, submit_timeout=5.0))
            sinks = Sinks()
            await carrier.start(sinks.report, sinks.reply, [])
            await until_bound(carrier)
            started = time.monotonic()
            await carrier.stop()
            took = time.monotonic() - started
            await asyncio.sleep(0.5)  # more than twice reconnect_max
            assert not carrier.bound
            return took

    # The SMSC answered the unbind: no waiting for the 5 s bound, no reconnection.
    assert run(scenario) < 1.0
    messages = [r.getMessage() for r in caplog.records if r.name.endswith("smpp_link")]
    assert [m for m in messages if "bound to" in m] == [messages[0]]
    assert not [m for m in messages if "lost" in m]


def test_stop_sends_unbind_and_waits_for_its_answer() -> None:
    """Read on the wire: a peer of a few lines that answers the bind, then the unbind late."""
    received: list[int] = []
    answer_delay = 0.3

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                length, command_id, _, sequence = HEADER.unpack(await reader.readexactly(16))
                await reader.readexactly(length - 16)
                received.append(command_id)
                if command_id in BINDS:
                    answer = encode_message_id("REC")
                    writer.write(frame(command_id | RESP, ESME_ROK, sequence, answer))
                elif command_id == UNBIND:
                    await asyncio.sleep(answer_delay)
                    writer.write(frame(UNBIND_RESP, ESME_ROK, sequence))
        writer.close()

    async def scenario() -> float:
        server = await asyncio.start_server(peer, "127.0.0.1", 0)
        try:
            carrier = SmppCarrier(connector(server.sockets[0].getsockname()[1]))
            await carrier.start(Sinks().report, Sinks().reply, [])
            await until_bound(carrier)
            started = time.monotonic()
            await carrier.stop()
            return time.monotonic() - started
        finally:
            server.close()
            await server.wait_closed()

    took = run(scenario)
    assert received[-1] == UNBIND
    assert took >= answer_delay * 0.9  # it waited for the unbind_resp


class UnbindingSmsc:
    """A peer that sends a receipt, unbinds when told to, and on its next bind sends the
    same receipt again (as an SMSC does with what it got no answer for) when told to.
    `answers` holds what each connection answered, by connection."""

    RECEIPT = ShortMessage(
        "33611223344", "SMSRELAY", b"id:42 stat:DELIVRD", 1, 1, 5, 0,
        esm_class=ESM_DELIVERY_RECEIPT,
    )  # fmt: skip

    def __init__(self) -> None:
        self.answers: list[list[tuple[int, int]]] = []
        self.unbind = asyncio.Event()
        self.resend = asyncio.Event()

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        answers: list[tuple[int, int]] = []
        self.answers.append(answers)
        first = len(self.answers) == 1
        tasks: set[asyncio.Task[None]] = set()
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                length, command_id, _, sequence = HEADER.unpack(await reader.readexactly(16))
                await reader.readexactly(length - 16)
                if command_id in BINDS:
                    answer = encode_message_id("SMSC")
                    writer.write(frame(command_id | RESP, ESME_ROK, sequence, answer))
                    tasks.add(asyncio.create_task(self._send(writer, first)))
                elif command_id & RESP:
                    answers.append((command_id, sequence))
        for task in tasks:
            task.cancel()
        writer.close()

    async def _send(self, writer: asyncio.StreamWriter, first: bool) -> None:
        await (self.unbind if first else self.resend).wait()
        writer.write(frame(DELIVER_SM, 0, 1, encode_sm(DELIVER_SM, self.RECEIPT)))
        if first:
            await asyncio.sleep(0.3)  # the receipt is queued or being written by then
            writer.write(frame(UNBIND, 0, 2))


@asynccontextmanager
async def matcher_on_locked_store(
    path: Path, busy_timeout: float
) -> AsyncIterator[tuple[ReceiptMatcher, sqlite3.Connection]]:
    """The real matcher, running, on a real store another connection holds locked
    (BEGIN IMMEDIATE) until the test rolls that connection back."""
    store = SQLiteStore.open(path, busy_timeout=busy_timeout)
    await store.migrate()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    matcher = ReceiptMatcher(store)
    task = asyncio.create_task(matcher.run())
    try:
        yield matcher, holder
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if holder.in_transaction:
            holder.execute("ROLLBACK")
        holder.close()
        await store.close()


def applied(path: Path) -> int:
    """How many times the receipt was applied: it names no SMS, so each copy applied
    waits in early_receipts."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        return int(db.execute("SELECT count(*) FROM early_receipts").fetchone()[0])


async def until(condition: Any, seconds: float) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.01)


def test_an_smsc_that_unbinds_gets_the_receipts_answers_it_is_owed_first(tmp_path: Path) -> None:
    """Read on the wire: the store is locked while a receipt is written; the SMSC unbinds
    meanwhile. The write goes through once the lock is released, and the receipt is
    answered before the unbind is."""
    peer = UnbindingSmsc()
    path = tmp_path / "s.db"

    async def scenario() -> None:
        server = await asyncio.start_server(peer, "127.0.0.1", 0)
        carrier = SmppCarrier(connector(server.sockets[0].getsockname()[1], submit_timeout=60))
        try:
            async with matcher_on_locked_store(path, busy_timeout=10) as (matcher, holder):
                await carrier.start(matcher.receive, matcher.receive_reply, [])
                peer.unbind.set()
                await asyncio.sleep(0.6)  # the unbind has come; the write waits for the lock
                assert peer.answers == [[]]
                holder.execute("ROLLBACK")
                await until(lambda: len(peer.answers[0]) == 2, 5)
        finally:
            await carrier.stop()
            server.close()
            await server.wait_closed()

    run(scenario)
    assert peer.answers[0] == [(DELIVER_SM | RESP, 1), (UNBIND_RESP, 2)]
    assert applied(path) == 1


def test_an_smsc_that_unbinds_while_the_store_refuses_is_answered_and_applied_once(
    tmp_path: Path,
) -> None:
    """The store refuses every write (another process holds it locked) when the SMSC
    unbinds: the receipt is left unanswered, withdrawn from the matcher's queue, and the
    unbind is answered after one refused attempt at most, not after submit_timeout. Once
    the store takes writes again, the receipt is applied once, from the copy the SMSC
    sends on its next bind: the withdrawn copy is never applied."""
    peer = UnbindingSmsc()
    path = tmp_path / "s.db"
    owed_for = 60.0  # far longer than the test waits: only the withdrawal answers in time

    async def scenario() -> None:
        server = await asyncio.start_server(peer, "127.0.0.1", 0)
        carrier = SmppCarrier(
            connector(server.sockets[0].getsockname()[1], submit_timeout=owed_for)
        )
        try:
            async with matcher_on_locked_store(path, busy_timeout=0.2) as (matcher, holder):
                await carrier.start(matcher.receive, matcher.receive_reply, [])
                peer.unbind.set()
                await until(lambda: peer.answers and peer.answers[0], 3)
                holder.execute("ROLLBACK")
                await asyncio.sleep(0.5)  # the matcher writes whatever it still holds
                assert applied(path) == 0
                await until(lambda: len(peer.answers) == 2, 3)  # bound again
                peer.resend.set()
                await until(lambda: peer.answers[1], 3)
        finally:
            await carrier.stop()
            server.close()
            await server.wait_closed()

    run(scenario)
    assert peer.answers == [[(UNBIND_RESP, 2)], [(DELIVER_SM | RESP, 1)]]
    assert applied(path) == 1


# -- wired into the engine -----------------------------------------------------------------


def test_the_engine_delivers_through_the_configured_connector(
    smsc: SmscSettings, tmp_path: Path
) -> None:
    phones = [f"+3361234{n:04d}" for n in range(20)]

    async def scenario() -> set[str]:
        store, account_id, message_id = await store_with_message(tmp_path / "engine.db", phones)
        async with running(smsc) as server:
            settings = Settings(connectors=[connector(server.port, prefixes=["+33"])])
            engine = DeliveryEngine(store, settings)
            assert isinstance(engine.carrier, RoutingCarrier)
            await engine.start()
            try:
                async with asyncio.timeout(10):
                    while True:
                        found = await store.lookup_statuses(
                            account_id, [(message_id, p) for p in phones]
                        )
                        states = {row[0] for row in found.values()}
                        if states == {State.DELIVERED}:
                            return states
                        await asyncio.sleep(0.05)
            finally:
                await engine.stop()
                await store.close()

    assert run(scenario) == {State.DELIVERED}


def test_the_pacer_holds_a_slow_connector_to_its_rate() -> None:
    async def scenario() -> float:
        pacer, session = Pacer(100.0), Session()
        started = time.monotonic()
        for _ in range(21):
            assert await pacer.take(session)
        return time.monotonic() - started

    # One token at once, then one every 10 ms.
    assert asyncio.run(scenario()) >= 0.19


def test_a_paused_pacer_gives_no_token_until_the_pause_ends() -> None:
    async def scenario() -> tuple[bool, bool, float]:
        pacer, session = Pacer(10_000.0), Session()
        first = pacer.pause(0.2)
        again = pacer.pause(0.1)  # within the first pause: does not shorten it
        started = time.monotonic()
        await pacer.take(session)
        return first, again, time.monotonic() - started

    first, again, waited = asyncio.run(scenario())
    assert (first, again) == (True, False)
    assert waited >= 0.19


def test_the_pacer_lets_a_fast_connectors_batch_out_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """100 tokens at 10,000/s are its 10 ms burst: none waits (a bucket of one would
    sleep 99 times). Counted, not timed, so that a busy machine cannot fail it."""
    pauses: list[float] = []
    real_sleep = asyncio.sleep

    async def counted_sleep(delay: float) -> None:
        pauses.append(delay)
        await real_sleep(delay)

    async def scenario() -> None:
        pacer, session = Pacer(10_000.0), Session()
        monkeypatch.setattr(asyncio, "sleep", counted_sleep)
        for _ in range(100):
            await pacer.take(session)

    asyncio.run(scenario())
    assert pauses == []
