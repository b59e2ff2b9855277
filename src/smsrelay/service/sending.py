"""Accepting sends: `/v1/send` (one text, many numbers) and `/v1/bulk-send` (a text each).

A send is accepted whole or refused whole, in one transaction: its message row, its
recipients and their first history events. Numbers that are not valid mobile numbers are
left out of a `send` (as the live service does; `multi-status` answers 9 for them) and
answered per item in a `bulk-send`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

import msgspec

from smsrelay.config import Settings
from smsrelay.domain.phone import to_e164
from smsrelay.domain.problems import FieldError, Problem, Refused
from smsrelay.domain.segments import MAX_PARTS, Segmentation, segment
from smsrelay.store.base import Account, NewMessage, NewRecipient, Store

MAX_RECIPIENTS = 500
_SENDER = re.compile(r"[A-Za-z0-9]{3,11}")
_TAG = re.compile(r"[a-z0-9_\-.]{1,20}")
_TRUE = ("1", "true")
_FALSE = ("0", "false", "")


class Pricing(msgspec.Struct, frozen=True):
    """Price of one SMS part, in thousandths of `currency`."""

    per_part: int
    currency: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Pricing:
        return cls(round(settings.price_per_part * 1000), settings.currency)

    def money(self, thousandths: int) -> float:
        return thousandths / 1000


class SendAnswer(msgspec.Struct):
    success: bool
    code: int
    message_id: int
    nb_sms: int
    cost: float
    currency: str


class BulkItem(msgspec.Struct, rename="camel"):
    success: bool
    code: int
    nb_sms: int
    cost: float
    phone_number: Any


class BulkAnswer(msgspec.Struct):
    success: bool
    code: int
    message_id: int
    currency: str
    cost: float
    nbSMS: int  # noqa: N815  # the contract's spelling, unlike `nbSms` per item
    SMSResponse_List: list[BulkItem]


class SendOptions(msgspec.Struct, frozen=True):
    sender: str | None
    tag: str | None
    sandbox: bool


def read_options(params: Mapping[str, Any]) -> SendOptions:
    """The options shared by both endpoints, validated with the codes of the contract."""
    sender = _text(params.get("sender"))
    if sender and not _SENDER.fullmatch(sender):
        raise Refused(Problem.SENDER_INVALID)
    errors: list[FieldError] = []
    tag = _text(params.get("tag"))
    if tag and not _TAG.fullmatch(tag):
        errors.append(FieldError("tag", Problem.INVALID))
    sandbox = _text(params.get("sandbox")).lower()
    if sandbox not in _TRUE + _FALSE:
        errors.append(FieldError("sandbox", Problem.INVALID))
    if errors:
        raise Refused(Problem.INVALID, errors)
    return SendOptions(sender or None, tag or None, sandbox in _TRUE)


def _text(raw: object) -> str:
    """Form values are strings, JSON ones may be numbers or booleans: read both alike."""
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return "1" if raw else "0"
    if isinstance(raw, str | int):
        return str(raw).strip()
    raise Refused(Problem.BAD_FORMAT)


def _segment(text: str) -> Segmentation:
    if not text:
        raise Refused(Problem.MESSAGE_REQUIRED)
    parts = segment(text)
    if parts.parts > MAX_PARTS:
        raise Refused(Problem.TOO_MANY_PARTS)
    return parts


def _numbers(raw: object) -> list[str]:
    """`phoneNumbers` is comma-separated; a JSON list is accepted too."""
    numbers = [_text(n) for n in raw] if isinstance(raw, list) else _text(raw).split(",")
    numbers = [n.strip() for n in numbers if n.strip()]
    if not numbers:
        raise Refused(Problem.PHONE_REQUIRED)
    if len(numbers) > MAX_RECIPIENTS:
        raise Refused(Problem.TOO_MANY)
    return numbers


async def send(
    store: Store, account: Account, pricing: Pricing, params: Mapping[str, Any]
) -> SendAnswer:
    numbers = _numbers(params.get("phoneNumbers"))
    text = _text(params.get("message"))
    parts = _segment(text)
    options = read_options(params)
    phones = list(dict.fromkeys(p for n in numbers if (p := to_e164(n, account.region))))
    if not phones:
        raise Refused(Problem.NO_RECIPIENT)
    nb_sms = parts.parts * len(phones)
    cost = nb_sms * pricing.per_part
    recipients = [NewRecipient(p, None, parts.encoding, parts.parts) for p in phones]
    message_id = await store.create_message(
        NewMessage(
            account.id, text, options.sender, options.tag, options.sandbox, nb_sms, cost, recipients
        ),
        time.time(),
    )
    return SendAnswer(True, 200, message_id, nb_sms, pricing.money(cost), pricing.currency)


async def bulk_send(
    store: Store,
    account: Account,
    pricing: Pricing,
    params: Mapping[str, Any],
) -> BulkAnswer:
    items = params.get("SMSList")
    if items is None or items == [] or items == "":
        raise Refused(Problem.LIST_EMPTY)
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise Refused(Problem.BAD_FORMAT)
    if len(items) > MAX_RECIPIENTS:
        raise Refused(Problem.TOO_MANY)
    options = read_options(params)
    answers: list[BulkItem] = []
    recipients: list[NewRecipient] = []
    seen: set[str] = set()
    for item in items:
        phone_raw = item.get("phoneNumber")
        try:
            recipient = _bulk_recipient(item, account.region, seen)
        except Refused as refused:
            answers.append(BulkItem(False, refused.problem.code, 0, 0.0, phone_raw))
            continue
        recipients.append(recipient)
        cost = recipient.parts * pricing.per_part
        answers.append(BulkItem(True, 200, recipient.parts, pricing.money(cost), recipient.phone))
    if not recipients:
        raise Refused(Problem.NO_RECIPIENT)
    nb_sms = sum(r.parts for r in recipients)
    cost = nb_sms * pricing.per_part
    message_id = await store.create_message(
        NewMessage(
            account.id, None, options.sender, options.tag, options.sandbox, nb_sms, cost, recipients
        ),
        time.time(),
    )
    return BulkAnswer(True, 200, message_id, pricing.currency, pricing.money(cost), nb_sms, answers)


def _bulk_recipient(item: Mapping[str, Any], region: str, seen: set[str]) -> NewRecipient:
    phone_raw = _text(item.get("phoneNumber"))
    if not phone_raw:
        raise Refused(Problem.PHONE_REQUIRED)
    phone = to_e164(phone_raw, region)
    if phone is None:
        raise Refused(Problem.NOT_MOBILE)
    if phone in seen:
        raise Refused(Problem.DUPLICATE_NUMBER)
    text = _text(item.get("message"))
    parts = _segment(text)
    seen.add(phone)
    return NewRecipient(phone, text, parts.encoding, parts.parts)
