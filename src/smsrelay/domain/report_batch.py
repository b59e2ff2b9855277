"""A batch of delivery reports judged against what a store read: the changes to write.

Every store reads the same things for a batch (the SMS recorded with its operator ids,
the other parts of the long ones among them, and, only when asked, what it knows of the
numbers we send to) and writes the same changes. The decisions in between are here,
once: which SMS each report is about (`report_matching.choose`), what it changes
(`report_effect`), and what is kept unapplied (early, ambiguous). Reports for the same
SMS may share a batch (ENROUTE then DELIVRD, or a duplicate): each is judged against the
state the previous one left, so `Recorded` is updated as the batch is judged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from smsrelay.domain.records import Receipt
from smsrelay.domain.report_effect import report_effect
from smsrelay.domain.report_matching import (
    EARLY,
    Ambiguous,
    Candidate,
    Matched,
    Sending,
    choose,
)
from smsrelay.domain.status import State

__all__ = [
    "Key",
    "PartChange",
    "RecipientChange",
    "Recorded",
    "ReportChanges",
    "handsets",
    "judge_reports",
]

Key = tuple[int, int, str]  # account, message, phone: one recipient
Ref = tuple[str, str]  # carrier, operator id


class Recorded:
    """What a store holds of the SMS a batch's ids name: fed by the store's reads
    (`add`, `add_part_state`), then kept up to date as the batch is judged."""

    def __init__(self) -> None:
        self._named: dict[Ref, list[tuple[Key, int | None]]] = {}
        self.recipients: dict[Key, State] = {}
        self.parts: dict[Key, dict[int, State]] = {}

    def add(
        self, carrier: str, operator_ref: str, key: Key, part: int | None, state: State
    ) -> None:
        """An SMS recorded with that id: a one-part recipient (`part` None) or one part of
        a long one, with its recipient's `state`."""
        self._named.setdefault((carrier, operator_ref), []).append((key, part))
        self.recipients[key] = state

    def add_part_state(self, key: Key, part: int, state: State) -> None:
        """A part of a long SMS named above, any of its parts: a report on one combines
        them all."""
        self.parts.setdefault(key, {})[part] = state

    @property
    def long_sms(self) -> set[Key]:
        """The recipients named through a part: the store reads all their parts."""
        return {key for named in self._named.values() for key, part in named if part is not None}

    def candidates(self, receipt: Receipt) -> list[Candidate]:
        found = []
        for key, part in self._named.get((receipt.carrier, receipt.operator_ref), []):
            recipient = self.recipients[key]
            state = recipient if part is None else self.parts[key][part]
            found.append(Candidate(*key, part, state, recipient))
        return found


@dataclass(frozen=True, slots=True)
class PartChange:
    key: Key
    part: int
    state: State
    source: str  # the connector: the event's source
    detail: str | None


@dataclass(frozen=True, slots=True)
class RecipientChange:
    key: Key
    was: State  # what the public date's move is judged against
    state: State
    source: str
    detail: str | None


@dataclass(slots=True)
class ReportChanges:
    """What a batch changes: each part's and recipient's new state, in the order judged
    (a part's, then its recipient's: the order of their `status_events` rows); the
    reports kept early or ambiguous; the reports matched on their id alone (the store
    warns once per connector)."""

    changes: list[PartChange | RecipientChange] = field(default_factory=list)
    early: list[Receipt] = field(default_factory=list)
    ambiguous: list[tuple[Receipt, Ambiguous]] = field(default_factory=list)
    on_id_alone: list[Receipt] = field(default_factory=list)

    @property
    def parts(self) -> list[PartChange]:
        return [c for c in self.changes if isinstance(c, PartChange)]

    @property
    def recipients(self) -> list[RecipientChange]:
        return [c for c in self.changes if isinstance(c, RecipientChange)]


def judge_reports(
    receipts: Iterable[Receipt], recorded: Recorded, sending: Sending
) -> ReportChanges:
    """The changes a batch of reports makes, judged in order against `recorded`."""
    changes = ReportChanges()
    for receipt in receipts:
        match = choose(receipt.phone, recorded.candidates(receipt), sending)
        if isinstance(match, Matched | Ambiguous) and match.on_id_alone:
            changes.on_id_alone.append(receipt)
        if isinstance(match, Ambiguous):
            changes.ambiguous.append((receipt, match))
            continue
        if not isinstance(match, Matched):
            if match is EARLY:
                changes.early.append(receipt)
            continue  # LATE: about an SMS already final, nothing to change
        _apply(match.candidate, receipt, recorded, changes)
    return changes


def _apply(
    candidate: Candidate, receipt: Receipt, recorded: Recorded, changes: ReportChanges
) -> None:
    key = (candidate.account_id, candidate.message_id, candidate.phone)
    effect = report_effect(candidate, recorded.parts.get(key, {}), receipt.state, receipt.detail)
    if effect.part is not None and candidate.part is not None:
        recorded.parts[key][candidate.part] = effect.part
        changes.changes.append(
            PartChange(key, candidate.part, effect.part, receipt.carrier, effect.part_detail)
        )
    if effect.recipient is None:
        return
    recorded.recipients[key] = effect.recipient
    changes.changes.append(
        RecipientChange(
            key, candidate.recipient_state, effect.recipient, receipt.carrier, effect.detail
        )
    )


def handsets(receipts: Sequence[Receipt]) -> list[str]:
    """The handsets a batch's reports name: what a store's `Sending` may be asked about."""
    return [r.phone for r in receipts if r.phone is not None]
