"""The simulated operator: a seeded, reproducible model of a real network."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from typing import NamedTuple

import pytest

from smsrelay.config import SimulatorSettings
from smsrelay.delivery.carriers.simulator import (
    MAGIC_NUMBERS,
    STOP_TEXT,
    Fate,
    OutcomeModel,
    SimulatorCarrier,
)
from smsrelay.domain.records import AwaitingReport, Outbound, Receipt, Reply
from smsrelay.domain.status import State

DRAWS = 20_000


def outbound(phone: str, message_id: int = 1) -> Outbound:
    return Outbound(1, message_id, phone, "Bonjour", None, "gsm7", 1)


def drawn_fates(settings: SimulatorSettings) -> list[Fate]:
    model = OutcomeModel(settings)
    drawn = []
    for n in range(DRAWS):
        out = outbound(f"+3361{n:07d}")
        drawn.append(model.fate(model.operator_ref(out), out.phone))
    return drawn


def fates(settings: SimulatorSettings) -> list[tuple[State, float]]:
    return [(fate.state, fate.delay) for fate in drawn_fates(settings)]


def stop_delays(settings: SimulatorSettings) -> list[float | None]:
    return [fate.stop_after for fate in drawn_fates(settings)]


def test_the_same_sms_meets_the_same_fate_in_a_new_process() -> None:
    assert fates(SimulatorSettings(seed=3))[:500] == fates(SimulatorSettings(seed=3))[:500]


def test_another_seed_draws_other_fates() -> None:
    assert fates(SimulatorSettings(seed=3))[:500] != fates(SimulatorSettings(seed=4))[:500]


def test_outcome_shares_follow_the_settings() -> None:
    settings = SimulatorSettings(delivered=0.8, undelivered=0.1, expired=0.05, rejected=0.02)
    counts = Counter(state for state, _ in fates(settings))
    assert counts[State.DELIVERED] / DRAWS == pytest.approx(0.80, abs=0.015)
    assert counts[State.UNDELIVERABLE] / DRAWS == pytest.approx(0.10, abs=0.01)
    assert counts[State.EXPIRED] / DRAWS == pytest.approx(0.05, abs=0.01)
    assert counts[State.REJECTED] / DRAWS == pytest.approx(0.02, abs=0.005)
    assert counts[State.SUBMITTED] / DRAWS == pytest.approx(0.03, abs=0.005)


def test_delays_are_seconds_usually_and_hours_at_most() -> None:
    settings = SimulatorSettings(median_delay=4.0, max_delay=3600.0)
    delays = [delay for state, delay in fates(settings) if state is State.DELIVERED]
    assert statistics.median(delays) == pytest.approx(4.0, rel=0.1)
    assert max(delays) <= 3600.0
    assert sum(d > 60 for d in delays) > 0


def test_time_scale_divides_every_random_delay() -> None:
    real = [d for _, d in fates(SimulatorSettings(time_scale=1.0))]
    fast = [d for _, d in fates(SimulatorSettings(time_scale=60.0))]
    assert fast == pytest.approx([d / 60 for d in real])


def test_a_share_of_delivered_sms_is_answered_stop() -> None:
    drawn = drawn_fates(SimulatorSettings(stop_replies=0.1))
    delivered = [fate for fate in drawn if fate.state is State.DELIVERED]
    answered = sum(fate.stop_after is not None for fate in delivered)
    assert answered / len(delivered) == pytest.approx(0.1, abs=0.01)


def test_only_delivered_sms_are_answered() -> None:
    drawn = drawn_fates(SimulatorSettings(stop_replies=1.0))
    assert {fate.state for fate in drawn if fate.stop_after is not None} == {State.DELIVERED}


def test_the_same_sms_gets_the_same_reply_in_a_new_process() -> None:
    first = stop_delays(SimulatorSettings(seed=3, stop_replies=0.1))
    assert first == stop_delays(SimulatorSettings(seed=3, stop_replies=0.1))
    assert any(delay is not None for delay in first)


def test_another_seed_draws_other_replies() -> None:
    three = stop_delays(SimulatorSettings(seed=3, stop_replies=0.1))
    four = stop_delays(SimulatorSettings(seed=4, stop_replies=0.1))
    assert [d is None for d in three] != [d is None for d in four]


def test_stop_replies_change_no_fate() -> None:
    assert fates(SimulatorSettings(stop_replies=0.5)) == fates(SimulatorSettings(stop_replies=0.0))


def test_time_scale_divides_every_reply_delay() -> None:
    real = stop_delays(SimulatorSettings(time_scale=1.0, stop_replies=0.1))
    fast = stop_delays(SimulatorSettings(time_scale=60.0, stop_replies=0.1))
    assert [d is None for d in fast] == [d is None for d in real]
    assert [d for d in fast if d is not None] == pytest.approx(
        [d / 60 for d in real if d is not None]
    )


@pytest.mark.parametrize("phone", list(MAGIC_NUMBERS))
def test_test_numbers_ignore_seed_and_time_scale(phone: str) -> None:
    model = OutcomeModel(SimulatorSettings(seed=99, time_scale=500.0))
    assert model.fate("any-ref", phone) == MAGIC_NUMBERS[phone]


class Heard(NamedTuple):
    answers: list[State]
    reports: list[Receipt]
    replies: list[Reply]


def run_carrier(
    settings: SimulatorSettings,
    batch: list[Outbound],
    awaiting: list[AwaitingReport],
    wanted: int,
    wanted_replies: int = 0,
) -> Heard:
    async def scenario() -> Heard:
        carrier = SimulatorCarrier(settings)
        reports: list[Receipt] = []
        replies: list[Reply] = []
        await carrier.start(reports.append, replies.append, awaiting)
        answers = await carrier.submit(batch)
        deadline = time.monotonic() + 5
        while (len(reports) < wanted or len(replies) < wanted_replies) and (
            time.monotonic() < deadline
        ):
            await asyncio.sleep(0.01)
        await carrier.stop()
        return Heard([a.state for a in answers], reports, replies)

    return asyncio.run(scenario())


def test_carrier_answers_each_submission_and_reports_later() -> None:
    batch = [outbound("+33600000001"), outbound("+33600000004"), outbound("+33600000003")]
    answers, reports, _ = run_carrier(SimulatorSettings(), batch, [], wanted=1)
    assert answers == [State.SUBMITTED, State.REJECTED, State.SUBMITTED]
    assert [(r.state, r.phone) for r in reports] == [(State.DELIVERED, "+33600000001")]


def test_carrier_rebuilds_the_reports_it_owes_after_a_restart() -> None:
    settings = SimulatorSettings(time_scale=10_000.0, delivered=1.0, undelivered=0.0)
    model = OutcomeModel(settings)
    owed = [outbound(f"+3361234{n:04d}") for n in range(20)]
    awaiting = [
        AwaitingReport("simulator", model.operator_ref(o), o.phone, time.time()) for o in owed
    ]
    _, reports, _ = run_carrier(settings, [], awaiting, wanted=20)
    assert sorted(r.operator_ref for r in reports) == sorted(a.operator_ref for a in awaiting)
    assert {r.state for r in reports} == {State.DELIVERED}


def test_the_stop_test_number_is_delivered_then_answers_stop_a_second_later() -> None:
    out = outbound("+33600000007")
    _, reports, replies = run_carrier(SimulatorSettings(), [out], [], wanted=1, wanted_replies=1)
    ref = OutcomeModel(SimulatorSettings()).operator_ref(out)
    assert [(r.operator_ref, r.state) for r in reports] == [(ref, State.DELIVERED)]
    assert [(r.operator_ref, r.phone, r.text) for r in replies] == [
        (ref, "+33600000007", STOP_TEXT)
    ]
    assert 1.0 <= replies[0].at - reports[0].at < 2.0  # a late loop only adds to it


def test_carrier_still_owes_the_replies_of_sms_awaiting_their_report_after_a_restart() -> None:
    settings = SimulatorSettings(
        time_scale=10_000.0, delivered=1.0, undelivered=0.0, stop_replies=1.0
    )
    model = OutcomeModel(settings)
    owed = [outbound(f"+3361234{n:04d}") for n in range(20)]
    awaiting = [
        AwaitingReport("simulator", model.operator_ref(o), o.phone, time.time()) for o in owed
    ]
    _, _, replies = run_carrier(settings, [], awaiting, wanted=20, wanted_replies=20)
    assert sorted((r.operator_ref, r.phone) for r in replies) == sorted(
        (a.operator_ref, a.phone) for a in awaiting
    )
