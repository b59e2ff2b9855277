"""Operators reuse their message ids: every report still lands on its own SMS, or on none.

On each database (`store_kind`). The ids below repeat on purpose: an SMSC whose counter restarted
gives the new SMS the id of an old one, to the same number or to another.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import pytest

from smsrelay.domain.records import NewMessage, NewRecipient, Receipt, Submission
from smsrelay.domain.status import State
from smsrelay.store import open_store
from smsrelay.store.base import Store
from smsrelay.store.migrations import migration_files, split_statements
from smsrelay.store.sqlite import SQLiteStore
from smsrelay.store.sqlite_reports import (
    _EARLY,
    _ONE_PART,
    _PARTS,
    _SIBLING_PARTS,
    NUMBERS,
    REGIONS,
)
from tests.databases import sync
from tests.store.peek import rows, value
from tests.store.test_store import NOW, VALIDITY

ALICE = "+33611111111"
BOB = "+33622222222"
MOROCCAN = "+212620123456"  # "0620123456" nationally, as is the French +33620123456
REF = "1234"


@pytest.fixture
def store(store: Store) -> Store:
    """The migrated store of tests/store/conftest.py, with account 1."""
    sync(store.create_account("acme", "FR", "fr", 10**9, int(NOW)))
    return store


def send(store: Store, phone: str, parts: int = 1) -> int:
    """A new SMS to `phone`, claimed by the dispatcher (not yet submitted)."""
    message = NewMessage(
        1, "Bonjour", None, None, False, parts, 0, [NewRecipient(phone, None, "gsm7", parts)]
    )
    message_id = sync(store.create_message(message, NOW))
    sync(store.claim_due(NOW, 100))
    return message_id


def record(store: Store, message_id: int, phone: str, *refs: str, carrier: str = "smsc") -> None:
    submission = Submission(1, message_id, phone, carrier, refs or (REF,), State.SUBMITTED)
    sync(store.record_submissions([submission], NOW, VALIDITY))


def sent(store: Store, phone: str, *refs: str, carrier: str = "smsc") -> int:
    message_id = send(store, phone, max(1, len(refs)))
    record(store, message_id, phone, *refs, carrier=carrier)
    return message_id


def report(
    state: State, handset: str | None, ref: str = REF, at: float = NOW + 1, carrier: str = "smsc"
) -> Receipt:
    return Receipt(carrier, ref, state, at, phone=handset)


def apply(store: Store, *receipts: Receipt) -> int:
    return sync(store.apply_receipts(list(receipts), NOW + 2))


def state_of(store: Store, message_id: int, phone: str) -> str:
    return str(
        value(
            store,
            "SELECT state FROM recipients WHERE message_id = ? AND phone = ?",
            message_id,
            phone,
        )
    )


def kept(store: Store, table: str) -> list[tuple[object, ...]]:
    return rows(store, f"SELECT operator_ref, phone, state FROM {table}")


# -- one-part SMS -----------------------------------------------------------------------------


def test_a_reused_id_lands_on_the_new_sms_to_the_same_number(store: Store) -> None:
    old = sent(store, ALICE)
    assert apply(store, report(State.DELIVERED, "33611111111")) == 1
    new = sent(store, ALICE)
    assert apply(store, report(State.UNDELIVERABLE, "33611111111")) == 1
    assert state_of(store, old, ALICE) == "delivered"
    assert state_of(store, new, ALICE) == "undeliverable"


def test_a_reused_id_lands_on_the_sms_to_the_handset_it_names(store: Store) -> None:
    alice = sent(store, ALICE)
    bob = sent(store, BOB)  # both awaiting their report, with one id
    assert apply(store, report(State.DELIVERED, "+33622222222")) == 1
    assert apply(store, report(State.UNDELIVERABLE, "0611111111")) == 1  # national form
    assert state_of(store, bob, BOB) == "delivered"
    assert state_of(store, alice, ALICE) == "undeliverable"


def test_without_a_handset_the_sms_awaiting_its_report_is_chosen(store: Store) -> None:
    old = sent(store, ALICE)
    apply(store, report(State.DELIVERED, None))
    new = sent(store, BOB)
    assert apply(store, report(State.EXPIRED, None)) == 1
    assert (state_of(store, old, ALICE), state_of(store, new, BOB)) == ("delivered", "expired")


def test_a_report_fitting_two_awaiting_sms_is_kept_and_changes_neither(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = sent(store, ALICE), sent(store, ALICE)
    with caplog.at_level(logging.WARNING):
        assert apply(store, report(State.DELIVERED, "+33611111111")) == 0
    assert state_of(store, first, ALICE) == state_of(store, second, ALICE) == "submitted"
    assert kept(store, "ambiguous_receipts") == [(REF, "+33611111111", "delivered")]
    candidates = value(store, "SELECT candidates FROM ambiguous_receipts")
    assert json.loads(candidates) == [[1, first, ALICE, None], [1, second, ALICE, None]]
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert all(word in warning.getMessage() for word in ("smsc", REF, "+33611111111"))
    assert kept(store, "early_receipts") == []
    [shown] = sync(store.ambiguous_reports(10))
    assert (shown.carrier, shown.operator_ref, shown.phone, shown.state) == (
        "smsc", REF, ALICE, State.DELIVERED,
    )  # fmt: skip
    assert shown.candidates == ((1, first, ALICE, None), (1, second, ALICE, None))


def test_kept_reports_are_forgotten_with_the_early_ones_after_the_validity(
    store: Store,
) -> None:
    """By then the SMS an ambiguous report fitted have ended Not delivered: the table
    would otherwise grow with every such report for good."""
    sent(store, ALICE), sent(store, ALICE)
    apply(store, report(State.DELIVERED, ALICE, at=NOW + 1))  # fits both: kept
    apply(store, report(State.DELIVERED, BOB, "early", at=NOW + 1))  # no SMS yet: kept
    apply(store, report(State.DELIVERED, ALICE, at=NOW + 5))
    assert len(kept(store, "ambiguous_receipts")) == 2
    assert sync(store.forget_unmatched_receipts(NOW + 1)) == 0
    assert sync(store.forget_unmatched_receipts(NOW + 2)) == 2
    assert kept(store, "early_receipts") == []
    assert [r.at for r in sync(store.ambiguous_reports(10))] == [NOW + 5]


def test_two_awaiting_sms_without_a_handset_are_not_guessed_between(store: Store) -> None:
    alice, bob = sent(store, ALICE), sent(store, BOB)
    assert apply(store, report(State.DELIVERED, None)) == 0
    assert (state_of(store, alice, ALICE), state_of(store, bob, BOB)) == ("submitted",) * 2
    assert kept(store, "ambiguous_receipts") == [(REF, None, "delivered")]


# -- long SMS ---------------------------------------------------------------------------------


def test_a_part_id_another_sms_has_is_kept_and_reported_on_its_own(store: Store) -> None:
    alice = sent(store, ALICE, "1", "2")
    bob = sent(store, BOB, "2", "3")  # part 1 of Bob's has the id of part 2 of Alice's
    recorded = rows(
        store, "SELECT message_id, phone, part, operator_ref FROM parts ORDER BY message_id, part"
    )
    assert recorded == [
        (alice, ALICE, 1, "1"),
        (alice, ALICE, 2, "2"),
        (bob, BOB, 1, "2"),
        (bob, BOB, 2, "3"),
    ]
    apply(
        store,
        report(State.DELIVERED, BOB, "2"),
        report(State.DELIVERED, BOB, "3"),
        report(State.DELIVERED, ALICE, "1"),
    )
    assert state_of(store, bob, BOB) == "delivered"
    assert state_of(store, alice, ALICE) == "submitted"  # its part 2 is still owed
    apply(store, report(State.UNDELIVERABLE, ALICE, "2"))
    assert state_of(store, alice, ALICE) == "undeliverable"
    assert state_of(store, bob, BOB) == "delivered"


@pytest.mark.parametrize(
    ("reports", "public"),
    [
        ((State.DELIVERED, State.DELIVERED), "delivered"),
        ((State.ENROUTE, State.DELIVERED, State.UNDELIVERABLE), "undeliverable"),
    ],
)
def test_two_parts_of_one_sms_with_one_id_take_its_reports_in_turn(
    store: Store, reports: tuple[State, ...], public: str
) -> None:
    """A counter restarted between the parts: both are awaiting a report with that id."""
    alice = sent(store, ALICE, REF, REF)
    for state in reports:
        apply(store, report(state, ALICE))
    assert state_of(store, alice, ALICE) == public
    assert kept(store, "ambiguous_receipts") == []


def test_a_one_part_sms_and_a_part_of_a_long_one_may_share_an_id(store: Store) -> None:
    long_sms = sent(store, ALICE, REF, "9")
    short = sent(store, BOB, REF)
    apply(store, report(State.DELIVERED, BOB), report(State.DELIVERED, ALICE, "9"))
    assert state_of(store, short, BOB) == "delivered"
    assert state_of(store, long_sms, ALICE) == "submitted"


# -- early reports ----------------------------------------------------------------------------


def test_an_early_report_waits_for_the_submission_to_its_handset(store: Store) -> None:
    old = sent(store, ALICE)  # awaiting, with the id the operator is about to reuse
    new = send(store, BOB)
    assert apply(store, report(State.DELIVERED, "33622222222")) == 0
    assert kept(store, "early_receipts") == [(REF, "33622222222", "delivered")]
    other = send(store, ALICE)
    record(store, other, ALICE)  # the same id again, to another number: not for it
    assert kept(store, "early_receipts") == [(REF, "33622222222", "delivered")]
    record(store, new, BOB)
    assert state_of(store, new, BOB) == "delivered"
    assert state_of(store, old, ALICE) == state_of(store, other, ALICE) == "submitted"
    assert kept(store, "early_receipts") == []


def test_an_early_report_for_a_reused_id_and_the_same_number_reaches_the_new_sms(
    store: Store,
) -> None:
    old = sent(store, ALICE)
    apply(store, report(State.DELIVERED, ALICE))
    new = send(store, ALICE)  # being submitted: the operator answered, not yet recorded
    assert apply(store, report(State.UNDELIVERABLE, ALICE)) == 0
    record(store, new, ALICE)
    assert state_of(store, new, ALICE) == "undeliverable"
    assert state_of(store, old, ALICE) == "delivered"


def test_a_late_report_on_a_final_sms_is_not_kept(store: Store) -> None:
    old = sent(store, ALICE)
    apply(store, report(State.DELIVERED, ALICE))
    assert apply(store, report(State.DELIVERED, ALICE)) == 0  # a duplicate
    assert kept(store, "early_receipts") == []
    assert state_of(store, old, ALICE) == "delivered"


def test_early_reports_of_parts_wait_for_their_own_long_sms(store: Store) -> None:
    bob = send(store, BOB, 2)
    apply(store, report(State.DELIVERED, BOB, "1"), report(State.DELIVERED, BOB, "2"))
    alice = send(store, ALICE, 2)
    record(store, alice, ALICE, "1", "2")  # the same ids, another number
    record(store, bob, BOB, "1", "2")
    assert state_of(store, bob, BOB) == "delivered"
    assert state_of(store, alice, ALICE) == "submitted"


def test_a_national_handset_of_another_region_waits_for_its_own_sms(store: Store) -> None:
    """A Moroccan handset written nationally, an id reused for a French SMS: read in
    France only, "0620123456" was no number we send to, and the report landed on the
    French SMS on its id alone."""
    french = sent(store, ALICE)
    moroccan = send(store, MOROCCAN)  # being submitted: the operator's answer not recorded
    assert apply(store, report(State.UNDELIVERABLE, "0620123456")) == 0
    assert kept(store, "early_receipts") == [(REF, "0620123456", "undeliverable")]
    other = send(store, BOB)
    record(store, other, BOB)  # the same id again, to a French number: not for it
    assert kept(store, "early_receipts") == [(REF, "0620123456", "undeliverable")]
    record(store, moroccan, MOROCCAN)
    assert state_of(store, moroccan, MOROCCAN) == "undeliverable"
    assert state_of(store, french, ALICE) == state_of(store, other, BOB) == "submitted"
    # Once sent to, the number is still ours: a later reuse of the id waits the same way.
    new = send(store, MOROCCAN)
    assert apply(store, report(State.DELIVERED, "0620123456")) == 0
    record(store, new, MOROCCAN)
    assert state_of(store, new, MOROCCAN) == "delivered"


def test_a_national_handset_naming_a_final_sms_waits_for_one_in_another_region(
    store: Store,
) -> None:
    french = sent(store, "+33620123456")
    apply(store, report(State.DELIVERED, "0620123456"))
    moroccan = send(store, MOROCCAN)
    assert apply(store, report(State.DELIVERED, "0620123456")) == 0  # not read as late
    record(store, moroccan, MOROCCAN)
    assert state_of(store, moroccan, MOROCCAN) == "delivered"
    assert state_of(store, french, "+33620123456") == "delivered"


# -- receipts that do not name the handset ---------------------------------------------------


def test_receipts_from_a_short_code_are_matched_on_the_id_alone_and_said_so_once(
    store: Store, caplog: pytest.LogCaptureFixture, database_url: str
) -> None:
    """An SMSC that puts a short code where the handset goes: before, every receipt sat in
    early_receipts until the validity ended, and every SMS ended Not delivered."""
    carrier = "short-code-smsc"
    with caplog.at_level(logging.WARNING):
        old = sent(store, ALICE, carrier=carrier)
        apply(store, report(State.DELIVERED, "36179", carrier=carrier))
        new = sent(store, BOB, carrier=carrier)  # the same id again
        assert apply(store, report(State.UNDELIVERABLE, "36179", carrier=carrier)) == 1
        long_sms = sent(store, ALICE, "l1", "l2", carrier=carrier)
        both = [report(State.DELIVERED, "36179", ref, carrier=carrier) for ref in ("l1", "l2")]
        assert apply(store, *both) == 1
    assert state_of(store, old, ALICE) == "delivered"
    assert state_of(store, new, BOB) == "undeliverable"
    assert state_of(store, long_sms, ALICE) == "delivered"
    assert kept(store, "early_receipts") == kept(store, "ambiguous_receipts") == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert all(word in warnings[0] for word in (carrier, "36179", "handset"))
    # Said once per store, not once per process: another store (a restarted worker, the
    # next test) says it again.
    caplog.clear()
    again = open_store(database_url)
    try:
        with caplog.at_level(logging.WARNING):
            sent(again, BOB, "r2", carrier=carrier)
            assert apply(again, report(State.DELIVERED, "36179", "r2", carrier=carrier)) == 1
    finally:
        sync(again.close())
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert carrier in warning


def test_an_early_receipt_from_our_sender_is_taken_by_its_submission(store: Store) -> None:
    carrier = "sender-smsc"
    message_id = send(store, ALICE)
    # Before the submit_sm_resp is recorded: nothing has the id yet, it waits.
    assert apply(store, report(State.DELIVERED, "33700000000", carrier=carrier)) == 0
    assert kept(store, "early_receipts") == [(REF, "33700000000", "delivered")]
    record(store, message_id, ALICE, carrier=carrier)
    assert state_of(store, message_id, ALICE) == "delivered"
    assert kept(store, "early_receipts") == []


def test_a_receipt_from_a_number_we_send_to_still_waits_for_its_own_sms(
    store: Store,
) -> None:
    """Bob was sent an SMS under another id: a receipt from Bob is Bob's, never Alice's."""
    alice = sent(store, ALICE)
    bob = sent(store, BOB, "another")
    assert apply(store, report(State.DELIVERED, BOB)) == 0
    assert state_of(store, alice, ALICE) == state_of(store, bob, BOB) == "submitted"
    assert kept(store, "early_receipts") == [(REF, BOB, "delivered")]


def test_a_receipt_for_an_sms_awaiting_a_retry_waits_for_it(store: Store) -> None:
    """The connection dropped before the operator's answer: the SMS went back to
    `accepted` for a retry, and the operator, which had it, reports on it. Its number is
    one we send to: the receipt is never matched on its id alone to another SMS holding
    that id (issue 9: with ids counted per connection, it landed on one)."""
    alice = sent(store, ALICE)  # awaiting its report, under the id about to be reused
    bob = send(store, BOB)
    lost = Submission(1, bob, BOB, "smsc", (), State.ACCEPTED, retry_after=5.0)
    sync(store.record_submissions([lost], NOW, VALIDITY))
    assert state_of(store, bob, BOB) == "accepted"
    assert apply(store, report(State.UNDELIVERABLE, "33622222222")) == 0
    assert state_of(store, alice, ALICE) == "submitted"
    assert kept(store, "early_receipts") == [(REF, "33622222222", "undeliverable")]
    sync(store.claim_due(NOW + 10, 100))  # retried; the operator gives it the same id
    record(store, bob, BOB)
    assert state_of(store, bob, BOB) == "undeliverable"
    assert state_of(store, alice, ALICE) == "submitted"


def test_a_receipt_for_a_long_sms_refused_on_a_later_part_stays_off_other_sms(
    store: Store,
) -> None:
    """The operator took part 1 and refused part 2: the SMS is recorded refused, with no
    id, and part 1's receipt comes all the same. Its number is one we send to: the
    receipt is not matched on its id alone to another SMS holding that id."""
    alice = sent(store, ALICE)
    bob = send(store, BOB, 2)
    refused = Submission(1, bob, BOB, "smsc", (), State.REJECTED, "submit_sm refused: 0x0B")
    sync(store.record_submissions([refused], NOW, VALIDITY))
    assert apply(store, report(State.DELIVERED, "33622222222")) == 0
    assert state_of(store, alice, ALICE) == "submitted"
    assert state_of(store, bob, BOB) == "rejected"


def test_a_receipt_for_an_sms_released_at_a_restart_waits_for_it(store: Store) -> None:
    """The process died with the SMS claimed: released at the next start, it is `accepted`
    again, and a receipt from its number is still its own."""
    alice = sent(store, ALICE)
    bob = send(store, BOB)
    assert sync(store.release_claims(NOW)) == 1
    assert apply(store, report(State.DELIVERED, BOB)) == 0
    assert state_of(store, alice, ALICE) == "submitted"
    assert kept(store, "early_receipts") == [(REF, BOB, "delivered")]
    sync(store.claim_due(NOW, 100))
    record(store, bob, BOB)
    assert state_of(store, bob, BOB) == "delivered"


# -- SQLite only: what the store reads, and how (its statements, its query plans, its files) --


@pytest.mark.sqlite_only
def test_a_batch_of_reports_is_read_in_the_same_statements_whatever_its_size(
    store: SQLiteStore,
) -> None:
    """Reads per batch, not per report (the writes are `executemany`, traced per row)."""
    phones = [f"+336123456{n:02d}" for n in range(40)]
    for n, phone in enumerate(phones):
        sent(store, phone, f"r{n}")

    def reads(count: int, state: State) -> int:
        executed: list[str] = []
        store._db.set_trace_callback(executed.append)
        apply(store, *(report(state, p, f"r{n}") for n, p in enumerate(phones[:count])))
        store._db.set_trace_callback(None)
        return len([s for s in executed if s.startswith("SELECT")])

    assert reads(1, State.ENROUTE) == reads(40, State.DELIVERED) == 2


@pytest.mark.sqlite_only
@pytest.mark.parametrize(
    ("query", "index"),
    [
        (_ONE_PART, "recipients_by_operator_ref"),
        (_PARTS, "parts_by_operator_ref"),
        (_SIBLING_PARTS, "PRIMARY KEY"),
        (_EARLY, "early_receipts_by_ref"),
    ],
)
def test_each_lookup_walks_the_batch_and_probes_an_index(
    store: SQLiteStore, query: str, index: str
) -> None:
    params = ("[]", "smsc") if query in (_ONE_PART, _PARTS) else ("[]",)
    plan = [row[3] for row in store._db.execute("EXPLAIN QUERY PLAN " + query, params)]
    assert plan[0].startswith("SCAN j")
    assert index in plan[1]
    assert all(step.startswith(("SCAN j", "SEARCH")) for step in plan)


@pytest.mark.sqlite_only
def test_the_numbers_a_batch_asks_about_are_probed_on_indexes(store: SQLiteStore) -> None:
    """Only the batch's numbers are read, each on an index: never every claimed phone."""
    plan = [row[3] for row in store._db.execute("EXPLAIN QUERY PLAN " + NUMBERS, ("[]",))]
    assert plan[0].startswith("SCAN j")
    searches = [step for step in plan if step.startswith("SEARCH")]
    assert any("recipients_pending_by_phone (phone=?)" in step for step in searches)
    assert any("SEARCH c USING PRIMARY KEY (phone=?)" in step for step in searches)
    assert not [step for step in plan if step.startswith("SCAN") and not step.startswith("SCAN j")]


@pytest.mark.sqlite_only
def test_the_regions_we_send_to_are_read_with_one_probe_per_prefix(store: SQLiteStore) -> None:
    """A skip scan of claimed_numbers: never every number ever sent to."""
    plan = [row[3] for row in store._db.execute("EXPLAIN QUERY PLAN " + REGIONS)]
    tables = [step for step in plan if step.startswith(("SCAN", "SEARCH"))]
    assert all(step.startswith(("SCAN claimed", "SEARCH")) for step in tables)
    assert any("c USING PRIMARY KEY (phone>?)" in step for step in plan)
    sent(store, ALICE)
    sent(store, "+33712345678")
    send(store, MOROCCAN)
    send(store, "+14155550100")
    assert sorted(store._db.execute(REGIONS)) == [("+141",), ("+212",), ("+336",), ("+337",)]


@pytest.mark.sqlite_only
def test_the_migration_keeps_the_parts_recorded_before_it(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute(
        "CREATE TABLE schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
    )
    for version, name, sql in migration_files("sqlite"):
        if version < 7:
            for statement in split_statements(sql):
                db.execute(statement)
            db.execute("INSERT INTO schema_migrations VALUES (?, ?, 0)", (version, name))
    db.execute("INSERT INTO parts VALUES ('smsc', '77', 1, 5, ?, 2, 'delivered')", (ALICE,))
    db.execute(
        "INSERT INTO early_receipts (carrier, operator_ref, state, at)"
        " VALUES ('smsc', '78', 'delivered', 1.0)"
    )
    db.close()
    store = SQLiteStore.open(path)
    try:
        assert sync(store.migrate())[0] == "0007_reused_operator_ids.sql"
        row = store._db.execute(
            "SELECT account_id, message_id, phone, part, carrier, operator_ref, state FROM parts"
        ).fetchall()
        assert row == [(1, 5, ALICE, 2, "smsc", "77", "delivered")]
        assert kept(store, "early_receipts") == [("78", None, "delivered")]
    finally:
        sync(store.close())
