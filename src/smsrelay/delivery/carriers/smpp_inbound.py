"""What an SMSC sends us (deliver_sm): delivery receipts and recipients' replies.

Each deliver_sm is answered only once what it carries is durably stored: the sink's
future is done. A crash or a store that refuses the write therefore leaves it
unanswered, and the SMSC sends it again; `domain.status` makes the duplicate harmless.
When the SMSC unbinds or the connection ends, it will send again whatever is still
unanswered: what is not yet being written is then withdrawn from the sink (the future's
`cancel`, see `delivery.matcher.Storing`), so that it is applied once, from that second
copy, and the unbind waits only for what is being written (one attempt of the store).

A deliver_sm that cannot be used is acknowledged at once (ESME_ROK) and logged at
warning level with its bytes: a PDU we cannot decode, or a receipt that names no
message. The SMSC would re-send it forever otherwise, and a later attempt would read it
no better; the log is what lets someone see what the operator sent.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from typing import Final

from smsrelay.delivery.carriers.base import ReplySink, ReportSink
from smsrelay.domain.phone import to_e164
from smsrelay.domain.receipts import IdEncoding, normalise_operator_id, read_receipt
from smsrelay.domain.records import Receipt, Reply
from smsrelay.domain.report_matching import read_handset
from smsrelay.smpp.codec import ShortMessage, decode_sm
from smsrelay.smpp.errors import PduError
from smsrelay.smpp.pdu import (
    DELIVER_SM,
    ESM_DELIVERY_RECEIPT,
    ESM_UDHI,
    ESME_RINVCMDID,
    ESME_ROK,
    GENERIC_NACK,
    TLV_MESSAGE_STATE,
    TLV_RECEIPTED_MESSAGE_ID,
    TON_INTERNATIONAL,
    encode_message_id,
    tlv_int,
)
from smsrelay.smpp.session import Session
from smsrelay.smpp.text import decode_text, payload, split_udh

log = logging.getLogger(__name__)

# esm_class bits 2-5: the message type (0x04: an SMSC delivery receipt).
_MESSAGE_TYPE: Final = 0x3C
# Our operators are French: a reply's number written nationally is read as French.
REPLY_REGION: Final = "FR"


class Inbound:
    """The Session handler of one connector: deliver_sm to the report and reply sinks."""

    def __init__(
        self, carrier: str, receipt_id_format: IdEncoding, reports: ReportSink, replies: ReplySink
    ) -> None:
        self.carrier = carrier
        self.receipt_id_format = receipt_id_format
        self._reports = reports
        self._replies = replies

    def __call__(
        self, session: Session, command_id: int, status: int, sequence: int, body: bytes
    ) -> None:
        if command_id != DELIVER_SM:
            session.respond(GENERIC_NACK, ESME_RINVCMDID, sequence)
            return
        try:
            sm = decode_sm(command_id, sequence, body)
        except PduError as exc:
            log.warning(
                "SMPP %s: unreadable deliver_sm acknowledged and dropped (%s): %s",
                self.carrier,
                exc,
                body.hex(),
            )
            _acknowledge(session, sequence)
            return
        if sm.esm_class & _MESSAGE_TYPE == ESM_DELIVERY_RECEIPT:
            stored = self._receipt(sm)
        else:
            stored = self._replies(self._reply(sm))
        if stored is None:
            _acknowledge(session, sequence)
            return
        withdraw = functools.partial(_withdraw, stored)
        session.unbound.add_done_callback(withdraw)
        session.closed.add_done_callback(withdraw)
        stored.add_done_callback(
            functools.partial(_acknowledge_stored, session, sequence, withdraw)
        )

    def _receipt(self, sm: ShortMessage) -> asyncio.Future[None] | None:
        """Hand a receipt to the report sink; None when it names no message."""
        text = payload(sm)
        state_tlv = sm.tlvs.get(TLV_MESSAGE_STATE)
        parsed = read_receipt(
            text,
            sm.tlvs.get(TLV_RECEIPTED_MESSAGE_ID),
            tlv_int(state_tlv) if state_tlv else None,
        )
        if parsed is None:
            log.warning(
                "SMPP %s: receipt naming no message acknowledged and dropped: %r tlvs %r",
                self.carrier,
                text,
                sm.tlvs,
            )
            return None
        receipt = Receipt(
            carrier=self.carrier,
            operator_ref=normalise_operator_id(parsed.message_id, self.receipt_id_format),
            state=parsed.state,
            at=time.time(),
            detail=f"err:{parsed.error}" if parsed.error else None,
            # A receipt comes from the recipient: with the id, it tells apart two SMS
            # an operator gave the same id.
            phone=read_handset(sm.source_addr, sm.source_addr_ton == TON_INTERNATIONAL),
        )
        log.debug(
            "SMPP %s: receipt %s %s from %s",
            self.carrier,
            receipt.operator_ref,
            receipt.state,
            receipt.phone,
        )
        return self._reports(receipt)

    def _reply(self, sm: ShortMessage) -> Reply:
        return Reply(
            carrier=self.carrier,
            phone=reply_phone(sm.source_addr, sm.source_addr_ton),
            text=reply_text(sm),
            at=time.time(),
        )


def reply_phone(address: str, ton: int) -> str:
    """The E.164 form of a reply's source address, as our recipients are stored.

    International (TON 1) or written with "+": "+" and the digits. Otherwise read as a
    French number ("0612…"), else as international digits without their "+"
    ("33612…", what many SMSCs send with TON 0); else the address as it came, which
    matches no recipient and is logged by the matcher.
    """
    digits = address.removeprefix("+")
    if ton == TON_INTERNATIONAL or address.startswith("+"):
        return "+" + digits
    return to_e164(address, REPLY_REGION) or to_e164("+" + digits, REPLY_REGION) or address


def reply_text(sm: ShortMessage) -> str:
    """A reply's text, without the user data header of a concatenated part, decoded by
    `smpp.text.decode_text`: a reply is never lost to its coding. A header longer than the
    payload leaves no text."""
    octets = payload(sm)
    if sm.esm_class & ESM_UDHI:
        _, octets = split_udh(octets) or (b"", b"")
    return decode_text(octets, sm.data_coding)


def _acknowledge(session: Session, sequence: int) -> None:
    session.respond(DELIVER_SM, ESME_ROK, sequence, encode_message_id(""))


def _withdraw(stored: asyncio.Future[None], _: asyncio.Future[None]) -> None:
    """The SMSC will send it again: no longer wanted, unless it is being written."""
    stored.cancel()


def _acknowledge_stored(
    session: Session,
    sequence: int,
    withdraw: Callable[[asyncio.Future[None]], None],
    stored: asyncio.Future[None],
) -> None:
    """Acknowledge once stored; if the session closed meanwhile, `respond` drops it and
    the SMSC sends the PDU again on the next bind.

    Withdrawn (cancelled, never applied): left unanswered for the SMSC to send again,
    and forgotten by the session, so that its unbind is answered without it. The sink's
    futures never fail: `result` would raise into the loop's handler, loudly, if one did.
    """
    session.unbound.remove_done_callback(withdraw)
    session.closed.remove_done_callback(withdraw)
    if stored.cancelled():
        session.forget(sequence)
        return
    stored.result()
    _acknowledge(session, sequence)
