"""Delivery reports applied and durable per second, on SQLite and on PostgreSQL.

    .venv/bin/python bench/reports.py                  # SQLite only, 200 k reports
    .venv/bin/python bench/reports.py --database postgresql://postgres@127.0.0.1:5432/postgres
                                                       # both stores (`make bench-reports`)
    .venv/bin/python bench/reports.py --quick --database postgresql://...   # 20 k reports

What the receipt matcher does with an operator's reports, without the network: the
store's `apply_receipts`, one committed transaction per batch of the matcher's size
(`delivery.matcher.MAX_BATCH`), one batch after the other as its flush loop writes them.
A report is counted once the transaction holding it has committed: applied and durable,
what the matcher waits for before an SMPP `deliver_sm_resp`.

1. For each store: a fresh one (a new SQLite file with `sqlite_synchronous = FULL`, as in
   production; with `--database`, a database with a random name created on that admin
   URL's server and dropped at the end whatever happens), migrated by smsrelay.
2. N recipients submitted, through the store API as the API and the dispatcher make
   them: `create_message` (500 recipients each, one-part GSM texts), then `claim_due`
   and `record_submissions` with one operator id per recipient, as the SMPP connector
   answers (SUBMITTED). Not timed.
3. Timed: one DELIVRD `Receipt` per recipient, naming its handset (as an SMPP receipt's
   source address does), in submission order shuffled within windows of a few batches
   (operators report roughly in order), applied in batches of MAX_BATCH, each committed.
4. Checked: every recipient `delivered`, and exactly one `delivered` status_events row
   for each; `apply_receipts` said every batch changed all of its recipients.

Printed: one table, a row per store: reports/s, the commit time per batch (p50, p99),
the CPU time per 1,000 reports of this process (the store runs in it, as in the
matcher's process) and of PostgreSQL's processes (`pg.PostgresCpu`), and whether the
target (issue 10: ≥ 20,000/s on SQLite, ≥ 30,000/s on PostgreSQL) is met. With both
stores, the last line is `pg ratio: X.XX` (PostgreSQL / SQLite reports/s).

Not measured here: reports replayed through a real SMPP session (`smsrelay smsc`), which
adds the connector's decoding and the matcher's queue; the end-to-end benchmark covers
that path.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import random
import sqlite3
import sys
import time
from collections.abc import Iterator, Sequence

import asyncpg

from harness import RESULTS_DIR, CpuClock, code_version, disturbed, machine, remove_database
from load_client import percentile
from multi_status_data import log
from pg import BenchDatabase, PostgresCpu, is_postgres_url
from smsrelay.delivery.matcher import MAX_BATCH
from smsrelay.domain.records import NewMessage, NewRecipient, Receipt, Submission
from smsrelay.domain.status import State
from smsrelay.store import Store, open_store

CARRIER = "bench"
RECIPIENTS_PER_MESSAGE = 500
CLAIM_BATCH = 500  # the dispatcher's default `dispatch_batch`
VALIDITY = 48 * 3600.0
SHUFFLE_WINDOW = 4 * MAX_BATCH  # reports arrive roughly, not exactly, in submission order
TARGETS = {"sqlite": 20_000.0, "postgresql": 30_000.0}


@dataclasses.dataclass(frozen=True)
class Options:
    reports: int
    batch: int
    seed: int
    database: str | None


@dataclasses.dataclass(frozen=True)
class Result:
    store: str
    reports: int
    batches: int
    seconds: float
    changed: int
    commit_ms: list[float]  # each batch's apply_receipts, sorted
    process_cpu: float  # seconds, this process (the store's code runs in it)
    database_cpu: float | None  # seconds, PostgreSQL's processes
    others: float  # cores other processes took while the reports were applied
    durability: str

    @property
    def rate(self) -> float:
        return self.reports / self.seconds


def phone_of(index: int) -> str:
    """A distinct French mobile number in E.164 for each recipient index."""
    return f"+336{10_000_000 + index:08d}"


def chunks(items: Sequence[Receipt], size: int) -> Iterator[Sequence[Receipt]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def submit_all(store: Store, count: int) -> list[tuple[str, str]]:
    """`count` recipients accepted, claimed and recorded as submitted, each with its own
    operator id; (operator id, phone) of each, in submission order."""
    now = time.time()
    account = await store.create_account("bench-reports", "FR", "fr", 10**12, int(now))
    for first in range(0, count, RECIPIENTS_PER_MESSAGE):
        size = min(RECIPIENTS_PER_MESSAGE, count - first)
        await store.create_message(
            NewMessage(
                account_id=account.id,
                text="Votre code est 123456",
                sender=None,
                tag=None,
                sandbox=False,
                nb_sms=size,
                cost=0,
                recipients=[
                    NewRecipient(phone_of(first + i), None, "gsm7", 1) for i in range(size)
                ],
            ),
            now,
        )
    submitted: list[tuple[str, str]] = []
    claimed = await store.claim_due(time.time(), CLAIM_BATCH)
    while claimed:
        answers = []
        for outbound in claimed:
            ref = str(1_000_000_000 + len(submitted))
            submitted.append((ref, outbound.phone))
            answers.append(
                Submission(
                    outbound.account_id,
                    outbound.message_id,
                    outbound.phone,
                    CARRIER,
                    (ref,),
                    State.SUBMITTED,
                )
            )
        claimed = await store.record_submissions(answers, time.time(), VALIDITY, claim=CLAIM_BATCH)
    if len(submitted) != count:
        raise RuntimeError(f"submitted {len(submitted)} recipients, expected {count}")
    return submitted


def receipts_for(submitted: list[tuple[str, str]], seed: int) -> list[Receipt]:
    """One DELIVRD report per recipient, shuffled within windows of SHUFFLE_WINDOW."""
    rng = random.Random(seed)
    order = list(range(len(submitted)))
    for start in range(0, len(order), SHUFFLE_WINDOW):
        window = order[start : start + SHUFFLE_WINDOW]
        rng.shuffle(window)
        order[start : start + SHUFFLE_WINDOW] = window
    at = time.time()
    return [
        Receipt(CARRIER, submitted[i][0], State.DELIVERED, at, "err:000", submitted[i][1])
        for i in order
    ]


def process_cpu() -> float:
    times = os.times()
    return times.user + times.system


async def apply_all(
    store: Store, receipts: list[Receipt], batch: int, database: PostgresCpu | None
) -> tuple[float, int, list[float], float, float | None, float]:
    """Apply the reports batch after batch; seconds, recipients changed, each batch's ms,
    this process's CPU seconds, PostgreSQL's, and the cores every other process took
    meanwhile (the test suite beside the benchmark: it disturbs the figures)."""
    changed = 0
    commits: list[float] = []
    db_before = database.read() if database else {}
    clock = CpuClock.read(os.getpid())
    cpu_before = process_cpu()
    started = time.perf_counter()
    for part in chunks(receipts, batch):
        begun = time.perf_counter()
        changed += await store.apply_receipts(part, time.time())
        commits.append((time.perf_counter() - begun) * 1000)
    seconds = time.perf_counter() - started
    cpu = process_cpu() - cpu_before
    db_cpu = database.since(db_before) if database else None
    # `until` takes this process out twice, as "server" and as "ours": add it back once.
    use = clock.until(CpuClock.read(os.getpid()))
    others = use.others + use.server - (db_cpu or 0.0) / seconds
    return seconds, changed, sorted(commits), cpu, db_cpu, max(0.0, others)


CHECK_SQL = (
    "SELECT count(*) FROM recipients WHERE state = 'delivered'",
    "SELECT count(*) FROM status_events WHERE state = 'delivered'",
    "SELECT count(*) FROM (SELECT DISTINCT account_id, message_id, phone"
    " FROM status_events WHERE state = 'delivered') AS d",
    "SELECT count(*) FROM recipients",
)


def check(counts: Sequence[int], expected: int, store: str) -> None:
    """Every recipient delivered, with exactly one `delivered` history row each."""
    delivered, events, distinct, recipients = counts
    if not delivered == events == distinct == recipients == expected:
        raise RuntimeError(
            f"{store}: {recipients} recipients, {delivered} delivered, {events} delivered"
            f" events for {distinct} recipients; expected {expected} of each"
        )


async def run_store(
    name: str, url: str, options: Options, database: PostgresCpu | None
) -> tuple[list[Receipt], Result]:
    store = open_store(url)  # sqlite_synchronous FULL: smsrelay's default, production's
    try:
        await store.migrate()
        log(f"{name}: submitting {options.reports:,} recipients through the store API")
        began = time.perf_counter()
        submitted = await submit_all(store, options.reports)
        log(f"{name}: submitted in {time.perf_counter() - began:.1f} s; applying reports")
        receipts = receipts_for(submitted, options.seed)
        seconds, changed, commits, cpu, db_cpu, others = await apply_all(
            store, receipts, options.batch, database
        )
    finally:
        await store.close()
    result = Result(
        name,
        len(receipts),
        len(commits),
        seconds,
        changed,
        commits,
        cpu,
        db_cpu,
        others,
        "",
    )
    log(f"{name}: {result.rate:,.0f} reports/s ({seconds:.2f} s)")
    return receipts, result


def run_sqlite(options: Options) -> Result:
    path = RESULTS_DIR / "reports.db"
    remove_database(path)
    try:
        _, result = asyncio.run(run_store("sqlite", f"sqlite:///{path}", options, None))
        db = sqlite3.connect(path)
        try:
            check([db.execute(sql).fetchone()[0] for sql in CHECK_SQL], options.reports, "sqlite")
            mode = db.execute("PRAGMA journal_mode").fetchone()[0]
        finally:
            db.close()
    finally:
        remove_database(path)
    return _with_durability(result, f"journal_mode={mode}, synchronous=FULL")


def run_postgres(options: Options, admin_url: str) -> Result:
    with BenchDatabase(admin_url) as database:
        cpu = PostgresCpu(database.name)
        _, result = asyncio.run(run_store("postgresql", database.url, options, cpu))

        async def read() -> tuple[list[int], str]:
            connection = await asyncpg.connect(database.url)
            try:
                counts = [int(await connection.fetchval(sql)) for sql in CHECK_SQL]
                settings = [
                    f"{name}={await connection.fetchval(f'SHOW {name}')}"
                    for name in ("synchronous_commit", "fsync", "wal_sync_method")
                ]
                return counts, ", ".join(settings)
            finally:
                await connection.close()

        counts, durability = asyncio.run(read())
        check(counts, options.reports, "postgresql")
    return _with_durability(result, durability)


def _with_durability(result: Result, durability: str) -> Result:
    if result.changed != result.reports:
        raise RuntimeError(
            f"{result.store}: apply_receipts changed {result.changed} of {result.reports}"
        )
    return dataclasses.replace(result, durability=durability)


def table(results: list[Result]) -> str:
    headers = (
        "store",
        "reports",
        "reports/s",
        "batch ms p50",
        "batch ms p99",
        "CPU ms/1k (smsrelay)",
        "CPU ms/1k (PostgreSQL)",
        "target/s",
        "met",
    )
    rows = [
        (
            r.store,
            f"{r.reports:,}",
            f"{r.rate:,.0f}",
            f"{percentile(r.commit_ms, 0.5):.1f}",
            f"{percentile(r.commit_ms, 0.99):.1f}",
            f"{r.process_cpu / r.reports * 1e6:.0f}",
            "-" if r.database_cpu is None else f"{r.database_cpu / r.reports * 1e6:.0f}",
            f"{TARGETS[r.store]:,.0f}",
            "yes" if r.rate >= TARGETS[r.store] else "NO",
        )
        for r in results
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    lines = []
    for cells in (headers, *rows):
        first = cells[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))
        lines.append("   ".join((first, *rest)))
    return "\n".join(lines)


def parse_options(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        description="Delivery reports applied and durable per second, on SQLite and PostgreSQL."
    )
    parser.add_argument("--reports", type=int, default=200_000, help="recipients and reports")
    parser.add_argument(
        "--batch", type=int, default=MAX_BATCH, help="reports per transaction (the matcher's)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--database",
        metavar="POSTGRESQL_URL",
        help="also measure PostgreSQL: an admin URL where a fresh database is created for the"
        " run, and dropped at its end",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 20,000 reports")
    args = parser.parse_args(argv)
    if args.quick:
        args.reports = 20_000
    if args.reports < 1 or args.batch < 1:
        parser.error("--reports and --batch must be at least 1")
    if args.database is not None and not is_postgres_url(args.database):
        parser.error("--database must be a postgresql:// URL")
    return Options(args.reports, args.batch, args.seed, args.database)


def main() -> int:
    options = parse_options()
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    code = code_version()
    results = [run_sqlite(options)]
    if options.database:
        results.append(run_postgres(options, options.database))
    print(
        f"reports: {options.reports:,} DELIVRD receipts, one per recipient (one-part SMS, each"
        f" with its operator id and handset), applied by `apply_receipts` in batches of"
        f" {options.batch} (the matcher's MAX_BATCH is {MAX_BATCH}), one committed"
        " transaction each, one after the other; timed from the first batch to the last commit"
    )
    print(machine())
    print(code)
    for r in results:
        print(f"durability: {r.store}: {r.durability}")
    print(
        "checks: every recipient delivered with exactly one 'delivered' status_events row,"
        " on " + " and ".join(r.store for r in results)
    )
    others = max(r.others for r in results)
    print(
        f"background: other processes used up to {others:.2f} cores while reports were"
        f" applied{disturbed(others, 0.0)}"
    )
    print()
    print(table(results))
    if len(results) == 2:
        print(f"pg ratio: {results[1].rate / results[0].rate:.2f}")
    return 0  # a failed check raised; a missed target shows in the table


if __name__ == "__main__":
    sys.exit(main())
