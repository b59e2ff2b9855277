"""The status endpoints other than `multi-status`, with their real differences kept.

`message-status`, `bulk-status` and `bulk-status-by-tag` were written at different times
on the live service and disagree with each other and with `multi-status`: `statut` or
`status`, `messageId` a string here and a number there, `stopSms` a boolean here and
`"0"`/`"1"` there, `stopSMS` with a capital. Clients parse each as it is, so each answer
has its own Struct, its fields in the contract's order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from smsrelay.domain.phone import to_e164
from smsrelay.domain.pricing import money
from smsrelay.domain.problems import FieldError, Problem, Refused
from smsrelay.domain.records import Account, RecipientView
from smsrelay.domain.status import public_status
from smsrelay.service.send_request import text_of
from smsrelay.service.statuses import required_id
from smsrelay.store.base import ApiStore

PAGE_SIZE = 500
_MAX_PAGE_DIGITS = 9  # beyond, the offset would not fit SQLite's integers anyway


class MessageStatusAnswer(msgspec.Struct):
    success: bool
    code: int
    number: str
    messageId: str  # noqa: N815  # a string here, unlike everywhere else
    stopSms: bool  # noqa: N815
    date: str
    statut: str
    cost: float
    countryCode: str  # noqa: N815
    currency: str


class RecipientItem(msgspec.Struct, gc=False):
    phoneNumber: str  # noqa: N815
    status: str
    stopSMS: bool  # noqa: N815
    date: str


class BulkStatusAnswer(msgspec.Struct):
    success: bool
    code: int
    message_id: str
    StatutResponse_List: list[RecipientItem]


class TagStatusAnswer(msgspec.Struct):
    success: bool
    code: int
    currentPage: int  # noqa: N815
    total: int
    StatutResponse_List: list[RecipientItem]


def _item(recipient: RecipientView) -> RecipientItem:
    return RecipientItem(
        recipient.phone,
        public_status(recipient.state),
        recipient.stop_sms,
        str(recipient.status_at),
    )


async def message_status(
    store: ApiStore, account: Account, params: Mapping[str, Any], currency: str
) -> MessageStatusAnswer:
    message_id = required_id(
        params.get("messageId"), Problem.MESSAGE_ID_REQUIRED, Problem.NUMBER_NOT_FOUND
    )
    phone_text = text_of(params.get("phoneNumber"))
    if not phone_text:
        raise Refused(Problem.PHONE_REQUIRED)
    phone = to_e164(phone_text, account.region)
    found = None if phone is None else await store.find_recipient(account.id, message_id, phone)
    if found is None:
        raise Refused(Problem.NUMBER_NOT_FOUND)
    return MessageStatusAnswer(
        True,
        200,
        found.phone,
        str(found.message_id),
        found.stop_sms,
        str(found.status_at),
        public_status(found.state),
        money(found.cost),
        found.country,
        currency,
    )


async def bulk_status(
    store: ApiStore, account: Account, params: Mapping[str, Any]
) -> BulkStatusAnswer:
    message_id = required_id(
        params.get("messageId"), Problem.MESSAGE_ID_REQUIRED, Problem.MESSAGE_NOT_FOUND
    )
    recipients = await store.message_recipients(account.id, message_id)
    if not recipients:
        raise Refused(Problem.MESSAGE_NOT_FOUND)
    return BulkStatusAnswer(True, 200, str(message_id), [_item(r) for r in recipients])


async def tag_status(
    store: ApiStore, account: Account, params: Mapping[str, Any]
) -> TagStatusAnswer:
    tag = text_of(params.get("tag"))
    if not tag:
        raise Refused(Problem.TAG_REQUIRED)
    page_text = text_of(params.get("page")) or "1"
    readable = page_text.isascii() and page_text.isdigit() and len(page_text) <= _MAX_PAGE_DIGITS
    if not readable or int(page_text) < 1:
        raise Refused(Problem.INVALID, [FieldError("page", Problem.INVALID)])
    page = int(page_text)
    total, recipients = await store.tag_recipients(
        account.id, tag, (page - 1) * PAGE_SIZE, PAGE_SIZE
    )
    if not total:
        raise Refused(Problem.TAG_NOT_FOUND)
    return TagStatusAnswer(True, 200, page, total, [_item(r) for r in recipients])
