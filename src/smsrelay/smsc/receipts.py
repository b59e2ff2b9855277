"""Delivery receipts and replies as the simulated SMSC writes them, quirks included.

A receipt is a deliver_sm with esm_class 0x04 whose text follows the de facto format of
SMPP 3.4 appendix B (`id:… sub:001 dlvrd:… submit date:YYMMDDhhmm done date:… stat:…
err:… text:…`), with the receipted_message_id and message_state TLVs. The fault
switches reproduce what operators really send (v1-api.md §3): 12-digit dates, other
stat words, lower case, no TLVs; the id formats may differ between submit_sm_resp and
the receipt. Dates are UTC.
"""

from __future__ import annotations

import time
from typing import Final

from smsrelay.domain.status import State
from smsrelay.smpp.codec import ShortMessage, encode_sm
from smsrelay.smpp.pdu import (
    DELIVER_SM,
    ESM_DELIVERY_RECEIPT,
    STATE_DELIVERED,
    STATE_ENROUTE,
    STATE_EXPIRED,
    STATE_UNDELIVERABLE,
    TLV_MESSAGE_STATE,
    TLV_RECEIPTED_MESSAGE_ID,
    cstring,
)
from smsrelay.smpp.text import decode_text
from smsrelay.smsc.settings import Faults, SmscIdFormat

# The standard stat word and message_state of each state a receipt reports.
STAT: Final[dict[State, tuple[str, int]]] = {
    State.ENROUTE: ("ENROUTE", STATE_ENROUTE),
    State.DELIVERED: ("DELIVRD", STATE_DELIVERED),
    State.UNDELIVERABLE: ("UNDELIV", STATE_UNDELIVERABLE),
    State.EXPIRED: ("EXPIRED", STATE_EXPIRED),
}
_NONSTANDARD: Final = {"DELIVRD": "DELIVERED", "UNDELIV": "FAILED"}
_TEXT_CHARS = 20  # receipts quote the start of the message


def format_id(number: int, style: SmscIdFormat) -> str:
    return format(number, "x") if style == "hex" else str(number)


class ReceiptWriter:
    """Builds deliver_sm bodies: receipts for submitted SMS, replies of recipients."""

    def __init__(self, receipt_id_format: SmscIdFormat, faults: Faults) -> None:
        self.id_format = receipt_id_format
        self.faults = faults
        self._date = "%y%m%d%H%M%S" if faults.twelve_digit_dates else "%y%m%d%H%M"

    def receipt(
        self,
        submit: ShortMessage,
        text: bytes,
        message_number: int,
        state: State,
        submitted_at: float,
        done_at: float,
    ) -> bytes:
        """The receipt of `submit` (whose payload without UDH is `text`), from its
        recipient to its sender."""
        receipt_id = format_id(message_number, self.id_format)
        stat, message_state = STAT[state]
        if self.faults.nonstandard_stat:
            stat = _NONSTANDARD.get(stat, stat)
        delivered = state is State.DELIVERED
        body = (
            f"id:{receipt_id} sub:001 dlvrd:{'001' if delivered else '000'}"
            f" submit date:{self._when(submitted_at)} done date:{self._when(done_at)}"
            f" stat:{stat} err:{'000' if delivered or state is State.ENROUTE else '001'}"
            f" text:{_snippet(text, submit.data_coding)}"
        )
        if self.faults.lowercase_receipts:
            body = body.lower()
        tlvs = (
            {}
            if self.faults.omit_tlvs
            else {
                TLV_RECEIPTED_MESSAGE_ID: cstring(receipt_id),
                TLV_MESSAGE_STATE: bytes((message_state,)),
            }
        )
        return self._from_recipient(
            submit,
            body.encode("ascii"),
            ESM_DELIVERY_RECEIPT,
            tlvs,
            swapped=self.faults.receipts_from_sender,
        )

    def reply(self, submit: ShortMessage, text: str) -> bytes:
        """A message the recipient of `submit` sends back to its sender (esm_class 0)."""
        return self._from_recipient(submit, text.encode("ascii"), 0, {})

    def _from_recipient(
        self,
        submit: ShortMessage,
        text: bytes,
        esm_class: int,
        tlvs: dict[int, bytes],
        swapped: bool = False,
    ) -> bytes:
        """A deliver_sm from the recipient of `submit` to its sender; `swapped`: addressed
        as `submit` was instead (the `receipts_from_sender` fault)."""
        recipient = (submit.destination_addr, submit.dest_addr_ton, submit.dest_addr_npi)
        sender = (submit.source_addr, submit.source_addr_ton, submit.source_addr_npi)
        (source, source_ton, source_npi), (to, to_ton, to_npi) = (
            (sender, recipient) if swapped else (recipient, sender)
        )
        return encode_sm(
            DELIVER_SM,
            ShortMessage(
                source_addr=source,
                destination_addr=to,
                short_message=text,
                source_addr_ton=source_ton,
                source_addr_npi=source_npi,
                dest_addr_ton=to_ton,
                dest_addr_npi=to_npi,
                esm_class=esm_class,
                tlvs=tlvs,
            ),
        )

    def _when(self, at: float) -> str:
        return time.strftime(self._date, time.gmtime(at))


def _snippet(text: bytes, data_coding: int) -> str:
    """The start of the message as `decode_text` reads it, printable ASCII only, so the
    receipt stays ASCII."""
    chars = decode_text(text, data_coding)
    return "".join(c if " " <= c <= "~" else "." for c in chars[:_TEXT_CHARS])
