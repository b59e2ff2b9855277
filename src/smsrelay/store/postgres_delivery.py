"""The delivery side of the PostgreSQL store: claims, submissions, reports, replies.

The same moves as sqlite_delivery.py, each a single statement over arrays where SQLite
runs `executemany`. Where SQLite's one write lock serialises writers, here a claim skips
the rows another claim is taking (`FOR UPDATE SKIP LOCKED`), recording submissions and
applying reports lock the operator ids they touch (`postgres_reports.lock_ids`), and a
write that reads rows to decide locks them, in key order. Reports are read and written
by `postgres_reports`; what they change is `domain.report_batch`'s decision.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import msgspec

from smsrelay.domain.records import (
    AmbiguousReport,
    AwaitingReport,
    Outbound,
    Receipt,
    Reply,
    Submission,
)
from smsrelay.domain.status import State, StatusChange, public_change
from smsrelay.store.postgres_connection import (
    ADD_STOP,
    Connection,
    PostgresConnection,
    columns,
    record_changes,
    updated,
)
from smsrelay.store.postgres_reports import (
    apply_reports,
    lock_ids,
    set_states,
    take_early_reports,
)

# Oldest first, ties in primary-key order as SQLite's index gives them; rows another
# worker is claiming at this moment are left to it.
_CLAIM = """
WITH due AS (
    SELECT account_id, message_id, phone, due_at FROM recipients
    WHERE due_at <= $1 ORDER BY due_at, account_id, message_id, phone LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE recipients AS r SET state = 'queued', due_at = NULL, claims = r.claims + 1
FROM due JOIN messages AS m ON m.id = due.message_id
WHERE r.account_id = due.account_id AND r.message_id = due.message_id AND r.phone = due.phone
RETURNING r.account_id, r.message_id, r.phone, coalesce(r.text, m.text), m.sender,
    r.encoding, r.parts, due.due_at
"""
# Each a single statement for the batch (arrays, a key probe per row): asyncpg's
# executemany sends one statement per row, and recording 500 submissions so took most
# of the dispatcher's time. A recipient appears once in a batch (`_last_per_key`).
_CLAIMED_NUMBERS = (
    "INSERT INTO claimed_numbers SELECT DISTINCT phone FROM unnest($1::text[]) AS u (phone)"
    " ON CONFLICT DO NOTHING"
)
_RETRY = """
UPDATE recipients AS r SET state = 'accepted', due_at = u.due_at
FROM unnest($1::float8[], $2::bigint[], $3::bigint[], $4::text[])
    AS u (due_at, account_id, message_id, phone)
WHERE r.account_id = u.account_id AND r.message_id = u.message_id AND r.phone = u.phone
"""
_RECORD = """
UPDATE recipients AS r SET state = u.state, carrier = u.carrier,
    operator_ref = u.operator_ref, submitted_at = $1, report_until = u.report_until,
    status_at = CASE WHEN u.public THEN $2 ELSE r.status_at END
FROM unnest($3::text[], $4::text[], $5::text[], $6::float8[], $7::bool[], $8::bigint[],
    $9::bigint[], $10::text[])
    AS u (state, carrier, operator_ref, report_until, public, account_id, message_id, phone)
WHERE r.account_id = u.account_id AND r.message_id = u.message_id AND r.phone = u.phone
"""
# Keyed by recipient and part: a part whose id another SMS has too is kept. A recipient
# recorded again (its earlier record lost) keeps its newest ids.
_RECORD_PARTS = """
INSERT INTO parts (carrier, operator_ref, account_id, message_id, phone, part, state)
SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[],
    $6::int[], $7::text[])
ON CONFLICT (account_id, message_id, phone, part) DO UPDATE SET
    carrier = excluded.carrier, operator_ref = excluded.operator_ref, state = excluded.state
"""
_LATEST = """
INSERT INTO latest_recipient (phone, account_id, message_id, carrier, at)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::float8[])
ON CONFLICT (phone) DO UPDATE SET account_id = excluded.account_id,
    message_id = excluded.message_id, carrier = excluded.carrier, at = excluded.at
"""


class DeliveryQueries(PostgresConnection):
    @functools.cached_property
    def _warned_no_handset(self) -> set[str]:
        """The connectors this store has warned of: their receipts name no handset."""
        return set()

    async def claim_due(self, now: float, limit: int) -> list[Outbound]:
        # Most polls find nothing: look first, and open a transaction only to claim.
        if not await self._read("SELECT 1 FROM recipients WHERE due_at <= $1 LIMIT 1", now):
            return []
        async with self._write() as db:
            return await _claim(db, now, limit)

    async def release_claims(self, now: float) -> int:
        async with self._write() as db:
            keys = await db.fetch(
                "UPDATE recipients SET state = 'accepted', due_at = $1 WHERE state = 'queued'"
                " RETURNING account_id, message_id, phone",
                now,
            )
            await record_changes(
                db, [StatusChange(a, m, p, now, State.ACCEPTED, "restart") for a, m, p in keys]
            )
        return len(keys)

    async def record_submissions(
        self, submissions: Sequence[Submission], now: float, validity: float, claim: int = 0
    ) -> list[Outbound]:
        submissions = _last_per_key(submissions)
        retries = [s for s in submissions if s.retry_after is not None]
        done = [s for s in submissions if s.retry_after is None]
        async with self._write() as db:
            await lock_ids(db, [(s.carrier, ref) for s in done for ref in s.operator_refs])
            await _batch(
                db,
                _RETRY,
                [
                    (now + (s.retry_after or 0), s.account_id, s.message_id, s.phone)
                    for s in retries
                ],
                4,
            )
            await _batch(
                db,
                _RECORD,
                [
                    (
                        s.state.value,
                        s.carrier,
                        s.operator_refs[0] if len(s.operator_refs) == 1 else None,
                        now + validity if s.operator_refs else None,
                        public_change(State.QUEUED, s.state),
                        s.account_id,
                        s.message_id,
                        s.phone,
                    )
                    for s in done
                ],
                8,
                now,
                int(now),
            )
            await _batch(
                db,
                _RECORD_PARTS,
                [
                    (s.carrier, ref, s.account_id, s.message_id, s.phone, part, s.state.value)
                    for s in done
                    if len(s.operator_refs) > 1
                    for part, ref in enumerate(s.operator_refs, 1)
                ],
                7,
            )
            await record_changes(
                db,
                [s.change(now) for s in submissions],
            )
            latest = {
                s.phone: (s.phone, s.account_id, s.message_id, s.carrier, now)
                for s in done
                if s.operator_refs
            }
            await _batch(db, _LATEST, list(latest.values()), 5)
            recorded = [(s.carrier, ref, s.phone) for s in done for ref in s.operator_refs]
            early = await take_early_reports(db, recorded)
            if early:
                await apply_reports(db, early, now, self._warned_no_handset)
            return await _claim(db, now, claim) if claim else []

    async def apply_receipts(self, receipts: Sequence[Receipt], now: float) -> int:
        async with self._write() as db:
            await lock_ids(db, [(r.carrier, r.operator_ref) for r in receipts])
            return await apply_reports(db, receipts, now, self._warned_no_handset)

    async def expire_overdue(self, now: float) -> int:
        if not await self._read("SELECT 1 FROM recipients WHERE report_until <= $1 LIMIT 1", now):
            return 0
        async with self._write() as db:
            # Locked in key order, as report batches lock their recipients: a report
            # being applied to one of them waits, or is waited for.
            rows = await db.fetch(
                "SELECT account_id, message_id, phone, state FROM recipients"
                " WHERE report_until <= $1"
                " ORDER BY account_id, message_id, phone FOR UPDATE",
                now,
            )
            await set_states(
                db, [((a, m, p), State(state), State.EXPIRED) for a, m, p, state in rows], now
            )
            await record_changes(
                db,
                [
                    StatusChange(a, m, p, now, State.EXPIRED, "validity", "no final report")
                    for a, m, p, _ in rows
                ],
            )
        return len(rows)

    async def forget_unmatched_receipts(self, before: float) -> int:
        if not await self._read(
            "SELECT 1 FROM early_receipts WHERE at < $1"
            " UNION ALL SELECT 1 FROM ambiguous_receipts WHERE at < $1 LIMIT 1",
            before,
        ):
            return 0
        async with self._write() as db:
            forgotten = 0
            for table in ("early_receipts", "ambiguous_receipts"):
                forgotten += updated(await db.execute(f"DELETE FROM {table} WHERE at < $1", before))
            return forgotten

    async def awaiting_reports(self, carrier: str) -> list[AwaitingReport]:
        rows = await self._read(
            # In the order SQLite's walk of recipients_report_until gives them.
            "SELECT carrier, operator_ref, phone, submitted_at FROM recipients"
            " WHERE report_until IS NOT NULL AND carrier = $1"
            " ORDER BY report_until, account_id, message_id, phone",
            carrier,
        )
        return [AwaitingReport(*row) for row in rows]

    async def ambiguous_reports(self, limit: int) -> list[AmbiguousReport]:
        rows = await self._read(
            "SELECT id, carrier, operator_ref, phone, state, at, detail, candidates"
            " FROM ambiguous_receipts ORDER BY id DESC LIMIT $1",
            # A negative limit is none, as SQLite reads it; PostgreSQL's is NULL.
            limit if limit >= 0 else None,
        )
        return [
            AmbiguousReport(
                i, carrier, ref, phone, State(state), at, detail, _read_candidates(candidates)
            )
            for i, carrier, ref, phone, state, at, detail, candidates in rows
        ]

    async def record_replies(self, replies: Sequence[Reply], now: float) -> int:
        matched = 0
        async with self._write() as db:
            for reply in replies:
                if reply.operator_ref is not None:
                    # Operators reuse ids: the number tells two SMS with one id apart.
                    found = await db.fetchrow(
                        "SELECT account_id, message_id, phone, state FROM recipients"
                        " WHERE carrier = $1 AND operator_ref = $2 AND phone = $3"
                        " ORDER BY submitted_at DESC LIMIT 1",
                        reply.carrier,
                        reply.operator_ref,
                        reply.phone,
                    )
                else:
                    # A real operator's STOP names only its number: it answers the last
                    # SMS that number received.
                    found = await db.fetchrow(
                        "SELECT r.account_id, r.message_id, r.phone, r.state"
                        " FROM latest_recipient AS l JOIN recipients AS r"
                        " ON r.account_id = l.account_id AND r.message_id = l.message_id"
                        " AND r.phone = l.phone WHERE l.phone = $1",
                        reply.phone,
                    )
                await db.execute(
                    "INSERT INTO replies (account_id, message_id, phone, carrier, text, stop, at)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    None if found is None else found[0],
                    None if found is None else found[1],
                    reply.phone,
                    reply.carrier,
                    reply.text,
                    reply.stop,
                    reply.at,
                )
                if found is None:
                    continue
                matched += 1
                if not reply.stop:
                    continue
                account_id, message_id, phone, state = found
                await db.execute(
                    ADD_STOP,
                    account_id,
                    phone,
                    reply.carrier,
                    int(reply.at),
                )
                await db.execute(
                    "UPDATE recipients SET stop_sms = true"
                    " WHERE account_id = $1 AND message_id = $2 AND phone = $3",
                    account_id,
                    message_id,
                    phone,
                )
                # The state does not change; the history still says when and why the
                # recipient asked to stop.
                stopped = StatusChange(
                    account_id,
                    message_id,
                    phone,
                    now,
                    State(state),
                    reply.carrier,
                    f"STOP reply: {reply.text}",
                )
                await record_changes(db, [stopped])
        return matched


async def _claim(db: Connection, now: float, limit: int) -> list[Outbound]:
    # RETURNING keeps no order: put back the claim's.
    rows = sorted(await db.fetch(_CLAIM, now, limit), key=lambda row: (row[7], *row[:3]))
    if rows:  # from now on the operator may hold an SMS to these numbers
        await db.execute(_CLAIMED_NUMBERS, [row[2] for row in rows])
    await record_changes(
        db, [StatusChange(a, m, p, now, State.QUEUED, "dispatcher") for a, m, p, *_ in rows]
    )
    return [Outbound(*row[:7]) for row in rows]


def _last_per_key(submissions: Sequence[Submission]) -> list[Submission]:
    """One submission per recipient, its last: a statement over the batch's arrays
    updates each row once. In key order: the rows are updated, and so locked, in the
    order report batches lock them, so two transactions never wait on each other in a
    cycle."""
    last = {(s.account_id, s.message_id, s.phone): s for s in submissions}
    return [last[key] for key in sorted(last)]


async def _batch(
    db: Connection, sql: str, rows: Sequence[Sequence[object]], width: int, *leading: object
) -> None:
    """`sql` over `rows` turned into `width` arrays after the `leading` parameters;
    nothing for no rows."""
    if rows:
        await db.execute(sql, *leading, *columns(rows, width))


_read_candidates = msgspec.json.Decoder(tuple[tuple[int, int, str, int | None], ...]).decode
