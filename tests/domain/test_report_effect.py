"""What a matched report changes: a one-part SMS, or a part and then its recipient."""

from __future__ import annotations

from smsrelay.domain.report_effect import Effect, report_effect
from smsrelay.domain.report_matching import Candidate
from smsrelay.domain.status import State

PHONE = "+33612345678"


def part(number: int, state: State, recipient: State = State.SUBMITTED) -> Candidate:
    return Candidate(1, 1, PHONE, number, state, recipient)


def test_a_one_part_sms_moves_as_its_report_says() -> None:
    sms = Candidate(1, 1, PHONE, None, State.SUBMITTED, State.SUBMITTED)
    assert report_effect(sms, {}, State.DELIVERED, "err:000") == Effect(
        None, None, State.DELIVERED, "err:000"
    )


def test_a_delivered_part_leaves_its_recipient_waiting_for_the_others() -> None:
    parts = {1: State.SUBMITTED, 2: State.SUBMITTED}
    effect = report_effect(part(1, State.SUBMITTED), parts, State.DELIVERED, None)
    assert (effect.part, effect.part_detail) == (State.DELIVERED, "part 1")
    assert effect.recipient in (None, State.SUBMITTED)


def test_the_last_part_delivered_delivers_the_recipient() -> None:
    parts = {1: State.DELIVERED, 2: State.SUBMITTED}
    effect = report_effect(part(2, State.SUBMITTED), parts, State.DELIVERED, "err:000")
    assert effect == Effect(State.DELIVERED, "part 2: err:000", State.DELIVERED, "2 parts")


def test_one_failed_part_fails_the_recipient() -> None:
    parts = {1: State.SUBMITTED, 2: State.SUBMITTED}
    effect = report_effect(part(1, State.SUBMITTED), parts, State.UNDELIVERABLE, None)
    assert effect.recipient == State.UNDELIVERABLE


def test_a_report_a_final_part_cannot_take_changes_nothing() -> None:
    parts = {1: State.DELIVERED, 2: State.SUBMITTED}
    effect = report_effect(part(1, State.DELIVERED), parts, State.ENROUTE, None)
    assert effect == Effect(None, None, None, None)
