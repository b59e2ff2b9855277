"""The same submissions and reports, applied in any order, end in the same statuses.

Operators report out of order, twice, for parts of a long SMS, and before answering the
submission. Whatever the order, a recipient must end where the set of events says. On
each database (`store_kind`), every example on an empty one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smsrelay.domain.records import NewMessage, NewRecipient, Receipt, Submission
from smsrelay.domain.status import State, public_status
from smsrelay.store import open_store

FINALS = [State.DELIVERED, State.UNDELIVERABLE, State.EXPIRED, State.REJECTED, State.FAILED]
PENDING = [State.ENROUTE, State.ACKNOWLEDGED, State.UNKNOWN]
PHONES = [f"+3361234567{n}" for n in range(4)]

Event = tuple[str, int, int]  # ("submit", recipient, 0) or ("report", recipient, report index)


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[int], list[list[tuple[int, State]]], list[Event]]:
    """Per recipient: its parts, its reports (part, state), and an order for all events."""
    parts = [draw(st.integers(1, 3)) for _ in PHONES]
    reports: list[list[tuple[int, State]]] = []
    for count in parts:
        mine: list[tuple[int, State]] = []
        for part in range(1, count + 1):
            final = draw(st.sampled_from(FINALS))
            noise = draw(st.lists(st.sampled_from(PENDING), max_size=2))
            mine += [(part, final)] * draw(st.integers(1, 2)) + [(part, s) for s in noise]
        reports.append(mine)
    events: list[Event] = [("submit", r, 0) for r in range(len(PHONES))]
    events += [("report", r, i) for r, mine in enumerate(reports) for i in range(len(mine))]
    return parts, reports, draw(st.permutations(events))


def ref(recipient: int, part: int) -> str:
    return f"op-{recipient}-{part}"


def shared_ref(recipient: int, part: int) -> str:
    """An operator that reuses its ids: every recipient's part N gets the same one."""
    return f"op-{part}"


async def final_states(
    database_url: str,
    parts: list[int],
    reports: list[list[tuple[int, State]]],
    order: list[Event],
    shared_ids: bool = False,
) -> list[State]:
    """The states after `order`; with `shared_ids`, the recipients' parts share their ids
    and each report names its handset (as international digits without "+")."""
    ref_of = shared_ref if shared_ids else ref
    store = open_store(database_url)
    await store.migrate()
    account = await store.create_account("acme", "FR", "fr", 10**9, 0)
    recipients = [NewRecipient(p, None, "gsm7", n) for p, n in zip(PHONES, parts, strict=True)]
    message_id = await store.create_message(
        NewMessage(account.id, "Hi", None, None, False, sum(parts), 0, recipients), 0.0
    )
    await store.claim_due(0.0, 100)
    for kind, recipient, index in order:
        if kind == "submit":
            refs = tuple(ref_of(recipient, part) for part in range(1, parts[recipient] + 1))
            submission = Submission(
                account.id, message_id, PHONES[recipient], "smsc", refs, State.SUBMITTED
            )
            await store.record_submissions([submission], 1.0, 3600.0)
        else:
            part, state = reports[recipient][index]
            handset = PHONES[recipient].removeprefix("+") if shared_ids else None
            report = Receipt("smsc", ref_of(recipient, part), state, 2.0, phone=handset)
            await store.apply_receipts([report], 2.0)
    found = await store.message_recipients(account.id, message_id)
    await store.close()
    by_phone = {r.phone: r.state for r in found}
    return [by_phone[p] for p in PHONES]


def expected(parts: list[int], reports: list[list[tuple[int, State]]]) -> list[str]:
    """Contract §3: Delivered when every part is, Not delivered as soon as one part fails."""
    outcome = []
    for mine in reports:
        finals = [s for _, s in mine if s in FINALS]
        outcome.append("Delivered" if set(finals) == {State.DELIVERED} else "Not delivered")
    return outcome


# `new_database` is function-scoped but gives an empty database at each call: each
# example calls it.
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(histories())
def test_any_order_of_the_same_events_gives_the_same_public_statuses(
    new_database: Callable[[], str],
    history: tuple[list[int], list[list[tuple[int, State]]], list[Event]],
) -> None:
    parts, reports, order = history
    states = asyncio.run(final_states(new_database(), parts, reports, order))
    assert [public_status(s) for s in states] == expected(parts, reports)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(histories())
def test_a_one_part_sms_ends_in_the_same_state_whatever_the_order(
    new_database: Callable[[], str],
    history: tuple[list[int], list[list[tuple[int, State]]], list[Event]],
) -> None:
    parts, reports, order = history
    one_part = [1] * len(parts)
    single = [[(1, s) for p, s in mine if p == 1] for mine in reports]
    events = [e for e in order if e[0] == "submit" or reports[e[1]][e[2]][0] == 1]
    # Re-index the kept reports of each recipient in the order they appear.
    positions = {
        (r, i): n
        for r, mine in enumerate(reports)
        for n, i in enumerate(i for i, (p, _) in enumerate(mine) if p == 1)
    }
    reordered = [(k, r, positions[(r, i)] if k == "report" else 0) for k, r, i in events]
    first = asyncio.run(final_states(new_database(), one_part, single, reordered))
    second = asyncio.run(final_states(new_database(), one_part, single, list(reversed(reordered))))
    assert first == second


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(histories())
def test_ids_every_recipient_shares_still_reach_their_own_sms_in_any_order(
    new_database: Callable[[], str],
    history: tuple[list[int], list[list[tuple[int, State]]], list[Event]],
) -> None:
    parts, reports, order = history
    states = asyncio.run(final_states(new_database(), parts, reports, order, shared_ids=True))
    assert [public_status(s) for s in states] == expected(parts, reports)
