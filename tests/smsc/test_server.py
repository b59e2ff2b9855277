"""The SMSC simulator, driven over loopback TCP by a minimal ESME built on `Session`."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from smsrelay.config import ConfigError, SimulatorSettings
from smsrelay.smpp.pdu import (
    BIND_RECEIVER,
    BIND_TRANSMITTER,
    ESM_DELIVERY_RECEIPT,
    ESM_UDHI,
    ESME_RINVBNDSTS,
    ESME_RINVDSTADR,
    ESME_RINVPASWD,
    ESME_RINVSYSID,
    ESME_ROK,
    ESME_RSYSERR,
    STATE_DELIVERED,
    STATE_UNDELIVERABLE,
    TLV_MESSAGE_STATE,
    TLV_RECEIPTED_MESSAGE_ID,
    TLV_SAR_MSG_REF_NUM,
    TLV_SAR_SEGMENT_SEQNUM,
    TLV_SAR_TOTAL_SEGMENTS,
    tlv_int,
    tlv_text,
)
from smsrelay.smpp.session import connect
from smsrelay.smsc.decisions import DecisionRecord, read_decisions
from smsrelay.smsc.settings import Faults, SmscSettings, load_smsc_settings
from tests.smsc.esme import (
    HOST,
    RECIPIENT,
    SENDER,
    Esme,
    bound,
    outcomes,
    receipt_fields,
    run,
    running,
    with_faults,
)

# -- binds ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({"password": "wrong"}, ESME_RINVPASWD),
        ({"system_id": "someone"}, ESME_RINVSYSID),
        ({}, ESME_ROK),
    ],
)
def test_a_bind_needs_the_configured_credentials(
    smsc: SmscSettings, changes: dict[str, str], status: int
) -> None:
    async def scenario() -> None:
        async with running(smsc) as server:
            esme = Esme()
            esme.session = await connect(HOST, server.port, esme, enquire_interval=None)
            assert await esme.bind(BIND_TRANSMITTER, **changes) == status

    run(scenario)


def test_submitting_needs_a_transmitting_bind(smsc: SmscSettings) -> None:
    async def scenario() -> None:
        async with running(smsc) as server:
            esme = Esme()
            esme.session = await connect(HOST, server.port, esme, enquire_interval=None)
            assert (await esme.submit())[0] == ESME_RINVBNDSTS  # not bound yet
            assert await esme.bind(BIND_RECEIVER) == ESME_ROK
            assert (await esme.submit())[0] == ESME_RINVBNDSTS  # a receiver cannot submit

    run(scenario)


# -- ids and receipts -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message_format", "receipt_format"), [("hex", "decimal"), ("decimal", "hex")]
)
def test_ids_are_written_in_the_configured_formats(
    smsc: SmscSettings, message_format: str, receipt_format: str
) -> None:
    settings = msgspec.structs.replace(
        smsc, message_id_format=message_format, receipt_id_format=receipt_format
    )
    pattern = {"hex": r"[0-9a-f]+", "decimal": r"[0-9]+"}
    radix = {"hex": 16, "decimal": 10}

    async def scenario() -> None:
        async with running(settings) as server:
            esme = await bound(server)
            status, message_id = await esme.submit()
            receipt = await esme.next()
        assert status == ESME_ROK
        assert re.fullmatch(pattern[message_format], message_id)
        number = int(message_id, radix[message_format])
        fields = receipt_fields(receipt)
        tlv_id = tlv_text(receipt.tlvs[TLV_RECEIPTED_MESSAGE_ID])
        for written in (fields["id"], tlv_id):
            assert re.fullmatch(pattern[receipt_format], written)
            assert int(written, radix[receipt_format]) == number
        assert message_id != fields["id"]  # the two forms really differ

    run(scenario)


def test_a_receipt_is_a_deliver_sm_from_the_recipient_with_text_and_tlvs(
    smsc: SmscSettings,
) -> None:
    async def scenario() -> None:
        async with running(smsc) as server:
            esme = await bound(server)
            await esme.submit(text=b"Bonjour et bienvenue chez nous")
            receipt = await esme.next()
        assert (receipt.source_addr, receipt.destination_addr) == (RECIPIENT, SENDER)
        assert receipt.esm_class == ESM_DELIVERY_RECEIPT
        assert tlv_int(receipt.tlvs[TLV_MESSAGE_STATE]) == STATE_DELIVERED
        fields = receipt_fields(receipt)
        assert fields["stat"] == "DELIVRD"
        assert (fields["sub"], fields["dlvrd"], fields["err"]) == ("001", "001", "000")
        assert re.fullmatch(r"\d{10}", fields["submit date"])
        assert re.fullmatch(r"\d{10}", fields["done date"])
        assert receipt.short_message.endswith(b"text:Bonjour et bienvenue")  # 20 characters

    run(scenario)


def test_receipts_are_sent_to_a_receiver_bind_of_the_same_system_id(smsc: SmscSettings) -> None:
    async def scenario() -> None:
        async with running(smsc) as server:
            sender = await bound(server, BIND_TRANSMITTER)
            receiver = await bound(server, BIND_RECEIVER)
            _, message_id = await sender.submit()
            receipt = await receiver.next()
            assert receipt_fields(receipt)["id"] == message_id

    run(scenario)


def test_an_unacknowledged_receipt_is_sent_again(smsc: SmscSettings) -> None:
    settings = msgspec.structs.replace(smsc, resend_timeout=0.2)

    async def scenario() -> None:
        async with running(settings) as server:
            esme = await bound(server, ack=None)
            await esme.submit()
            first = await esme.next()
            assert await esme.next(1) == first  # no answer within 0.2 s: again
            esme.ack = ESME_RSYSERR  # an ESME whose store is down refuses it
            assert await esme.next(1) == first
            esme.ack = ESME_ROK
            assert await esme.next(1) == first  # after resend_timeout: accepted this time
            assert await esme.nothing_more()

    run(scenario)


def test_a_receipt_owed_to_a_lost_connection_goes_to_the_next_bind(smsc: SmscSettings) -> None:
    settings = msgspec.structs.replace(smsc, resend_timeout=0.3)

    async def scenario() -> None:
        async with running(settings) as server:
            crashing = await bound(server, ack=None)
            _, message_id = await crashing.submit()
            await crashing.next()  # received, never acknowledged: the ESME dies
            crashing.session.abort()
            await crashing.session.closed
            restarted = await bound(server)
            receipt = await restarted.next()
            assert receipt_fields(receipt)["id"] == message_id

    run(scenario)


def test_no_receipt_unless_registered_delivery_asks(smsc: SmscSettings) -> None:
    async def scenario() -> None:
        async with running(smsc) as server:
            esme = await bound(server)
            await esme.submit(registered_delivery=0)
            assert await esme.nothing_more()

    run(scenario)


# -- fates, the decisions log, STOP replies ----------------------------------------------


def test_the_decisions_log_has_one_line_per_decision(smsc: SmscSettings, log_path: Path) -> None:
    # Every SMS is delivered (the `smsc` fixture) but for the magic numbers, whose fates are fixed.
    async def scenario() -> None:
        async with running(smsc) as server:
            esme = await bound(server)
            await esme.submit("33600000001")  # magic numbers: Delivered
            await esme.submit("33600000002")  # Not delivered (UNDELIV)
            await esme.submit("33600000003")  # never reported
            await esme.submit("33600000004")  # refused at submission
            udh = bytes((5, 0, 3, 0x2A, 3, 2))
            await esme.submit("33611111111", udh + b"part two", esm_class=ESM_UDHI)
            sar = {
                TLV_SAR_MSG_REF_NUM: b"\0\1",
                TLV_SAR_TOTAL_SEGMENTS: b"\2",
                TLV_SAR_SEGMENT_SEQNUM: b"\1",
            }
            await esme.submit("33622222222", b"part one", tlvs=sar)

    run(scenario)
    lines = read_decisions(log_path)
    assert [(d.destination, d.fate, d.part, d.parts) for d in lines] == [
        ("33600000001", "DELIVRD", 1, 1),
        ("33600000002", "UNDELIV", 1, 1),
        ("33600000003", "none", 1, 1),
        ("33600000004", "refused", 1, 1),
        ("33611111111", "DELIVRD", 2, 3),
        ("33622222222", "DELIVRD", 1, 2),
    ]
    refused = lines[3]
    assert (refused.id, refused.message_id, refused.status) == (None, None, ESME_RINVDSTADR)
    assert all(d.message_id == str(d.id) and d.status == ESME_ROK for d in lines[:3])
    assert lines[0].report_at == pytest.approx(lines[0].at + 1.0, abs=0.1)
    assert lines[2].report_at is None


def test_the_same_sms_meets_the_same_fate_after_a_restart(
    smsc: SmscSettings, log_path: Path
) -> None:
    mixed = SimulatorSettings(
        time_scale=1000.0,
        delivered=0.4,
        undelivered=0.2,
        expired=0.1,
        rejected=0.1,
        stop_replies=0.3,
    )
    settings = with_faults(msgspec.structs.replace(smsc, outcomes=mixed), permanent_error=0.1)

    async def submit_all(reference: int) -> None:
        async with running(settings) as server:  # a new server each time: a restart
            esme = await bound(server)
            for n in range(40):
                await esme.submit(f"336{n:08d}", b"Votre code est 1234")
            # A long SMS again: a new concatenation reference must not change its fate.
            for part in (1, 2):
                udh = bytes((5, 0, 3, reference, 2, part))
                await esme.submit("33699999999", udh + b"moiti\xe9 %d" % part, esm_class=ESM_UDHI)

    run(lambda: submit_all(0x11))
    first = read_decisions(log_path)
    log_path.unlink()
    run(lambda: submit_all(0x22))
    again = read_decisions(log_path)

    def fates(lines: list[DecisionRecord]) -> list[tuple[str, int, str, int, bool]]:
        return [(d.destination, d.part, d.fate, d.status, d.stop_at is None) for d in lines]

    assert fates(again) == fates(first)
    assert len({d.fate for d in first}) >= 4  # the test saw a mixture, not one fate
    assert any(d.stop_at is not None for d in first)


def test_a_delivered_recipient_may_answer_stop(smsc: SmscSettings) -> None:
    settings = msgspec.structs.replace(smsc, outcomes=outcomes(stop_replies=1.0))

    async def scenario() -> None:
        async with running(settings) as server:
            esme = await bound(server)
            await esme.submit()
            receipt, reply = await esme.next(), await esme.next(5)
        assert receipt.esm_class == ESM_DELIVERY_RECEIPT
        assert (reply.esm_class, reply.short_message) == (0, b"STOP")
        assert (reply.source_addr, reply.destination_addr) == (RECIPIENT, SENDER)

    run(scenario)


def test_undelivered_sms_are_never_answered(smsc: SmscSettings) -> None:
    settings = msgspec.structs.replace(smsc, outcomes=outcomes("undelivered", stop_replies=1.0))

    async def scenario() -> None:
        async with running(settings) as server:
            esme = await bound(server)
            await esme.submit()
            receipt = await esme.next()
            assert tlv_int(receipt.tlvs[TLV_MESSAGE_STATE]) == STATE_UNDELIVERABLE
            assert await esme.nothing_more()

    run(scenario)


# -- settings and the command -------------------------------------------------------------

CONFIG = """
port = 0
password = "pw"
message_id_format = "hex"
decisions_log = "{log}"

[outcomes]
seed = 7
time_scale = 1000
delivered = 1.0

[faults]
duplicate_reports = true
throttle = 0.25
"""


def test_settings_come_from_the_toml_file_then_the_options(tmp_path: Path) -> None:
    config = tmp_path / "smsc.toml"
    config.write_text(CONFIG.format(log=tmp_path / "d.jsonl"))
    settings = load_smsc_settings(config, host=None, port=2776)
    assert (settings.port, settings.password, settings.message_id_format) == (2776, "pw", "hex")
    assert (settings.outcomes.seed, settings.outcomes.delivered) == (7, 1.0)
    assert settings.outcomes.undelivered == SimulatorSettings().undelivered  # default kept
    assert settings.faults == Faults(duplicate_reports=True, throttle=0.25)


@pytest.mark.parametrize(
    "text", ["prot = 1", "[faults]\nthrottle = 1.5", 'message_id_format = "octal"', "port = ["]
)
def test_a_bad_settings_file_is_a_config_error(tmp_path: Path, text: str) -> None:
    config = tmp_path / "smsc.toml"
    config.write_text(text)
    with pytest.raises(ConfigError):
        load_smsc_settings(config)


def test_the_command_serves_until_sigterm(tmp_path: Path) -> None:
    config = tmp_path / "smsc.toml"
    config.write_text(CONFIG.format(log=tmp_path / "d.jsonl").replace("throttle = 0.25", ""))
    command = (
        "import sys, pathlib, smsrelay.smsc.cli as c; c.run(None, None, pathlib.Path(sys.argv[1]))"
    )
    with subprocess.Popen(
        [sys.executable, "-c", command, str(config)], stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stderr is not None
            first_line = process.stderr.readline()
            announced = re.search(r"listening on 127\.0\.0\.1:(\d+)", first_line)
            assert announced, first_line

            async def scenario() -> None:
                esme = Esme()
                esme.session = await connect(HOST, int(announced[1]), esme, enquire_interval=None)
                assert await esme.bind(password="pw") == ESME_ROK
                status, message_id = await esme.submit()
                assert status == ESME_ROK
                assert int(message_id, 16)
                assert await esme.next() == await esme.next()  # duplicate_reports, from the file
                await esme.session.unbind(timeout=2)

            run(scenario)
            process.send_signal(signal.SIGTERM)
            assert process.wait(10) == 0
        finally:
            if process.poll() is None:
                process.kill()
