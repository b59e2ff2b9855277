"""The simulated operator: a seeded, reproducible model of a real network."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter

import pytest

from smsrelay.config import SimulatorSettings
from smsrelay.delivery.carriers.simulator import MAGIC_NUMBERS, OutcomeModel, SimulatorCarrier
from smsrelay.domain.status import State
from smsrelay.store.base import AwaitingReport, Outbound, Receipt

DRAWS = 20_000


def outbound(phone: str, message_id: int = 1) -> Outbound:
    return Outbound(1, message_id, phone, "Bonjour", None, "gsm7", 1)


def fates(settings: SimulatorSettings) -> list[tuple[State, float]]:
    model = OutcomeModel(settings)
    drawn = []
    for n in range(DRAWS):
        out = outbound(f"+3361{n:07d}")
        fate = model.fate(model.operator_ref(out), out.phone)
        drawn.append((fate.state, fate.delay))
    return drawn


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


@pytest.mark.parametrize("phone", list(MAGIC_NUMBERS))
def test_test_numbers_ignore_seed_and_time_scale(phone: str) -> None:
    model = OutcomeModel(SimulatorSettings(seed=99, time_scale=500.0))
    assert model.fate("any-ref", phone) == MAGIC_NUMBERS[phone]


def run_carrier(
    settings: SimulatorSettings,
    batch: list[Outbound],
    awaiting: list[AwaitingReport],
    wanted: int,
) -> tuple[list[State], list[Receipt]]:
    async def scenario() -> tuple[list[State], list[Receipt]]:
        carrier = SimulatorCarrier(settings)
        received: list[Receipt] = []
        await carrier.start(received.append, awaiting)
        answers = await carrier.submit(batch)
        deadline = time.monotonic() + 5
        while len(received) < wanted and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await carrier.stop()
        return [a.state for a in answers], received

    return asyncio.run(scenario())


def test_carrier_answers_each_submission_and_reports_later() -> None:
    batch = [outbound("+33600000001"), outbound("+33600000004"), outbound("+33600000003")]
    answers, reports = run_carrier(SimulatorSettings(), batch, [], wanted=1)
    assert answers == [State.SUBMITTED, State.REJECTED, State.SUBMITTED]
    assert [r.state for r in reports] == [State.DELIVERED]


def test_carrier_rebuilds_the_reports_it_owes_after_a_restart() -> None:
    settings = SimulatorSettings(time_scale=10_000.0, delivered=1.0, undelivered=0.0)
    model = OutcomeModel(settings)
    owed = [outbound(f"+3361234{n:04d}") for n in range(20)]
    awaiting = [
        AwaitingReport("simulator", model.operator_ref(o), o.phone, time.time()) for o in owed
    ]
    _, reports = run_carrier(settings, [], awaiting, wanted=20)
    assert sorted(r.operator_ref for r in reports) == sorted(a.operator_ref for a in awaiting)
    assert {r.state for r in reports} == {State.DELIVERED}
