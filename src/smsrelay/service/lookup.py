"""Number format check: `/v1/lookup` describes up to 500 numbers, each on its own.

A number is read exactly as `/v1/send` reads it (phonenumbers, in the account's region), so
that a number this check calls a valid mobile is one a send accepts. Nothing is stored and
nothing is charged: the answer is computed from phonenumbers' metadata alone.
"""

from __future__ import annotations

import asyncio

import msgspec
import phonenumbers
from phonenumbers import (
    NumberParseException,
    PhoneNumber,
    PhoneNumberFormat,
    PhoneNumberType,
    carrier,
)

from smsrelay.domain.phone import is_too_long
from smsrelay.domain.problems import Language, Problem, Refused

MAX_NUMBERS = 500
_SLICE = 50  # numbers described between two yields to the event loop: about 7 ms

TYPE_NAMES: dict[int, str] = {
    PhoneNumberType.MOBILE: "Mobile",
    PhoneNumberType.FIXED_LINE: "Landline",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "Mobile or landline",
    PhoneNumberType.TOLL_FREE: "Toll free",
    PhoneNumberType.PREMIUM_RATE: "Premium rate",
    PhoneNumberType.SHARED_COST: "Shared cost",
    PhoneNumberType.VOIP: "VoIP",
    PhoneNumberType.PERSONAL_NUMBER: "Personal number",
    PhoneNumberType.PAGER: "Pager",
    PhoneNumberType.UAN: "UAN",
    PhoneNumberType.VOICEMAIL: "Voicemail",
    PhoneNumberType.UNKNOWN: "Unknown",
}
"""The `type` of an item: one English name per phonenumbers type, whatever the language.

Clients compare it with the contract's examples ("Mobile", "Landline"), so it is a value,
not a text for humans, and is not translated. "Unknown" never reaches an answer (such a
number is not valid, and its item is a failed one); it is kept so the map is total.
"""

# phonenumbers only knows the carrier a range was allocated to for these types (its own
# `name_for_number` checks the same set, at the cost of computing the type a second time).
_CARRIER_TYPES = frozenset(
    {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE, PhoneNumberType.PAGER}
)


class Formats(msgspec.Struct, gc=False):
    e164: str
    international: str
    national: str
    rfc3966: str


class Found(msgspec.Struct, rename="camel", gc=False):
    """A valid number: fields and order exactly as the contract's.

    `gc=False`: up to 500 per answer, holding only strings, numbers and a `Formats`, so
    they cannot be part of a cycle and the collector need not track them.
    """

    request: str
    success: bool
    country_code: str
    prefix_code: int
    phone_number: str
    type: str
    network: str
    format: Formats


class Failed(msgspec.Struct, gc=False):
    """A request that is not a valid phone number; the top-level answer still succeeds."""

    request: str
    success: bool
    message: str


class LookupAnswer(msgspec.Struct):
    success: bool
    code: int
    lookup: list[Found | Failed]


def read_requests(raw: object) -> list[str]:
    """The requested numbers, each kept verbatim so that its item can echo it.

    `phoneNumbers` is comma-separated, or a JSON list (one number per element). Blank
    elements are not requests and are dropped; a JSON integer is read as its digits, as
    `/v1/send` reads it. Any other JSON type is refused (6) rather than echoed, because
    `request` is a string on the wire and typed clients would fail on anything else.
    """
    if raw is None:
        raise Refused(Problem.PHONE_REQUIRED)
    items = [_request(item) for item in raw] if isinstance(raw, list) else _request(raw).split(",")
    requests = [item for item in items if item.strip()]
    if not requests:
        raise Refused(Problem.PHONE_REQUIRED)
    if len(requests) > MAX_NUMBERS:
        raise Refused(Problem.TOO_MANY)
    return requests


def _request(raw: object) -> str:
    if isinstance(raw, str):
        return raw
    if isinstance(raw, int) and not isinstance(raw, bool):
        return str(raw)
    raise Refused(Problem.BAD_FORMAT)


async def look_up(requests: list[str], region: str, language: Language) -> list[Found | Failed]:
    """One item per request, in order, duplicates included (a client matches by position).

    phonenumbers costs about 140 µs a number here (parsing, typing, four formats): 70 ms
    for 500. The event loop is given back between slices, so that a status query arriving
    meanwhile waits a few milliseconds, not the whole lookup. A thread would not run this
    Python any faster, and would contend with the loop for the GIL.
    """
    items: list[Found | Failed] = []
    for start in range(0, len(requests), _SLICE):
        if start:
            await asyncio.sleep(0)
        items.extend(describe(r, region, language) for r in requests[start : start + _SLICE])
    return items


def describe(request: str, region: str, language: Language) -> Found | Failed:
    """The item of one request; `region` reads numbers written without a country code.

    `phoneNumber` is the E.164 form, as in the hosted service's recorded answer
    (`+212620123456`), the same as `format.e164`.
    """
    if is_too_long(request):
        return Failed(request, False, Problem.NOT_A_PHONE.text(language))
    try:
        number = phonenumbers.parse(request.strip(), region)
    except NumberParseException:
        return Failed(request, False, Problem.NOT_A_PHONE.text(language))
    # number_type is UNKNOWN exactly when the number is not valid (see domain/phone.py):
    # asking is_valid_number as well would do the same work twice.
    kind = phonenumbers.number_type(number)
    country = phonenumbers.region_code_for_number(number)
    if kind == PhoneNumberType.UNKNOWN or country is None or number.country_code is None:
        return Failed(request, False, Problem.NOT_A_PHONE.text(language))
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    return Found(
        request,
        True,
        country,
        number.country_code,
        e164,
        TYPE_NAMES[kind],
        _network(number, kind, language),
        Formats(
            e164,
            phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL),
            phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL),
            phonenumbers.format_number(number, PhoneNumberFormat.RFC3966),
        ),
    )


def _network(number: PhoneNumber, kind: int, language: Language) -> str:
    """The operator the number's range was allocated to, "" when phonenumbers does not know.

    Numbers are portable, so this is not necessarily the current operator. The account's
    language is asked for; phonenumbers falls back to the English name, which today is the
    only name it has for French and English alike.
    """
    if kind not in _CARRIER_TYPES:
        return ""
    return carrier.name_for_valid_number(number, language)
