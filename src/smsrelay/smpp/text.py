"""The `short_message` octets of each submit_sm that a text is sent as, and read back.

A customer is billed the parts that `domain.segments` counts, so the parts sent must be exactly
those: the same sizes (160/153 septets, 70/67 UCS-2 units), the same greedy fill, and the same
rule that a two-unit character (escape + code, surrogate pair) is never split but opens the
next part. The phone reassembles the parts through a UDH in the payload, or the SMSC does
through the SAR TLVs; either way each part's payload decodes alone.

With data_coding 0 (the SMSC default alphabet) SMPP carries GSM 7-bit text unpacked, one septet
per octet, and the SMSC packs it; the table is GSM 03.38's, not ASCII's (`@` is 0x00).

The PyPI package `gsm0338` was weighed and left out: its table is the same as `domain.gsm7`'s,
but it ships no types, registers a codec globally on import, drops a trailing escape silently
on decode and encodes a stray U+001B as an escape that swallows the next character.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

from smsrelay.domain.gsm7 import BASIC, ESCAPE, EXTENSION
from smsrelay.domain.segments import CAPACITY, Encoding
from smsrelay.smpp.pdu import DATA_CODING_DEFAULT, DATA_CODING_UCS2, ESM_UDHI, TLV_MESSAGE_PAYLOAD

if TYPE_CHECKING:
    from smsrelay.smpp.codec import ShortMessage

Concatenation = Literal["udh", "sar"]

_TO_GSM7: Final[dict[str, bytes]] = {
    char: bytes((code,)) for code, char in enumerate(BASIC) if code != ESCAPE
} | {char: bytes((ESCAPE, code)) for char, code in EXTENSION.items()}
_FROM_GSM7: Final = {octets: char for char, octets in _TO_GSM7.items()}

# Octets of payload in a text sent alone, and in each part of a longer one: the units
# segments.py bills, a septet one octet (sent unpacked), a UTF-16 code unit two. A part also
# carries its 6-octet UDH.
_OCTETS_PER_UNIT: Final[dict[Encoding, int]] = {"gsm7": 1, "ucs2": 2}
_CAPACITY: Final[dict[Encoding, tuple[int, int]]] = {
    encoding: (single * _OCTETS_PER_UNIT[encoding], per_part * _OCTETS_PER_UNIT[encoding])
    for encoding, (single, per_part) in CAPACITY.items()
}
_DATA_CODING: Final[dict[Encoding, int]] = {"gsm7": DATA_CODING_DEFAULT, "ucs2": DATA_CODING_UCS2}
# UDH length 5, then the concatenation IE with an 8-bit reference: id 0x00, length 3.
_UDH_PREFIX: Final = bytes((0x05, 0x00, 0x03))
# The UDH and the SAR TLVs both count parts in one octet.
_MAX_PARTS: Final = 255


@dataclass(frozen=True, slots=True)
class Part:
    """The fields of one submit_sm that depend on the text.

    `sar` is (sar_msg_ref_num, sar_total_segments, sar_segment_seqnum) for the TLVs 0x020C,
    0x020E and 0x020F when a long text is concatenated by SAR; None otherwise.
    """

    short_message: bytes
    data_coding: int
    esm_class: int
    sar: tuple[int, int, int] | None = None


def encode_parts(
    text: str,
    encoding: Encoding,
    reference: int,
    concatenation: Concatenation = "udh",
) -> list[Part]:
    """Cut `text` into the parts `segments.segment` bills, each ready for a submit_sm.

    `encoding` is the one `segment` chose (or "ucs2" when the sender forced it). What it cannot
    carry raises UnicodeEncodeError rather than reach a phone wrong: for "gsm7" a character
    outside the alphabet, for "ucs2" a lone surrogate (the API's decoders never let one in). An
    empty text gives no part, as `segment` bills it 0: callers refuse it before sending.

    `reference` only has to tell apart a phone's long messages in flight, so it is cut to the
    field's width (8 bits in the UDH, 16 in sar_msg_ref_num) rather than refused.
    """
    units = _gsm7_units(text) if encoding == "gsm7" else _ucs2_units(text)
    single, per_part = _CAPACITY[encoding]
    payloads = _fill(units, single if sum(map(len, units)) <= single else per_part)
    data_coding = _DATA_CODING[encoding]
    total = len(payloads)
    if total <= 1:
        return [Part(payload, data_coding, esm_class=0) for payload in payloads]
    if total > _MAX_PARTS:
        raise ValueError(f"{total} parts: concatenation numbers at most {_MAX_PARTS}")
    if concatenation == "sar":
        return [
            Part(payload, data_coding, esm_class=0, sar=(reference & 0xFFFF, total, sequence))
            for sequence, payload in enumerate(payloads, start=1)
        ]
    header = _UDH_PREFIX + bytes((reference & 0xFF, total))
    return [
        Part(header + bytes((sequence,)) + payload, data_coding, esm_class=ESM_UDHI)
        for sequence, payload in enumerate(payloads, start=1)
    ]


def decode_gsm7(data: bytes) -> str:
    """Read back unpacked GSM 7-bit octets, as a data_coding 0 short_message carries them.

    An octet with no character (above 0x7F, an escape before an unknown code or at the end)
    raises UnicodeDecodeError: a guess would hide a bug in whoever encoded it.
    """
    chars: list[str] = []
    position = 0
    while position < len(data):
        width = 2 if data[position] == ESCAPE else 1
        char = _FROM_GSM7.get(data[position : position + width])
        if char is None:
            end = min(position + width, len(data))
            raise UnicodeDecodeError("gsm03.38", data, position, end, "no GSM 03.38 character")
        chars.append(char)
        position += width
    return "".join(chars)


def payload(sm: ShortMessage) -> bytes:
    """short_message, or the message_payload TLV that replaces it for long texts."""
    return sm.short_message or sm.tlvs.get(TLV_MESSAGE_PAYLOAD, b"")


def split_udh(data: bytes) -> tuple[bytes, bytes] | None:
    """A payload whose esm_class has UDHI, as (the header's information elements, the text
    after the header); None when it is too short for the header its first octet announces."""
    if not data or len(data) <= data[0]:
        return None
    return data[1 : 1 + data[0]], data[1 + data[0] :]


def decode_text(octets: bytes, data_coding: int) -> str:
    """Text received in a short message, by its data_coding; never raises.

    data_coding 0 is the SMSC default alphabet: GSM 03.38 in principle, Latin-1 or ASCII at
    many SMSCs. GSM is tried first; octets it cannot read (any above 0x7F, as "ARRÊT" in
    Latin-1 has) are read as Latin-1. UCS-2 octets that do not decode are replaced (U+FFFD).
    Other codings than UCS-2 are read as Latin-1, which decodes any octet: a text is never
    lost to its coding.
    """
    if data_coding == DATA_CODING_UCS2:
        return octets.decode("utf-16-be", "replace")
    if data_coding == DATA_CODING_DEFAULT:
        try:
            return decode_gsm7(octets)
        except UnicodeDecodeError:
            pass
    return octets.decode("latin-1")


def _gsm7_units(text: str) -> list[bytes]:
    """Each character's octets: one for the basic table, escape and code for the extension."""
    units: list[bytes] = []
    for position, char in enumerate(text):
        octets = _TO_GSM7.get(char)
        if octets is None:
            raise UnicodeEncodeError(
                "gsm03.38", text, position, position + 1, "not in the GSM 03.38 alphabet"
            )
        units.append(octets)
    return units


def _ucs2_units(text: str) -> list[bytes]:
    """Each character's UTF-16 code units: one, or a surrogate pair kept whole."""
    octets = text.encode("utf-16-be")
    units: list[bytes] = []
    position = 0
    for char in text:
        width = 4 if ord(char) > 0xFFFF else 2
        units.append(octets[position : position + width])
        position += width
    return units


def _fill(units: list[bytes], capacity: int) -> list[bytes]:
    """Fill payloads greedily, never splitting a character's octets, as segments.py counts."""
    payloads: list[bytes] = []
    current = b""
    for unit in units:
        if len(current) + len(unit) > capacity:
            payloads.append(current)
            current = b""
        current += unit
    return [*payloads, current] if current else payloads
