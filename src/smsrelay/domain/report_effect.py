"""What a report changes on the SMS `report_matching.choose` found for it.

A one-part SMS moves as `domain.status.advance` allows. A part of a long SMS moves the
same way, and only then its recipient: to `combine` of its parts, again as `advance`
allows, so that a part's report never undoes what the recipient already is. The store
writes what this says, and the details go into `status_events` as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from smsrelay.domain.report_matching import Candidate
from smsrelay.domain.status import State, advance, combine

__all__ = ["Effect", "report_effect"]


@dataclass(frozen=True, slots=True)
class Effect:
    part: State | None  # the part's new state; None: a one-part SMS, or the part stays
    part_detail: str | None  # its event's detail
    recipient: State | None  # the recipient's new state; None: it stays
    detail: str | None  # the recipient's event's detail


def report_effect(
    candidate: Candidate, parts: Mapping[int, State], reported: State, detail: str | None
) -> Effect:
    """The effect of a report in state `reported` on `candidate`, whose recipient's parts
    are `parts` (empty for a one-part SMS)."""
    if candidate.part is None:
        return Effect(None, None, advance(candidate.state, reported), detail)
    part = advance(candidate.state, reported)
    if part is None:
        return Effect(None, None, None, None)
    now = {**parts, candidate.part: part}
    recipient = advance(candidate.recipient_state, combine([now[n] for n in sorted(now)]))
    part_detail = f"part {candidate.part}" + (f": {detail}" if detail else "")
    return Effect(part, part_detail, recipient, f"{len(now)} parts")
