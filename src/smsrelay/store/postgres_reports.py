"""Delivery reports in the PostgreSQL store: read the SMS each could be about, write the result.

What a batch changes is `domain.report_batch.judge_reports`'s decision; here are only
the reads that feed it and the writes that follow. A batch is read in one statement per
kind of read, whatever its connectors: the one-part SMS recorded with its ids, the parts
of long SMS, the other parts of those, each an `unnest` of the batch's arrays probing an
index; the recipients read are locked until the transaction ends, so two writers never
judge a recipient against a state the other is changing.

`Sending` (what we know of the numbers we send to) is read only when the judgement asks
for it, as SQLite's store does; asyncpg cannot read inside a property, so a batch is
judged first without it and, if the judgement asks, judged again once it is read.

These run inside the caller's write transaction: the matcher's, or the dispatcher's when
it records the submissions that early reports were waiting for.
"""

from __future__ import annotations

from collections.abc import Collection, Container, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from smsrelay.domain.phone import region_of
from smsrelay.domain.records import Receipt
from smsrelay.domain.report_batch import Key, Recorded, ReportChanges, handsets, judge_reports
from smsrelay.domain.report_matching import (
    Ambiguous,
    Sending,
    concerns,
    numbers_named,
    regions_of_prefixes,
)
from smsrelay.domain.status import AWAITING_REPORT, State, StatusChange, public_change
from smsrelay.store.kept_reports import ambiguous_rows, warn_ambiguous, warn_no_handset
from smsrelay.store.postgres_connection import Connection, columns, record_changes

Ref = tuple[str, str]  # carrier, operator id

# Each walks the batch's arrays and probes an index per element; the recipients found
# are locked (`FOR UPDATE OF r`), in key order. Ordered as SQLite's index walk gives
# them: candidates, and so what an ambiguous report lists, come out in the same order on
# both stores.
_ONE_PART = (
    "SELECT j.carrier, j.operator_ref, r.account_id, r.message_id, r.phone, r.state"
    " FROM unnest($1::text[], $2::text[]) AS j (carrier, operator_ref)"
    " JOIN recipients AS r ON r.carrier = j.carrier AND r.operator_ref = j.operator_ref"
    " AND r.operator_ref IS NOT NULL"
    " ORDER BY r.account_id, r.message_id, r.phone FOR UPDATE OF r"
)
_PARTS = (
    "SELECT j.carrier, j.operator_ref, p.account_id, p.message_id, p.phone, p.part, r.state"
    " FROM unnest($1::text[], $2::text[]) AS j (carrier, operator_ref)"
    " JOIN parts AS p ON p.carrier = j.carrier AND p.operator_ref = j.operator_ref"
    " JOIN recipients AS r ON r.account_id = p.account_id AND r.message_id = p.message_id"
    " AND r.phone = p.phone"
    " ORDER BY p.account_id, p.message_id, p.phone, p.part FOR UPDATE OF r"
)
_SIBLING_PARTS = (
    "SELECT p.account_id, p.message_id, p.phone, p.part, p.state"
    " FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS j (account_id, message_id, phone)"
    " JOIN parts AS p ON p.account_id = j.account_id AND p.message_id = j.message_id"
    " AND p.phone = j.phone"
)
# In SQLite's order (the ids as recorded, then each one's reports as kept): reports of
# the same time are applied in that order.
_EARLY = (
    "SELECT e.id, e.carrier, e.operator_ref, e.state, e.at, e.detail, e.phone"
    " FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS j (carrier, operator_ref, n)"
    " JOIN early_receipts AS e ON e.carrier = j.carrier AND e.operator_ref = j.operator_ref"
    " ORDER BY j.n, e.id"
)
# Of the numbers a batch's handsets may be: which an SMS is pending for (accepted, or
# claimed), and which any SMS was ever addressed to. Two probes of `recipients_by_phone`
# Of the numbers a batch's handsets may be: which an SMS is pending for (claimed, its
# handing to the operator not recorded), and which any SMS was claimed for, whatever
# became of it (sqlite/0009 says why). An index probe each.
NUMBERS = (
    "SELECT n.phone,"
    " EXISTS (SELECT 1 FROM recipients AS r"
    " WHERE r.phone = n.phone AND r.claims > 0 AND r.state IN ('accepted', 'queued')),"
    " EXISTS (SELECT 1 FROM claimed_numbers AS c WHERE c.phone = n.phone)"
    " FROM unnest($1::text[]) AS n (phone)"
)
# The first "+" and three digits of every number an SMS was claimed for: a skip scan of
# `claimed_numbers`, one probe per prefix (the phone column is COLLATE "C": the next
# number past "+336:" is the first after every "+336…", ":" following "9").
REGIONS = (
    "WITH RECURSIVE claimed (phone) AS ("
    " SELECT min(phone) FROM claimed_numbers"
    " UNION ALL SELECT (SELECT min(c.phone) FROM claimed_numbers AS c"
    " WHERE c.phone > substr(a.phone, 1, 4) || ':')"
    " FROM claimed AS a WHERE a.phone IS NOT NULL)"
    " SELECT substr(phone, 1, 4) FROM claimed WHERE phone IS NOT NULL"
)
_INSERT_EARLY = (
    "INSERT INTO early_receipts (carrier, operator_ref, phone, state, at, detail)"
    " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
    " $5::float8[], $6::text[])"
)
_INSERT_AMBIGUOUS = (
    "INSERT INTO ambiguous_receipts"
    " (carrier, operator_ref, phone, state, at, detail, candidates)"
    " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
    " $5::float8[], $6::text[], $7::text[])"
)
# One statement for a whole batch, each row probing its key. A recipient (or a part)
# the batch changes twice takes its last state (`last_changes`): asyncpg's executemany
# sends one UPDATE per row, a round of work in the server for each.
_SET_PARTS = """
UPDATE parts AS p SET state = u.state
FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::int[])
    AS u (state, account_id, message_id, phone, part)
WHERE p.account_id = u.account_id AND p.message_id = u.message_id AND p.phone = u.phone
    AND p.part = u.part
"""
SET_STATES = """
UPDATE recipients AS r SET state = u.state,
    status_at = CASE WHEN u.public THEN $1 ELSE r.status_at END,
    report_until = CASE WHEN u.awaiting THEN r.report_until END
FROM unnest($2::text[], $3::bool[], $4::bool[], $5::bigint[], $6::bigint[], $7::text[])
    AS u (state, public, awaiting, account_id, message_id, phone)
WHERE r.account_id = u.account_id AND r.message_id = u.message_id AND r.phone = u.phone
"""

# A transaction-scoped advisory lock per (connector, operator id), taken in one order.
_LOCK_IDS = """
SELECT pg_advisory_xact_lock(k) FROM (
    SELECT DISTINCT hashtextextended(u.carrier || '/' || u.operator_ref, 0) AS k
    FROM unnest($1::text[], $2::text[]) AS u (carrier, operator_ref) ORDER BY k
) AS ids
"""


async def lock_ids(db: Connection, ids: Sequence[tuple[str, str]]) -> None:
    """Hold (connector, operator id) pairs until the transaction ends.

    A report whose id no recorded SMS has yet is kept early, and recording a submission
    takes the early reports about its ids. Run side by side under READ COMMITTED, the
    two missed each other: the report, judged before the submission committed, was kept
    early after the submission had looked, and its SMS expired Not delivered (the
    end-to-end tests on PostgreSQL caught it). SQLite's one write lock orders
    them; here both lock the ids they touch first, and each statement after the lock
    sees what the other committed. Per id, not one lock for all: the dispatcher does not
    wait behind a batch of a thousand reports about other SMS.
    """
    if ids:
        await db.execute(_LOCK_IDS, *columns(ids, 2))


def last_changes(changes: Iterable[tuple[Key, State, State]]) -> list[list[object]]:
    """The columns of `SET_STATES` for (recipient, was, becomes) changes in the order
    made: each recipient's last state, its public date moved if its public status did
    between the first state and the last (states only advance: it cannot come back)."""
    first_and_last: dict[Key, tuple[State, State]] = {}
    for key, was, new in changes:
        first_and_last[key] = (first_and_last.get(key, (was, new))[0], new)
    rows = [
        (new.value, public_change(was, new), new in AWAITING_REPORT, *key)
        for key, (was, new) in first_and_last.items()
    ]
    return columns(rows, 6)


async def set_states(
    db: Connection, changes: Sequence[tuple[Key, State, State]], now: float
) -> None:
    if changes:
        await db.execute(SET_STATES, int(now), *last_changes(changes))


class _SendingAsked(Exception):
    """The judgement needs `Sending`, which has not been read yet."""


class _Unread:
    """`Sending` before it is read: asking anything stops the judgement."""

    @property
    def regions(self) -> Collection[str]:
        raise _SendingAsked

    @property
    def pending(self) -> Container[str]:
        raise _SendingAsked

    @property
    def addressed(self) -> Container[str]:
        raise _SendingAsked


@dataclass(frozen=True, slots=True)
class _Read:
    regions: frozenset[str]
    pending: frozenset[str]
    addressed: frozenset[str]


async def _read_sending(db: Connection, handsets: Iterable[str], phones: Iterable[str]) -> _Read:
    """`Sending` for a batch naming `handsets` whose candidates are `phones`: the regions
    we send to, then which numbers the handsets may be in those (and the candidates')
    regions are pending or addressed, in one statement."""
    regions = regions_of_prefixes(row[0] for row in await db.fetch(REGIONS))
    asked_in = regions | {region_of(phone) for phone in phones}
    asked = sorted({n for handset in handsets for n in numbers_named(handset, asked_in)})
    pending: set[str] = set()
    addressed: set[str] = set()
    for number, is_pending, is_addressed in await db.fetch(NUMBERS, asked):
        if is_pending:
            pending.add(number)
        if is_addressed:
            addressed.add(number)
    return _Read(regions, frozenset(pending), frozenset(addressed))


@dataclass(frozen=True, slots=True)
class _Rows:
    """The rows read for a batch: `Recorded` is built from them, again if judged again."""

    one_part: list[tuple[str, str, int, int, str, str]]
    parts: list[tuple[str, str, int, int, str, int, str]]
    siblings: list[tuple[int, int, str, int, str]]

    def recorded(self) -> Recorded:
        recorded = Recorded()
        for carrier, ref, account_id, message_id, phone, state in self.one_part:
            recorded.add(carrier, ref, (account_id, message_id, phone), None, State(state))
        for carrier, ref, account_id, message_id, phone, part, state in self.parts:
            recorded.add(carrier, ref, (account_id, message_id, phone), part, State(state))
        for account_id, message_id, phone, part, state in self.siblings:
            recorded.add_part_state((account_id, message_id, phone), part, State(state))
        return recorded


async def _read_rows(db: Connection, receipts: Sequence[Receipt]) -> _Rows:
    refs = list(dict.fromkeys((r.carrier, r.operator_ref) for r in receipts))
    one_part = [tuple(row) for row in await db.fetch(_ONE_PART, *columns(refs, 2))]
    parts = [tuple(row) for row in await db.fetch(_PARTS, *columns(refs, 2))]
    long_sms = list(dict.fromkeys((row[2], row[3], row[4]) for row in parts))
    siblings = (
        [tuple(row) for row in await db.fetch(_SIBLING_PARTS, *columns(long_sms, 3))]
        if long_sms
        else []
    )
    return _Rows(one_part, parts, siblings)


async def _judge(db: Connection, receipts: Sequence[Receipt]) -> ReportChanges:
    rows = await _read_rows(db, receipts)
    try:
        return judge_reports(receipts, rows.recorded(), _Unread())
    except _SendingAsked:
        recorded = rows.recorded()
        phones = [key[2] for key in recorded.recipients]
        sending = await _read_sending(db, handsets(receipts), phones)
        return judge_reports(receipts, recorded, sending)


async def apply_reports(
    db: Connection, receipts: Sequence[Receipt], now: float, warned: set[str]
) -> int:
    """Apply a batch of reports; how many recipients changed. `warned` holds the
    connectors already said to send receipts that name no handset, and gains the new."""
    changes = await _judge(db, receipts)
    for receipt in changes.on_id_alone:
        warn_no_handset(receipt, warned)
    parts = {(*c.key, c.part): c.state.value for c in changes.parts}  # each part's last
    if parts:
        rows = [(state, *key) for key, state in parts.items()]
        await db.execute(_SET_PARTS, *columns(rows, 5))
    await set_states(db, [(c.key, c.was, c.state) for c in changes.recipients], now)
    await record_changes(
        db, [StatusChange(*c.key, now, c.state, c.source, c.detail) for c in changes.changes]
    )
    if changes.early:
        early = [
            (r.carrier, r.operator_ref, r.phone, r.state, r.at, r.detail) for r in changes.early
        ]
        await db.execute(_INSERT_EARLY, *columns(early, 6))
    if changes.ambiguous:
        await _keep_ambiguous(db, changes.ambiguous)
    return len(changes.recipients)


async def _keep_ambiguous(db: Connection, found: Sequence[tuple[Receipt, Ambiguous]]) -> None:
    """Keep reports that fit several SMS awaiting a report, and say so: none is guessed."""
    await db.execute(_INSERT_AMBIGUOUS, *columns(ambiguous_rows(found), 7))
    warn_ambiguous(found)


async def take_early_reports(
    db: Connection, recorded: Iterable[tuple[str, str, str]]
) -> list[Receipt]:
    """Remove and return, oldest first, the early reports about submissions just recorded.

    `recorded` holds (carrier, operator id, phone) of each part recorded. Which report a
    submission takes is `domain.report_matching.concerns`'s decision.
    """
    phones: dict[Ref, set[str]] = {}
    for carrier, ref, phone in recorded:
        phones.setdefault((carrier, ref), set()).add(phone)
    if not phones or not await db.fetch("SELECT 1 FROM early_receipts LIMIT 1"):
        return []
    rows = await db.fetch(_EARLY, *columns(list(phones), 2))
    if not rows:
        return []
    sending: Sending = _Unread()
    try:
        taken = _concerned(rows, phones, sending)
    except _SendingAsked:
        sending = await _read_sending(
            db,
            [row[6] for row in rows if row[6] is not None],
            {phone for recorded_phones in phones.values() for phone in recorded_phones},
        )
        taken = _concerned(rows, phones, sending)
    if taken:
        await db.execute(
            "DELETE FROM early_receipts WHERE id = ANY($1::bigint[])", [row[0] for row in taken]
        )
    found = [
        Receipt(carrier, ref, State(state), at, detail, phone)
        for _, carrier, ref, state, at, detail, phone in taken
    ]
    return sorted(found, key=lambda r: r.at)


def _concerned(rows: Sequence[Any], phones: dict[Ref, set[str]], sending: Sending) -> list[Any]:
    """The rows of `_EARLY` whose report concerns a submission just recorded."""
    return [row for row in rows if concerns(row[6], phones[(row[1], row[2])], sending)]
