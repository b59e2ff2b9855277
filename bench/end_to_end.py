"""End to end: bulk-send → smsrelay's SMPP connector → `smsrelay smsc` → receipts → status.

    .venv/bin/python bench/end_to_end.py                   # 30 s, closed loop (`make bench-e2e`)
    .venv/bin/python bench/end_to_end.py --rate 3000       # 3,000 SMS/s offered on a schedule
    .venv/bin/python bench/end_to_end.py --window 128 --keep --database-dir /tmp/e2e
    .venv/bin/python bench/end_to_end.py --rate 3000 --database postgresql://postgres@127.0.0.1/postgres

1. Two processes on 127.0.0.1: `smsrelay smsc` (the SMSC simulator, its own process, on a
   port it picks: the first line of its log names it) whose reports come within a second
   (time_scale 1000, median delay 4 ms, at most 1 s), where every SMS gets a final fate
   (the shares of the fates add up to 1: none is left unreported until the validity
   ends), no STOP replies, a decisions log; and `smsrelay serve` with one `[[connectors]]`
   entry pointing at it (`--window`, throughput 20,000/s, the fallback route), every
   other setting default (sqlite_synchronous FULL, WAL, delivery in its worker process).
   A fresh SQLite file, an account and its key made with smsrelay's own CLI.
2. Load for `--duration` seconds: bulk-send requests of 500 distinct numbers, one-part
   GSM texts, numbers never repeated in the run (`send.py`'s bodies, built before any
   clock starts; their count is bounded, and a load that sends them all before
   `--duration` is over ends early: the report says when). By default a closed loop
   (`--concurrency` connections, each sends the next body as soon as its answer is in:
   as fast as the server accepts); with `--rate` requests leave on a fixed schedule of
   that many SMS a second. Every answer is checked in full (`send.check`).
3. Once a second the SQLite file is read beside the server (its own read-only
   connection; WAL readers do not block the writers): the final-status events written
   since the last read (`status_events`, by id); and the new lines of the SMSC's
   decisions log are counted (one per SMS it accepted or refused).
4. After the load, the drain: until every accepted recipient has its final status, or
   `--drain-timeout`, or nothing moves for 30 s. Then `/v1/multi-status` is asked for the
   recipients of 10 sends spread over the run, and each status must be what the SMSC
   decided; the servers are stopped, and the whole file is compared with the decisions
   log: a DELIVRD recipient must be Delivered, every other fate Not delivered.
5. Nothing reaching the SMSC within `--submit-timeout` seconds of the first accepted
   send stops the run at once, with what the file says happened to the recipients
   (a server whose engine does not use its connectors shows them handed to the
   in-process simulator instead), and exit status 1.

One table; the last line is `finalised: N SMS/s`, the sustained end-to-end rate over the
steady window (from `--warmup` seconds after the first send to the last accepted answer).
With `--database postgresql://...` (an admin URL) the server runs on PostgreSQL instead: a
fresh database with a random name, created there before the run and dropped after it
whatever happens; the account and key are made by the same CLI commands, and the sampler
and the checks read that database with the same SQL (`pg.PgReader`; the sampler's counts
lag by `e2e_measure.PG_SETTLE` seconds there, see `Sampler`).

Progress goes to stderr, the result to stdout. Exit status 1 when an answer was wrong or
missing, a status disagrees with the SMSC's decision, the SMSC decided a number twice, the
final-status events are not one per final recipient, or not everything was final in time.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import asyncpg

from e2e_common import (
    DATABASE_FILE,
    DECISIONS_FILE,
    SERVER_CONFIG,
    SERVER_LOG,
    SMSC_CONFIG,
    SMSC_LOG,
    Failed,
    Options,
)
from e2e_report import figures, report
from e2e_run import measure
from harness import clean_env, code_version, remove_database, results_folder
from multi_status_data import log
from pg import BenchDatabase, is_postgres_url, postgres_version
from send import filesystem


def parse_options(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        description="End-to-end benchmark: bulk-send through smsrelay's SMPP connector to"
        " `smsrelay smsc` and back, on a fresh SQLite file."
    )
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="SMS/s offered on a schedule (0: closed loop)"
    )
    parser.add_argument("--concurrency", type=int, default=4, help="HTTP connections")
    parser.add_argument("--window", type=int, default=64, help="the connector's SMPP window")
    parser.add_argument(
        "--smsc-window",
        type=int,
        help="the SMSC's window, also the receipts it keeps outstanding (default: 512,"
        " at least --window)",
    )
    parser.add_argument(
        "--warmup", type=float, default=5.0, help="seconds of load before the steady window"
    )
    parser.add_argument(
        "--submit-timeout",
        type=float,
        default=15.0,
        help="seconds after the first accepted send by which something must reach the SMSC",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=300.0,
        help="seconds after the load for every recipient to be final",
    )
    parser.add_argument("--seed", type=int, default=1, help="of the numbers and texts")
    parser.add_argument(
        "--keep", action="store_true", help="keep the results folder (database, logs, timeline)"
    )
    parser.add_argument(
        "--database",
        metavar="POSTGRESQL_URL",
        help="run the server on PostgreSQL: an admin URL (postgresql://user@host:port/db) where"
        " a fresh database is created for the run, and dropped at its end",
    )
    parser.add_argument(
        "--database-dir",
        type=Path,
        help=f"where {DATABASE_FILE} is created afresh (default: a new folder in bench/results)",
    )
    args = parser.parse_args(argv)
    if min(args.concurrency, args.window) < 1:
        parser.error("--concurrency and --window must be at least 1")
    smsc_window = args.smsc_window or max(512, args.window)
    if smsc_window < args.window:
        parser.error("--smsc-window must be at least --window")
    if args.rate < 0 or args.warmup < 0 or min(args.submit_timeout, args.drain_timeout) <= 0:
        parser.error("--rate and --warmup must not be negative, the timeouts must be positive")
    if args.duration < args.warmup + 5:
        parser.error("--duration must be at least --warmup + 5 s")
    if args.database is not None and not is_postgres_url(args.database):
        parser.error("--database must be a postgresql:// URL")
    return Options(
        duration=args.duration,
        rate=args.rate,
        concurrency=args.concurrency,
        window=args.window,
        smsc_window=smsc_window,
        warmup=args.warmup,
        submit_timeout=args.submit_timeout,
        drain_timeout=args.drain_timeout,
        seed=args.seed,
        keep=args.keep,
        database_dir=args.database_dir.resolve() if args.database_dir else None,
        database=args.database,
    )


def main() -> int:
    options = parse_options()
    folder = results_folder("e2e_", options.database_dir)
    env = clean_env()
    started = time.strftime("%Y-%m-%d %H:%M %Z")
    code = code_version()  # before the servers start: what they run
    # A PostgreSQL database is dropped whatever happens: only the SQLite file is kept.
    kept = "" if options.database else "database, "
    failures = (Failed, RuntimeError, OSError, subprocess.SubprocessError, sqlite3.Error)
    try:
        with contextlib.ExitStack() as cleanup:
            postgres: BenchDatabase | None = None
            if options.database:
                postgres = cleanup.enter_context(BenchDatabase(options.database))
            result = measure(options, folder, env, postgres.url if postgres else None)
            version = postgres_version(postgres) if postgres else ""
    except (*failures, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        log(f"FAILED: {exc}")
        log(f"kept {folder} ({kept}logs, decisions)")
        print(f"FAILED: {exc}")
        print("finalised: 0 SMS/s")
        return 1
    store = (
        f"a fresh database on PostgreSQL {version}, dropped after the run"
        if options.database
        else None
    )
    passed = report(options, result, filesystem(folder), started, code, store)
    if not passed:
        log(f"FAILED: kept {folder} ({kept}logs, decisions, timeline)")
    elif options.keep:
        log(f"kept {folder} ({kept}logs, decisions, timeline)")
    elif options.database_dir is None:
        shutil.rmtree(folder)
    else:
        remove_database(folder / DATABASE_FILE)
        for name in (DECISIONS_FILE, SMSC_LOG, SMSC_CONFIG, SERVER_LOG, SERVER_CONFIG):
            (folder / name).unlink(missing_ok=True)
    print(f"finalised: {figures(result).finalised:.0f} SMS/s")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
