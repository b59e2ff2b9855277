"""Each SMS goes to the connector that serves its destination."""

from __future__ import annotations

import asyncio

from smsrelay.config import ConnectorSettings, Settings, SimulatorSettings
from smsrelay.delivery.carriers.routing import NO_ROUTE, Router, RoutingCarrier
from smsrelay.delivery.carriers.simulator import SimulatorCarrier
from smsrelay.delivery.dispatcher import dispatch_budget
from smsrelay.domain.records import Outbound
from smsrelay.domain.status import State

ROUTER = Router({"france": ["+33"], "free": ["+3361", "+3362"], "world": []}, "world")


def test_the_longest_matching_prefix_wins() -> None:
    assert ROUTER.route("+33612345678") == "free"


def test_a_shorter_prefix_serves_what_the_longer_ones_do_not() -> None:
    assert ROUTER.route("+33712345678") == "france"


def test_the_fallback_takes_what_no_prefix_matches() -> None:
    assert ROUTER.route("+212612345678") == "world"


def test_without_fallback_an_unmatched_number_has_no_route() -> None:
    assert Router({"france": ["+33"]}, None).route("+212612345678") is None


def named(name: str) -> SimulatorCarrier:
    carrier = SimulatorCarrier(SimulatorSettings())
    carrier.name = name
    return carrier


def outbound(phone: str) -> Outbound:
    return Outbound(1, 1, phone, "Hi", None, "gsm7", 1)


def test_answers_come_back_in_batch_order_from_each_connector() -> None:
    carrier = RoutingCarrier(
        {"france": named("france"), "free": named("free")},
        Router({"france": ["+33"], "free": ["+3361"]}, None),
    )
    batch = [outbound("+33612345678"), outbound("+33712345678"), outbound("+212612345678")]

    async def scenario() -> list[tuple[str, str, State]]:
        answers = await carrier.submit(batch)
        return [(a.phone, a.carrier, a.state) for a in answers]

    assert asyncio.run(scenario()) == [
        ("+33612345678", "free", State.SUBMITTED),
        ("+33712345678", "france", State.SUBMITTED),
        ("+212612345678", "router", State.REJECTED),
    ]


def test_an_unroutable_sms_is_refused_with_the_reason() -> None:
    carrier = RoutingCarrier({}, Router({}, None))
    answers = asyncio.run(carrier.submit([outbound("+33612345678")]))
    assert (answers[0].state, answers[0].detail) == (State.REJECTED, NO_ROUTE)


def test_with_connectors_a_dispatch_batch_is_no_larger_than_their_windows() -> None:
    connectors = [ConnectorSettings("a", "x", window=40), ConnectorSettings("b", "y", window=24)]
    assert dispatch_budget(Settings(connectors=connectors)) == 64
    assert dispatch_budget(Settings()) == Settings().dispatch_batch
