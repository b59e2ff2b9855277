"""The delivery side of the SQLite store: claims, submissions, reports, replies.

The dispatcher and the receipt matcher write here, in the delivery worker's process. A
batch of reports is read in one statement and written with `executemany`. Reports move
a state only as `domain.status.advance` allows; the dispatcher's own moves (claim,
release, record, expiry) set the state they mean. Every change goes into
`status_events`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from smsrelay.domain.status import AWAITING_REPORT, State, advance, combine, public_change
from smsrelay.store.base import (
    AwaitingReport,
    Outbound,
    Receipt,
    Reply,
    Submission,
)
from smsrelay.store.sqlite_connection import INSERT_EVENT, SQLiteConnection, encode_json


class DeliveryQueries(SQLiteConnection):
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
            "UPDATE recipients SET state = 'queued', due_at = NULL"
            " WHERE account_id = ? AND message_id = ? AND phone = ?",
            keys,
        )
        db.executemany(
            INSERT_EVENT, [(*key, now, State.QUEUED, "dispatcher", None) for key in keys]
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
            db.executemany(
                INSERT_EVENT, [(*key, now, State.ACCEPTED, "restart", None) for key in keys]
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
            db.executemany(
                "INSERT OR IGNORE INTO parts"
                " (carrier, operator_ref, account_id, message_id, phone, part, state)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (s.carrier, ref, s.account_id, s.message_id, s.phone, part, s.state)
                    for s in done
                    if len(s.operator_refs) > 1
                    for part, ref in enumerate(s.operator_refs, 1)
                ],
            )
            db.executemany(
                INSERT_EVENT,
                [
                    (
                        s.account_id,
                        s.message_id,
                        s.phone,
                        now,
                        State.ACCEPTED if s.retry_after is not None else s.state,
                        s.carrier,
                        s.detail,
                    )
                    for s in submissions
                ],
            )
            db.executemany(
                "INSERT OR REPLACE INTO latest_recipient VALUES (?, ?, ?, ?, ?)",
                [
                    (s.phone, s.account_id, s.message_id, s.carrier, now)
                    for s in done
                    if s.operator_refs
                ],
            )
            refs = [(s.carrier, ref) for s in done for ref in s.operator_refs]
            early = self._take_early_receipts(db, refs)
            if early:
                self._apply(db, early, now)
            return self._claim(db, now, claim) if claim else []

    async def apply_receipts(self, receipts: Sequence[Receipt], now: float) -> int:
        async with self._write() as db:
            return self._apply(db, receipts, now)

    def _apply(self, db: sqlite3.Connection, receipts: Sequence[Receipt], now: float) -> int:
        """Apply a batch of reports: one read for all, then one update per change.

        Reports for the same recipient may share a batch (ENROUTE then DELIVRD, or a
        duplicate): each is judged against the state the previous one left.
        """
        found = self._recipients_by_ref(db, receipts)
        states: dict[tuple[int, int, str], State] = {}
        updates: list[tuple[object, ...]] = []
        events: list[tuple[object, ...]] = []
        changed = 0
        for receipt in receipts:
            row = found.get((receipt.carrier, receipt.operator_ref))
            if row is None:
                part_change = self._apply_to_part(db, receipt, now)
                if part_change is not None:
                    changed += part_change
                    continue
                db.execute(
                    "INSERT INTO early_receipts (carrier, operator_ref, state, at, detail)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (
                        receipt.carrier,
                        receipt.operator_ref,
                        receipt.state,
                        receipt.at,
                        receipt.detail,
                    ),
                )
                continue
            key = (row[0], row[1], row[2])
            current = states.get(key) or State(row[3])
            new = advance(current, receipt.state)
            if new is None:
                continue
            states[key] = new
            updates.append(_state_change(key, current, new, now))
            events.append((*key, now, new, receipt.carrier, receipt.detail))
            changed += 1
        db.executemany(_SET_STATE, updates)
        db.executemany(INSERT_EVENT, events)
        return changed

    @staticmethod
    def _recipients_by_ref(
        db: sqlite3.Connection, receipts: Sequence[Receipt]
    ) -> dict[tuple[str, str], tuple[int, int, str, str]]:
        """The one-part recipients the reports name, by (carrier, operator id)."""
        refs_by_carrier: dict[str, list[str]] = {}
        for receipt in receipts:
            refs_by_carrier.setdefault(receipt.carrier, []).append(receipt.operator_ref)
        found: dict[tuple[str, str], tuple[int, int, str, str]] = {}
        for carrier, refs in refs_by_carrier.items():
            rows = db.execute(
                "SELECT r.operator_ref, r.account_id, r.message_id, r.phone, r.state"
                " FROM json_each(?1) AS j CROSS JOIN recipients AS r"
                " WHERE r.carrier = ?2 AND r.operator_ref = j.value",
                (encode_json(refs).decode(), carrier),
            )
            for ref, *recipient in rows:
                found[(carrier, ref)] = (recipient[0], recipient[1], recipient[2], recipient[3])
        return found

    def _apply_to_part(self, db: sqlite3.Connection, receipt: Receipt, now: float) -> int | None:
        """A report on one part of a long SMS; None when no part has this operator id.

        The part takes the report by the usual rules, then the recipient takes the
        combination of all its parts: Delivered only once every part is.
        """
        part = db.execute(
            "SELECT account_id, message_id, phone, part, state FROM parts"
            " WHERE carrier = ? AND operator_ref = ?",
            (receipt.carrier, receipt.operator_ref),
        ).fetchone()
        if part is None:
            return None
        account_id, message_id, phone, number, part_state = part
        new_part = advance(State(part_state), receipt.state)
        if new_part is None:
            return 0
        db.execute(
            "UPDATE parts SET state = ? WHERE carrier = ? AND operator_ref = ?",
            (new_part, receipt.carrier, receipt.operator_ref),
        )
        key = (account_id, message_id, phone)
        part_detail = f"part {number}" + (f": {receipt.detail}" if receipt.detail else "")
        db.execute(INSERT_EVENT, (*key, now, new_part, receipt.carrier, part_detail))
        states = [
            State(row[0])
            for row in db.execute(
                "SELECT state FROM parts WHERE account_id = ? AND message_id = ? AND phone = ?"
                " ORDER BY part",
                key,
            )
        ]
        current = State(
            db.execute(
                "SELECT state FROM recipients"
                " WHERE account_id = ? AND message_id = ? AND phone = ?",
                key,
            ).fetchone()[0]
        )
        new = advance(current, combine(states))
        if new is None:
            return 0
        db.execute(_SET_STATE, _state_change(key, current, new, now))
        db.execute(INSERT_EVENT, (*key, now, new, receipt.carrier, f"{len(states)} parts"))
        return 1

    @staticmethod
    def _take_early_receipts(
        db: sqlite3.Connection, refs: Sequence[tuple[str, str | None]]
    ) -> list[Receipt]:
        if not refs or db.execute("SELECT 1 FROM early_receipts LIMIT 1").fetchone() is None:
            return []
        found: list[Receipt] = []
        for carrier, ref in refs:
            rows = db.execute(
                "DELETE FROM early_receipts WHERE carrier = ? AND operator_ref = ?"
                " RETURNING carrier, operator_ref, state, at, detail",
                (carrier, ref),
            ).fetchall()
            found.extend(Receipt(c, r, State(s), at, d) for c, r, s, at, d in rows)
        return sorted(found, key=lambda r: r.at)

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
                _SET_STATE,
                [
                    _state_change((a, m, p), State(state), State.EXPIRED, now)
                    for a, m, p, state in rows
                ],
            )
            db.executemany(
                INSERT_EVENT,
                [(*row[:3], now, State.EXPIRED, "validity", "no final report") for row in rows],
            )
        return len(rows)

    async def forget_early_receipts(self, before: float) -> int:
        if not self._read("SELECT 1 FROM early_receipts WHERE at < ? LIMIT 1", (before,)):
            return 0
        async with self._write() as db:
            return db.execute("DELETE FROM early_receipts WHERE at < ?", (before,)).rowcount

    async def awaiting_reports(self, carrier: str) -> list[AwaitingReport]:
        rows = self._read(
            "SELECT carrier, operator_ref, phone, submitted_at FROM recipients"
            " WHERE report_until IS NOT NULL AND carrier = ?",
            (carrier,),
        )
        return [AwaitingReport(*row) for row in rows]

    async def record_replies(self, replies: Sequence[Reply], now: float) -> int:
        matched = 0
        async with self._write() as db:
            for reply in replies:
                if reply.operator_ref is not None:
                    found = db.execute(
                        "SELECT account_id, message_id, phone, state FROM recipients"
                        " WHERE carrier = ? AND operator_ref = ?",
                        (reply.carrier, reply.operator_ref),
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
                *key, state = found
                db.execute(
                    "INSERT INTO stop_list (account_id, phone, source, created_at)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (key[0], key[2], reply.carrier, int(reply.at)),
                )
                db.execute(
                    "UPDATE recipients SET stop_sms = 1"
                    " WHERE account_id = ? AND message_id = ? AND phone = ?",
                    key,
                )
                # The state does not change; the history still says when and why the
                # recipient asked to stop.
                detail = f"STOP reply: {reply.text}"
                db.execute(INSERT_EVENT, (*key, now, state, reply.carrier, detail))
        return matched


_SET_STATE = (
    "UPDATE recipients SET state = ?,"
    " status_at = CASE WHEN ? THEN ? ELSE status_at END,"
    " report_until = CASE WHEN ? THEN report_until END"
    " WHERE account_id = ? AND message_id = ? AND phone = ?"
)


def _state_change(
    key: tuple[int, int, str], current: State, new: State, now: float
) -> tuple[object, ...]:
    """Parameters of `_SET_STATE`: the public date moves only with the public status."""
    return (new, public_change(current, new), int(now), new in AWAITING_REPORT, *key)
