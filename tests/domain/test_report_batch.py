"""A batch of reports is judged in order, each against the state the previous one left.

Pure: `Recorded` is filled by hand as a store's reads would fill it.
"""

from __future__ import annotations

from dataclasses import dataclass

from smsrelay.domain.records import Receipt
from smsrelay.domain.report_batch import PartChange, RecipientChange, Recorded, judge_reports
from smsrelay.domain.status import State

ALICE = "+33611111111"
BOB = "+33622222222"
ONE_PART = (1, 10, ALICE)
LONG = (1, 11, BOB)


@dataclass(frozen=True)
class Sending:
    pending: frozenset[str] = frozenset()
    addressed: frozenset[str] = frozenset({ALICE, BOB})

    @property
    def regions(self) -> frozenset[str]:
        return frozenset({"FR"})


def recorded() -> Recorded:
    found = Recorded()
    found.add("smsc", "a", ONE_PART, None, State.SUBMITTED)
    found.add("smsc", "b1", LONG, 1, State.SUBMITTED)
    found.add("smsc", "b2", LONG, 2, State.SUBMITTED)
    for part in (1, 2):
        found.add_part_state(LONG, part, State.SUBMITTED)
    return found


def report(ref: str, state: State, handset: str | None) -> Receipt:
    return Receipt("smsc", ref, state, 1.0, f"stat {state}", handset)


def test_reports_for_one_sms_in_one_batch_are_judged_in_turn() -> None:
    changes = judge_reports(
        [
            report("a", State.ENROUTE, ALICE),
            report("a", State.DELIVERED, ALICE),
            report("a", State.DELIVERED, ALICE),  # a duplicate: changes nothing
        ],
        recorded(),
        Sending(),
    )
    assert changes.changes == [
        RecipientChange(ONE_PART, State.SUBMITTED, State.ENROUTE, "smsc", "stat enroute"),
        RecipientChange(ONE_PART, State.ENROUTE, State.DELIVERED, "smsc", "stat delivered"),
    ]
    assert changes.early == changes.on_id_alone == []


def test_a_long_sms_is_delivered_once_both_parts_are_and_each_part_is_told_first() -> None:
    changes = judge_reports(
        [report("b1", State.DELIVERED, BOB), report("b2", State.DELIVERED, BOB)],
        recorded(),
        Sending(),
    )
    assert changes.changes == [
        PartChange(LONG, 1, State.DELIVERED, "smsc", "part 1: stat delivered"),
        PartChange(LONG, 2, State.DELIVERED, "smsc", "part 2: stat delivered"),
        RecipientChange(LONG, State.SUBMITTED, State.DELIVERED, "smsc", "2 parts"),
    ]
    assert changes.parts == changes.changes[:2]
    assert changes.recipients == changes.changes[2:]


def test_what_is_not_applied_is_sorted_out() -> None:
    early = report("unknown", State.DELIVERED, ALICE)  # no SMS has the id yet
    foreign = report("a", State.DELIVERED, "36180")  # a short code: on the id alone
    not_alices = report("a", State.DELIVERED, BOB)  # Bob's SMS with that id is to come
    changes = judge_reports([early, not_alices, foreign], recorded(), Sending())
    assert changes.early == [early, not_alices]
    assert changes.on_id_alone == [foreign]
    assert [c.state for c in changes.changes] == [State.DELIVERED]
