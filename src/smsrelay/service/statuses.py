"""The status of up to 500 (message id, phone number) pairs: the heart of `multi-status`.

The lookup is one statement whatever the number of pairs. Phone numbers are looked up
under a cheap candidate first: the number itself when it is written with a `+` (as we
return them), else `quick_e164`. The exact parser only runs for pairs that the
candidate did not find: a pair found under its candidate is a number we validated when
it was sent, so the 40-60 µs of `phonenumbers` per number are spent only on errors.
`quick_e164` never disagrees with `to_e164` when both answer (tested over every
region); a number taken as sent may, and is then looked up once more under the exact
form.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, NamedTuple

import msgspec

from smsrelay.domain.phone import quick_e164, to_e164
from smsrelay.domain.problems import Language, Problem, Refused
from smsrelay.domain.records import Account, Pair, StatusRow
from smsrelay.domain.status import PUBLIC_BY_VALUE
from smsrelay.store.base import ApiStore

MAX_PAIRS = 500
_MAX_ID = 2**63 - 1
_MAX_ID_DIGITS = len(str(_MAX_ID))
_FLAG = ("0", "1")
_CANONICAL = re.compile(r"\+[0-9]{6,15}")


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


def message_id_of(raw: object) -> int | None:
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


def required_id(raw: object, missing: Problem, unknown: Problem) -> int:
    """An id a request cannot do without: `missing` when absent or unreadable, `unknown`
    when it is a number no row can have (beyond 64 bits: no database could even look)."""
    found = message_id_of(raw)
    if found is None:
        raise Refused(missing)
    if not 0 < found <= _MAX_ID:
        raise Refused(unknown)
    return found


def _phone_text(raw: object) -> str | None:
    """A number as text: clients send strings, some send JSON numbers."""
    if type(raw) is str:
        return raw
    if type(raw) is int:
        return str(raw)
    return None


def _canonical(text: str) -> str | None:
    """`+` and digits only: the form we store and return, looked up as it is."""
    return text if _CANONICAL.fullmatch(text) else None


def _echo(text: str | None, region: str) -> str | None:
    """The number as an item in error shows it: E.164 when it parses, else as sent."""
    return None if text is None else (to_e164(text, region) or text)


class _WellFormed(msgspec.Struct, gc=False):
    """A pair as nearly every client sends it: the number as text, the id as a number."""

    phoneNumber: str  # noqa: N815  # the wire's names: converted without renaming
    messageId: int  # noqa: N815


_as_well_formed = partial(msgspec.convert, type=list[_WellFormed])


class _Batch(NamedTuple):
    """Pairs to look up, side by side: where each answer goes, the number as sent, and
    the (id, E.164 candidate) key, which is both a row of the query and the dict key."""

    indices: list[int]
    texts: list[str]
    keys: list[Pair]


async def multi_status(
    store: ApiStore, account: Account, items: Sequence[Mapping[str, Any]], language: Language
) -> list[StatusItem]:
    """One answer per requested pair, in request order, duplicates included.

    When every pair is well formed (checked in C by msgspec), all of them are looked up
    as sent, and only the pairs that find nothing are read with care. Otherwise every
    pair is read with care first.
    """
    region = account.region
    answers = _Answers(region, language, len(items))
    try:
        pairs = _as_well_formed(items)
    except msgspec.ValidationError:
        batch = answers.read(items)
    else:
        texts = [p.phoneNumber for p in pairs]
        keys = [
            (p.messageId, t if t[:1] == "+" else quick_e164(t, region) or t)
            for p, t in zip(pairs, texts, strict=True)
        ]
        batch = _Batch(list(range(len(texts))), texts, keys)
    retry = answers.match(batch, await _lookup(store, account, batch))
    if retry.keys:
        # Under their exact number now, so a second miss is final (4).
        answers.match(retry, await _lookup(store, account, retry))
    return answers.results  # type: ignore[return-value]  # every index was filled


async def _lookup(store: ApiStore, account: Account, batch: _Batch) -> dict[Pair, StatusRow]:
    return await store.lookup_statuses(account.id, batch.keys) if batch.keys else {}


class _Answers:
    """The answer being built, one slot per requested pair."""

    __slots__ = ("language", "region", "results")

    def __init__(self, region: str, language: Language, size: int) -> None:
        self.region = region
        self.language = language
        self.results: list[StatusItem | None] = [None] * size

    def fail(self, index: int, problem: Problem, phone: str | None, message_id: int | None) -> None:
        self.results[index] = FailedStatus(
            False, problem.code, phone, message_id, problem.text(self.language)
        )

    def read(self, items: Sequence[Mapping[str, Any]]) -> _Batch:
        """Answer the pairs that cannot be looked up; the others, with their candidate."""
        region = self.region
        batch = _Batch([], [], [])
        for index, item in enumerate(items):
            phone_raw = item.get("phoneNumber")
            message_id = message_id_of(item.get("messageId"))
            text = _phone_text(phone_raw)
            if phone_raw is None or (text is not None and not text.strip()):
                self.fail(index, Problem.PHONE_REQUIRED, text, message_id)
            elif message_id is None:
                self.fail(index, Problem.MESSAGE_ID_REQUIRED, _echo(text, region), None)
            elif text is None:
                self.fail(index, Problem.NOT_MOBILE, None, message_id)
            elif candidate := _canonical(text) or quick_e164(text, region) or to_e164(text, region):
                _add(batch, index, text, (message_id, candidate))
            else:
                self.fail(index, Problem.NOT_MOBILE, text, message_id)
        return batch

    def match(self, batch: _Batch, found: dict[Pair, StatusRow]) -> _Batch:
        """Fill in the answers; the pairs worth a second look under their exact number."""
        retry = _Batch([], [], [])
        results = self.results
        for index, text, key in zip(batch.indices, batch.texts, batch.keys, strict=True):
            row = found.get(key)
            if row is not None:
                results[index] = _found(key, row)
                continue
            message_id, e164 = key
            if not text.strip():
                self.fail(index, Problem.PHONE_REQUIRED, text, message_id)
            elif (exact := to_e164(text, self.region)) is None:
                self.fail(index, Problem.NOT_MOBILE, text, message_id)
            elif exact == e164:
                self.fail(index, Problem.NUMBER_NOT_FOUND, exact, message_id)
            else:
                # Looked up as sent, but phonenumbers reads it otherwise: `0612345678`,
                # `+330612345678`.
                _add(retry, index, text, (message_id, exact))
        return retry


def _add(batch: _Batch, index: int, text: str, key: Pair) -> None:
    batch.indices.append(index)
    batch.texts.append(text)
    batch.keys.append(key)


def _found(key: Pair, row: StatusRow) -> FoundStatus:
    state, status_at, stop_sms, is_spam = row
    return FoundStatus(
        True,
        200,
        key[1],
        key[0],
        PUBLIC_BY_VALUE[state],
        str(status_at),
        _FLAG[stop_sms],
        _FLAG[is_spam],
    )
