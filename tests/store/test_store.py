"""The store, on each database: a SQLite file and a PostgreSQL database (`store_kind`).

What only SQLite does (write-ahead logging, its lock, its query plans) is in
test_sqlite.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from smsrelay.domain.records import NewMessage, NewRecipient, Receipt, Reply, Submission
from smsrelay.domain.status import State
from smsrelay.store import StoreError, open_store
from smsrelay.store.base import Store
from tests.databases import sync
from tests.store.peek import execute, rows, value

NOW = 1_800_000_000.0
VALIDITY = 48 * 3600.0
PHONES = ["+33600000001", "+33600000002", "+33612345678"]


def new_message(store: Store, account_id: int, *, sandbox: bool = False) -> int:
    recipients = [NewRecipient(p, None, "gsm7", 1) for p in PHONES]
    message = NewMessage(account_id, "Bonjour", None, None, sandbox, 3, 114, recipients)
    return sync(store.create_message(message, NOW))


@pytest.fixture
def account_id(store: Store) -> int:
    return sync(store.create_account("acme", "FR", "fr", 100_000, int(NOW))).id


def submit_all(store: Store, message_id: int, account_id: int) -> None:
    claimed = sync(store.claim_due(NOW, 100))
    sync(
        store.record_submissions(
            [
                Submission(
                    account_id, message_id, c.phone, "sim", (f"ref-{c.phone}",), State.SUBMITTED
                )
                for c in claimed
            ],
            NOW,
            VALIDITY,
        )
    )


def status_of(store: Store, account_id: int, message_id: int, phone: str) -> tuple[Any, ...]:
    found = sync(store.lookup_statuses(account_id, [(message_id, phone)]))
    return found[(message_id, phone)]


def report(phone: str, state: State, at: float = NOW) -> Receipt:
    return Receipt("sim", f"ref-{phone}", state, at)


# --- migrations -------------------------------------------------------------------------


def test_migrating_twice_applies_nothing_the_second_time(store: Store) -> None:
    assert sync(store.migrate()) == []


# --- the status lookup ------------------------------------------------------------------


def test_lookup_never_answers_for_another_account(store: Store, account_id: int) -> None:
    message_id = new_message(store, account_id)
    other = sync(store.create_account("rival", "FR", "fr", 100_000, int(NOW))).id
    assert sync(store.lookup_statuses(other, [(message_id, PHONES[0])])) == {}


def test_new_recipients_are_accepted_at_their_creation_time(store: Store, account_id: int) -> None:
    message_id = new_message(store, account_id)
    assert status_of(store, account_id, message_id, PHONES[0]) == ("accepted", int(NOW), 0, 0)


def test_sandbox_recipients_are_delivered_at_once_and_never_dispatched(
    store: Store, account_id: int
) -> None:
    message_id = new_message(store, account_id, sandbox=True)
    assert status_of(store, account_id, message_id, PHONES[0])[0] == "delivered"
    assert sync(store.claim_due(NOW + 10, 100)) == []


def test_message_ids_are_never_reused(store: Store, account_id: int) -> None:
    first = new_message(store, account_id)
    execute(store, "DELETE FROM recipients")
    execute(store, "DELETE FROM messages")
    assert new_message(store, account_id) > first


# --- dispatch ---------------------------------------------------------------------------


def test_a_claimed_recipient_is_not_claimed_again(store: Store, account_id: int) -> None:
    new_message(store, account_id)
    assert len(sync(store.claim_due(NOW, 100))) == 3
    assert sync(store.claim_due(NOW, 100)) == []


def test_claims_of_a_stopped_process_are_released(store: Store, account_id: int) -> None:
    new_message(store, account_id)
    sync(store.claim_due(NOW, 100))
    assert sync(store.release_claims(NOW)) == 3
    assert len(sync(store.claim_due(NOW, 100))) == 3


def test_recording_a_batch_can_claim_the_next(store: Store, account_id: int) -> None:
    first = new_message(store, account_id)
    claimed = sync(store.claim_due(NOW, 100))
    second = new_message(store, account_id)
    answers = [
        Submission(account_id, first, c.phone, "sim", (f"ref-{c.phone}",), State.SUBMITTED)
        for c in claimed
    ]
    following = sync(store.record_submissions(answers, NOW, VALIDITY, claim=2))
    assert [c.message_id for c in following] == [second, second]
    assert {status_of(store, account_id, first, p)[0] for p in PHONES} == {"submitted"}
    states = {p: status_of(store, account_id, second, p)[0] for p in PHONES}
    assert sorted(states.values()) == ["accepted", "queued", "queued"]
    assert {p for p, state in states.items() if state == "queued"} == {c.phone for c in following}


def test_a_refused_submission_is_final_at_once(store: Store, account_id: int) -> None:
    message_id = new_message(store, account_id)
    sync(store.claim_due(NOW, 100))
    refusal = Submission(account_id, message_id, PHONES[0], "sim", (), State.REJECTED, "no")
    sync(store.record_submissions([refusal], NOW + 5, VALIDITY))
    assert status_of(store, account_id, message_id, PHONES[0])[:2] == ("rejected", int(NOW) + 5)


# --- reports ----------------------------------------------------------------------------


def test_a_final_report_sets_status_and_date(store: Store, account_id: int) -> None:
    message_id = new_message(store, account_id)
    submit_all(store, message_id, account_id)
    assert sync(store.apply_receipts([report(PHONES[0], State.DELIVERED)], NOW + 30)) == 1
    assert status_of(store, account_id, message_id, PHONES[0])[:2] == ("delivered", int(NOW) + 30)


def test_a_report_after_a_final_state_changes_nothing(store: Store, account_id: int) -> None:
    message_id = new_message(store, account_id)
    submit_all(store, message_id, account_id)
    sync(store.apply_receipts([report(PHONES[0], State.DELIVERED)], NOW + 30))
    late = [report(PHONES[0], State.ENROUTE), report(PHONES[0], State.UNDELIVERABLE)]
    assert sync(store.apply_receipts(late, NOW + 60)) == 0
    assert status_of(store, account_id, message_id, PHONES[0])[:2] == ("delivered", int(NOW) + 30)


def test_a_duplicate_report_changes_nothing(store: Store, account_id: int) -> None:
    message_id = new_message(store, account_id)
    submit_all(store, message_id, account_id)
    sync(store.apply_receipts([report(PHONES[1], State.UNDELIVERABLE)], NOW + 30))
    assert sync(store.apply_receipts([report(PHONES[1], State.UNDELIVERABLE)], NOW + 90)) == 0
    assert status_of(store, account_id, message_id, PHONES[1])[1] == int(NOW) + 30


def test_an_intermediate_report_keeps_the_public_date(store: Store, account_id: int) -> None:
    message_id = new_message(store, account_id)
    submit_all(store, message_id, account_id)
    sync(store.apply_receipts([report(PHONES[0], State.ENROUTE)], NOW + 30))
    assert status_of(store, account_id, message_id, PHONES[0])[:2] == ("enroute", int(NOW))


def test_a_report_before_its_submission_is_applied_once_recorded(
    store: Store, account_id: int
) -> None:
    message_id = new_message(store, account_id)
    assert sync(store.apply_receipts([report(PHONES[2], State.DELIVERED)], NOW + 1)) == 0
    submit_all(store, message_id, account_id)
    assert status_of(store, account_id, message_id, PHONES[2])[0] == "delivered"
    assert value(store, "SELECT count(*) FROM early_receipts") == 0


def test_early_reports_for_several_submissions_of_a_batch_are_applied_in_order(
    store: Store, account_id: int
) -> None:
    message_id = new_message(store, account_id)
    early = [
        report(PHONES[0], State.DELIVERED, NOW + 2),
        report(PHONES[0], State.ENROUTE, NOW + 1),  # came first, stored later
        report(PHONES[1], State.UNDELIVERABLE, NOW + 1),
        report("+33699999999", State.DELIVERED, NOW + 1),  # names no SMS of the batch
    ]
    sync(store.apply_receipts(early, NOW + 3))
    submit_all(store, message_id, account_id)
    history = rows(store, "SELECT state FROM status_events WHERE phone = ? ORDER BY id", PHONES[0])
    assert history[-2:] == [("enroute",), ("delivered",)]
    assert status_of(store, account_id, message_id, PHONES[1])[0] == "undeliverable"
    assert status_of(store, account_id, message_id, PHONES[2])[0] == "submitted"
    kept = rows(store, "SELECT operator_ref FROM early_receipts")
    assert kept == [("ref-+33699999999",)]


def test_no_final_report_within_validity_expires(store: Store, account_id: int) -> None:
    message_id = new_message(store, account_id)
    submit_all(store, message_id, account_id)
    sync(store.apply_receipts([report(PHONES[0], State.DELIVERED)], NOW + 30))
    assert sync(store.expire_overdue(NOW + VALIDITY - 1)) == 0
    assert sync(store.expire_overdue(NOW + VALIDITY)) == 2
    assert status_of(store, account_id, message_id, PHONES[1])[0] == "expired"
    assert status_of(store, account_id, message_id, PHONES[0])[0] == "delivered"


def test_every_state_change_is_in_the_history(store: Store, account_id: int) -> None:
    message_id = new_message(store, account_id)
    submit_all(store, message_id, account_id)
    sync(store.apply_receipts([report(PHONES[0], State.DELIVERED)], NOW + 30))
    history = rows(
        store,
        "SELECT state, source FROM status_events WHERE message_id = ? AND phone = ? ORDER BY id",
        message_id,
        PHONES[0],
    )
    assert history == [
        ("accepted", "api"), ("queued", "dispatcher"), ("submitted", "sim"), ("delivered", "sim"),
    ]  # fmt: skip


def test_awaiting_reports_lists_what_the_operator_owes(store: Store, account_id: int) -> None:
    message_id = new_message(store, account_id)
    submit_all(store, message_id, account_id)
    sync(store.apply_receipts([report(PHONES[0], State.DELIVERED)], NOW + 30))
    owed = sync(store.awaiting_reports("sim"))
    assert sorted(a.phone for a in owed) == PHONES[1:]


# --- errors -----------------------------------------------------------------------------


def test_a_broken_connection_raises_store_errors_only(database_url: str) -> None:
    broken = open_store(database_url)
    sync(broken.migrate())
    sync(broken.close())
    with pytest.raises(StoreError):
        sync(broken.lookup_statuses(1, [(1, PHONES[0])]))
    with pytest.raises(StoreError):
        sync(broken.claim_due(NOW, 10))


def test_a_duplicate_account_is_a_store_error(store: Store, account_id: int) -> None:
    with pytest.raises(StoreError, match="exists already"):
        sync(store.create_account("acme", "FR", "fr", 100_000, int(NOW)))


def test_early_reports_are_forgotten_after_validity(store: Store, account_id: int) -> None:
    sync(store.apply_receipts([report("+33699999999", State.DELIVERED, at=NOW)], NOW))
    assert sync(store.forget_unmatched_receipts(NOW)) == 0
    assert sync(store.forget_unmatched_receipts(NOW + 1)) == 1


# --- STOP list --------------------------------------------------------------------------


def test_a_stop_reply_lists_the_number_and_marks_its_recipient(
    store: Store, account_id: int
) -> None:
    message_id = new_message(store, account_id)
    submit_all(store, message_id, account_id)
    phone = PHONES[0]
    reply = Reply("sim", phone, "STOP", NOW, f"ref-{phone}", stop=True)
    assert sync(store.record_replies([reply], NOW)) == 1
    assert [e.phone for e in sync(store.list_stops(account_id))] == [phone]
    assert status_of(store, account_id, message_id, phone)[2] == 1
    assert status_of(store, account_id, message_id, PHONES[1])[2] == 0


def test_a_stop_reply_keeps_the_state_and_writes_history(store: Store, account_id: int) -> None:
    message_id = new_message(store, account_id)
    submit_all(store, message_id, account_id)
    phone = PHONES[0]
    sync(store.record_replies([Reply("sim", phone, "Stop.", NOW, f"ref-{phone}", stop=True)], NOW))
    last = rows(
        store,
        "SELECT state, source, detail FROM status_events WHERE phone = ? ORDER BY id DESC",
        phone,
    )[0]
    assert last == (State.SUBMITTED, "sim", "STOP reply: Stop.")


def test_a_stop_reply_for_an_unknown_sms_matches_nothing(store: Store, account_id: int) -> None:
    reply = Reply("sim", PHONES[0], "STOP", NOW, "ref-nobody", stop=True)
    assert sync(store.record_replies([reply], NOW)) == 0
    assert sync(store.list_stops(account_id)) == []


def test_stopped_among_finds_only_listed_numbers(store: Store, account_id: int) -> None:
    sync(store.add_stop(account_id, PHONES[0], "api", int(NOW)))
    assert sync(store.stopped_among(account_id, list(PHONES))) == {PHONES[0]}


def test_adding_a_listed_number_again_gives_no_id(store: Store, account_id: int) -> None:
    assert sync(store.add_stop(account_id, PHONES[0], "api", int(NOW))) is not None
    assert sync(store.add_stop(account_id, PHONES[0], "api", int(NOW))) is None


# --- long SMS, retries --------------------------------------------------------------------


def submit_in_parts(store: Store, account_id: int, message_id: int, parts: int) -> None:
    claimed = sync(store.claim_due(NOW, 100))
    submissions = [
        Submission(
            account_id,
            message_id,
            c.phone,
            "sim",
            tuple(f"ref-{c.phone}-{n}" for n in range(1, parts + 1)),
            State.SUBMITTED,
        )
        for c in claimed
    ]
    sync(store.record_submissions(submissions, NOW, VALIDITY))


def part_report(phone: str, part: int, state: State, at: float = NOW) -> Receipt:
    return Receipt("sim", f"ref-{phone}-{part}", state, at)


def public_of(store: Store, account_id: int, message_id: int, phone: str) -> str:
    return str(status_of(store, account_id, message_id, phone)[0])


def test_a_long_sms_is_delivered_only_when_every_part_is(store: Store, account_id: int) -> None:
    message_id = new_message(store, account_id)
    submit_in_parts(store, account_id, message_id, 2)
    phone = PHONES[0]
    sync(store.apply_receipts([part_report(phone, 1, State.DELIVERED)], NOW))
    assert public_of(store, account_id, message_id, phone) == State.SUBMITTED
    sync(store.apply_receipts([part_report(phone, 2, State.DELIVERED)], NOW))
    assert public_of(store, account_id, message_id, phone) == State.DELIVERED


def test_a_long_sms_fails_as_soon_as_one_part_fails(store: Store, account_id: int) -> None:
    message_id = new_message(store, account_id)
    submit_in_parts(store, account_id, message_id, 3)
    phone = PHONES[0]
    sync(store.apply_receipts([part_report(phone, 2, State.UNDELIVERABLE)], NOW))
    assert public_of(store, account_id, message_id, phone) == State.UNDELIVERABLE
    sync(store.apply_receipts([part_report(phone, n, State.DELIVERED) for n in (1, 3)], NOW))
    assert public_of(store, account_id, message_id, phone) == State.UNDELIVERABLE


def test_a_report_for_a_part_before_its_submission_waits(store: Store, account_id: int) -> None:
    message_id = new_message(store, account_id)
    phone = PHONES[0]
    early = [part_report(phone, n, State.DELIVERED) for n in (1, 2)]
    sync(store.apply_receipts(early, NOW))
    submit_in_parts(store, account_id, message_id, 2)
    assert public_of(store, account_id, message_id, phone) == State.DELIVERED


def test_a_retry_puts_the_recipient_back_in_line(store: Store, account_id: int) -> None:
    message_id = new_message(store, account_id)
    claimed = sync(store.claim_due(NOW, 100))
    retry = [
        Submission(account_id, message_id, c.phone, "sim", (), State.ACCEPTED, "throttled", 30.0)
        for c in claimed
    ]
    sync(store.record_submissions(retry, NOW, VALIDITY))
    assert sync(store.claim_due(NOW + 29, 100)) == []
    assert len(sync(store.claim_due(NOW + 30, 100))) == len(PHONES)


def test_a_stop_naming_only_its_number_answers_the_last_sms_it_received(
    store: Store, account_id: int
) -> None:
    first = new_message(store, account_id)
    submit_all(store, first, account_id)
    second = new_message(store, account_id)
    submit_all(store, second, account_id)
    phone = PHONES[0]
    assert sync(store.record_replies([Reply("sim", phone, "STOP", NOW, stop=True)], NOW)) == 1
    assert status_of(store, account_id, second, phone)[2] == 1
    assert status_of(store, account_id, first, phone)[2] == 0
    assert [e.phone for e in sync(store.list_stops(account_id))] == [phone]


def test_a_stop_from_a_number_we_never_sent_to_matches_nothing(
    store: Store, account_id: int
) -> None:
    reply = Reply("sim", "+33699999999", "STOP", NOW, stop=True)
    assert sync(store.record_replies([reply], NOW)) == 0


def test_a_reply_is_kept_for_the_account_whose_sms_it_answers(
    store: Store, account_id: int
) -> None:
    message_id = new_message(store, account_id)
    submit_all(store, message_id, account_id)
    phone = PHONES[0]
    sync(store.record_replies([Reply("sim", phone, "Merci !", NOW, f"ref-{phone}")], NOW))
    kept = rows(store, "SELECT account_id, message_id, text, stop FROM replies")
    assert kept == [(account_id, message_id, "Merci !", 0)]
    assert sync(store.list_stops(account_id)) == []


def test_a_reply_to_no_known_sms_is_kept_without_an_account(store: Store) -> None:
    sync(store.record_replies([Reply("sim", "+33699999999", "Hello", NOW)], NOW))
    kept = rows(store, "SELECT account_id, phone FROM replies")
    assert kept == [(None, "+33699999999")]
