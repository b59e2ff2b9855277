"""`/v1/message-cancel`: a scheduled send can be called back until 5 minutes before it leaves.

The check and the cancel are one transaction in the store, so a send the dispatcher is
about to take cannot be both sent and refunded. Cancelling refunds what the send was
charged and makes each recipient `Not delivered`, its history saying why.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import msgspec

from smsrelay.domain.problems import Language, Problem, Refused
from smsrelay.domain.records import Account, Cancellation
from smsrelay.service.statuses import required_id
from smsrelay.store.base import ApiStore

NOTICE = 5 * 60.0  # seconds before the scheduled time after which a send is locked
_CANCELLED = {"fr": "L'envoi du SMS a été annulé.", "en": "The SMS send was cancelled."}
_REFUSALS = {
    Cancellation.NOT_FOUND: Problem.MESSAGE_NOT_FOUND,
    Cancellation.ALREADY_CANCELLED: Problem.ALREADY_CANCELLED,
    Cancellation.TOO_LATE: Problem.CANCEL_TOO_LATE,
    Cancellation.ALREADY_SENT: Problem.ALREADY_SENT,
}


class CancelAnswer(msgspec.Struct):
    success: bool
    code: int
    message: str


async def cancel(
    store: ApiStore,
    account: Account,
    params: Mapping[str, Any],
    language: Language,
    now: float | None = None,
) -> CancelAnswer:
    message_id = required_id(
        params.get("messageId"), Problem.MESSAGE_ID_REQUIRED, Problem.MESSAGE_NOT_FOUND
    )
    outcome = await store.cancel_message(
        account.id, message_id, time.time() if now is None else now, NOTICE
    )
    if outcome is not Cancellation.CANCELLED:
        raise Refused(_REFUSALS[outcome])
    return CancelAnswer(True, 200, _CANCELLED[language])
