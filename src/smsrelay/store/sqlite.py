"""The embedded store: one SQLite file in WAL mode, used from the event loop.

Every method runs its statements synchronously on the caller's thread. They are short,
and a thread pool was measured 3x slower (the GIL bounces on every row). A write method
holds the write lock for exactly one transaction, so a long report batch never
interleaves with a send.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from smsrelay.domain.cancelling import cancellation
from smsrelay.domain.records import (
    DEFAULT_TIMEZONE,
    Account,
    ApiKey,
    Cancellation,
    NewMessage,
    NotEnoughCredit,
    Pair,
    RecipientView,
    StatusRow,
    StopEntry,
)
from smsrelay.domain.status import State, StatusChange
from smsrelay.store.base import ConflictError, StoreError
from smsrelay.store.migrations import migration_files, split_statements
from smsrelay.store.sqlite_connection import encode_json, record_changes
from smsrelay.store.sqlite_delivery import DeliveryQueries

# CROSS JOIN pins the loop order: walk the 500 requested pairs, probe the primary key for
# each. Without it the planner may scan the recipients table (17 s on 10 M rows).
LOOKUP_STATUSES = """
SELECT r.message_id, r.phone, r.state, r.status_at, r.stop_sms, r.is_spam
FROM json_each(?1) AS j CROSS JOIN recipients AS r
WHERE r.account_id = ?2 AND r.message_id = j.value ->> 0 AND r.phone = j.value ->> 1
"""

_ACCOUNT_COLUMNS = (
    "a.id, a.name, a.region, a.language, a.credits, a.created_at, a.timezone, a.quiet_hours"
)
_RECIPIENT_VIEW = "r.message_id, r.phone, r.state, r.status_at, r.stop_sms, r.cost, r.country"


class SQLiteStore(DeliveryQueries):
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
        timezone: str = DEFAULT_TIMEZONE,
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
        rows = self._read(
            f"SELECT {_ACCOUNT_COLUMNS} FROM accounts AS a WHERE a.{column} = ?", (ref,)
        )
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
            f"SELECT k.secret_hash, k.revoked_at IS NOT NULL, {_ACCOUNT_COLUMNS}"
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
        rows = self._read(LOOKUP_STATUSES, (encode_json(pairs).decode(), account_id))
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
            record_changes(
                db,
                [
                    StatusChange(message.account_id, message_id, r.phone, now, initial, source)
                    for r in message.recipients
                ],
            )
        return message_id

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
            outcome = cancellation(send_at, cancelled_at, bool(sandbox), now, notice)
            if outcome is not Cancellation.CANCELLED:
                return outcome
            db.execute("UPDATE messages SET cancelled_at = ? WHERE id = ?", (int(now), message_id))
            keys = db.execute(
                "UPDATE recipients SET state = ?, status_at = ?, due_at = NULL"
                " WHERE account_id = ? AND message_id = ? AND state = ?"
                " RETURNING account_id, message_id, phone",
                (State.CANCELLED, int(now), account_id, message_id, State.ACCEPTED),
            ).fetchall()
            record_changes(
                db, [StatusChange(a, m, p, now, State.CANCELLED, "api") for a, m, p in keys]
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
            (account_id, encode_json(phones).decode()),
        )
        return {row[0] for row in rows}


def _account(row: Sequence[Any]) -> Account:
    id_, name, region, language, credits, created_at, timezone, quiet_hours = row
    return Account(id_, name, region, language, credits, created_at, timezone, bool(quiet_hours))


def _recipient_view(row: Sequence[Any]) -> RecipientView:
    message_id, phone, state, status_at, stop_sms, cost, country = row
    return RecipientView(message_id, phone, State(state), status_at, bool(stop_sms), cost, country)
