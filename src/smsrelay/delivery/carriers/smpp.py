"""An operator reached over SMPP 3.4: the Carrier of one configured connector.

Three parts, one module each: `smpp_link` keeps the sessions bound (reconnecting with
backoff), `smpp_inbound` turns deliver_sm into receipts and replies and acknowledges them
once stored, and this module submits.

Submitting: each SMS is cut into the parts `domain.segments` billed (`smpp.text`), and
every submit_sm of a batch goes out at once, bounded by the session's window and paced
by a token bucket at `throughput` per second for the whole connector. Each SMS gets one
of three answers, the first that applies:

- refused for good (any part answered another non-zero status, or the SMS cannot be
  encoded): REJECTED, the status in `detail`;
- try again later (a part throttled, ESME_RTHROTTLED / ESME_RMSGQFUL, unanswered within
  `submit_timeout`, the connection lost, or no session bound): ACCEPTED with
  `retry_after`, which doubles with each attempt of that recipient from `reconnect_min`
  up to `reconnect_max` (the count is kept in memory: a restart starts it again);
- SUBMITTED, with the SMSC's id of each part, normalised by `submit_id_format`.

An ESME_RTHROTTLED also pauses the whole connector for `throttle_pause` seconds: the
SMSC is saying the connector goes too fast, and every submit_sm sent meanwhile would
only be throttled too.

A long SMS whose first parts were accepted and a later one throttled is submitted again
whole: the store records an SMS's parts only together. The recipient may then get the
accepted parts twice and the operator bill them twice; their receipts name ids we never
recorded and are dropped with the early receipts at the end of the validity. A retry
keeps the SMS's concatenation reference, so that a phone can merge the copies rather
than show two incomplete messages.

Nothing per SMS raises out of `submit`: the dispatcher would send the whole batch again.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Sequence
from typing import Final, NamedTuple

from smsrelay.config import ConnectorSettings, SourceRules
from smsrelay.delivery.carriers.base import ReplySink, ReportSink
from smsrelay.delivery.carriers.smpp_inbound import Inbound
from smsrelay.delivery.carriers.smpp_link import SmppLink
from smsrelay.delivery.supervision import backoff
from smsrelay.domain.receipts import normalise_operator_id
from smsrelay.domain.records import AwaitingReport, Outbound, Submission
from smsrelay.domain.segments import Encoding
from smsrelay.domain.status import State
from smsrelay.smpp.codec import ShortMessage, encode_sm
from smsrelay.smpp.errors import PduError, SessionClosed, SessionTimeout
from smsrelay.smpp.pdu import (
    ESME_RMSGQFUL,
    ESME_ROK,
    ESME_RTHROTTLED,
    NPI_ISDN,
    SUBMIT_SM,
    TLV_SAR_MSG_REF_NUM,
    TLV_SAR_SEGMENT_SEQNUM,
    TLV_SAR_TOTAL_SEGMENTS,
    TON_INTERNATIONAL,
    decode_message_id,
    relative_time,
)
from smsrelay.smpp.session import Session
from smsrelay.smpp.text import Part, encode_parts

log = logging.getLogger(__name__)

# Statuses that mean "not now": the SMS is given back to the dispatcher for later.
RETRY_LATER: Final = {
    ESME_RTHROTTLED: "throttled by the SMSC",
    ESME_RMSGQFUL: "SMSC queue full",
}
LOST: Final = "SMPP connection lost"
NOT_BOUND: Final = "no SMPP session bound"
_ENCODINGS: Final[dict[str, Encoding]] = {"gsm7": "gsm7", "ucs2": "ucs2"}
# Recipients whose attempts are counted, at most; the oldest are forgotten first (one
# that was cancelled or expired while throttled never comes back to clear its entry).
_MAX_RETRYING: Final = 100_000


class _Retrying(NamedTuple):
    attempts: int
    reference: int  # the SMS's concatenation reference, kept across attempts


_Key = tuple[int, int, str]  # account, message, phone: one recipient


_BURST = 0.010  # seconds of tokens the pacer lets out at once


class Pacer:
    """At most `rate` submit_sm a second: a token bucket holding 10 ms worth of tokens.

    One token (a bucket of one) would put a timer between every two submit_sm: at
    thousands a second that cost the worker more than the submissions. Ten milliseconds
    of tokens let a batch go out at once while the rate over any second stays `rate`
    (plus that burst); a slow connector (100/s) still gets one token at a time.

    Callers take turns (asyncio.Lock is first come, first served); one whose session
    closed while it waited leaves without taking a token, so that after a lost
    connection the next batch does not wait behind the parts of the previous one.

    `pause` stops the tokens for a while: an SMSC that answers ESME_RTHROTTLED is asking
    the connector to slow down, not only that one SMS to wait.
    """

    def __init__(self, rate: float) -> None:
        self._rate = rate
        self._capacity = max(1.0, rate * _BURST)
        self._tokens = self._capacity
        self._at = time.monotonic()
        self._resume_at = 0.0
        self._turn = asyncio.Lock()

    def pause(self, seconds: float) -> bool:
        """No token for `seconds` from now; True if the pacer was not paused already."""
        now = time.monotonic()
        was_running = self._resume_at <= now
        self._resume_at = max(self._resume_at, now + seconds)
        return was_running

    async def take(self, session: Session) -> bool:
        """Wait for a token to submit on `session`; False if it closed meanwhile."""
        async with self._turn:
            while (wait := self._resume_at - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            if session.closed.done():
                return False
            self._refill()
            if self._tokens < 1.0:
                await asyncio.sleep((1.0 - self._tokens) / self._rate)
                self._refill()
            self._tokens -= 1.0
            return True

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self._capacity, self._tokens + (now - self._at) * self._rate)
        self._at = now


class SmppCarrier:
    """One SMPP connector; `name` is the connector's, as receipts are matched by it."""

    def __init__(self, settings: ConnectorSettings, validity: float | None = None) -> None:
        self.name = settings.name
        self.settings = settings
        # The operator gives up when smsrelay does (Settings.validity): an SMS that
        # reaches the phone after smsrelay has called it Not delivered would make the
        # status wrong. Without it, the SMSC's default validity applies.
        self._validity_period = relative_time(validity) if validity is not None else ""
        self._link: SmppLink | None = None
        self._pacer = Pacer(settings.throughput)
        self._references = itertools.count(1)
        self._retrying: dict[_Key, _Retrying] = {}

    @property
    def bound(self) -> bool:
        """Whether a session is bound to submit on now."""
        return self._link is not None and self._link.transmitter is not None

    async def start(
        self, reports: ReportSink, replies: ReplySink, awaiting: Sequence[AwaitingReport]
    ) -> None:
        """Start connecting and return: submissions before the bind are retried later.

        `awaiting` is not used, only accepted because the Carrier protocol passes it (the
        in-process simulator rebuilds its schedule from it): a real SMSC re-sends
        unacknowledged receipts by itself.
        """
        inbound = Inbound(self.name, self.settings.receipt_id_format, reports, replies)
        self._link = SmppLink(self.settings, inbound)
        self._link.start()

    async def stop(self) -> None:
        if self._link is not None:
            await self._link.stop()

    async def submit(self, batch: Sequence[Outbound]) -> list[Submission]:
        session = self._link.transmitter if self._link is not None else None
        return list(await asyncio.gather(*(self._submit(session, out) for out in batch)))

    async def _submit(self, session: Session | None, outbound: Outbound) -> Submission:
        key = (outbound.account_id, outbound.message_id, outbound.phone)
        retrying = self._retrying.get(key)
        reference = retrying.reference if retrying else next(self._references)
        try:
            bodies = [encode_sm(SUBMIT_SM, sm) for sm in self._messages(outbound, reference)]
        except (ValueError, PduError) as exc:  # UnicodeEncodeError is a ValueError
            self._retrying.pop(key, None)
            return self._answer(outbound, (), State.REJECTED, f"cannot be encoded: {exc}")
        if session is None:
            return self._retry(key, outbound, reference, NOT_BOUND)
        answers = await asyncio.gather(*(self._send(session, body) for body in bodies))
        responses = [answer for answer in answers if isinstance(answer, tuple)]
        refused = [s for s, _ in responses if s != ESME_ROK and s not in RETRY_LATER]
        if refused:
            self._retrying.pop(key, None)
            detail = f"submit_sm refused: 0x{refused[0]:08X}"
            return self._answer(outbound, (), State.REJECTED, detail)
        unanswered = [answer for answer in answers if isinstance(answer, str)]
        later = unanswered + [RETRY_LATER[s] for s, _ in responses if s in RETRY_LATER]
        if later:
            return self._retry(key, outbound, reference, later[0])
        self._retrying.pop(key, None)
        refs = tuple(
            normalise_operator_id(message_id, self.settings.submit_id_format)
            for _, message_id in responses
        )
        return self._answer(outbound, refs, State.SUBMITTED)

    async def _send(self, session: Session, body: bytes) -> tuple[int, str] | str:
        """One submit_sm: (status, message id) as answered, or why nothing was."""
        if not await self._pacer.take(session):
            return LOST
        try:
            status, answer = await session.request(SUBMIT_SM, body)
        except SessionTimeout as exc:
            return f"no submit_sm_resp in {exc.timeout:g} s"
        except SessionClosed:
            return LOST
        pause = self.settings.throttle_pause
        if status == ESME_RTHROTTLED and pause > 0 and self._pacer.pause(pause):
            log.info("SMPP %s: throttled; nothing submitted for %g s", self.name, pause)
        return status, decode_message_id(answer)

    def _messages(self, outbound: Outbound, reference: int) -> list[ShortMessage]:
        """The submit_sm of each part; raises ValueError for what cannot be sent."""
        encoding = _ENCODINGS.get(outbound.encoding)
        if encoding is None:
            raise ValueError(f"unknown encoding {outbound.encoding!r}")
        parts = encode_parts(outbound.text, encoding, reference, self.settings.concatenation)
        if not parts:
            raise ValueError("empty text")
        source, source_ton, source_npi = source_address(
            outbound.sender or self.settings.source, self.settings.source_rules
        )
        return [
            ShortMessage(
                source_addr=source,
                destination_addr=outbound.phone.removeprefix("+"),
                short_message=part.short_message,
                source_addr_ton=source_ton,
                source_addr_npi=source_npi,
                dest_addr_ton=TON_INTERNATIONAL,
                dest_addr_npi=NPI_ISDN,
                esm_class=part.esm_class,
                registered_delivery=1,  # a receipt for every final outcome
                data_coding=part.data_coding,
                validity_period=self._validity_period,
                tlvs=_sar_tlvs(part),
            )
            for part in parts
        ]

    def _retry(self, key: _Key, outbound: Outbound, reference: int, reason: str) -> Submission:
        """Give the SMS back to the dispatcher for later, counting the attempt."""
        attempts = self._retrying.pop(key, _Retrying(0, reference)).attempts
        self._retrying[key] = _Retrying(attempts + 1, reference)  # last: the newest
        if len(self._retrying) > _MAX_RETRYING:
            del self._retrying[next(iter(self._retrying))]
        delay = backoff(attempts, self.settings.reconnect_min, self.settings.reconnect_max)
        log.debug("SMPP %s: %s again in %.1f s (%s)", self.name, outbound.phone, delay, reason)
        return self._answer(outbound, (), State.ACCEPTED, reason, retry_after=delay)

    def _answer(
        self,
        outbound: Outbound,
        refs: tuple[str, ...],
        state: State,
        detail: str | None = None,
        retry_after: float | None = None,
    ) -> Submission:
        return Submission(
            outbound.account_id,
            outbound.message_id,
            outbound.phone,
            self.name,
            refs,
            state,
            detail,
            retry_after,
        )


def source_address(sender: str, rules: SourceRules) -> tuple[str, int, int]:
    """(address, TON, NPI) of a sender, by the connector's rules.

    Digits are a number, sent without "+": a short code when written without "+" and no
    longer than `rules.short_code_digits`, an international number otherwise. Anything
    else is a name (alphanumeric).
    """
    number = sender.removeprefix("+")
    if number.isascii() and number.isdigit():
        short = number == sender and len(number) <= rules.short_code_digits
        ton, npi = rules.short_code if short else rules.international
        return number, ton, npi
    ton, npi = rules.alphanumeric
    return sender, ton, npi


def _sar_tlvs(part: Part) -> dict[int, bytes]:
    """SAR TLVs (reference: 2 octets, total and sequence: 1 each) when concatenated so."""
    if part.sar is None:
        return {}
    reference, total, sequence = part.sar
    return {
        TLV_SAR_MSG_REF_NUM: reference.to_bytes(2, "big"),
        TLV_SAR_TOTAL_SEGMENTS: bytes((total,)),
        TLV_SAR_SEGMENT_SEQNUM: bytes((sequence,)),
    }
