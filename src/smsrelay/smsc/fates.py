"""What the simulated network does with one submit_sm, and why it is restart-safe.

smsrelay dispatches at least once: after a crash it submits again what it had not
recorded as submitted. The simulator must then decide the same fate, or an end-to-end
test could not tell a lost SMS from a changed mind. So the fate is keyed on what the SMS
*is*, never on when or how often it came: the destination, the data coding, the part
number and count, and the text without its user data header (the UDH carries a
concatenation reference the ESME may pick anew on each attempt). Keying on an
occurrence counter instead would give the retry a new fate. The price: the same text
sent twice to the same number meets the same fate both times, which a test can live with.
"""

from __future__ import annotations

import hashlib
import random
from typing import NamedTuple

from smsrelay.config import SimulatorSettings
from smsrelay.delivery.carriers.simulator import Fate, OutcomeModel
from smsrelay.domain.status import State
from smsrelay.smpp.codec import ShortMessage
from smsrelay.smpp.pdu import (
    ESM_UDHI,
    ESME_RINVDSTADR,
    ESME_ROK,
    ESME_RSUBMITFAIL,
    TLV_SAR_SEGMENT_SEQNUM,
    TLV_SAR_TOTAL_SEGMENTS,
    tlv_int,
)
from smsrelay.smpp.text import payload, split_udh

# The information elements of a concatenation header: 8-bit and 16-bit references.
_CONCAT_8, _CONCAT_16 = 0x00, 0x08


class Submitted(NamedTuple):
    """One part of an SMS as the SMSC received it."""

    source: str
    destination: str
    text: bytes  # the payload, without the UDH
    data_coding: int
    part: int  # 1-based; 1 of 1 when not concatenated
    parts: int


class Decision(NamedTuple):
    fate: Fate
    status: int  # the submit_sm_resp command_status: ESME_ROK or a permanent refusal


def read_submit(sm: ShortMessage) -> Submitted:
    """The part number and text of a submit_sm, concatenated by UDH or SAR TLVs or not.

    A malformed UDH is read as plain text rather than refused: only the fate key
    depends on it.
    """
    octets = payload(sm)
    part, parts = 1, 1
    udh = split_udh(octets) if sm.esm_class & ESM_UDHI else None
    if udh is not None:
        header, text = udh
        concat = _concatenation(header)
        if concat is not None:
            octets = text
            part, parts = concat
    elif TLV_SAR_TOTAL_SEGMENTS in sm.tlvs and TLV_SAR_SEGMENT_SEQNUM in sm.tlvs:
        parts = tlv_int(sm.tlvs[TLV_SAR_TOTAL_SEGMENTS])
        part = tlv_int(sm.tlvs[TLV_SAR_SEGMENT_SEQNUM])
    return Submitted(sm.source_addr, sm.destination_addr, octets, sm.data_coding, part, parts)


def _concatenation(header: bytes) -> tuple[int, int] | None:
    """(part, parts) from the concatenation element of a UDH, if it has one."""
    at = 0
    while at + 2 <= len(header):
        element, length = header[at], header[at + 1]
        data = header[at + 2 : at + 2 + length]
        if element == _CONCAT_8 and len(data) == 3:
            return data[2], data[1]
        if element == _CONCAT_16 and len(data) == 4:
            return data[3], data[2]
        at += 2 + length
    return None


class Fates:
    """Decides each submitted part's fate from the seed and the part itself."""

    def __init__(self, outcomes: SimulatorSettings, permanent_error: float) -> None:
        self.model = OutcomeModel(outcomes)
        self.seed = outcomes.seed
        self.permanent_error = permanent_error

    def decide(self, sm: Submitted) -> Decision:
        key = hashlib.blake2b(
            f"{sm.destination}|{sm.data_coding}|{sm.part}/{sm.parts}|".encode() + sm.text,
            digest_size=8,
        ).hexdigest()
        # A generator of its own, so that the fault share leaves the model's fates as
        # they are with it off.
        if random.Random(f"{self.seed}:permanent:{key}").random() < self.permanent_error:
            return Decision(Fate(State.REJECTED, 0.0, refused=True), ESME_RSUBMITFAIL)
        fate = self.model.fate(key, _e164(sm.destination))
        # The model's own refusals ("rejected" share, +33600000004) are the operator
        # refusing the number; the fault is a generic failure. Both are permanent.
        return Decision(fate, ESME_RINVDSTADR if fate.refused else ESME_ROK)


def _e164(address: str) -> str:
    """The number as the model's magic numbers write it: SMPP addresses omit the +."""
    return address if address.startswith("+") else "+" + address
