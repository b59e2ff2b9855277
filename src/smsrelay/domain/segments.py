"""How many SMS a text costs, counted the way operators bill it.

A customer is charged per part, and a send over `MAX_PARTS` is refused (error 52), so the count
must match the operator's to the part. Operators send a text in the GSM 03.38 7-bit alphabet
when every character has a place in it, and in UCS-2 otherwise; one character outside the
alphabet makes the whole text fall back, which is why `é` is cheap and `á` is not.
"""

from dataclasses import dataclass
from typing import Final, Literal

from smsrelay.domain.gsm7 import BASIC, ESCAPE, EXTENSION

Encoding = Literal["gsm7", "ucs2"]

MAX_PARTS: Final = 10

_GSM7_BASIC: Final = frozenset(BASIC) - {chr(ESCAPE)}
_GSM7_EXTENSION: Final = frozenset(EXTENSION)

# Units in a text sent alone, and in each part of a longer one (the rest of a part carries the
# header that lets the phone put the parts back together). smpp/text.py cuts the parts it sends
# to these sizes.
CAPACITY: Final[dict[Encoding, tuple[int, int]]] = {"gsm7": (160, 153), "ucs2": (70, 67)}


@dataclass(frozen=True, slots=True)
class Segmentation:
    """A text's billing: its encoding, its length in that encoding's units, its parts.

    `units` are septets for gsm7 (an extension character counts 2) and UTF-16 code units for
    ucs2 (a character beyond the BMP, such as an emoji, counts 2). An empty text has 0 parts:
    it is not sendable, and saying 1 would bill for nothing; callers refuse it before this.
    """

    encoding: Encoding
    units: int
    parts: int


def segment(text: str, *, unicode: bool = False) -> Segmentation:
    """Bill `text` as the operator will; `unicode` forces UCS-2, as a sender may ask for."""
    septets = None if unicode else _gsm7_costs(text)
    if septets is not None:
        return _billed("gsm7", septets)
    return _billed("ucs2", [2 if ord(char) > 0xFFFF else 1 for char in text])


def _billed(encoding: Encoding, costs: list[int]) -> Segmentation:
    return Segmentation(encoding=encoding, units=sum(costs), parts=_parts(costs, encoding))


def _gsm7_costs(text: str) -> list[int] | None:
    """Septets per character, or None as soon as one character has no GSM 7-bit code."""
    costs: list[int] = []
    for char in text:
        if char in _GSM7_BASIC:
            costs.append(1)
        elif char in _GSM7_EXTENSION:
            costs.append(2)
        else:
            return None
    return costs


def _parts(costs: list[int], encoding: Encoding) -> int:
    """Fill parts greedily, as the operator does, rather than divide.

    Division would be wrong by one when a two-unit character (escape + code, surrogate pair)
    meets a part boundary: it is never split, so it opens the next part and leaves a unit unused.
    """
    single, per_part = CAPACITY[encoding]
    total = sum(costs)
    if total <= single:
        return 1 if total else 0
    parts, filled = 1, 0
    for cost in costs:
        if filled + cost > per_part:
            parts, filled = parts + 1, 0
        filled += cost
    return parts
