"""Which recorded SMS a delivery report is about: the operator's id, then the handset.

Operators reuse message ids: a counter that restarts with the SMSC, or one counter per
bind, gives a new SMS the id of one sent an hour ago. Matched on the id alone, the
report of the new SMS lands on the old one, which is final and changes nothing, and the
new one stays Waiting until its validity calls it Not delivered although it was
delivered. So a report is matched on its (connector, operator id) *and* on the handset
it names (an SMPP receipt comes from the recipient: its `source_addr`), preferring the
SMS still awaiting a report. `choose` decides among the SMS recorded with the report's
id (its candidates):

- none at all: the submission is not recorded yet, the report waits for it (`EARLY`);
- only the candidates to the report's handset count (all of them when it names none);
- none is to the handset: if the handset is a number we send to (an SMS of ours was
  addressed to it and claimed for the operator, whatever became of it), the report is
  about a submission to it not recorded with this id yet (`EARLY`). Otherwise the
  handset is no recipient at all: some SMSCs put a short code or our sender in a
  receipt's `source_addr`. Then the report is matched on the id alone, as below among
  all the candidates, and says so (`on_id_alone`, for the store to warn that the
  connector's receipts name no handset);
- exactly one awaits a report: that one (`Matched`);
- two or more await one, all parts of one recipient's long SMS (the operator gave two
  parts one id): the first of those parts, by part number (`Matched`). The recipient's
  next report with that id takes the next part, and the recipient's status is the
  same whichever part each report lands on, unless the operator repeats a report;
- two or more await one otherwise: the report is not guessed (`Ambiguous`), it is kept
  for an operator of the platform to look at and changes no recipient;
- every one is final: a late or repeated report, which changes nothing (`LATE`), unless
  an SMS to that handset is pending (claimed, or back for a retry): then the
  id may be reused for it and the report came before its submission was recorded
  (`EARLY`). Without a
  handset that cannot be told, and the report is read as late.

The handset is compared leniently (`numbers_named`): operators write it in E.164, with
or without "+", with "00", or nationally. A national form is first read in the regions of
the candidates; when that names none of them, or names only final ones, it is read in
the regions of every number we send to (`Sending.regions`) before it is judged no
recipient or late: "0620123456" from a Moroccan handset an SMS is pending for
is +212620123456, not a French candidate's number to be matched on the id alone.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Container, Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

import phonenumbers

from smsrelay.domain.phone import region_of, to_e164
from smsrelay.domain.status import AWAITING_REPORT, State

__all__ = [
    "EARLY",
    "LATE",
    "Ambiguous",
    "Candidate",
    "Match",
    "Matched",
    "Sending",
    "Unmatched",
    "choose",
    "concerns",
    "numbers_named",
    "read_handset",
    "regions_of_prefixes",
]

# SMPP addresses hold at most 20 characters; anything longer is not a number.
_MAX_HANDSET_DIGITS: Final = 20
_SEPARATORS: Final = str.maketrans("", "", " .-()\x00")


@dataclass(frozen=True, slots=True)
class Candidate:
    """An SMS recorded with the report's operator id: one recipient, or one part of it."""

    account_id: int
    message_id: int
    phone: str  # the recipient, E.164
    part: int | None  # the part of a long SMS; None: a one-part SMS
    state: State  # what the report would move: the part's state, or the recipient's
    recipient_state: State  # the recipient's (the same as `state` for a one-part SMS)

    @property
    def awaiting(self) -> bool:
        """Whether the operator still owes this SMS a report."""
        return self.state in AWAITING_REPORT and self.recipient_state in AWAITING_REPORT


@dataclass(frozen=True, slots=True)
class Matched:
    candidate: Candidate
    on_id_alone: bool = False  # the report named a handset that is none of our recipients


@dataclass(frozen=True, slots=True)
class Ambiguous:
    """Two or more SMS awaiting a report fit it: kept, applied to none."""

    candidates: tuple[Candidate, ...]
    on_id_alone: bool = False


class Unmatched(enum.Enum):
    EARLY = "early"  # its submission is not recorded yet: it waits for it
    LATE = "late"  # about an SMS already final: nothing to do


EARLY: Final = Unmatched.EARLY
LATE: Final = Unmatched.LATE
Match = Matched | Ambiguous | Unmatched


class Sending(Protocol):
    """What the store knows of the numbers we send to. `choose` and `concerns` read it
    only for a report that no candidate to its handset settles, so a store may read it
    from the database the first time it is asked."""

    @property
    def regions(self) -> Collection[str]:
        """The regions of every number in `addressed`: where a handset written nationally
        may be read."""
        ...

    @property
    def pending(self) -> Container[str]:
        """Numbers (E.164) an SMS is pending for: claimed by the dispatcher, its handing
        to the operator not recorded (being submitted, or back in `accepted` for a retry
        or after a restart). The operator may hold it all the same (its answer was lost
        with the connection) and report on it."""
        ...

    @property
    def addressed(self) -> Container[str]:
        """Numbers (E.164) an SMS of ours was addressed to and claimed for the operator,
        whatever became of it. Not only those recorded as handed over: what we record can
        lag or differ from what the operator holds. An answer lost with its connection
        leaves an SMS it has back in `accepted`; a long SMS refused on its second part is
        recorded refused, and its first part, which the operator took, is reported on.
        An SMS never claimed cannot be reported on: its number need not count."""
        ...


def choose(handset: str | None, candidates: Sequence[Candidate], sending: Sending) -> Match:
    """The SMS a report with `handset` is about, among those recorded with its id."""
    if not candidates:
        return EARLY
    if handset is None:
        return _among(candidates)
    regions = {region_of(c.phone) for c in candidates}
    numbers = numbers_named(handset, regions)
    named = [c for c in candidates if c.phone in numbers]
    if not named:
        if _is_ours(handset, regions, sending):
            return EARLY
        return _among(candidates, on_id_alone=True)
    match = _among(named)
    # A national form may name a final candidate in one region and, in another, a number
    # an SMS is pending for: the report may be that SMS's, and waits for it.
    if match is LATE and _pending(handset, regions, sending):
        return EARLY
    return match


def _all_numbers(handset: str, regions: Collection[str], sending: Sending) -> frozenset[str]:
    """The numbers `handset` may be, read in `regions` and in those we send to."""
    if handset.startswith("+"):
        return frozenset((handset,))
    return numbers_named(handset, {*regions, *sending.regions})


def _is_ours(handset: str, regions: Collection[str], sending: Sending) -> bool:
    """Whether `handset` may be a number an SMS of ours was addressed to."""
    return any(n in sending.addressed for n in _all_numbers(handset, regions, sending))


def _pending(handset: str, regions: Collection[str], sending: Sending) -> bool:
    return any(n in sending.pending for n in _all_numbers(handset, regions, sending))


def _among(candidates: Sequence[Candidate], on_id_alone: bool = False) -> Match:
    """The one awaiting a report, the first awaiting part of one recipient, or none."""
    awaiting = [c for c in candidates if c.awaiting]
    if not awaiting:
        return LATE
    if len(awaiting) == 1:
        return Matched(awaiting[0], on_id_alone)
    recipients = {(c.account_id, c.message_id, c.phone) for c in awaiting}
    if len(recipients) == 1 and all(c.part is not None for c in awaiting):
        return Matched(min(awaiting, key=lambda c: c.part or 0), on_id_alone)
    return Ambiguous(tuple(awaiting), on_id_alone)


def numbers_named(handset: str, regions: Iterable[str]) -> frozenset[str]:
    """The numbers (E.164) `handset` (as `read_handset` gives it) may be: itself when it
    has its "+", else its digits with a "+" and its national form read in each of
    `regions` ("0612345678", "612345678", "0033612…")."""
    if handset.startswith("+"):
        return frozenset((handset,))
    national = {to_e164(handset, region) for region in regions}
    return frozenset({"+" + handset} | {n for n in national if n is not None})


def regions_of_prefixes(prefixes: Iterable[str]) -> frozenset[str]:
    """Every region of the calling code each of `prefixes` begins with: the first "+" and
    three digits of E.164 numbers, which hold any calling code. A code shared by several
    regions (+1, +44, +61) is not read the same way in each (a local number may take its
    region's area code), so all of them count."""
    found: set[str] = set()
    for prefix in prefixes:
        digits = prefix.removeprefix("+")
        for size in range(1, min(len(digits), 3) + 1):
            regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(int(digits[:size]))
            if regions:
                found.update(r for r in regions if r != phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY)
                break
    return frozenset(found)


def concerns(handset: str | None, phones: Collection[str], sending: Sending) -> bool:
    """Whether an early report with `handset` may be about a submission to one of `phones`
    (just recorded with its id): one that names no handset may be about any of them, and
    so may one whose handset is no number we send to (`choose` matches it on the id)."""
    if handset is None:
        return True
    regions = {region_of(phone) for phone in phones}
    numbers = numbers_named(handset, regions)
    if any(phone in numbers for phone in phones):
        return True
    return not _is_ours(handset, regions, sending)


def read_handset(address: str, international: bool) -> str | None:
    """The handset an address names, for `numbers_named`; None when it names none.

    Separators and NULs are dropped. An address marked international (TON 1) or written
    with "+" becomes "+" and its digits; any other number stays as its digits, to be read
    against each candidate. Letters (an alphanumeric sender) or more digits than an SMPP
    address holds are no number: None, and the report is matched on its id alone.
    """
    compact = address.translate(_SEPARATORS)
    digits = compact.removeprefix("+")
    if not (digits.isascii() and digits.isdigit()) or len(digits) > _MAX_HANDSET_DIGITS:
        return None
    return "+" + digits if international or compact.startswith("+") else digits
