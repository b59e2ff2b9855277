"""The status of up to 500 (message id, phone number) pairs: the heart of `multi-status`.

The lookup is one statement whatever the number of pairs. Phone numbers are looked up
under a cheap candidate first: the number itself when it is already written `+digits`
(as we return them), else `quick_e164`. The exact parser only runs for pairs that the
candidate did not find: a pair found under its candidate is a number we validated when
it was sent, so the 40-60 µs of `phonenumbers` per number are spent only on errors.
`quick_e164` never disagrees with `to_e164` when both answer (tested over every
region); a verbatim `+digits` may, and is then looked up once more under the exact form.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from smsrelay.domain.phone import quick_e164, to_e164
from smsrelay.domain.problems import Language, Problem
from smsrelay.domain.status import PUBLIC_BY_VALUE
from smsrelay.store.base import Account, Pair, StatusRow, Store

MAX_PAIRS = 500
_MAX_ID = 2**63 - 1
# `+` and digits only: the form we store and return, safe to look up as it is.
_canonical = re.compile(r"\+[0-9]{6,15}").fullmatch
_MAX_ID_DIGITS = len(str(_MAX_ID))
_FLAG = ("0", "1")


class FoundStatus(msgspec.Struct, rename="camel", gc=False):
    """A pair of the account's: fields and order exactly as the contract's table.

    `gc=False`: 500 of them per answer, holding only strings and numbers, so they
    cannot be part of a cycle and the collector need not track them.
    """

    success: bool
    code: int
    phone_number: str
    message_id: int
    status: str
    date: str
    stop_sms: str
    is_spam: str


class FailedStatus(msgspec.Struct, rename="camel", gc=False):
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

    lookups: list[tuple[int, str, str, int]] = []  # index, number as sent, E.164, id
    pairs: list[Pair] = []
    for index, item in enumerate(items):
        phone_raw = item.get("phoneNumber")
        id_raw = item.get("messageId")
        # What nearly every client sends (the number as we returned it, the id as a
        # number) is taken verbatim; a candidate that finds nothing is checked below.
        if type(id_raw) is int and type(phone_raw) is str and _canonical(phone_raw):
            lookups.append((index, phone_raw, phone_raw, id_raw))
            pairs.append((id_raw, phone_raw))
            continue
        message_id = _message_id(id_raw)
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
        lookups.append((index, text, candidate, message_id))
        pairs.append((message_id, candidate))

    retry: list[tuple[int, str, str, int]] = []
    found = await store.lookup_statuses(account.id, pairs) if pairs else {}
    for index, text, e164, message_id in lookups:
        row = found.get((message_id, e164))
        if row is not None:
            results[index] = _found(e164, message_id, row)
            continue
        exact = to_e164(text, region)
        if exact is None:
            fail(index, Problem.NOT_MOBILE, text, message_id)
        elif exact == e164:
            fail(index, Problem.NUMBER_NOT_FOUND, e164, message_id)
        else:
            # Taken verbatim, but phonenumbers reads it otherwise (`+330612345678`).
            retry.append((index, text, exact, message_id))

    if retry:
        found = await store.lookup_statuses(account.id, [(r[3], r[2]) for r in retry])
        for index, _, e164, message_id in retry:
            row = found.get((message_id, e164))
            if row is None:
                fail(index, Problem.NUMBER_NOT_FOUND, e164, message_id)
            else:
                results[index] = _found(e164, message_id, row)
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
