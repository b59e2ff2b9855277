"""The embedded store: one SQLite file in WAL mode, used from the event loop.

Every method runs its statements synchronously on the caller's thread. They are short,
and a thread pool was measured 3x slower (the GIL bounces on every row). A write method
holds the write lock for exactly one transaction, so a long report batch never
interleaves with a send.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec

from smsrelay.domain.status import AWAITING_REPORT, State, advance, combine, public_change
from smsrelay.store.base import (
    Account,
    ApiKey,
    AwaitingReport,
    Cancellation,
    ConflictError,
    NewMessage,
    NotEnoughCredit,
    Outbound,
    Pair,
    Receipt,
    RecipientView,
    Reply,
    StatusRow,
    StopEntry,
    StoreError,
    Submission,
)
from smsrelay.store.migrations import migration_files, split_statements

_encode_json = msgspec.json.Encoder().encode

# CROSS JOIN pins the loop order: walk the 500 requested pairs, probe the primary key for
# each. Without it the planner may scan the recipients table (17 s on 10 M rows).
LOOKUP_STATUSES = """
SELECT r.message_id, r.phone, r.state, r.status_at, r.stop_sms, r.is_spam
FROM json_each(?1) AS j CROSS JOIN recipients AS r
WHERE r.account_id = ?2 AND r.message_id = j.value ->> 0 AND r.phone = j.value ->> 1
"""

# Pauses between tries for another process's write lock, (first, longest). A client
# waits for the API's writes: they try often. The delivery worker's writes can wait, so
# they try less often and leave the lock to the API when both want it.
_PAUSES = {False: (0.0002, 0.001), True: (0.002, 0.02)}

_ACCOUNT_COLUMNS = "id, name, region, language, credits, created_at, timezone, quiet_hours"
_RECIPIENT_VIEW = "r.message_id, r.phone, r.state, r.status_at, r.stop_sms, r.cost, r.country"

_INSERT_EVENT = (
    "INSERT INTO status_events (account_id, message_id, phone, at, state, source, detail)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)


class SQLiteStore:
    def __init__(
        self, connection: sqlite3.Connection, busy_timeout: float = 10.0, background: bool = False
    ) -> None:
        self._db = connection
        self._busy_timeout = busy_timeout
        self._pauses = _PAUSES[background]

    @classmethod
    def open(
        cls,
        path: Path,
        synchronous: str = "FULL",
        busy_timeout: float = 10.0,
        background: bool = False,
    ) -> SQLiteStore:
        """Open (creating it and its folder if needed) the database file at `path`.

        `busy_timeout` is how long a write waits for another process's lock (the
        delivery worker's, the CLI's) before answering "try again". The wait is ours, on
        the event loop (see `_begin`), so SQLite's own busy handler is off. A `background`
        store (the delivery worker's) tries less often, leaving the lock to the API.
        """
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode = WAL")
            db.execute(f"PRAGMA synchronous = {'FULL' if synchronous == 'FULL' else 'NORMAL'}")
            db.execute("PRAGMA busy_timeout = 0")
            db.execute("PRAGMA foreign_keys = ON")
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open SQLite database {path}: {exc}") from exc
        return cls(db, busy_timeout, background)

    async def _begin(self) -> None:
        """BEGIN IMMEDIATE, waiting for another process's write lock without blocking.

        SQLite's busy handler would sleep inside the call, 5 to 100 ms at a time, and the
        whole event loop with it: measured, the API then spent more time asleep than
        working while the delivery worker wrote. Here each try fails at once, and the
        loop serves other requests between tries.
        """
        deadline = time.monotonic() + self._busy_timeout
        pause, longest = self._pauses
        while True:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                    raise
                if time.monotonic() + pause > deadline:
                    raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, longest)

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[sqlite3.Connection]:
        """One write transaction, taking the lock up front so it cannot fail half-way.

        The body must not await: nothing else may use the connection while it is open.
        """
        try:
            await self._begin()
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.IntegrityError as exc:
            raise ConflictError(str(exc)) from exc
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite write failed: {exc}") from exc

    def _read(self, sql: str, params: Sequence[object]) -> list[Any]:
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite read failed: {exc}") from exc

    async def close(self) -> None:
        self._db.close()

    def _pending_migrations(self) -> bool:
        """Whether a migration is missing, read without the write lock (the common case)."""
        try:
            rows = self._db.execute("SELECT version FROM schema_migrations").fetchall()
        except sqlite3.OperationalError:  # no table yet: a new database
            return True
        done = {row[0] for row in rows}
        return any(version not in done for version, _, _ in migration_files("sqlite"))

    async def migrate(self) -> list[str]:
        applied: list[str] = []
        if not self._pending_migrations():
            return applied
        async with self._write() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
            )
            done = {row[0] for row in db.execute("SELECT version FROM schema_migrations")}
            for version, name, sql in migration_files("sqlite"):
                if version in done:
                    continue
                for statement in split_statements(sql):
                    db.execute(statement)
                db.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, unixepoch())", (version, name)
                )
                applied.append(name)
        return applied

    async def create_account(
        self,
        name: str,
        region: str,
        language: str,
        credits: int,
        now: int,
        timezone: str = "Europe/Paris",
        quiet_hours: bool = False,
    ) -> Account:
        try:
            async with self._write() as db:
                cursor = db.execute(
                    "INSERT INTO accounts"
                    " (name, region, language, credits, created_at, timezone, quiet_hours)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (name, region, language, credits, now, timezone, quiet_hours),
                )
        except ConflictError as exc:
            raise StoreError(f"an account named {name!r} exists already") from exc
        assert cursor.lastrowid is not None
        return Account(
            cursor.lastrowid, name, region, language, credits, now, timezone, quiet_hours
        )

    async def find_account(self, ref: str) -> Account | None:
        column = "id" if ref.isdigit() else "name"
        rows = self._read(f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE {column} = ?", (ref,))
        return _account(rows[0]) if rows else None

    async def add_api_key(self, key_id: str, account_id: int, secret_hash: bytes, now: int) -> None:
        async with self._write() as db:
            db.execute(
                "INSERT INTO api_keys (id, account_id, secret_hash, created_at)"
                " VALUES (?, ?, ?, ?)",
                (key_id, account_id, secret_hash, now),
            )

    async def revoke_api_key(self, key_id: str, now: int) -> bool:
        async with self._write() as db:
            cursor = db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (now, key_id),
            )
        return cursor.rowcount == 1

    async def find_api_key(self, key_id: str) -> ApiKey | None:
        rows = self._read(
            "SELECT k.secret_hash, k.revoked_at IS NOT NULL,"
            " a.id, a.name, a.region, a.language, a.credits, a.created_at, a.timezone,"
            " a.quiet_hours"
            " FROM api_keys AS k JOIN accounts AS a ON a.id = k.account_id WHERE k.id = ?",
            (key_id,),
        )
        if not rows:
            return None
        row = rows[0]
        return ApiKey(key_id, _account(row[2:]), row[0], bool(row[1]))

    async def lookup_statuses(
        self, account_id: int, pairs: Sequence[Pair]
    ) -> dict[Pair, StatusRow]:
        rows = self._read(LOOKUP_STATUSES, (_encode_json(pairs).decode(), account_id))
        return {(row[0], row[1]): row[2:] for row in rows}

    async def create_message(self, message: NewMessage, now: float) -> int:
        initial = State.DELIVERED if message.sandbox else State.ACCEPTED
        source = "sandbox" if message.sandbox else "api"
        due_at = None if message.sandbox else (message.send_at or now)
        async with self._write() as db:
            # The check and the debit are one statement inside the write lock: two sends
            # at once can never both spend the last of the credit.
            if (
                message.charged
                and not db.execute(
                    "UPDATE accounts SET credits = credits - ?1 WHERE id = ?2 AND credits >= ?1",
                    (message.charged, message.account_id),
                ).rowcount
            ):
                raise NotEnoughCredit(message.account_id)
            cursor = db.execute(
                "INSERT INTO messages (account_id, text, sender, tag, sandbox, nb_sms, cost,"
                " created_at, gamme, send_at, charged, url_dlr, url_response)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    message.account_id,
                    message.text,
                    message.sender,
                    message.tag,
                    message.sandbox,
                    message.nb_sms,
                    message.cost,
                    int(now),
                    message.gamme,
                    message.send_at,
                    message.charged,
                    message.url_dlr,
                    message.url_response,
                ),
            )
            message_id = cursor.lastrowid
            assert message_id is not None
            db.executemany(
                "INSERT INTO recipients (account_id, message_id, phone, text, encoding, parts,"
                " state, status_at, due_at, cost, country)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        message.account_id,
                        message_id,
                        r.phone,
                        r.text,
                        r.encoding,
                        r.parts,
                        initial,
                        int(now),
                        due_at,
                        r.cost,
                        r.country,
                    )
                    for r in message.recipients
                ],
            )
            db.executemany(
                _INSERT_EVENT,
                [
                    (message.account_id, message_id, r.phone, now, initial, source, None)
                    for r in message.recipients
                ],
            )
        return message_id

    async def claim_due(self, now: float, limit: int) -> list[Outbound]:
        # Most polls find nothing: look first, and take the write lock only to claim.
        if not self._read("SELECT 1 FROM recipients WHERE due_at <= ? LIMIT 1", (now,)):
            return []
        async with self._write() as db:
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
                _INSERT_EVENT, [(*key, now, State.QUEUED, "dispatcher", None) for key in keys]
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
                _INSERT_EVENT, [(*key, now, State.ACCEPTED, "restart", None) for key in keys]
            )
        return len(keys)

    async def record_submissions(
        self, submissions: Sequence[Submission], now: float, validity: float
    ) -> None:
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
                _INSERT_EVENT,
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
        db.executemany(_INSERT_EVENT, events)
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
                (_encode_json(refs).decode(), carrier),
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
        db.execute(_INSERT_EVENT, (*key, now, new_part, receipt.carrier, part_detail))
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
        self._set_state(db, key, current, new, now)
        db.execute(_INSERT_EVENT, (*key, now, new, receipt.carrier, f"{len(states)} parts"))
        return 1

    @staticmethod
    def _set_state(
        db: sqlite3.Connection, key: tuple[int, int, str], current: State, new: State, now: float
    ) -> None:
        db.execute(_SET_STATE, _state_change(key, current, new, now))

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
            for *key, state in rows:
                self._set_state(db, (key[0], key[1], key[2]), State(state), State.EXPIRED, now)
            db.executemany(
                _INSERT_EVENT,
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

    async def add_credit(self, account_id: int, amount: int) -> int:
        async with self._write() as db:
            row = db.execute(
                "UPDATE accounts SET credits = credits + ?1 WHERE id = ?2 AND credits + ?1 >= 0"
                " RETURNING credits",
                (amount, account_id),
            ).fetchone()
        if row is None:
            raise NotEnoughCredit(account_id)
        return int(row[0])

    async def waiting_parts(self, account_id: int, now: float) -> int:
        rows = self._read(
            "SELECT coalesce(sum(r.parts), 0) FROM messages AS m JOIN recipients AS r"
            " ON r.account_id = m.account_id AND r.message_id = m.id"
            " WHERE m.account_id = ? AND m.send_at > ? AND m.cancelled_at IS NULL"
            " AND NOT m.sandbox",
            (account_id, now),
        )
        return int(rows[0][0])

    async def cancel_message(
        self, account_id: int, message_id: int, now: float, notice: float
    ) -> Cancellation:
        async with self._write() as db:
            row = db.execute(
                "SELECT send_at, cancelled_at, charged, sandbox FROM messages"
                " WHERE id = ? AND account_id = ?",
                (message_id, account_id),
            ).fetchone()
            if row is None:
                return Cancellation.NOT_FOUND
            send_at, cancelled_at, charged, sandbox = row
            if cancelled_at is not None:
                return Cancellation.ALREADY_CANCELLED
            if sandbox or send_at is None or send_at <= now:
                return Cancellation.ALREADY_SENT
            if send_at - now < notice:
                return Cancellation.TOO_LATE
            db.execute("UPDATE messages SET cancelled_at = ? WHERE id = ?", (int(now), message_id))
            keys = db.execute(
                "UPDATE recipients SET state = ?, status_at = ?, due_at = NULL"
                " WHERE account_id = ? AND message_id = ? AND state = ?"
                " RETURNING account_id, message_id, phone",
                (State.CANCELLED, int(now), account_id, message_id, State.ACCEPTED),
            ).fetchall()
            db.executemany(
                _INSERT_EVENT, [(*key, now, State.CANCELLED, "api", None) for key in keys]
            )
            db.execute(
                "UPDATE accounts SET credits = credits + ? WHERE id = ?", (charged, account_id)
            )
        return Cancellation.CANCELLED

    async def find_recipient(
        self, account_id: int, message_id: int, phone: str
    ) -> RecipientView | None:
        rows = self._read(
            f"SELECT {_RECIPIENT_VIEW} FROM recipients AS r"
            " WHERE r.account_id = ? AND r.message_id = ? AND r.phone = ?",
            (account_id, message_id, phone),
        )
        return _recipient_view(rows[0]) if rows else None

    async def message_recipients(self, account_id: int, message_id: int) -> list[RecipientView]:
        rows = self._read(
            f"SELECT {_RECIPIENT_VIEW} FROM recipients AS r"
            " WHERE r.account_id = ? AND r.message_id = ? ORDER BY r.phone",
            (account_id, message_id),
        )
        return [_recipient_view(row) for row in rows]

    async def tag_recipients(
        self, account_id: int, tag: str, offset: int, limit: int
    ) -> tuple[int, list[RecipientView]]:
        joined = (
            " FROM messages AS m JOIN recipients AS r"
            " ON r.account_id = m.account_id AND r.message_id = m.id"
            " WHERE m.account_id = ? AND m.tag = ?"
        )
        total = self._read("SELECT count(*)" + joined, (account_id, tag))[0][0]
        rows = self._read(
            f"SELECT {_RECIPIENT_VIEW}{joined} ORDER BY r.message_id, r.phone LIMIT ? OFFSET ?",
            (account_id, tag, limit, offset),
        )
        return int(total), [_recipient_view(row) for row in rows]

    async def add_stop(self, account_id: int, phone: str, source: str, now: int) -> int | None:
        async with self._write() as db:
            row = db.execute(
                "INSERT INTO stop_list (account_id, phone, source, created_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
                (account_id, phone, source, now),
            ).fetchone()
        return None if row is None else int(row[0])

    async def list_stops(self, account_id: int) -> list[StopEntry]:
        rows = self._read(
            "SELECT id, phone, created_at FROM stop_list WHERE account_id = ? ORDER BY id",
            (account_id,),
        )
        return [StopEntry(*row) for row in rows]

    async def delete_stop(self, account_id: int, stop_id: int) -> bool:
        async with self._write() as db:
            cursor = db.execute(
                "DELETE FROM stop_list WHERE id = ? AND account_id = ?", (stop_id, account_id)
            )
        return cursor.rowcount == 1

    async def stopped_among(self, account_id: int, phones: Sequence[str]) -> set[str]:
        rows = self._read(
            "SELECT phone FROM stop_list WHERE account_id = ?1"
            " AND phone IN (SELECT value FROM json_each(?2))",
            (account_id, _encode_json(phones).decode()),
        )
        return {row[0] for row in rows}

    async def record_replies(self, replies: Sequence[Reply], now: float) -> int:
        matched = 0
        async with self._write() as db:
            for reply in replies:
                found = db.execute(
                    "SELECT account_id, message_id, phone, state FROM recipients"
                    " WHERE carrier = ? AND operator_ref = ?",
                    (reply.carrier, reply.operator_ref),
                ).fetchone()
                if found is None and reply.operator_ref is None:
                    # A real operator's STOP names only its number: it answers the last
                    # SMS that number received.
                    found = db.execute(
                        "SELECT r.account_id, r.message_id, r.phone, r.state"
                        " FROM latest_recipient AS l JOIN recipients AS r"
                        " ON r.account_id = l.account_id AND r.message_id = l.message_id"
                        " AND r.phone = l.phone WHERE l.phone = ?",
                        (reply.phone,),
                    ).fetchone()
                db.execute(
                    "INSERT INTO replies"
                    " (account_id, message_id, phone, carrier, text, stop, at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        found and found[0],
                        found and found[1],
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
                db.execute(_INSERT_EVENT, (*key, now, state, reply.carrier, detail))
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


def _account(row: Sequence[Any]) -> Account:
    id_, name, region, language, credits, created_at, timezone, quiet_hours = row
    return Account(id_, name, region, language, credits, created_at, timezone, bool(quiet_hours))


def _recipient_view(row: Sequence[Any]) -> RecipientView:
    message_id, phone, state, status_at, stop_sms, cost, country = row
    return RecipientView(message_id, phone, State(state), status_at, bool(stop_sms), cost, country)
