"""The status of up to 500 (message id, phone number) pairs: the heart of `multi-status`.

The lookup is one statement whatever the number of pairs. Phone numbers are read with a
cheap candidate first (`quick_e164`), and the exact parser only runs for pairs that the
candidate did not find: a pair found under its candidate is a number we validated when
it was sent, so the 40-60 µs of `phonenumbers` per number are spent only on errors.
This is exact because `quick_e164` never disagrees with `to_e164` when both answer
(tested over every region): a pair not found under its candidate is not found at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from smsrelay.domain.phone import quick_e164, to_e164
from smsrelay.domain.problems import Language, Problem
from smsrelay.domain.status import PUBLIC_BY_VALUE
from smsrelay.store.base import Account, Pair, StatusRow, Store

MAX_PAIRS = 500
_MAX_ID = 2**63 - 1
_MAX_ID_DIGITS = len(str(_MAX_ID))
_FLAG = ("0", "1")


class FoundStatus(msgspec.Struct, rename="camel"):
    """A pair of the account's: fields and order exactly as the contract's table."""

    success: bool
    code: int
    phone_number: str
    message_id: int
    status: str
    date: str
    stop_sms: str
    is_spam: str


class FailedStatus(msgspec.Struct, rename="camel"):
    """A pair answered with an error.

    Echoed values keep the contract's JSON types or are null, never another type: one
    item typed differently would make a typed client (Go, VB) refuse the whole answer.
    """

    success: bool
    code: int
    phone_number: str | None  # E.164 when it parses, else as sent
    message_id: int | None  # null when it could not be read as an integer
    status: str


StatusItem = FoundStatus | FailedStatus


def _message_id(raw: object) -> int | None:
    """The id as an integer, or None when it is not one (numeric strings are accepted)."""
    if type(raw) is int:
        return raw
    if type(raw) is float and raw.is_integer() and abs(raw) <= _MAX_ID:
        return int(raw)
    if type(raw) is str:
        text = raw.strip().lstrip("0") or raw.strip()
        # Longer than any 64-bit id: not an id, and int() of it would be slow or refused.
        if text.isascii() and text.isdigit() and len(text) <= _MAX_ID_DIGITS:
            return int(text)
    return None


def _phone_text(raw: object) -> str | None:
    """A number as text: clients send strings, some send JSON numbers."""
    if type(raw) is str:
        return raw
    if type(raw) is int:
        return str(raw)
    return None


def _echo(text: str | None, region: str) -> str | None:
    """The number as an item in error shows it: E.164 when it parses, else as sent."""
    return None if text is None else (to_e164(text, region) or text)


class _Pending:
    """The pairs to look up, each with the E.164 form it is looked up under."""

    __slots__ = ("entries", "pairs")

    def __init__(self) -> None:
        self.entries: list[tuple[int, str, str, int]] = []  # index, as sent, E.164, id
        self.pairs: set[Pair] = set()

    def add(self, index: int, text: str, e164: str, message_id: int) -> None:
        self.entries.append((index, text, e164, message_id))
        if 0 < message_id <= _MAX_ID:
            self.pairs.add((message_id, e164))


async def multi_status(
    store: Store, account: Account, items: Sequence[Mapping[str, Any]], language: Language
) -> list[StatusItem]:
    """One answer per requested pair, in request order, duplicates included."""
    region = account.region
    results: list[StatusItem | None] = [None] * len(items)

    def fail(index: int, problem: Problem, phone: str | None, message_id: int | None) -> None:
        results[index] = FailedStatus(
            False, problem.code, phone, message_id, problem.text(language)
        )

    pending = _Pending()
    for index, item in enumerate(items):
        phone_raw = item.get("phoneNumber")
        message_id = _message_id(item.get("messageId"))
        text = _phone_text(phone_raw)
        if phone_raw is None or (text is not None and not text.strip()):
            fail(index, Problem.PHONE_REQUIRED, text, message_id)
            continue
        if message_id is None:
            fail(index, Problem.MESSAGE_ID_REQUIRED, _echo(text, region), None)
            continue
        candidate = None if text is None else quick_e164(text, region) or to_e164(text, region)
        if text is None or candidate is None:
            fail(index, Problem.NOT_MOBILE, text, message_id)
            continue
        pending.add(index, text, candidate, message_id)

    found = await store.lookup_statuses(account.id, list(pending.pairs)) if pending.pairs else {}
    for index, text, e164, message_id in pending.entries:
        row = found.get((message_id, e164))
        if row is not None:
            results[index] = _found(e164, message_id, row)
        elif to_e164(text, region) is None:
            fail(index, Problem.NOT_MOBILE, text, message_id)
        else:
            fail(index, Problem.NUMBER_NOT_FOUND, e164, message_id)
    return results  # type: ignore[return-value]  # every index was filled above


def _found(e164: str, message_id: int, row: StatusRow) -> FoundStatus:
    state, status_at, stop_sms, is_spam = row
    return FoundStatus(
        True,
        200,
        e164,
        message_id,
        PUBLIC_BY_VALUE[state],
        str(status_at),
        _FLAG[stop_sms],
        _FLAG[is_spam],
    )
