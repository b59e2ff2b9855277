"""What only the PostgreSQL store has: its pool, its migration lock, its query plans, its
errors. Each test gets a new database on the server SMSRELAY_TEST_POSTGRES names (the
admin URL; default the local `postgres` database), created at random and dropped after.
The behaviour both stores share is tested once for both, through `tests/conftest.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import asyncpg
import pytest

from smsrelay.domain.records import NewMessage, NewRecipient, NotEnoughCredit, Receipt, Submission
from smsrelay.domain.status import State
from smsrelay.store import open_store, postgres_reports
from smsrelay.store.base import ConflictError, StoreError
from smsrelay.store.postgres import LOOKUP_STATUSES, PostgresStore
from tests.databases import POSTGRES_ADMIN_URL, PostgresDatabase

pytestmark = pytest.mark.postgres

T = TypeVar("T")


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5.0)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture
def url(postgres_database: PostgresDatabase) -> Iterator[str]:
    """A new database of its own, empty and not migrated (these tests migrate it); dropped,
    with any connection left, after. `postgres_database` says once whether a server
    answers (skipped without one, failed in CI)."""
    database = PostgresDatabase.create(postgres_database.admin_url)
    try:
        yield database.url
    finally:
        database.drop()


def run_with_store(url: str, work: Callable[[PostgresStore], Awaitable[T]]) -> T:
    """`work` on a migrated store of `url`, closed after, on a loop of its own."""

    async def body() -> T:
        store = PostgresStore(url, pool_size=10)
        try:
            await store.migrate()
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(body())


def message(account_id: int, phones: list[str], cost: int = 0) -> NewMessage:
    return NewMessage(
        account_id,
        "hello",
        None,
        None,
        False,
        len(phones),
        cost,
        [NewRecipient(phone, None, "gsm7", 1, cost // len(phones), "FR") for phone in phones],
    )


# --- opening and migrating --------------------------------------------------------------


def test_open_store_gives_a_postgres_store_for_both_schemes(url: str) -> None:
    for scheme in ("postgresql://", "postgres://"):
        assert isinstance(open_store(url.replace("postgresql://", scheme, 1)), PostgresStore)


def test_concurrent_migrations_apply_each_file_once(url: str) -> None:
    async def migrate_four_at_once() -> list[list[str]]:
        stores = [PostgresStore(url, pool_size=1) for _ in range(4)]
        try:
            return list(await asyncio.gather(*(store.migrate() for store in stores)))
        finally:
            for store in stores:
                await store.close()

    applied = asyncio.run(migrate_four_at_once())
    assert sorted(applied) == [[], [], [], ["0001_initial.sql"]]

    async def recorded(store: PostgresStore) -> list[int]:
        return [row[0] for row in await store._read("SELECT version FROM schema_migrations")]

    assert run_with_store(url, recorded) == [1]


def test_a_server_that_does_not_answer_is_one_clear_line() -> None:
    store = open_store("postgresql://postgres@127.0.0.1:1/smsrelay")
    with pytest.raises(StoreError) as caught:
        asyncio.run(store.migrate())
    text = str(caught.value)
    assert text.startswith("cannot connect to PostgreSQL at postgresql://postgres@127.0.0.1:1/")
    assert "\n" not in text


def test_a_wrong_database_name_is_one_clear_line(url: str) -> None:
    store = open_store(url + "_missing")
    with pytest.raises(StoreError) as caught:
        asyncio.run(store.migrate())
    assert "does not exist" in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://someone:s3cret@127.0.0.1:1/x", "postgresql://someone:***@127.0.0.1:1/x"),
        (
            "postgresql://someone@127.0.0.1:1/x?sslmode=disable&password=s3cret",
            "postgresql://someone@127.0.0.1:1/x?sslmode=disable&password=***",
        ),
    ],
)
def test_a_password_is_never_shown(url: str, shown: str) -> None:
    store = open_store(url)
    with pytest.raises(StoreError) as caught:
        asyncio.run(store.migrate())
    assert "s3cret" not in str(caught.value)
    assert f" at {shown}: " in str(caught.value)


def test_a_connection_lost_in_a_query_fails_that_call_and_the_next_one_works(url: str) -> None:
    async def work(store: PostgresStore) -> tuple[str, int]:
        await store.create_account("acme", "FR", "fr", 0, 1)
        waiting = asyncio.create_task(store._read("SELECT pg_sleep(30)"))
        await asyncio.sleep(0.3)
        await _admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE query = 'SELECT pg_sleep(30)'"
        )
        with pytest.raises(StoreError) as caught:
            await waiting
        account = await store.find_account("acme")
        assert account is not None
        return str(caught.value), account.id

    error, account_id = run_with_store(url, work)
    assert error.startswith("PostgreSQL read failed: ")
    assert "\n" not in error
    assert account_id == 1


def test_connections_the_server_closed_are_replaced(url: str) -> None:
    async def work(store: PostgresStore) -> int:
        await store.create_account("acme", "FR", "fr", 0, 1)
        await _admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            f" WHERE datname = '{url.rsplit('/', 1)[1]}'"
        )
        await asyncio.sleep(0.1)
        account = await store.find_account("acme")
        assert account is not None
        return account.id

    assert run_with_store(url, work) == 1


# --- errors translated ------------------------------------------------------------------


def test_a_duplicate_account_name_is_refused_as_sqlite_refuses_it(url: str) -> None:
    async def work(store: PostgresStore) -> int:
        await store.create_account("acme", "FR", "fr", 0, 1)
        with pytest.raises(StoreError, match=r"^an account named 'acme' exists already$"):
            await store.create_account("acme", "FR", "fr", 0, 2)
        return (await store.create_account("beta", "FR", "fr", 0, 3)).id

    assert run_with_store(url, work) == 2  # the refused name spent no id, as on SQLite


def test_the_same_name_created_at_the_same_moment_is_a_translated_conflict(url: str) -> None:
    """Another writer's uncommitted "acme" passes our check unseen: the unique index
    refuses our insert when it commits, and asyncpg's error becomes ours."""

    async def work(store: PostgresStore) -> StoreError:
        other = await asyncpg.connect(url)
        try:
            writing = other.transaction()
            await writing.start()
            await other.execute("INSERT INTO accounts (name, created_at) VALUES ('acme', 1)")
            ours = asyncio.create_task(store.create_account("acme", "FR", "fr", 0, 1))
            await asyncio.sleep(0.3)  # ours waits on the index entry
            await writing.commit()
            with pytest.raises(StoreError) as caught:
                await ours
            return caught.value
        finally:
            await other.close()

    refused = run_with_store(url, work)
    assert str(refused) == "an account named 'acme' exists already"
    assert isinstance(refused.__cause__, ConflictError)
    assert "accounts_name_key" in str(refused.__cause__)


def test_a_key_for_no_account_is_a_conflict(url: str) -> None:
    async def work(store: PostgresStore) -> None:
        await store.add_api_key("abc", 42, b"hash", 1)

    with pytest.raises(ConflictError, match="api_keys_account_id_fkey"):
        run_with_store(url, work)


# --- concurrency: what SQLite's one write lock gave for free -----------------------------


def test_parallel_sends_never_overdraw_the_credit(url: str) -> None:
    async def work(store: PostgresStore) -> tuple[int, int]:
        account = await store.create_account("acme", "FR", "fr", 5 * 38, 1)
        sends = [
            store.create_message(message(account.id, [f"+336000000{n:02d}"], cost=38), 10.0)
            for n in range(20)
        ]
        results = await asyncio.gather(*sends, return_exceptions=True)
        refused = [r for r in results if isinstance(r, NotEnoughCredit)]
        assert all(isinstance(r, int) for r in results if r not in refused)
        balance = await store.find_account("acme")
        assert balance is not None
        return len(results) - len(refused), balance.credits

    assert run_with_store(url, work) == (5, 0)


def test_workers_claiming_at_once_never_claim_a_recipient_twice(url: str) -> None:
    async def work(store: PostgresStore) -> list[list[tuple[int, str]]]:
        account = await store.create_account("acme", "FR", "fr", 0, 1)
        phones = [f"+3360000{n:04d}" for n in range(300)]
        await store.create_message(message(account.id, phones), 10.0)
        claims = await asyncio.gather(*(store.claim_due(20.0, 40) for _ in range(8)))
        return [[(o.message_id, o.phone) for o in claim] for claim in claims]

    claims = run_with_store(url, work)
    claimed = [pair for claim in claims for pair in claim]
    assert len(claimed) == len(set(claimed)) == 300
    for claim in claims:  # each worker's batch oldest first, ties by phone
        assert claim == sorted(claim)


def test_a_report_racing_its_submission_is_never_left_early(url: str) -> None:
    """The matcher applies a report while the dispatcher records its submission, each in
    a transaction of its own: whichever commits first, the report reaches its SMS. Side
    by side under READ COMMITTED they missed each other, and the report stayed early."""

    async def work(store: PostgresStore) -> tuple[int, list[str]]:
        matcher = PostgresStore(url, pool_size=2)
        try:
            account = await store.create_account("acme", "FR", "fr", 0, 1)
            phones = [f"+3360000{n:04d}" for n in range(120)]
            message_id = await store.create_message(message(account.id, phones), 10.0)
            await store.claim_due(20.0, 200)
            for n, phone in enumerate(phones):
                submitted = Submission(
                    account.id, message_id, phone, "smsc", (f"r{n}",), State.SUBMITTED
                )
                delivered = Receipt("smsc", f"r{n}", State.DELIVERED, 21.0, phone=phone)
                await asyncio.gather(
                    store.record_submissions([submitted], 21.0, 3600.0),
                    matcher.apply_receipts([delivered], 21.0),
                )
            connection = await asyncpg.connect(url)
            try:
                early = await connection.fetchval("SELECT count(*) FROM early_receipts")
                states = await connection.fetch("SELECT DISTINCT state FROM recipients")
            finally:
                await connection.close()
            return int(early), sorted(row["state"] for row in states)
        finally:
            await matcher.close()

    assert run_with_store(url, work) == (0, ["delivered"])


# --- the 500-pair status lookup ---------------------------------------------------------


def _plans(url: str) -> list[str]:
    """The lookup's plan for 500 pairs, as chosen for its first runs (with the values)
    and as a prepared statement reused many times (without)."""

    async def work(store: PostgresStore) -> list[str]:
        connection = await asyncpg.connect(url)
        try:
            await connection.execute("INSERT INTO accounts (name, created_at) VALUES ('a', 0)")
            # 40,000 recipients; the same 20 numbers in every message, as a customer who
            # writes to the same list again and again: a hash join was cheaper on paper.
            await connection.execute(
                "INSERT INTO recipients (account_id, message_id, phone, encoding, parts,"
                " state, status_at)"
                " SELECT 1, m, '+336' || lpad(p::text, 8, '0'), 'gsm7', 1, 'delivered', 0"
                " FROM generate_series(1, 2000) AS m, generate_series(1, 20) AS p"
            )
            await connection.execute("ANALYZE recipients")
            ids = [1 + n // 20 for n in range(500)]
            phones = [f"+336{n % 20 + 1:08d}" for n in range(500)]
            found = await store.lookup_statuses(1, list(zip(ids, phones, strict=True)))
            assert len(found) == 500
            plans = []
            custom = await connection.fetch("EXPLAIN " + LOOKUP_STATUSES, 1, ids, phones)
            plans.append("\n".join(row[0] for row in custom))
            await connection.execute("SET plan_cache_mode = force_generic_plan")
            generic = await connection.prepare("EXPLAIN " + LOOKUP_STATUSES)
            plans.append("\n".join(row[0] for row in await generic.fetch(1, ids, phones)))
            return plans
        finally:
            await connection.close()

    return run_with_store(url, work)


def test_lookup_plan_walks_the_pairs_and_probes_the_primary_key(url: str) -> None:
    for plan in _plans(url):
        lines = [line.strip() for line in plan.splitlines()]
        assert lines[0].startswith("Nested Loop"), plan
        assert lines[1].startswith("->  Function Scan on p"), plan
        assert any(line.startswith("->  Index Scan using recipients_pkey") for line in lines)
        assert "Index Cond: ((account_id = " in plan
        assert "(message_id = p.message_id) AND (phone = p.phone))" in plan
        assert "Seq Scan" not in plan
        assert "Hash" not in plan


# --- the regions we send to -------------------------------------------------------------


def test_the_skip_scan_finds_every_calling_code_prefix(url: str) -> None:
    """`REGIONS` relies on the phone column's "C" collation (":" sorts after "9"): it
    must find what a full DISTINCT finds, one index probe per prefix."""

    async def work(store: PostgresStore) -> tuple[list[str], list[str], str]:
        connection = await asyncpg.connect(url)
        try:
            await connection.execute(
                "INSERT INTO claimed_numbers"
                " SELECT DISTINCT (ARRAY['+33', '+212', '+1', '+44', '+3', '+9'])[1 + n % 6]"
                " || (n * 7919 % 100000)::text FROM generate_series(1, 5000) AS n"
            )
            await connection.execute("ANALYZE claimed_numbers")
            skipped = [row[0] for row in await connection.fetch(postgres_reports.REGIONS)]
            distinct = await connection.fetch(
                "SELECT DISTINCT substr(phone, 1, 4) FROM claimed_numbers ORDER BY 1"
            )
            plan = await connection.fetch("EXPLAIN " + postgres_reports.REGIONS)
            return skipped, [row[0] for row in distinct], "\n".join(row[0] for row in plan)
        finally:
            await connection.close()

    skipped, distinct, plan = run_with_store(url, work)
    assert skipped == distinct
    assert "Index Only Scan using claimed_numbers_pkey" in plan
    assert "Seq Scan" not in plan
