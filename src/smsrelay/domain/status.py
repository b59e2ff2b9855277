"""The life cycle of one recipient and what the public API shows of it.

Operators report out of order, twice, and sometimes before we have recorded the
submission. The rules of the contract (v1-api.md §3) are therefore stated here as pure
functions over states, so that every report, whatever its order, is judged by the same
ones and none can move a final status. The dispatcher's own moves (claim, release,
record, expiry, cancel) set the state they mean; `public_change` says when the public
date moves with them.
"""

from __future__ import annotations

import enum
from typing import NamedTuple


class State(enum.StrEnum):
    """Internal state of one recipient; stored as its value."""

    ACCEPTED = "accepted"
    QUEUED = "queued"
    SUBMITTED = "submitted"
    ENROUTE = "enroute"
    ACKNOWLEDGED = "acknowledged"
    UNKNOWN = "unknown"
    DELIVERED = "delivered"
    UNDELIVERABLE = "undeliverable"
    EXPIRED = "expired"
    DELETED = "deleted"
    REJECTED = "rejected"
    SKIPPED = "skipped"
    FAILED = "failed"
    CANCELLED = "cancelled"


class PublicStatus(enum.StrEnum):
    """The three values of `status` the v1 API ever shows for a found recipient."""

    WAITING = "Waiting"
    DELIVERED = "Delivered"
    NOT_DELIVERED = "Not delivered"


# Progress rank: a state may only be replaced by one of a higher rank. Ranks, not a
# transition table, because reports for one recipient arrive in any order: an ENROUTE
# after a DELIVRD is simply late, and among equal ranks the first one recorded stays.
_RANK: dict[State, int] = {
    State.ACCEPTED: 0,
    State.QUEUED: 1,
    State.SUBMITTED: 2,
    State.ENROUTE: 3,
    State.ACKNOWLEDGED: 3,
    State.UNKNOWN: 3,
}
_FINAL_RANK = 4

FINAL_STATES: frozenset[State] = frozenset(s for s in State if s not in _RANK)
PENDING_STATES: frozenset[State] = frozenset(_RANK)
# Handed to an operator and waiting for its report: what the validity sweep watches.
AWAITING_REPORT: frozenset[State] = frozenset(
    {State.SUBMITTED, State.ENROUTE, State.ACKNOWLEDGED, State.UNKNOWN}
)

_PUBLIC: dict[State, PublicStatus] = {
    s: (
        PublicStatus.DELIVERED
        if s is State.DELIVERED
        else PublicStatus.NOT_DELIVERED
        if s in FINAL_STATES
        else PublicStatus.WAITING
    )
    for s in State
}
# Keyed by the stored string too, so the hot read path needs no enum construction.
PUBLIC_BY_VALUE: dict[str, str] = {s.value: p.value for s, p in _PUBLIC.items()}


def public_status(state: State) -> PublicStatus:
    """The projection of contract §3: Delivered, Not delivered or Waiting."""
    return _PUBLIC[state]


def advance(current: State, incoming: State) -> State | None:
    """The state after `incoming` is applied to `current`, or None when nothing changes.

    None covers the duplicate report, the late non-final report, and any report after a
    final state: those are the cases that must leave the recipient untouched.
    """
    current_rank = _RANK.get(current, _FINAL_RANK)
    if current_rank == _FINAL_RANK:
        return None
    if _RANK.get(incoming, _FINAL_RANK) <= current_rank:
        return None
    return incoming


def public_change(current: State, new: State) -> bool:
    """Whether moving to `new` changes what the API shows, and so the public `date`."""
    return _PUBLIC[current] is not _PUBLIC[new]


def combine(parts: list[State]) -> State:
    """The state of a long SMS from the states of its parts (contract §3).

    Delivered only when every part is; failed as soon as one part failed finally (the
    first failed part, in part order, names how); otherwise the least advanced part,
    so that a recipient never looks further along than its slowest part.
    """
    for state in parts:
        if state in FINAL_STATES and state is not State.DELIVERED:
            return state
    if all(state is State.DELIVERED for state in parts):
        return State.DELIVERED
    return min((s for s in parts if s is not State.DELIVERED), key=_RANK.__getitem__)


class StatusChange(NamedTuple):
    """One change of a recipient's state, or of a part's, as its history keeps it.

    Every store writes each change it makes through one function of its own, in the
    transaction that makes it (the history, and later what is pushed to the customer,
    can then never miss one). A tuple: a claim or a send writes 500 of them at once.
    """

    account_id: int
    message_id: int
    phone: str
    at: float
    state: State
    source: str  # who made it: api, dispatcher, a connector, validity, restart, sandbox
    detail: str | None = None
