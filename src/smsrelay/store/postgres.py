"""The network store: PostgreSQL through a pool of asyncpg connections.

Same behaviour as the SQLite store, method by method, and the same values out: booleans
SQLite keeps as 0/1 come back as the ints or bools SQLite's methods return. Where SQLite
is serialised by its one write lock, here each write is one transaction and the rows it
reads to decide are locked (`FOR UPDATE`), so concurrent writers give the answers one
after the other would. asyncpg prepares each statement once per connection and reuses it.
"""

from __future__ import annotations

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
from smsrelay.store.postgres_connection import ADD_STOP, columns, record_changes, updated
from smsrelay.store.postgres_delivery import DeliveryQueries

# Walk the requested pairs, probe the primary key for each. A plain join leaves the plan
# to the statistics, and measured, on 40,000 rows with 20 numbers per account, PostgreSQL
# hashed the pairs and scanned the table. A LATERAL subquery with a LIMIT is not
# flattened into the join: it is run once per pair, and with every key column given
# the primary key answers it (tests/store/test_postgres.py pins that plan). LIMIT 1
# changes nothing else: the key is unique.
LOOKUP_STATUSES = """
SELECT p.message_id, p.phone, r.state, r.status_at, r.stop_sms::int, r.is_spam::int
FROM unnest($2::bigint[], $3::text[]) AS p (message_id, phone)
CROSS JOIN LATERAL (
    SELECT r.state, r.status_at, r.stop_sms, r.is_spam FROM recipients AS r
    WHERE r.account_id = $1 AND r.message_id = p.message_id AND r.phone = p.phone LIMIT 1
) AS r
"""

_INSERT_RECIPIENTS = (
    "INSERT INTO recipients (account_id, message_id, phone, text, encoding, parts,"
    " state, status_at, due_at, cost, country)"
    " SELECT $1, $2, p.phone, p.text, p.encoding, p.parts, $3, $4, $5, p.cost, p.country"
    " FROM unnest($6::text[], $7::text[], $8::text[], $9::int[], $10::bigint[], $11::text[])"
    " AS p (phone, text, encoding, parts, cost, country)"
)
_ACCOUNT_COLUMNS = (
    "a.id, a.name, a.region, a.language, a.credits, a.created_at, a.timezone, a.quiet_hours"
)
_RECIPIENT_VIEW = "r.message_id, r.phone, r.state, r.status_at, r.stop_sms, r.cost, r.country"
# What a bigint holds: an id outside it is no row's, and asyncpg would refuse to send it.
_BIGINT = range(-(2**63), 2**63)


def _storable(text: str) -> bool:
    """Whether PostgreSQL can hold `text` (never a NUL): one it cannot names no row."""
    return "\x00" not in text


class PostgresStore(DeliveryQueries):
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
        refused = f"an account named {name!r} exists already"
        try:
            async with self._write() as db:
                # A name taken draws no id: ON CONFLICT or a failed insert would spend
                # one, and the next account's id would differ from SQLite's.
                account_id: int | None = await db.fetchval(
                    "INSERT INTO accounts"
                    " (name, region, language, credits, created_at, timezone, quiet_hours)"
                    " SELECT $1, $2, $3, $4, $5, $6, $7"
                    " WHERE NOT EXISTS (SELECT 1 FROM accounts WHERE name = $1) RETURNING id",
                    name,
                    region,
                    language,
                    credits,
                    now,
                    timezone,
                    quiet_hours,
                )
        except ConflictError as exc:  # the same name created at this very moment
            raise StoreError(refused) from exc
        if account_id is None:
            raise StoreError(refused)
        return Account(account_id, name, region, language, credits, now, timezone, quiet_hours)

    async def find_account(self, ref: str) -> Account | None:
        value: int | str
        if ref.isdigit():
            # SQLite compares the text with the integer id: only ASCII digits can match.
            if not ref.isascii() or int(ref) not in _BIGINT:
                return None
            column, value = "id", int(ref)
        elif not _storable(ref):
            return None
        else:
            column, value = "name", ref
        rows = await self._read(
            f"SELECT {_ACCOUNT_COLUMNS} FROM accounts AS a WHERE a.{column} = $1", value
        )
        return _account(rows[0]) if rows else None

    async def add_api_key(self, key_id: str, account_id: int, secret_hash: bytes, now: int) -> None:
        async with self._write() as db:
            await db.execute(
                "INSERT INTO api_keys (id, account_id, secret_hash, created_at)"
                " VALUES ($1, $2, $3, $4)",
                key_id,
                account_id,
                secret_hash,
                now,
            )

    async def revoke_api_key(self, key_id: str, now: int) -> bool:
        async with self._write() as db:
            status = await db.execute(
                "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                now,
                key_id,
            )
        return updated(status) == 1

    async def find_api_key(self, key_id: str) -> ApiKey | None:
        if not _storable(key_id):
            return None
        rows = await self._read(
            f"SELECT k.secret_hash, k.revoked_at IS NOT NULL, {_ACCOUNT_COLUMNS}"
            " FROM api_keys AS k JOIN accounts AS a ON a.id = k.account_id WHERE k.id = $1",
            key_id,
        )
        if not rows:
            return None
        row = rows[0]
        return ApiKey(key_id, _account(row[2:]), row[0], bool(row[1]))

    async def lookup_statuses(
        self, account_id: int, pairs: Sequence[Pair]
    ) -> dict[Pair, StatusRow]:
        asked = [(m, p) for m, p in pairs if m in _BIGINT and _storable(p)]
        if not asked or account_id not in _BIGINT:
            return {}
        rows = await self._read(LOOKUP_STATUSES, account_id, *columns(asked, 2))
        return {(row[0], row[1]): (row[2], row[3], row[4], row[5]) for row in rows}

    async def create_message(self, message: NewMessage, now: float) -> int:
        initial = State.DELIVERED if message.sandbox else State.ACCEPTED
        source = "sandbox" if message.sandbox else "api"
        due_at = None if message.sandbox else (message.send_at or now)
        async with self._write() as db:
            # The check and the debit are one statement, and the row stays locked until
            # this transaction ends: two sends at once never both spend the last credit.
            if message.charged and not updated(
                await db.execute(
                    "UPDATE accounts SET credits = credits - $1 WHERE id = $2 AND credits >= $1",
                    message.charged,
                    message.account_id,
                )
            ):
                raise NotEnoughCredit(message.account_id)
            message_id: int = await db.fetchval(
                "INSERT INTO messages (account_id, text, sender, tag, sandbox, nb_sms, cost,"
                " created_at, gamme, send_at, charged, url_dlr, url_response)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
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
            )
            recipients = [
                (r.phone, r.text, r.encoding, r.parts, r.cost, r.country)
                for r in message.recipients
            ]
            await db.execute(
                _INSERT_RECIPIENTS,
                message.account_id,
                message_id,
                initial.value,
                int(now),
                due_at,
                *columns(recipients, 6),
            )
            await record_changes(
                db,
                [
                    StatusChange(message.account_id, message_id, r.phone, now, initial, source)
                    for r in message.recipients
                ],
            )
        return message_id

    async def add_credit(self, account_id: int, amount: int) -> int:
        async with self._write() as db:
            credits: int | None = await db.fetchval(
                "UPDATE accounts SET credits = credits + $1 WHERE id = $2 AND credits + $1 >= 0"
                " RETURNING credits",
                amount,
                account_id,
            )
        if credits is None:
            raise NotEnoughCredit(account_id)
        return credits

    async def waiting_parts(self, account_id: int, now: float) -> int:
        rows = await self._read(
            "SELECT coalesce(sum(r.parts), 0) FROM messages AS m JOIN recipients AS r"
            " ON r.account_id = m.account_id AND r.message_id = m.id"
            " WHERE m.account_id = $1 AND m.send_at > $2 AND m.cancelled_at IS NULL"
            " AND NOT m.sandbox",
            account_id,
            now,
        )
        return int(rows[0][0])

    async def cancel_message(
        self, account_id: int, message_id: int, now: float, notice: float
    ) -> Cancellation:
        if message_id not in _BIGINT:
            return Cancellation.NOT_FOUND
        async with self._write() as db:
            # Locked: a second cancel of the same send waits, then finds it cancelled.
            row = await db.fetchrow(
                "SELECT send_at, cancelled_at, charged, sandbox FROM messages"
                " WHERE id = $1 AND account_id = $2 FOR UPDATE",
                message_id,
                account_id,
            )
            if row is None:
                return Cancellation.NOT_FOUND
            send_at, cancelled_at, charged, sandbox = row
            outcome = cancellation(send_at, cancelled_at, sandbox, now, notice)
            if outcome is not Cancellation.CANCELLED:
                return outcome
            await db.execute(
                "UPDATE messages SET cancelled_at = $1 WHERE id = $2", int(now), message_id
            )
            keys = await db.fetch(
                "UPDATE recipients SET state = $1, status_at = $2, due_at = NULL"
                " WHERE account_id = $3 AND message_id = $4 AND state = $5"
                " RETURNING account_id, message_id, phone",
                State.CANCELLED.value,
                int(now),
                account_id,
                message_id,
                State.ACCEPTED.value,
            )
            await record_changes(
                db, [StatusChange(a, m, p, now, State.CANCELLED, "api") for a, m, p in keys]
            )
            await db.execute(
                "UPDATE accounts SET credits = credits + $1 WHERE id = $2", charged, account_id
            )
        return Cancellation.CANCELLED

    async def find_recipient(
        self, account_id: int, message_id: int, phone: str
    ) -> RecipientView | None:
        if message_id not in _BIGINT or not _storable(phone):
            return None
        rows = await self._read(
            f"SELECT {_RECIPIENT_VIEW} FROM recipients AS r"
            " WHERE r.account_id = $1 AND r.message_id = $2 AND r.phone = $3",
            account_id,
            message_id,
            phone,
        )
        return _recipient_view(rows[0]) if rows else None

    async def message_recipients(self, account_id: int, message_id: int) -> list[RecipientView]:
        if message_id not in _BIGINT:
            return []
        rows = await self._read(
            f"SELECT {_RECIPIENT_VIEW} FROM recipients AS r"
            " WHERE r.account_id = $1 AND r.message_id = $2 ORDER BY r.phone",
            account_id,
            message_id,
        )
        return [_recipient_view(row) for row in rows]

    async def tag_recipients(
        self, account_id: int, tag: str, offset: int, limit: int
    ) -> tuple[int, list[RecipientView]]:
        if not _storable(tag):
            return 0, []
        joined = (
            " FROM messages AS m JOIN recipients AS r"
            " ON r.account_id = m.account_id AND r.message_id = m.id"
            " WHERE m.account_id = $1 AND m.tag = $2"
        )
        total = (await self._read("SELECT count(*)" + joined, account_id, tag))[0][0]
        rows = await self._read(
            f"SELECT {_RECIPIENT_VIEW}{joined} ORDER BY r.message_id, r.phone LIMIT $3 OFFSET $4",
            account_id,
            tag,
            limit,
            offset,
        )
        return int(total), [_recipient_view(row) for row in rows]

    async def add_stop(self, account_id: int, phone: str, source: str, now: int) -> int | None:
        async with self._write() as db:
            stop_id: int | None = await db.fetchval(
                ADD_STOP + " RETURNING id",
                account_id,
                phone,
                source,
                now,
            )
        return stop_id

    async def list_stops(self, account_id: int) -> list[StopEntry]:
        rows = await self._read(
            "SELECT id, phone, created_at FROM stop_list WHERE account_id = $1 ORDER BY id",
            account_id,
        )
        return [StopEntry(*row) for row in rows]

    async def delete_stop(self, account_id: int, stop_id: int) -> bool:
        if stop_id not in _BIGINT:
            return False
        async with self._write() as db:
            status = await db.execute(
                "DELETE FROM stop_list WHERE id = $1 AND account_id = $2", stop_id, account_id
            )
        return updated(status) == 1

    async def stopped_among(self, account_id: int, phones: Sequence[str]) -> set[str]:
        rows = await self._read(
            "SELECT phone FROM stop_list WHERE account_id = $1 AND phone = ANY($2::text[])",
            account_id,
            [phone for phone in phones if _storable(phone)],
        )
        return {row[0] for row in rows}


def _account(row: Sequence[Any]) -> Account:
    id_, name, region, language, credits, created_at, timezone, quiet_hours = row
    return Account(id_, name, region, language, credits, created_at, timezone, quiet_hours)


def _recipient_view(row: Sequence[Any]) -> RecipientView:
    message_id, phone, state, status_at, stop_sms, cost, country = row
    return RecipientView(message_id, phone, State(state), status_at, stop_sms, cost, country)
