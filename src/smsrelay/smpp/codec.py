"""submit_sm and deliver_sm through smpp34, the only module that imports it.

smpp34 (a Rust codec) encodes and decodes these two, the PDUs with many fields; the
rest of the protocol is simple enough for `pdu`. Keeping smpp34 behind this module
means one place translates its errors into `PduError` and one place would change if
the codec were replaced. Bodies here exclude the header: the session adds it with the
sequence number it allocates.
"""

from __future__ import annotations

import msgspec
import smpp34

from smsrelay.smpp.errors import PduError
from smsrelay.smpp.pdu import DELIVER_SM, HEADER_SIZE, SUBMIT_SM, frame

# What smpp34 raises on bad input: its own error when decoding, ValueError (a short
# message over 254 bytes) or OverflowError (a number out of its field) when encoding.
_CODEC_ERRORS = (smpp34.SmppError, ValueError, OverflowError)


class ShortMessage(msgspec.Struct, frozen=True):
    """The fields of a submit_sm or deliver_sm that smsrelay reads or sets.

    `tlvs` maps a tag (`pdu.TLV_*`) to its raw value, in the order of the PDU.
    """

    source_addr: str
    destination_addr: str
    short_message: bytes = b""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    esm_class: int = 0
    registered_delivery: int = 0
    data_coding: int = 0
    validity_period: str = ""
    tlvs: dict[int, bytes] = {}


def encode_sm(command_id: int, message: ShortMessage) -> bytes:
    """The body of a submit_sm or deliver_sm (`command_id` says which)."""
    kind: type[smpp34.SubmitSm | smpp34.DeliverSm]
    if command_id == SUBMIT_SM:
        kind = smpp34.SubmitSm
    elif command_id == DELIVER_SM:
        kind = smpp34.DeliverSm
    else:
        raise PduError(command_id, "only submit_sm and deliver_sm go through the codec")
    try:
        pdu = kind(
            message.source_addr,
            message.destination_addr,
            message.short_message,
            source_addr_ton=message.source_addr_ton,
            source_addr_npi=message.source_addr_npi,
            dest_addr_ton=message.dest_addr_ton,
            dest_addr_npi=message.dest_addr_npi,
            esm_class=message.esm_class,
            registered_delivery=message.registered_delivery,
            data_coding=message.data_coding,
            validity_period=message.validity_period,
            tlvs=[smpp34.Tlv(tag, value) for tag, value in message.tlvs.items()],
        ).encode()
    except _CODEC_ERRORS as exc:
        raise PduError(command_id, str(exc)) from exc
    return pdu[HEADER_SIZE:]


def decode_sm(command_id: int, sequence: int, body: bytes) -> ShortMessage:
    """A submit_sm or deliver_sm body, as the session hands it to its handler."""
    try:
        pdu = smpp34.decode(frame(command_id, 0, sequence, body))
    except _CODEC_ERRORS as exc:
        raise PduError(command_id, str(exc)) from exc
    if isinstance(pdu, smpp34.RawPdu):
        raise PduError(command_id, "not a submit_sm or deliver_sm")
    return ShortMessage(
        pdu.source_addr,
        pdu.destination_addr,
        pdu.short_message,
        pdu.source_addr_ton,
        pdu.source_addr_npi,
        pdu.dest_addr_ton,
        pdu.dest_addr_npi,
        pdu.esm_class,
        pdu.registered_delivery,
        pdu.data_coding,
        pdu.validity_period,
        {tlv.tag: tlv.value for tlv in pdu.tlvs},
    )
