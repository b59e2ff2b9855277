"""SMPP 3.4 numbers, framing, and the bodies smpp34's API cannot build.

Pure functions over bytes, no I/O: the session frames the stream with `HEADER`, and
`codec` handles submit_sm and deliver_sm. What is here is what smpp34 exposes no
builder for (binds, their responses, the message id of submit_sm_resp) and the few
numbers of the standard we use; the TLV tags are repeated rather than taken from smpp34
because its module constants are invisible to the type checker.
"""

from __future__ import annotations

import struct
from typing import Final

import msgspec

from smsrelay.smpp.errors import PduError

# command_length, command_id, command_status, sequence_number: four big-endian uint32.
HEADER: Final = struct.Struct(">IIII")
HEADER_SIZE: Final = 16
MAX_PDU: Final = 64 * 1024  # larger than any PDU we exchange; a bigger length is garbage
MAX_SEQUENCE: Final = 0x7FFFFFFF

# Command ids. A response is its request's id with the high bit set (`RESP`).
RESP: Final = 0x80000000
GENERIC_NACK: Final = 0x80000000
BIND_RECEIVER: Final = 0x00000001
BIND_TRANSMITTER: Final = 0x00000002
SUBMIT_SM: Final = 0x00000004
DELIVER_SM: Final = 0x00000005
UNBIND: Final = 0x00000006
BIND_TRANSCEIVER: Final = 0x00000009
ENQUIRE_LINK: Final = 0x00000015
SUBMIT_SM_RESP: Final = SUBMIT_SM | RESP
UNBIND_RESP: Final = UNBIND | RESP
ENQUIRE_LINK_RESP: Final = ENQUIRE_LINK | RESP
BINDS: Final = frozenset({BIND_RECEIVER, BIND_TRANSMITTER, BIND_TRANSCEIVER})

# command_status values.
ESME_ROK: Final = 0x00
ESME_RINVCMDLEN: Final = 0x02
ESME_RINVCMDID: Final = 0x03
ESME_RINVBNDSTS: Final = 0x04  # the command is not allowed in this bind state
ESME_RALYBND: Final = 0x05
ESME_RSYSERR: Final = 0x08
ESME_RINVDSTADR: Final = 0x0B
ESME_RBINDFAIL: Final = 0x0D
ESME_RINVPASWD: Final = 0x0E
ESME_RINVSYSID: Final = 0x0F
ESME_RMSGQFUL: Final = 0x14
ESME_RSUBMITFAIL: Final = 0x45
ESME_RTHROTTLED: Final = 0x58

# esm_class bits.
ESM_DELIVERY_RECEIPT: Final = 0x04  # message type: SMSC delivery receipt (deliver_sm)
ESM_UDHI: Final = 0x40  # short_message starts with a user data header

# data_coding values.
DATA_CODING_DEFAULT: Final = 0x00  # the SMSC default alphabet (GSM 03.38, unpacked)
DATA_CODING_UCS2: Final = 0x08  # UCS-2, big-endian

# Address type of number and numbering plan indicator.
TON_INTERNATIONAL: Final = 1
NPI_ISDN: Final = 1  # E.164

# TLV tags.
TLV_RECEIPTED_MESSAGE_ID: Final = 0x001E
TLV_SAR_MSG_REF_NUM: Final = 0x020C
TLV_SAR_TOTAL_SEGMENTS: Final = 0x020E
TLV_SAR_SEGMENT_SEQNUM: Final = 0x020F
TLV_MESSAGE_PAYLOAD: Final = 0x0424
TLV_MESSAGE_STATE: Final = 0x0427

# message_state values (TLV 0x0427) the simulator writes; all ten are in v1-api.md §3.
STATE_ENROUTE: Final = 1
STATE_DELIVERED: Final = 2
STATE_EXPIRED: Final = 3
STATE_UNDELIVERABLE: Final = 5

INTERFACE_VERSION: Final = 0x34


def frame(command_id: int, status: int, sequence: int, body: bytes = b"") -> bytes:
    """One whole PDU: the header, then `body` (empty for enquire_link, unbind, nacks)."""
    return HEADER.pack(HEADER_SIZE + len(body), command_id, status, sequence) + body


def next_sequence(previous: int) -> int:
    """The sequence number after `previous`: 1 to 0x7FFFFFFF, then 1 again."""
    return previous % MAX_SEQUENCE + 1


_LONGEST_RELATIVE = 99 * 86400 + 23 * 3600 + 59 * 60 + 59  # 99 days, 23:59:59


def relative_time(seconds: float) -> str:
    """`seconds` as an SMPP 3.4 relative time (section 7.1.1): "YYMMDDhhmmss000R".

    Written in days, hours, minutes and whole seconds: years and months stay 00, since
    their length would be the SMSC's to choose. At least 1 s (a zero would ask the SMSC
    to give up at once), at most 99 days 23:59:59.
    """
    total = min(max(int(seconds), 1), _LONGEST_RELATIVE)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, whole = divmod(rest, 60)
    return f"0000{days:02d}{hours:02d}{minutes:02d}{whole:02d}000R"


def cstring(value: str, command_id: int = 0) -> bytes:
    """A C-octet string: ASCII, then NUL. Non-ASCII is refused rather than mangled."""
    try:
        return value.encode("ascii") + b"\0"
    except UnicodeEncodeError as exc:
        raise PduError(command_id, f"not ASCII: {value!r}") from exc


def read_cstring(body: bytes, offset: int, command_id: int = 0) -> tuple[str, int]:
    """The C-octet string at `offset` and the offset after its NUL.

    Decoded as Latin-1 so that no byte a peer sends can fail the decoding; a missing
    NUL is a malformed PDU.
    """
    end = body.find(b"\0", offset)
    if end < 0:
        raise PduError(command_id, f"unterminated C string at offset {offset}")
    return body[offset:end].decode("latin-1"), end + 1


def tlv_int(value: bytes) -> int:
    """An integer TLV value (1, 2 or 4 bytes, big-endian)."""
    return int.from_bytes(value, "big")


def tlv_text(value: bytes) -> str:
    """A C-octet string TLV value (receipted_message_id), NUL or not."""
    return value.split(b"\0", 1)[0].decode("latin-1")


class Bind(msgspec.Struct, frozen=True):
    """The body of bind_transmitter, bind_receiver and bind_transceiver."""

    system_id: str
    password: str
    system_type: str = ""
    interface_version: int = INTERFACE_VERSION
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""


def encode_bind(bind: Bind) -> bytes:
    return b"".join(
        (
            cstring(bind.system_id, BIND_TRANSCEIVER),
            cstring(bind.password, BIND_TRANSCEIVER),
            cstring(bind.system_type, BIND_TRANSCEIVER),
            bytes((bind.interface_version, bind.addr_ton, bind.addr_npi)),
            cstring(bind.address_range, BIND_TRANSCEIVER),
        )
    )


def decode_bind(command_id: int, body: bytes) -> Bind:
    system_id, at = read_cstring(body, 0, command_id)
    password, at = read_cstring(body, at, command_id)
    system_type, at = read_cstring(body, at, command_id)
    if len(body) < at + 3:
        raise PduError(command_id, "bind body too short")
    version, ton, npi = body[at : at + 3]
    address_range, _ = read_cstring(body, at + 3, command_id)
    return Bind(system_id, password, system_type, version, ton, npi, address_range)


def encode_message_id(message_id: str) -> bytes:
    """A body of one C-octet string: submit_sm_resp (the SMSC's message id),
    deliver_sm_resp (an empty id) and a bind response (the SMSC's system_id)."""
    return cstring(message_id, SUBMIT_SM_RESP)


def decode_message_id(body: bytes) -> str:
    """The C-octet string of a response body; "" when the body is empty, as SMPP 3.4
    allows in an error response, or unterminated, as some SMSCs send it."""
    return tlv_text(body)
