"""The parameters of `/v1/send` and `/v1/bulk-send`, read and validated with the contract's codes.

Clients send the same parameter as a JSON number, a JSON string or a form string, so every
value is read through `text_of` first. Refusals follow the order of the table in
docs/api.md: the fields with a code of their own (43, 44, 45-49) are refused one at a time,
the others are gathered into one code-9 answer whose `error` list names each field.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from smsrelay.domain.problems import FieldError, Problem, Refused
from smsrelay.domain.records import Account
from smsrelay.domain.schedule import hold_until, read_schedule
from smsrelay.domain.segments import MAX_PARTS, Segmentation, segment

MAX_RECIPIENTS = 500
LOW_COST_MAX_CHARACTERS = 160
PREMIUM, LOW_COST = 1, 2

_SENDER = re.compile(r"[A-Za-z0-9]{3,11}")
_TAG = re.compile(r"[a-z0-9_\-.]{1,20}")
_URL = re.compile(r"https?://[^\s/?#]+[^\s]*", re.IGNORECASE)
_TRUE = ("1", "true")
_FALSE = ("0", "false", "")


class SendOptions(msgspec.Struct, frozen=True):
    """Everything about a send but its recipients and text."""

    sender: str | None
    tag: str | None
    sandbox: bool
    unicode: bool
    stop_mention: bool
    gamme: int
    send_at: datetime | None  # UTC; scheduled, or held by quiet hours
    url_dlr: str | None
    url_response: str | None


def text_of(raw: object) -> str:
    """Form values are strings, JSON ones may be numbers or booleans: read both alike.

    A NUL character is a wrong format wherever it is: no SMS carries one, and PostgreSQL
    stores none in text (it would be an error of the database, a 503, not the client's).
    """
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return "1" if raw else "0"
    if isinstance(raw, str | int):
        text = str(raw).strip()
        if "\x00" in text:
            raise Refused(Problem.BAD_FORMAT)
        return text
    raise Refused(Problem.BAD_FORMAT)


def read_numbers(raw: object) -> list[str]:
    """`phoneNumbers` is comma-separated; a JSON list is accepted too."""
    numbers = [text_of(n) for n in raw] if isinstance(raw, list) else text_of(raw).split(",")
    numbers = [n.strip() for n in numbers if n.strip()]
    if not numbers:
        raise Refused(Problem.PHONE_REQUIRED)
    if len(numbers) > MAX_RECIPIENTS:
        raise Refused(Problem.TOO_MANY)
    return numbers


def read_options(
    params: Mapping[str, Any], account: Account, now: float | None = None
) -> SendOptions:
    """The options shared by both endpoints; `now` is the clock's reading (tests set it)."""
    moment = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    sender = text_of(params.get("sender"))
    if sender and not _SENDER.fullmatch(sender):
        raise Refused(Problem.SENDER_INVALID)
    errors: list[FieldError] = []

    def flag(name: str) -> bool:
        value = text_of(params.get(name)).lower()
        if value not in _TRUE + _FALSE:
            errors.append(FieldError(name, Problem.INVALID))
        return value in _TRUE

    def url(name: str) -> str | None:
        value = text_of(params.get(name))
        if value and not _URL.fullmatch(value):
            errors.append(FieldError(name, Problem.INVALID))
        return value or None

    tag = text_of(params.get("tag"))
    if tag and not _TAG.fullmatch(tag):
        errors.append(FieldError("tag", Problem.INVALID))
    sandbox, unicode, stop_mention = flag("sandbox"), flag("isUnicode"), flag("isStopSms")
    gamme_text = text_of(params.get("gamme")) or str(PREMIUM)
    if gamme_text not in (str(PREMIUM), str(LOW_COST)):
        errors.append(FieldError("gamme", Problem.INVALID))
    url_dlr, url_response = url("urlDlr"), url("urlResponse")
    if errors:
        raise Refused(Problem.INVALID, errors)
    zone = ZoneInfo(account.timezone)
    send_at = read_schedule(
        params.get("scheduledDeliveryDate"), params.get("time"), params.get("minute"), zone, moment
    )
    if account.quiet_hours:
        send_at = hold_until(send_at or moment, zone) or send_at
    return SendOptions(
        sender or None,
        tag or None,
        sandbox,
        unicode,
        stop_mention,
        int(gamme_text),
        send_at,
        url_dlr,
        url_response,
    )


def read_text(raw: object, options: SendOptions, stop_mention: str) -> tuple[str, Segmentation]:
    """The text as it will be sent (with the STOP mention when asked) and its billing."""
    text = text_of(raw)
    if not text:
        raise Refused(Problem.MESSAGE_REQUIRED)
    if options.stop_mention:
        text = f"{text}\n{stop_mention}"
    if options.gamme == LOW_COST and len(text) > LOW_COST_MAX_CHARACTERS:
        raise Refused(Problem.LOW_COST_TOO_LONG)
    parts = segment(text, unicode=options.unicode)
    if parts.parts > MAX_PARTS:
        raise Refused(Problem.TOO_MANY_PARTS)
    return text, parts
