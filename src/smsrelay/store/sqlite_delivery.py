"""The delivery side of the SQLite store: claims, submissions, reports, replies.

The dispatcher and the receipt matcher write here, in the delivery worker's process.
Reports are matched and applied by `sqlite_reports`; the dispatcher's own moves (claim,
release, record, expiry) set the state they mean. Every change goes into
`status_events`.
"""

from __future__ import annotations

import functools
import sqlite3
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
from smsrelay.store.sqlite_connection import SQLiteConnection, record_changes
from smsrelay.store.sqlite_reports import (
    SET_STATE,
    apply_reports,
    state_change,
    take_early_reports,
)


class DeliveryQueries(SQLiteConnection):
    @functools.cached_property
    def _warned_no_handset(self) -> set[str]:
        """The connectors this store has warned of: their receipts name no handset."""
        return set()

    async def claim_due(self, now: float, limit: int) -> list[Outbound]:
        # Most polls find nothing: look first, and take the write lock only to claim.
        if not self._read("SELECT 1 FROM recipients WHERE due_at <= ? LIMIT 1", (now,)):
            return []
        async with self._write() as db:
            return self._claim(db, now, limit)

    @staticmethod
    def _claim(db: sqlite3.Connection, now: float, limit: int) -> list[Outbound]:
        rows = db.execute(
            "SELECT r.account_id, r.message_id, r.phone, coalesce(r.text, m.text),"
            " m.sender, r.encoding, r.parts"
            " FROM recipients AS r JOIN messages AS m ON m.id = r.message_id"
            " WHERE r.due_at <= ? ORDER BY r.due_at LIMIT ?",
            (now, limit),
        ).fetchall()
        keys = [row[:3] for row in rows]
        db.executemany(
            "UPDATE recipients SET state = 'queued', due_at = NULL, claims = claims + 1"
            " WHERE account_id = ? AND message_id = ? AND phone = ?",
            keys,
        )
        # From now on the operator may hold an SMS to these numbers (migration 0009).
        db.executemany(
            "INSERT OR IGNORE INTO claimed_numbers VALUES (?)", [(key[2],) for key in keys]
        )
        record_changes(
            db, [StatusChange(a, m, p, now, State.QUEUED, "dispatcher") for a, m, p in keys]
        )
        return [Outbound(*row) for row in rows]

    async def release_claims(self, now: float) -> int:
        async with self._write() as db:
            keys = db.execute(
                "SELECT account_id, message_id, phone FROM recipients WHERE state = 'queued'"
            ).fetchall()
            db.executemany(
                "UPDATE recipients SET state = 'accepted', due_at = ?"
                " WHERE account_id = ? AND message_id = ? AND phone = ?",
                [(now, *key) for key in keys],
            )
            record_changes(
                db, [StatusChange(a, m, p, now, State.ACCEPTED, "restart") for a, m, p in keys]
            )
        return len(keys)

    async def record_submissions(
        self, submissions: Sequence[Submission], now: float, validity: float, claim: int = 0
    ) -> list[Outbound]:
        async with self._write() as db:
            retries = [s for s in submissions if s.retry_after is not None]
            done = [s for s in submissions if s.retry_after is None]
            db.executemany(
                "UPDATE recipients SET state = 'accepted', due_at = ?"
                " WHERE account_id = ? AND message_id = ? AND phone = ?",
                [
                    (now + (s.retry_after or 0), s.account_id, s.message_id, s.phone)
                    for s in retries
                ],
            )
            db.executemany(
                "UPDATE recipients SET state = ?, carrier = ?, operator_ref = ?,"
                " submitted_at = ?, report_until = ?,"
                " status_at = CASE WHEN ? THEN ? ELSE status_at END"
                " WHERE account_id = ? AND message_id = ? AND phone = ?",
                [
                    (
                        s.state,
                        s.carrier,
                        s.operator_refs[0] if len(s.operator_refs) == 1 else None,
                        now,
                        now + validity if s.operator_refs else None,
                        public_change(State.QUEUED, s.state),
                        int(now),
                        s.account_id,
                        s.message_id,
                        s.phone,
                    )
                    for s in done
                ],
            )
            # Keyed by recipient and part: a part whose id another SMS has too is kept.
            # A recipient recorded again (its earlier record lost) keeps its newest ids.
            db.executemany(
                "INSERT OR REPLACE INTO parts"
                " (carrier, operator_ref, account_id, message_id, phone, part, state)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (s.carrier, ref, s.account_id, s.message_id, s.phone, part, s.state)
                    for s in done
                    if len(s.operator_refs) > 1
                    for part, ref in enumerate(s.operator_refs, 1)
                ],
            )
            record_changes(
                db,
                [s.change(now) for s in submissions],
            )
            db.executemany(
                "INSERT OR REPLACE INTO latest_recipient VALUES (?, ?, ?, ?, ?)",
                [
                    (s.phone, s.account_id, s.message_id, s.carrier, now)
                    for s in done
                    if s.operator_refs
                ],
            )
            recorded = [(s.carrier, ref, s.phone) for s in done for ref in s.operator_refs]
            early = take_early_reports(db, recorded)
            if early:
                apply_reports(db, early, now, self._warned_no_handset)
            return self._claim(db, now, claim) if claim else []

    async def apply_receipts(self, receipts: Sequence[Receipt], now: float) -> int:
        async with self._write() as db:
            return apply_reports(db, receipts, now, self._warned_no_handset)

    async def expire_overdue(self, now: float) -> int:
        if not self._read("SELECT 1 FROM recipients WHERE report_until <= ? LIMIT 1", (now,)):
            return 0
        async with self._write() as db:
            rows = db.execute(
                "SELECT account_id, message_id, phone, state FROM recipients"
                " WHERE report_until <= ?",
                (now,),
            ).fetchall()
            db.executemany(
                SET_STATE,
                [
                    state_change((a, m, p), State(state), State.EXPIRED, now)
                    for a, m, p, state in rows
                ],
            )
            record_changes(
                db,
                [
                    StatusChange(a, m, p, now, State.EXPIRED, "validity", "no final report")
                    for a, m, p, _ in rows
                ],
            )
        return len(rows)

    async def forget_unmatched_receipts(self, before: float) -> int:
        if not self._read(
            "SELECT 1 FROM early_receipts WHERE at < ?1"
            " UNION ALL SELECT 1 FROM ambiguous_receipts WHERE at < ?1 LIMIT 1",
            (before,),
        ):
            return 0
        async with self._write() as db:
            forgotten = 0
            for table in ("early_receipts", "ambiguous_receipts"):
                forgotten += db.execute(f"DELETE FROM {table} WHERE at < ?", (before,)).rowcount
            return forgotten

    async def awaiting_reports(self, carrier: str) -> list[AwaitingReport]:
        rows = self._read(
            "SELECT carrier, operator_ref, phone, submitted_at FROM recipients"
            " WHERE report_until IS NOT NULL AND carrier = ?",
            (carrier,),
        )
        return [AwaitingReport(*row) for row in rows]

    async def ambiguous_reports(self, limit: int) -> list[AmbiguousReport]:
        rows = self._read(
            "SELECT id, carrier, operator_ref, phone, state, at, detail, candidates"
            " FROM ambiguous_receipts ORDER BY id DESC LIMIT ?",
            (limit,),
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
                    found = db.execute(
                        "SELECT account_id, message_id, phone, state FROM recipients"
                        " WHERE carrier = ? AND operator_ref = ? AND phone = ?"
                        " ORDER BY submitted_at DESC LIMIT 1",
                        (reply.carrier, reply.operator_ref, reply.phone),
                    ).fetchone()
                else:
                    # A real operator's STOP names only its number: it answers the last
                    # SMS that number received.
                    found = db.execute(
                        "SELECT r.account_id, r.message_id, r.phone, r.state"
                        " FROM latest_recipient AS l JOIN recipients AS r"
                        " ON r.account_id = l.account_id AND r.message_id = l.message_id"
                        " AND r.phone = l.phone WHERE l.phone = ?",
                        (reply.phone,),
                    ).fetchone()
                account_id, message_id = (None, None) if found is None else found[:2]
                db.execute(
                    "INSERT INTO replies"
                    " (account_id, message_id, phone, carrier, text, stop, at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        account_id,
                        message_id,
                        reply.phone,
                        reply.carrier,
                        reply.text,
                        reply.stop,
                        reply.at,
                    ),
                )
                if found is None:
                    continue
                matched += 1
                if not reply.stop:
                    continue
                account_id, message_id, phone, state = found
                db.execute(
                    "INSERT INTO stop_list (account_id, phone, source, created_at)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (account_id, phone, reply.carrier, int(reply.at)),
                )
                db.execute(
                    "UPDATE recipients SET stop_sms = 1"
                    " WHERE account_id = ? AND message_id = ? AND phone = ?",
                    (account_id, message_id, phone),
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
                record_changes(db, [stopped])
        return matched


_read_candidates = msgspec.json.Decoder(tuple[tuple[int, int, str, int | None], ...]).decode
