"""The opt-out (STOP) list: numbers an account may no longer send to.

Numbers come here from the API and from STOP replies (the matcher). A send leaves listed
numbers out and does not charge for them (sending.py).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from smsrelay.domain.phone import to_e164
from smsrelay.domain.problems import Problem, Refused
from smsrelay.domain.records import Account
from smsrelay.domain.schedule import local_text
from smsrelay.service.send_request import text_of
from smsrelay.service.statuses import required_id
from smsrelay.store.base import ApiStore


class StopItem(msgspec.Struct, gc=False):
    id: int
    phoneNumber: str  # noqa: N815
    createdAt: str  # noqa: N815  # YYYY-MM-DD HH:MM:SS, the account's local time


class StopListAnswer(msgspec.Struct):
    success: bool
    code: int
    nbData: int  # noqa: N815
    data: list[StopItem]


class StopAddAnswer(msgspec.Struct):
    success: bool
    code: int
    stopId: int  # noqa: N815


class StopDeleteAnswer(msgspec.Struct):
    success: bool
    code: int


async def list_stops(store: ApiStore, account: Account) -> StopListAnswer:
    zone = ZoneInfo(account.timezone)
    entries = await store.list_stops(account.id)
    items = [
        StopItem(
            e.id,
            e.phone,
            local_text(datetime.fromtimestamp(e.created_at, UTC), zone),
        )
        for e in entries
    ]
    return StopListAnswer(True, 200, len(items), items)


async def add_stop(
    store: ApiStore, account: Account, params: Mapping[str, Any], now: float | None = None
) -> StopAddAnswer:
    raw = text_of(params.get("phoneNumber"))
    if not raw:
        raise Refused(Problem.PHONE_REQUIRED)
    phone = to_e164(raw, account.region)
    if phone is None:
        raise Refused(Problem.NOT_A_PHONE)
    stop_id = await store.add_stop(
        account.id, phone, "api", int(time.time() if now is None else now)
    )
    if stop_id is None:
        raise Refused(Problem.ALREADY_LISTED)
    return StopAddAnswer(True, 200, stop_id)


async def delete_stop(
    store: ApiStore, account: Account, params: Mapping[str, Any]
) -> StopDeleteAnswer:
    # An id is read like a message id: a number, or a string of digits.
    stop_id = required_id(params.get("id"), Problem.STOP_ID_REQUIRED, Problem.STOP_NOT_FOUND)
    if not await store.delete_stop(account.id, stop_id):
        raise Refused(Problem.STOP_NOT_FOUND)
    return StopDeleteAnswer(True, 200)
