"""The status rules of contract §3, as pure functions."""

from __future__ import annotations

import itertools

import pytest

from smsrelay.domain.status import (
    FINAL_STATES,
    PENDING_STATES,
    PublicStatus,
    State,
    advance,
    public_change,
    public_status,
)


@pytest.mark.parametrize(
    ("state", "public"),
    [
        (State.ACCEPTED, PublicStatus.WAITING),
        (State.QUEUED, PublicStatus.WAITING),
        (State.SUBMITTED, PublicStatus.WAITING),
        (State.ENROUTE, PublicStatus.WAITING),
        (State.ACKNOWLEDGED, PublicStatus.WAITING),
        (State.UNKNOWN, PublicStatus.WAITING),
        (State.DELIVERED, PublicStatus.DELIVERED),
        (State.UNDELIVERABLE, PublicStatus.NOT_DELIVERED),
        (State.EXPIRED, PublicStatus.NOT_DELIVERED),
        (State.DELETED, PublicStatus.NOT_DELIVERED),
        (State.REJECTED, PublicStatus.NOT_DELIVERED),
        (State.SKIPPED, PublicStatus.NOT_DELIVERED),
        (State.FAILED, PublicStatus.NOT_DELIVERED),
        (State.CANCELLED, PublicStatus.NOT_DELIVERED),
    ],
)
def test_public_projection(state: State, public: PublicStatus) -> None:
    assert public_status(state) is public


@pytest.mark.parametrize(("final", "incoming"), list(itertools.product(FINAL_STATES, State)))
def test_a_final_state_is_never_replaced(final: State, incoming: State) -> None:
    assert advance(final, incoming) is None


@pytest.mark.parametrize("state", list(State))
def test_the_same_report_twice_changes_nothing(state: State) -> None:
    assert advance(state, state) is None


@pytest.mark.parametrize(
    ("pending", "final"), list(itertools.product(PENDING_STATES, FINAL_STATES))
)
def test_a_final_report_ends_any_pending_state(pending: State, final: State) -> None:
    assert advance(pending, final) is final


def test_a_late_intermediate_report_does_not_step_back() -> None:
    assert advance(State.ENROUTE, State.SUBMITTED) is None
    assert advance(State.ACKNOWLEDGED, State.ENROUTE) is None


def test_an_intermediate_report_moves_a_submission_forward() -> None:
    assert advance(State.SUBMITTED, State.ENROUTE) is State.ENROUTE


def test_final_outcome_does_not_depend_on_report_order() -> None:
    reports = [State.ENROUTE, State.ACKNOWLEDGED, State.DELIVERED, State.DELIVERED]
    outcomes = set()
    for order in itertools.permutations(reports):
        state = State.SUBMITTED
        for report in order:
            state = advance(state, report) or state
        outcomes.add(public_status(state))
    assert outcomes == {PublicStatus.DELIVERED}


def test_public_date_changes_only_with_the_public_status() -> None:
    assert not public_change(State.SUBMITTED, State.ENROUTE)
    assert public_change(State.ENROUTE, State.DELIVERED)
