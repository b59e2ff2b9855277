"""Accepting sends: `/v1/send` (one text, many numbers) and `/v1/bulk-send` (a text each).

A send is accepted whole or refused whole, in one transaction: its message row, its
recipients, their first history events and the debit of the credit. Within it, recipients
the platform may not or cannot send to are left out and not charged: numbers that are not
valid mobile numbers (`multi-status` answers 9 for them), numbers on the account's STOP list
(14) and destinations without a price (13). `send` only has one code to answer with, so it
answers with the refusal of the last stage that left nobody; `bulk-send` answers each item.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from smsrelay.config import ConfigError, Settings
from smsrelay.domain.phone import region_of, sms_e164
from smsrelay.domain.pricing import DEFAULT_PRICE_TABLE, PriceTable, Range, money
from smsrelay.domain.problems import Problem, Refused
from smsrelay.domain.records import Account, NewMessage, NewRecipient, NotEnoughCredit
from smsrelay.domain.schedule import local_text
from smsrelay.service.send_request import (
    LOW_COST,
    MAX_RECIPIENTS,
    SendOptions,
    read_numbers,
    read_options,
    read_text,
    text_of,
)
from smsrelay.store.base import ApiStore

UNSET = msgspec.UNSET


@dataclass(frozen=True)
class SendingRules:
    """What every send is priced and written with, read once from the settings."""

    prices: PriceTable
    currency: str
    stop_mention: str

    @classmethod
    def from_settings(cls, settings: Settings) -> SendingRules:
        """Raises ConfigError when the price file cannot be used."""
        try:
            prices = (
                PriceTable.from_toml(settings.prices_file)
                if settings.prices_file
                else DEFAULT_PRICE_TABLE
            )
        except ValueError as exc:
            raise ConfigError(f"prices_file: {exc}") from exc
        return cls(prices, settings.currency, settings.stop_mention)

    def part_price(self, phone: str, gamme: int) -> tuple[str, int | None]:
        """The region of `phone` and the price of one part sent there, None if unpriced."""
        region = region_of(phone)
        range_: Range = "low_cost" if gamme == LOW_COST else "premium"
        return region, self.prices.price(region, range_)


def local_time(moment: datetime | None, account: Account) -> str | msgspec.UnsetType:
    """`YYYY-MM-DD HH:MM:SS` in the account's time zone, as the contract shows dates."""
    return UNSET if moment is None else local_text(moment, ZoneInfo(account.timezone))


class SendAnswer(msgspec.Struct):
    success: bool
    code: int
    message_id: int
    nb_sms: int
    cost: float
    currency: str
    scheduledDeliveryDate: str | msgspec.UnsetType = UNSET  # noqa: N815  # the contract's


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
    scheduledDeliveryDate: str | msgspec.UnsetType = UNSET  # noqa: N815


async def send(
    store: ApiStore,
    account: Account,
    rules: SendingRules,
    params: Mapping[str, Any],
    now: float | None = None,
) -> SendAnswer:
    now = time.time() if now is None else now
    numbers = read_numbers(params.get("phoneNumbers"))
    options = read_options(params, account, now)
    text, parts = read_text(params.get("message"), options, rules.stop_mention)
    phones = list(dict.fromkeys(p for n in numbers if (p := sms_e164(n, account.region))))
    if not phones:
        raise Refused(Problem.NO_RECIPIENT)
    stopped = await store.stopped_among(account.id, phones)
    phones = [p for p in phones if p not in stopped]
    if not phones:
        raise Refused(Problem.STOPPED_NUMBER)
    recipients = []
    for phone in phones:
        region, price = rules.part_price(phone, options.gamme)
        if price is not None:
            recipients.append(
                NewRecipient(phone, None, parts.encoding, parts.parts, parts.parts * price, region)
            )
    if not recipients:
        raise Refused(Problem.NO_PRICE)
    message_id, nb_sms, cost = await _store(store, account, options, text, recipients, now)
    return SendAnswer(
        True,
        200,
        message_id,
        nb_sms,
        money(cost),
        rules.currency,
        local_time(options.send_at, account),
    )


async def bulk_send(
    store: ApiStore,
    account: Account,
    rules: SendingRules,
    params: Mapping[str, Any],
    now: float | None = None,
) -> BulkAnswer:
    now = time.time() if now is None else now
    items = params.get("SMSList")
    if items is None or items == [] or items == "":
        raise Refused(Problem.LIST_EMPTY)
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise Refused(Problem.BAD_FORMAT)
    if len(items) > MAX_RECIPIENTS:
        raise Refused(Problem.TOO_MANY)
    options = read_options(params, account, now)
    candidates = [sms_e164(text_of(item.get("phoneNumber")), account.region) for item in items]
    stopped = await store.stopped_among(account.id, [p for p in candidates if p])
    answers: list[BulkItem] = []
    recipients: list[NewRecipient] = []
    seen: set[str] = set()
    for item, phone in zip(items, candidates, strict=True):
        try:
            recipient = _bulk_recipient(item, phone, options, rules, seen, stopped)
        except Refused as refused:
            answers.append(BulkItem(False, refused.problem.code, 0, 0.0, item.get("phoneNumber")))
            continue
        seen.add(recipient.phone)
        recipients.append(recipient)
        answers.append(BulkItem(True, 200, recipient.parts, money(recipient.cost), recipient.phone))
    if not recipients:
        raise Refused(_common_refusal(answers))
    message_id, nb_sms, cost = await _store(store, account, options, None, recipients, now)
    return BulkAnswer(
        True,
        200,
        message_id,
        rules.currency,
        money(cost),
        nb_sms,
        answers,
        local_time(options.send_at, account),
    )


def _common_refusal(answers: Sequence[BulkItem]) -> Problem:
    """When no item is accepted: the items' own reason if they share one (all on the STOP
    list: 14, as `/v1/send` answers), else 55, nobody to send to."""
    codes = {answer.code for answer in answers}
    for problem in (Problem.STOPPED_NUMBER, Problem.NO_PRICE):
        if codes == {problem.code}:
            return problem
    return Problem.NO_RECIPIENT


def _bulk_recipient(
    item: Mapping[str, Any],
    phone: str | None,
    options: SendOptions,
    rules: SendingRules,
    seen: set[str],
    stopped: set[str],
) -> NewRecipient:
    """One item of a bulk send, or the refusal of that item alone."""
    if not text_of(item.get("phoneNumber")):
        raise Refused(Problem.PHONE_REQUIRED)
    if phone is None:
        raise Refused(Problem.NOT_MOBILE)
    if phone in seen:
        raise Refused(Problem.DUPLICATE_NUMBER)
    if phone in stopped:
        raise Refused(Problem.STOPPED_NUMBER)
    text, parts = read_text(item.get("message"), options, rules.stop_mention)
    region, price = rules.part_price(phone, options.gamme)
    if price is None:
        raise Refused(Problem.NO_PRICE)
    return NewRecipient(phone, text, parts.encoding, parts.parts, parts.parts * price, region)


async def _store(
    store: ApiStore,
    account: Account,
    options: SendOptions,
    text: str | None,
    recipients: Sequence[NewRecipient],
    now: float,
) -> tuple[int, int, int]:
    """Write the send; its message id, SMS count and cost. Code 11 when credit is short."""
    nb_sms = sum(r.parts for r in recipients)
    cost = sum(r.cost for r in recipients)
    message = NewMessage(
        account.id,
        text,
        options.sender,
        options.tag,
        options.sandbox,
        nb_sms,
        cost,
        recipients,
        options.gamme,
        None if options.send_at is None else options.send_at.timestamp(),
        options.url_dlr,
        options.url_response,
    )
    try:
        message_id = await store.create_message(message, now)
    except NotEnoughCredit as exc:
        raise Refused(Problem.NOT_ENOUGH_CREDIT) from exc
    return message_id, nb_sms, cost
