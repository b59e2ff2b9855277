"""Scheduled and held sends, on a clock the test sets: nothing leaves before its time.

The services take `now`, and the dispatcher's query takes it too, so these tests move
time by passing it, never by sleeping.
"""

from __future__ import annotations

from collections.abc import Coroutine, Iterator
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest

from smsrelay.config import Settings
from smsrelay.domain.problems import Problem, Refused
from smsrelay.domain.records import Account
from smsrelay.domain.status import State
from smsrelay.service import accounts, cancelling, sending
from smsrelay.service.sending import SendingRules
from smsrelay.store import open_store
from smsrelay.store.base import Store
from tests.databases import sync

T = TypeVar("T")
PARIS = ZoneInfo("Europe/Paris")
RULES = SendingRules.from_settings(Settings())
# Monday 7 December 2026, 10:00 in Paris: the test's "now".
NOW = datetime(2026, 12, 7, 10, 0, tzinfo=PARIS).timestamp()
# The send below is scheduled for Wednesday 9 December 2026, 14:30 in Paris.
AT = datetime(2026, 12, 9, 14, 30, tzinfo=PARIS).timestamp()
SCHEDULED = {
    "phoneNumbers": "0612345678,0612345679",
    "message": "Bonjour",
    "scheduledDeliveryDate": "09/12/2026",
    "time": "14",
    "minute": "30",
}


def run(work: Coroutine[Any, Any, T]) -> T:
    return sync(work)  # the test's one loop: a PostgreSQL store's connections are its own


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """A migrated store of the test's kind: every test here runs on SQLite and PostgreSQL."""
    opened = open_store(database_url)
    run(opened.migrate())
    yield opened
    run(opened.close())


def account(store: Store, *, quiet_hours: bool = False) -> Account:
    return run(accounts.create_account(store, "acme", credits=10, quiet_hours=quiet_hours))


def credit_of(store: Store, acme: Account) -> int:
    found = run(store.find_account(acme.name))
    assert found is not None
    return found.credits


def send(store: Store, acme: Account, params: dict[str, Any], now: float) -> int:
    return run(sending.send(store, acme, RULES, params, now)).message_id


def cancel(store: Store, acme: Account, message_id: int, now: float) -> None:
    run(cancelling.cancel(store, acme, {"messageId": message_id}, "fr", now))


def test_nothing_leaves_before_the_scheduled_time(store: Store) -> None:
    send(store, account(store), SCHEDULED, NOW)
    assert run(store.claim_due(AT - 1, 100)) == []
    assert {o.phone for o in run(store.claim_due(AT, 100))} == {"+33612345678", "+33612345679"}


def test_a_scheduled_send_is_charged_when_accepted(store: Store) -> None:
    acme = account(store)
    send(store, acme, SCHEDULED, NOW)
    assert credit_of(store, acme) == 10_000 - 2 * 38


def test_a_scheduled_send_counts_in_to_send_until_its_time(store: Store) -> None:
    acme = account(store)
    send(store, acme, SCHEDULED, NOW)
    assert run(store.waiting_parts(acme.id, NOW)) == 2
    assert run(store.waiting_parts(acme.id, AT)) == 0


def test_cancel_more_than_5_minutes_before_refunds_and_fails_recipients(
    store: Store,
) -> None:
    acme = account(store)
    message_id = send(store, acme, SCHEDULED, NOW)
    cancel(store, acme, message_id, AT - 301)
    assert credit_of(store, acme) == 10_000
    states = {r.state for r in run(store.message_recipients(acme.id, message_id))}
    assert states == {State.CANCELLED}
    assert run(store.claim_due(AT, 100)) == []


def test_cancel_less_than_5_minutes_before_answers_6(store: Store) -> None:
    acme = account(store)
    message_id = send(store, acme, SCHEDULED, NOW)
    with pytest.raises(Refused) as refusal:
        cancel(store, acme, message_id, AT - 299)
    assert refusal.value.problem is Problem.CANCEL_TOO_LATE


def test_cancel_after_the_time_answers_7(store: Store) -> None:
    acme = account(store)
    message_id = send(store, acme, SCHEDULED, NOW)
    run(store.claim_due(AT, 100))
    with pytest.raises(Refused) as refusal:
        cancel(store, acme, message_id, AT + 1)
    assert refusal.value.problem is Problem.ALREADY_SENT


def test_cancel_of_an_immediate_send_answers_7(store: Store) -> None:
    acme = account(store)
    message_id = send(store, acme, {"phoneNumbers": "0612345678", "message": "Hi"}, NOW)
    with pytest.raises(Refused) as refusal:
        cancel(store, acme, message_id, NOW)
    assert refusal.value.problem is Problem.ALREADY_SENT


def test_cancel_twice_answers_5(store: Store) -> None:
    acme = account(store)
    message_id = send(store, acme, SCHEDULED, NOW)
    cancel(store, acme, message_id, NOW)
    with pytest.raises(Refused) as refusal:
        cancel(store, acme, message_id, NOW)
    assert refusal.value.problem is Problem.ALREADY_CANCELLED


def test_cancel_of_another_accounts_send_answers_4(store: Store) -> None:
    message_id = send(store, account(store), SCHEDULED, NOW)
    rival = run(accounts.create_account(store, "rival", credits=10))
    with pytest.raises(Refused) as refusal:
        cancel(store, rival, message_id, NOW)
    assert refusal.value.problem is Problem.MESSAGE_NOT_FOUND


def test_a_marketing_send_on_saturday_evening_waits_for_monday_8(store: Store) -> None:
    saturday_evening = datetime(2026, 12, 12, 21, 0, tzinfo=PARIS).timestamp()
    monday_8 = datetime(2026, 12, 14, 8, 0, tzinfo=PARIS).timestamp()
    answer = run(
        sending.send(
            store,
            account(store, quiet_hours=True),
            RULES,
            {"phoneNumbers": "0612345678", "message": "Promo"},
            saturday_evening,
        )
    )
    assert answer.scheduledDeliveryDate == "2026-12-14 08:00:00"
    assert run(store.claim_due(monday_8 - 1, 100)) == []
    assert len(run(store.claim_due(monday_8, 100))) == 1


def test_a_transactional_send_on_saturday_evening_leaves_at_once(store: Store) -> None:
    saturday_evening = datetime(2026, 12, 12, 21, 0, tzinfo=PARIS).timestamp()
    send(
        store,
        account(store),
        {"phoneNumbers": "0612345678", "message": "Code 1234"},
        saturday_evening,
    )
    assert len(run(store.claim_due(saturday_evening, 100))) == 1


def test_a_marketing_send_held_by_quiet_hours_can_be_cancelled(store: Store) -> None:
    christmas_eve = datetime(2026, 12, 24, 20, 30, tzinfo=PARIS).timestamp()
    acme = account(store, quiet_hours=True)
    message_id = send(
        store, acme, {"phoneNumbers": "0612345678", "message": "Promo"}, christmas_eve
    )
    cancel(store, acme, message_id, christmas_eve)
    assert credit_of(store, acme) == 10_000
