"""What an operator's delivery receipt says, in our terms, and how its message id compares.

Gateways lose reports by reading them too strictly: Jasmin's receipt pattern is anchored,
needs every field in the standard order and a seven-letter `stat`, so `stat:FAILED`,
`stat:DELIVERED` or a missing `sub:` are dropped; Kannel compares `stat` case-sensitively
and takes any word it does not know for a final failure. A lost report leaves a recipient
Waiting until the validity sweep calls it expired, and a misread one is final for good
(contract §3), so this reading is lenient in form and conservative in meaning:

- the TLVs `receipted_message_id` and `message_state` win over the text when present;
- keys and values in any case, fields in any order or missing, any spacing, garbage
  around them (a key is a whole word: `valid:` holds no `id:`),
  `submit date` / `submit_date`, dates of 10 (YYMMDDhhmm) or 12 (YYMMDDhhmmss) digits;
  `text:` runs to the end, so nothing after it (colons, `id:` in the message) is read;
- a stat word never seen is `State.UNKNOWN`, which is not final: a later report still
  counts. Only known failure words (`FAILED`, `ERROR`, `NACK`...) end the recipient;
- no id anywhere means no receipt (None); nothing here raises, whatever the bytes.

Receipt times carry no zone; they are read as UTC and returned aware, so that
`.timestamp()` (the store keeps Unix seconds) cannot silently apply the host's zone.

Operators also disagree with themselves about ids: hex in `submit_sm_resp`, decimal in the
receipt, leading zeros, another case. `normalise_operator_id` gives one canonical form per
id under the carrier's configured encoding.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal

from smsrelay.domain.status import State

__all__ = ["IdEncoding", "ParsedReceipt", "normalise_operator_id", "read_receipt"]

IdEncoding = Literal["decimal", "hex", "text"]


@dataclass(frozen=True, slots=True)
class ParsedReceipt:
    """One receipt: `message_id` as found (normalise it before matching); times aware UTC."""

    message_id: str
    state: State
    error: str | None
    submitted: datetime | None
    done: datetime | None
    delivered_parts: int | None
    submitted_parts: int | None


# SMPP message_state (TLV 0x0427). SCHEDULED waits at the operator: pending, like ENROUTE.
_MESSAGE_STATES: Final[dict[int, State]] = {
    0: State.ENROUTE,
    1: State.ENROUTE,
    2: State.DELIVERED,
    3: State.EXPIRED,
    4: State.DELETED,
    5: State.UNDELIVERABLE,
    6: State.ACKNOWLEDGED,
    7: State.UNKNOWN,
    8: State.REJECTED,
    9: State.SKIPPED,
}

# `stat:` words, upper case. The operator's ACCEPTD is our ACKNOWLEDGED (our ACCEPTED means
# accepted by our API); ACKED and BUFFRED/BUFFERD are the pending words Kannel knows.
_STAT_WORDS: Final[dict[str, State]] = {
    "DELIVRD": State.DELIVERED,
    "DELIVERED": State.DELIVERED,
    "UNDELIV": State.UNDELIVERABLE,
    "UNDELIVERABLE": State.UNDELIVERABLE,
    "EXPIRED": State.EXPIRED,
    "DELETED": State.DELETED,
    "REJECTD": State.REJECTED,
    "REJECTED": State.REJECTED,
    "ACCEPTD": State.ACKNOWLEDGED,
    "ACCEPTED": State.ACKNOWLEDGED,
    "ACKED": State.ACKNOWLEDGED,
    "ENROUTE": State.ENROUTE,
    "SCHEDULED": State.ENROUTE,
    "BUFFRED": State.ENROUTE,
    "BUFFERD": State.ENROUTE,
    "UNKNOWN": State.UNKNOWN,
    "SKIPPED": State.SKIPPED,
    # Non-standard failures: final, Not delivered.
    "FAILED": State.FAILED,
    "FAIL": State.FAILED,
    "FAILURE": State.FAILED,
    "ERROR": State.FAILED,
    "UNDELIVERED": State.FAILED,
    "NACK": State.FAILED,
}

# A key is a whole word (`valid:` holds no `id:`) followed by a colon; longer keys first,
# so that `submit date:` is not read as `sub`.
_KEY: Final = re.compile(
    r"(?<![a-z0-9])(?:(?P<submit>submit[\s_]*date)|(?P<done>done[\s_]*date)|(?P<dlvrd>dlvrd)"
    r"|(?P<stat>stat)|(?P<text>text)|(?P<sub>sub)|(?P<err>err)|(?P<id>id))\s*:",
    re.IGNORECASE,
)
_HEX: Final = re.compile(r"[0-9a-fA-F]+")
# SMPP's message_id is a C-octet string of at most 65 octets with its NUL. The bound also
# keeps the hex-to-decimal conversion far below Python's int-to-str digit limit.
_MAX_ID_CHARS: Final = 64
# SMPP writes part counts in three digits; a longer run is garbage, not a count.
_MAX_COUNT_DIGITS: Final = 9
_BLANK: Final = string.whitespace + "\x00"


def read_receipt(
    text: str | bytes,
    receipted_message_id: str | bytes | None = None,
    message_state: int | None = None,
) -> ParsedReceipt | None:
    """The receipt in `text` and its TLVs, or None when it names no message.

    A TLV that is empty (id) or outside SMPP's numbers (state) is treated as absent.
    """
    fields = _fields(_decode(text).replace("\x00", " "))
    tlv_id = _decode(receipted_message_id).strip(_BLANK) if receipted_message_id else ""
    message_id = tlv_id or fields.get("id", "")
    if not message_id:
        return None
    state = _MESSAGE_STATES.get(message_state) if message_state is not None else None
    if state is None:
        state = _STAT_WORDS.get(fields.get("stat", "").upper(), State.UNKNOWN)
    return ParsedReceipt(
        message_id=message_id,
        state=state,
        error=fields.get("err") or None,
        submitted=_date(fields.get("submit", "")),
        done=_date(fields.get("done", "")),
        delivered_parts=_count(fields.get("dlvrd", "")),
        submitted_parts=_count(fields.get("sub", "")),
    )


def normalise_operator_id(raw: str | bytes, encoding: IdEncoding) -> str:
    """The canonical form of an operator's message id under the carrier's encoding.

    `decimal`: leading zeros dropped ("00123" -> "123"). `hex`: read as base 16, written
    in decimal ("7B", "007b" -> "123"), so a hex id and its decimal spelling compare equal.
    `text`: stripped and lower-cased, nothing else. Bytes are decoded like receipts (ASCII
    in practice) and C-string NULs dropped. A value that is not what its encoding says
    falls back to `text` rather than failing: the caller decides whether that matters.
    """
    cleaned = _clean(raw)
    canonical = (
        _as_decimal(cleaned)
        if encoding == "decimal"
        else _as_hex(cleaned)
        if encoding == "hex"
        else None
    )
    return cleaned.lower() if canonical is None else canonical


def _decode(raw: str | bytes | None) -> str:
    """UTF-8 when the bytes are valid UTF-8, else latin-1, which decodes any byte."""
    if raw is None:
        return ""
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _clean(raw: str | bytes) -> str:
    return _decode(raw).strip(_BLANK)


def _as_decimal(value: str) -> str | None:
    if not (value.isascii() and value.isdigit()):
        return None
    return value.lstrip("0") or "0"


def _as_hex(value: str) -> str | None:
    if not _HEX.fullmatch(value):
        return None
    digits = value.lstrip("0") or "0"
    return str(int(digits, 16)) if len(digits) <= _MAX_ID_CHARS else None


def _fields(text: str) -> dict[str, str]:
    """Each key's first value: the first word between its colon and the next key."""
    keys = list(_KEY.finditer(text))
    fields: dict[str, str] = {}
    for i, key in enumerate(keys):
        name = key.lastgroup
        if name is None or name == "text":
            break
        end = keys[i + 1].start() if i + 1 < len(keys) else len(text)
        words = text[key.end() : end].split()
        fields.setdefault(name, words[0] if words else "")
    return fields


def _date(value: str) -> datetime | None:
    """YYMMDDhhmm or YYMMDDhhmmss in 20YY, UTC; None for anything else or an impossible date."""
    if len(value) not in (10, 12) or not (value.isascii() and value.isdigit()):
        return None
    year, month, day, hour, minute = (int(value[i : i + 2]) for i in range(0, 10, 2))
    try:
        return datetime(2000 + year, month, day, hour, minute, int(value[10:] or 0), tzinfo=UTC)
    except ValueError:
        return None


def _count(value: str) -> int | None:
    if len(value) > _MAX_COUNT_DIGITS or not (value.isascii() and value.isdigit()):
        return None
    return int(value)
