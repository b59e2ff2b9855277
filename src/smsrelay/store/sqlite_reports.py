"""Delivery reports in the SQLite store: read the SMS each could be about, write the result.

What a batch changes is `domain.report_batch.judge_reports`'s decision; here are only
the reads that feed it and the writes that follow, batched: for a batch, one statement
reads the one-part SMS recorded with its ids, one the parts of long SMS, one the other
parts of those long SMS; the changes go out with `executemany`, each recipient's with
its `status_events` row.

These run inside the caller's write transaction: the matcher's, or the dispatcher's when
it records the submissions that early reports were waiting for.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterable, Sequence

from smsrelay.domain.phone import region_of
from smsrelay.domain.records import Receipt
from smsrelay.domain.report_batch import Key, Recorded, handsets, judge_reports
from smsrelay.domain.report_matching import (
    Ambiguous,
    concerns,
    numbers_named,
    regions_of_prefixes,
)
from smsrelay.domain.status import AWAITING_REPORT, State, StatusChange, public_change
from smsrelay.store.kept_reports import ambiguous_rows, warn_ambiguous, warn_no_handset
from smsrelay.store.sqlite_connection import encode_json, record_changes

Ref = tuple[str, str]  # carrier, operator id

# CROSS JOIN pins the loop order: walk the batch's ids, probe the index for each.
_ONE_PART = (
    "SELECT r.operator_ref, r.account_id, r.message_id, r.phone, r.state"
    " FROM json_each(?1) AS j CROSS JOIN recipients AS r"
    " WHERE r.carrier = ?2 AND r.operator_ref = j.value"
)
_PARTS = (
    "SELECT p.operator_ref, p.account_id, p.message_id, p.phone, p.part, r.state"
    " FROM json_each(?1) AS j CROSS JOIN parts AS p CROSS JOIN recipients AS r"
    " WHERE p.carrier = ?2 AND p.operator_ref = j.value AND r.account_id = p.account_id"
    " AND r.message_id = p.message_id AND r.phone = p.phone"
)
_SIBLING_PARTS = (
    "SELECT p.account_id, p.message_id, p.phone, p.part, p.state"
    " FROM json_each(?1) AS j CROSS JOIN parts AS p WHERE p.account_id = j.value ->> 0"
    " AND p.message_id = j.value ->> 1 AND p.phone = j.value ->> 2"
)
_EARLY = (
    "SELECT e.id, e.carrier, e.operator_ref, e.state, e.at, e.detail, e.phone"
    " FROM json_each(?1) AS j CROSS JOIN early_receipts AS e"
    " WHERE e.carrier = j.value ->> 0 AND e.operator_ref = j.value ->> 1"
)
# Of the numbers a batch's handsets may be: which an SMS is pending for (claimed and not
# recorded as handed to the operator: being submitted, or back for a retry), and which
# any SMS was claimed for, whatever became of it (migration 0009). An index probe each.
NUMBERS = (
    "SELECT j.value,"
    " EXISTS (SELECT 1 FROM recipients AS r INDEXED BY recipients_pending_by_phone"
    " WHERE r.phone = j.value AND r.claims > 0 AND r.state IN ('accepted', 'queued')),"
    " EXISTS (SELECT 1 FROM claimed_numbers AS c WHERE c.phone = j.value)"
    " FROM json_each(?1) AS j"
)
# The first "+" and three digits of every number an SMS was claimed for: they hold
# every calling code we send to. A skip scan, one probe per prefix: the next number
# past "+336:" is the first one after every "+336…" (":" follows "9").
REGIONS = (
    "WITH RECURSIVE"
    " claimed(phone) AS (SELECT min(phone) FROM claimed_numbers"
    " UNION ALL SELECT (SELECT min(c.phone) FROM claimed_numbers AS c"
    " WHERE c.phone > substr(claimed.phone, 1, 4) || ':')"
    " FROM claimed WHERE claimed.phone IS NOT NULL)"
    " SELECT substr(phone, 1, 4) FROM claimed WHERE phone IS NOT NULL"
)
_INSERT_EARLY = (
    "INSERT INTO early_receipts (carrier, operator_ref, phone, state, at, detail)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
_INSERT_AMBIGUOUS = (
    "INSERT INTO ambiguous_receipts"
    " (carrier, operator_ref, phone, state, at, detail, candidates)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_SET_PART = (
    "UPDATE parts SET state = ? WHERE account_id = ? AND message_id = ? AND phone = ? AND part = ?"
)
SET_STATE = (
    "UPDATE recipients SET state = ?,"
    " status_at = CASE WHEN ? THEN ? ELSE status_at END,"
    " report_until = CASE WHEN ? THEN report_until END"
    " WHERE account_id = ? AND message_id = ? AND phone = ?"
)


def state_change(key: Key, current: State, new: State, now: float) -> tuple[object, ...]:
    """Parameters of `SET_STATE`: the public date moves only with the public status."""
    return (new, public_change(current, new), int(now), new in AWAITING_REPORT, *key)


def _read_recorded(db: sqlite3.Connection, receipts: Sequence[Receipt]) -> Recorded:
    recorded = Recorded()
    refs_by_carrier: dict[str, set[str]] = {}
    for receipt in receipts:
        refs_by_carrier.setdefault(receipt.carrier, set()).add(receipt.operator_ref)
    for carrier, refs in refs_by_carrier.items():
        params = (encode_json(list(refs)).decode(), carrier)
        for ref, account_id, message_id, phone, state in db.execute(_ONE_PART, params):
            recorded.add(carrier, ref, (account_id, message_id, phone), None, State(state))
        for ref, account_id, message_id, phone, part, state in db.execute(_PARTS, params):
            recorded.add(carrier, ref, (account_id, message_id, phone), part, State(state))
    long_sms = recorded.long_sms
    if long_sms:
        rows = db.execute(_SIBLING_PARTS, (encode_json(list(long_sms)).decode(),))
        for account_id, message_id, phone, part, state in rows:
            recorded.add_part_state((account_id, message_id, phone), part, State(state))
    return recorded


class _Sending:
    """`domain.report_matching.Sending` for one batch, read the first time `choose` or
    `concerns` asks, which they do only for a report no SMS to its handset settles: the
    regions of the numbers we send to (`REGIONS`), then, in one statement (`NUMBERS`),
    which of the numbers the batch's handsets may be in those regions and in the regions
    of the batch's candidates an SMS is pending for, and which any SMS was claimed for."""

    def __init__(self, db: sqlite3.Connection, handsets: Iterable[str], phones: Iterable[str]):
        self._db = db
        self._handsets = handsets
        self._phones = phones  # the batch's candidates: their regions count too

    @functools.cached_property
    def regions(self) -> frozenset[str]:
        return regions_of_prefixes(prefix for (prefix,) in self._db.execute(REGIONS))

    @functools.cached_property
    def _numbers(self) -> tuple[frozenset[str], frozenset[str]]:
        regions = self.regions | {region_of(phone) for phone in self._phones}
        asked = {n for handset in self._handsets for n in numbers_named(handset, regions)}
        pending: set[str] = set()
        addressed: set[str] = set()
        for number, is_pending, is_addressed in self._db.execute(
            NUMBERS, (encode_json(sorted(asked)).decode(),)
        ):
            if is_pending:
                pending.add(number)
            if is_addressed:
                addressed.add(number)
        return frozenset(pending), frozenset(addressed)

    @property
    def pending(self) -> frozenset[str]:
        return self._numbers[0]

    @property
    def addressed(self) -> frozenset[str]:
        return self._numbers[1]


def apply_reports(
    db: sqlite3.Connection, receipts: Sequence[Receipt], now: float, warned: set[str]
) -> int:
    """Apply a batch of reports; how many recipients changed. `warned` holds the
    connectors already said to send receipts that name no handset, and gains the new."""
    recorded = _read_recorded(db, receipts)
    sending = _Sending(db, handsets(receipts), [key[2] for key in recorded.recipients])
    changes = judge_reports(receipts, recorded, sending)
    for receipt in changes.on_id_alone:
        warn_no_handset(receipt, warned)
    db.executemany(_SET_PART, [(c.state, *c.key, c.part) for c in changes.parts])
    db.executemany(
        SET_STATE, [state_change(c.key, c.was, c.state, now) for c in changes.recipients]
    )
    record_changes(
        db, [StatusChange(*c.key, now, c.state, c.source, c.detail) for c in changes.changes]
    )
    db.executemany(
        _INSERT_EARLY,
        [(r.carrier, r.operator_ref, r.phone, r.state, r.at, r.detail) for r in changes.early],
    )
    _keep_ambiguous(db, changes.ambiguous)
    return len(changes.recipients)


def _keep_ambiguous(db: sqlite3.Connection, found: Sequence[tuple[Receipt, Ambiguous]]) -> None:
    """Keep reports that fit several SMS awaiting a report, and say so: none is guessed."""
    db.executemany(_INSERT_AMBIGUOUS, ambiguous_rows(found))
    warn_ambiguous(found)


def take_early_reports(
    db: sqlite3.Connection, recorded: Iterable[tuple[str, str, str]]
) -> list[Receipt]:
    """Remove and return, oldest first, the early reports about submissions just recorded.

    `recorded` holds (carrier, operator id, phone) of each part recorded. A report kept
    with a handset is taken only by a submission to that handset (`concerns`): another
    SMS given the same id by a reusing operator leaves it waiting for its own. One whose
    handset is no number we send to (a short code, our sender) is taken by any.
    """
    phones: dict[Ref, set[str]] = {}
    for carrier, ref, phone in recorded:
        phones.setdefault((carrier, ref), set()).add(phone)
    if not phones or db.execute("SELECT 1 FROM early_receipts LIMIT 1").fetchone() is None:
        return []
    rows = db.execute(_EARLY, (encode_json(list(phones)).decode(),)).fetchall()
    sending = _Sending(
        db,
        [phone for *_, phone in rows if phone is not None],
        {phone for recorded_phones in phones.values() for phone in recorded_phones},
    )
    taken: list[int] = []
    found: list[Receipt] = []
    for row_id, carrier, ref, state, at, detail, phone in rows:
        if concerns(phone, phones[(carrier, ref)], sending):
            taken.append(row_id)
            found.append(Receipt(carrier, ref, State(state), at, detail, phone))
    if taken:
        db.execute(
            "DELETE FROM early_receipts WHERE id IN (SELECT value FROM json_each(?))",
            (encode_json(taken).decode(),),
        )
    return sorted(found, key=lambda r: r.at)
