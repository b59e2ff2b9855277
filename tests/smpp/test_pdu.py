"""PDU bodies built by hand (binds, responses) and through smpp34 (submit_sm, deliver_sm)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from smsrelay.smpp.codec import ShortMessage, decode_sm, encode_sm
from smsrelay.smpp.errors import PduError, SmppError
from smsrelay.smpp.pdu import (
    BIND_TRANSCEIVER,
    DELIVER_SM,
    ENQUIRE_LINK,
    ESM_DELIVERY_RECEIPT,
    HEADER,
    SUBMIT_SM,
    TLV_MESSAGE_STATE,
    TLV_RECEIPTED_MESSAGE_ID,
    Bind,
    cstring,
    decode_bind,
    decode_message_id,
    encode_bind,
    encode_message_id,
    frame,
    relative_time,
    tlv_int,
    tlv_text,
)


def test_frame_writes_the_length_of_header_and_body() -> None:
    pdu = frame(ENQUIRE_LINK, 0, 9, b"abc")
    assert HEADER.unpack(pdu[:16]) == (19, ENQUIRE_LINK, 0, 9)
    assert pdu[16:] == b"abc"


def test_a_bind_body_reads_back_field_for_field() -> None:
    bind = Bind("esme1", "secret", "SMS", addr_ton=1, addr_npi=1, address_range="336")
    body = encode_bind(bind)
    assert body == b"esme1\0secret\0SMS\0\x34\x01\x01336\0"
    assert decode_bind(BIND_TRANSCEIVER, body) == bind


@pytest.mark.parametrize("body", [b"", b"esme1\0secret\0\0", b"esme1\0secret\0\0\x34\x00\x00"])
def test_a_truncated_bind_is_a_pdu_error(body: bytes) -> None:
    with pytest.raises(PduError) as raised:
        decode_bind(BIND_TRANSCEIVER, body)
    assert raised.value.command_id == BIND_TRANSCEIVER


def test_c_strings_are_ascii_and_nul_terminated() -> None:
    assert cstring("abc") == b"abc\0"
    with pytest.raises(PduError):
        cstring("é")


@pytest.mark.parametrize(
    ("body", "message_id"), [(b"1a2b\0", "1a2b"), (b"", ""), (b"77", "77"), (b"\0", "")]
)
def test_message_ids_are_read_from_proper_and_sloppy_bodies(body: bytes, message_id: str) -> None:
    assert decode_message_id(body) == message_id


def test_message_id_body_is_one_c_string() -> None:
    assert encode_message_id("1a2b") == b"1a2b\0"


def test_tlv_values() -> None:
    assert tlv_int(b"\x02") == 2
    assert tlv_int(b"\x01\x00") == 256
    assert tlv_text(b"abc\0") == "abc"
    assert tlv_text(b"abc") == "abc"


def test_a_deliver_sm_round_trips_through_the_codec() -> None:
    receipt = ShortMessage(
        "33600000001",
        "SMSRELAY",
        b"id:12 stat:DELIVRD",
        source_addr_ton=1,
        source_addr_npi=1,
        dest_addr_ton=5,
        esm_class=ESM_DELIVERY_RECEIPT,
        tlvs={TLV_RECEIPTED_MESSAGE_ID: b"c\0", TLV_MESSAGE_STATE: b"\x02"},
    )
    body = encode_sm(DELIVER_SM, receipt)
    assert decode_sm(DELIVER_SM, 3, body) == receipt


def test_a_submit_sm_round_trips_through_the_codec() -> None:
    submit = ShortMessage(
        "SMSRELAY",
        "33612345678",
        b"\x05\x00\x03\x2a\x02\x01" + "Привет".encode("utf-16-be"),
        source_addr_ton=5,
        dest_addr_ton=1,
        dest_addr_npi=1,
        esm_class=0x40,
        registered_delivery=1,
        data_coding=8,
        validity_period="000002000000000R",
    )
    assert decode_sm(SUBMIT_SM, 1, encode_sm(SUBMIT_SM, submit)) == submit


@pytest.mark.parametrize(
    "build",
    [
        lambda: encode_sm(SUBMIT_SM, ShortMessage("a", "b", b"x" * 255)),  # over 254 octets
        lambda: encode_sm(SUBMIT_SM, ShortMessage("a", "b", esm_class=256)),
        lambda: encode_sm(ENQUIRE_LINK, ShortMessage("a", "b")),
        lambda: decode_sm(SUBMIT_SM, 1, b"\0\0"),
        lambda: decode_sm(ENQUIRE_LINK, 1, b""),
    ],
)
def test_no_codec_error_escapes_unmapped(build: Callable[[], object]) -> None:
    with pytest.raises(SmppError) as raised:
        build()
    assert type(raised.value) is PduError


@pytest.mark.parametrize(
    ("seconds", "written"),
    [
        (48 * 3600.0, "000002000000000R"),
        (90.7, "000000000130000R"),
        (0.2, "000000000001000R"),  # never zero: that would mean "give up now"
        (400 * 86400.0, "000099235959000R"),  # past the format's days: its longest
    ],
)
def test_a_validity_is_written_as_an_smpp_relative_time(seconds: float, written: str) -> None:
    assert relative_time(seconds) == written
