"""Throughput and latency of `POST /v1/bulk-send`: recipients accepted per second.

    .venv/bin/python bench/send.py                       # 400 requests of 500 (`make bench-send`)
    .venv/bin/python bench/send.py --requests 100 --concurrency 8
    .venv/bin/python bench/send.py --keep --database-dir /tmp/send-bench

1. A fresh SQLite file (by default in a new directory under bench/results/, removed at the
   end unless --keep), an account with 100,000,000 EUR of credit and its key, both made with
   smsrelay's own CLI.
2. Request bodies, built before any clock starts: 500 items each, `{phoneNumber, message}`,
   distinct valid French mobile numbers in E.164 that never repeat in the whole run (so the
   server's phone-reading cache never hits), each with its own one-part GSM text.
3. One `smsrelay serve` process (one uvicorn worker), default settings (SQLite synchronous
   FULL), on 127.0.0.1 only: the dispatcher and the simulated operator run in it and hand
   the accepted recipients on in the background while the benchmark sends. That is the
   real path, and it costs the server CPU time that the figures include.
4. A warm-up of a few requests, then the measured closed loop: `--concurrency` keep-alive
   connections each send the next body as soon as the previous answer is in, until
   `--requests` bodies are answered. Every answer is decoded and checked in full: HTTP 200,
   `success` true, code 200, 500 items each with code 200, the number sent and one SMS. A
   request that fails a check, times out or loses its connection is not counted, is not
   sent again (it might have been accepted) and makes the run exit with status 1.
5. The server's CPU time (/proc/PID/stat utime + stime) over the measured phase, its peak
   RSS (VmHWM), then what the database holds: one message per request, 500 recipients
   each, the credit debited by exactly their cost.
6. One table; the last line is `recipients/s: N` (accepted and checked, measured phase).

Everything is bounded: the request count, each answer's time (10 s), each phase's time
(`--time-limit`), and the server is always stopped. The server process, its command and
the CPU accounting come from `harness.py`, the numbers from `multi_status_data.py`, the
connections, request bytes and percentile from `load_client.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from harness import (
    ANSWER_TIMEOUT,
    CpuClock,
    CpuUse,
    Server,
    clean_env,
    code_version,
    cpu_times,
    disturbed,
    free_port,
    machine,
    peak_rss_mb,
    read_only,
    remove_database,
    results_folder,
    serve_command,
    smsrelay_command,
)
from load_client import ANSWER_FAILURES, Connection, build_requests, percentile
from multi_status_data import log, mobile_number

BULK_SEND = "/v1/bulk-send"
RECIPIENTS_PER_REQUEST = 500
ACCOUNT = "bench-send"
CREDITS = 100_000_000  # in the currency: enough for 2.6 billion one-part SMS at 0.038
PRICE_PER_PART = 38  # thousandths of the currency: smsrelay's default price for FR premium
DATABASE_FILE = "send.db"
LOG_FILE = "server.log"
# Numbers the simulated operator gives a fixed fate (docs/simulator.md): never sent here.
TEST_NUMBERS = frozenset(f"+3360000000{n}" for n in range(1, 10))
CLI_TIMEOUT = 60.0


@dataclass(frozen=True)
class Options:
    requests: int
    warmup: int
    concurrency: int
    time_limit: float
    seed: int
    keep: bool
    database_dir: Path | None


@dataclass
class Tally:
    """What one phase of the closed loop saw."""

    sent: int = 0  # requests written, answered or not
    ok: int = 0  # answers that passed every check
    wrong: int = 0  # answers that did not
    errors: int = 0  # timeouts and connection failures
    latencies: list[float] = field(default_factory=list)  # of the answers that passed
    message_ids: set[int] = field(default_factory=set)
    first_problem: str = ""
    elapsed: float = 0.0  # first send to last answer

    def problem(self, text: str) -> None:
        if not self.first_problem:
            self.first_problem = text


# --- the answers ---------------------------------------------------------------------------


Answered = tuple[int, bytes] | None  # status and body, or None: the request failed


class Item(msgspec.Struct):
    success: bool
    code: int
    nbSms: int  # noqa: N815  # the contract's names
    phoneNumber: str | int | None  # noqa: N815


class Answer(msgspec.Struct):
    success: bool
    code: int
    message_id: int
    nbSMS: int  # noqa: N815
    SMSResponse_List: list[Item]


_DECODER = msgspec.json.Decoder(Answer)


def check(status: int, raw: bytes, phones: Sequence[str], tally: Tally) -> bool:
    """Whether one answer is the full acceptance of the body that sent `phones`."""
    if status != 200:
        tally.problem(f"HTTP {status}: {raw[:300]!r}")
        return False
    try:
        answer = _DECODER.decode(raw)
    except msgspec.DecodeError as exc:
        tally.problem(f"{exc}: {raw[:300]!r}")
        return False
    if not answer.success or answer.code != 200 or answer.nbSMS != len(phones):
        tally.problem(f"success {answer.success}, code {answer.code}, nbSMS {answer.nbSMS}")
        return False
    items = answer.SMSResponse_List
    if len(items) != len(phones):
        tally.problem(f"{len(items)} items for {len(phones)} recipients")
        return False
    for index, (item, phone) in enumerate(zip(items, phones, strict=True)):
        if not item.success or item.code != 200 or item.nbSms != 1 or item.phoneNumber != phone:
            tally.problem(f"item {index}: {item} for {phone}")
            return False
    if answer.message_id in tally.message_ids:
        tally.problem(f"message_id {answer.message_id} answered twice")
        return False
    tally.message_ids.add(answer.message_id)
    return True


# --- the requests --------------------------------------------------------------------------


def build_bodies(rng: random.Random, key: str, count: int) -> tuple[list[bytes], list[list[str]]]:
    """`count` bodies of distinct numbers never used before in the run, and their numbers."""
    used: set[str] = set(TEST_NUMBERS)
    bodies: list[bytes] = []
    phones_of: list[list[str]] = []
    for _ in range(count):
        phones: list[str] = []
        while len(phones) < RECIPIENTS_PER_REQUEST:
            phone = f"+33{mobile_number(rng)}"
            if phone not in used:
                used.add(phone)
                phones.append(phone)
        items = [
            {
                "phoneNumber": phone,
                "message": f"Votre code de connexion : {rng.randrange(10**6):06d}",
            }
            for phone in phones
        ]
        bodies.append(msgspec.json.encode({"apiKey": key, "SMSList": items}))
        phones_of.append(phones)
    return bodies, phones_of


# --- the load ------------------------------------------------------------------------------


async def ask(connection: Connection, request: bytes, index: int, tally: Tally) -> Answered:
    """The answer to request `index`, or None when it failed: counted as an error and not
    sent again (the server may have accepted it); the next request opens a connection
    afresh."""
    try:
        return await connection.exchange(request, ANSWER_TIMEOUT)
    except ANSWER_FAILURES as exc:
        tally.errors += 1
        tally.problem(f"request {index}: {type(exc).__name__} {exc}")
        connection.close()
        return None


async def closed_loop(
    requests: Sequence[bytes],
    phones_of: Sequence[Sequence[str]],
    port: int,
    concurrency: int,
    time_limit: float,
) -> Tally:
    """Send every request once, `concurrency` at a time, each connection closed-loop."""
    tally = Tally()
    connections = [Connection(port) for _ in range(min(concurrency, len(requests)))]
    for connection in connections:
        await connection.open()
    last_answer = start = time.perf_counter()

    async def worker(connection: Connection) -> None:
        nonlocal last_answer
        try:
            while tally.sent < len(requests):
                index = tally.sent
                tally.sent += 1
                sent_at = time.perf_counter()
                answer = await ask(connection, requests[index], index, tally)
                if answer is None:
                    continue
                done_at = time.perf_counter()
                last_answer = max(last_answer, done_at)
                if check(*answer, phones_of[index], tally):
                    tally.ok += 1
                    tally.latencies.append(done_at - sent_at)
                else:
                    tally.wrong += 1
        finally:
            connection.close()

    try:
        await asyncio.wait_for(asyncio.gather(*map(worker, connections)), time_limit)
    except TimeoutError:
        tally.problem(f"stopped after {time_limit:g} s, {tally.sent} of {len(requests)} sent")
    tally.elapsed = last_answer - start
    return tally


def run_phase(
    bodies: Sequence[bytes],
    phones_of: Sequence[Sequence[str]],
    port: int,
    options: Options,
) -> Tally:
    requests = build_requests(bodies, port, BULK_SEND)
    return asyncio.run(
        closed_loop(requests, phones_of, port, options.concurrency, options.time_limit)
    )


# --- the server and its database -----------------------------------------------------------


def smsrelay_cli(*args: str, env: dict[str, str]) -> str:
    command = [smsrelay_command(), *args]
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=CLI_TIMEOUT, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:2])} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def filesystem(path: Path) -> str:
    """The type of the file system `path` is on (fsync costs differ: ext4, tmpfs...)."""
    best, kind = "", "unknown"
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            mount, fs_type = line.split()[1:3]
            inside = str(path).startswith(mount.rstrip("/") + "/") or str(path) == mount
            if inside and len(mount) > len(best):
                best, kind = mount, fs_type
    except (OSError, ValueError):
        pass
    return kind


@dataclass(frozen=True)
class Stored:
    messages: int
    recipients: int
    cost: int  # thousandths of the currency
    debited: int
    states: dict[str, int]

    def waiting(self, *states: str) -> int:
        return sum(self.states.get(state, 0) for state in states)


def stored(path: Path, account_id: str) -> Stored:
    """What the file holds, read beside the running server (WAL readers do not block it)."""
    db = read_only(path)
    try:
        messages, cost = db.execute("SELECT count(*), total(cost) FROM messages").fetchone()
        states = dict(db.execute("SELECT state, count(*) FROM recipients GROUP BY state"))
        (credits,) = db.execute(
            "SELECT credits FROM accounts WHERE id = ?", (account_id,)
        ).fetchone()
    finally:
        db.close()
    return Stored(messages, sum(states.values()), int(cost), CREDITS * 1000 - credits, states)


# --- report --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    tally: Tally
    server_user: float  # CPU seconds of the server over the measured phase
    server_system: float
    use: CpuUse
    rss_mb: float
    backlog: Stored  # read right after the measured phase, the server still running


def table(result: Result, requests: int) -> str:
    """The one table: a header line and the measured phase's figures."""
    tally = result.tally
    latencies = sorted(tally.latencies)
    rate = tally.ok / tally.elapsed if tally.elapsed else 0.0
    cells = (
        ("requests", f"{tally.ok}/{requests}"),
        ("req/s", f"{rate:,.1f}"),
        ("recipients/s", f"{rate * RECIPIENTS_PER_REQUEST:,.0f}"),
        ("p50 ms", f"{percentile(latencies, 0.50) * 1000:.1f}"),
        ("p99 ms", f"{percentile(latencies, 0.99) * 1000:.1f}"),
        ("max ms", f"{(latencies[-1] if latencies else 0.0) * 1000:.1f}"),
        (
            "API CPU ms/req",
            f"{(result.server_user + result.server_system) / max(1, tally.sent) * 1e3:.1f}",
        ),
        (
            "API+worker CPU ms/req",
            f"{result.use.server * tally.elapsed / max(1, tally.sent) * 1e3:.1f}",
        ),
        ("peak RSS MB", f"{result.rss_mb:.0f}"),
        ("numbers repeat", "no"),
    )
    widths = [max(len(head), len(value)) for head, value in cells]
    return "\n".join(
        "   ".join(cell[row].rjust(width) for cell, width in zip(cells, widths, strict=True))
        for row in (0, 1)
    )


def parse_options(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        description="Benchmark POST /v1/bulk-send of one smsrelay server on a fresh SQLite file."
    )
    parser.add_argument(
        "--requests", type=int, default=400, help="measured requests of 500 recipients"
    )
    parser.add_argument("--warmup", type=int, default=40, help="requests sent before measuring")
    parser.add_argument(
        "--concurrency", type=int, default=4, help="connections, each in a closed loop"
    )
    parser.add_argument(
        "--time-limit", type=float, default=90.0, help="seconds each phase may take at most"
    )
    parser.add_argument("--seed", type=int, default=1, help="of the numbers and texts")
    parser.add_argument(
        "--keep", action="store_true", help="keep the database directory (and the server's log)"
    )
    parser.add_argument(
        "--database-dir",
        type=Path,
        help=f"where {DATABASE_FILE} is created afresh (default: a new directory in bench/results)",
    )
    args = parser.parse_args(argv)
    if min(args.requests, args.concurrency) < 1 or args.warmup < 0:
        parser.error("--requests and --concurrency must be at least 1, --warmup at least 0")
    if args.time_limit <= 0:
        parser.error("--time-limit must be positive")
    return Options(
        requests=args.requests,
        warmup=args.warmup,
        concurrency=args.concurrency,
        time_limit=args.time_limit,
        seed=args.seed,
        keep=args.keep,
        database_dir=args.database_dir.resolve() if args.database_dir else None,
    )


def measure(options: Options, folder: Path, env: dict[str, str]) -> tuple[Result, Stored]:
    """Create the account, start the server, warm up, measure; what the file holds after."""
    path = folder / DATABASE_FILE
    database = f"sqlite:///{path}"
    remove_database(path)
    account_id = smsrelay_cli(
        "account", "create", ACCOUNT, "--credits", str(CREDITS), "--database", database, env=env
    )
    key = smsrelay_cli("key", "create", ACCOUNT, "--database", database, env=env)
    total = options.warmup + options.requests
    log(f"building {total} bodies of {RECIPIENTS_PER_REQUEST} distinct numbers")
    bodies, phones_of = build_bodies(random.Random(options.seed), key, total)

    port = free_port()
    server = Server("smsrelay", serve_command(port, path), port, env, False, folder / LOG_FILE)
    log(f"smsrelay: starting on 127.0.0.1:{port}, database {path}")
    try:
        startup = server.start()
        log(f"smsrelay: answering after {startup:.1f} s; warm-up: {options.warmup} requests")
        w = options.warmup
        if w:
            warm = run_phase(bodies[:w], phones_of[:w], port, options)
            if warm.ok != w:
                raise RuntimeError(f"warm-up: {warm.ok} of {w} accepted; {warm.first_problem}")
        log(f"measuring: {options.requests} requests, {options.concurrency} connections")
        before = CpuClock.read(server.pid)
        user, system = cpu_times(server.pid)
        tally = run_phase(bodies[w:], phones_of[w:], port, options)
        user_after, system_after = cpu_times(server.pid)
        use = before.until(CpuClock.read(server.pid))
        backlog = stored(path, account_id)
        rss_mb = peak_rss_mb(server.pid)
    finally:
        server.stop()
    log("smsrelay: stopped")
    result = Result(tally, user_after - user, system_after - system, use, rss_mb, backlog)
    return result, stored(path, account_id)


def report(options: Options, result: Result, final: Stored, fs_type: str, started: str) -> bool:
    """Print the header and the table (not the last line); whether every check passed."""
    tally, backlog, use = result.tally, result.backlog, result.use
    sent = options.warmup + tally.sent
    accepted = options.warmup + tally.ok  # the warm-up is all accepted, or the run stopped
    consistent = (
        final.messages == accepted
        and final.recipients == accepted * RECIPIENTS_PER_REQUEST
        and final.cost == final.debited == final.recipients * PRICE_PER_PART
    )
    passed = consistent and tally.ok == options.requests and not tally.first_problem
    cpu = result.server_user + result.server_system
    kernel = result.server_system / cpu if cpu else 0.0
    print(
        f"bulk-send: {options.requests} measured requests of {RECIPIENTS_PER_REQUEST} recipients"
        f" after {options.warmup} of warm-up; closed loop, {options.concurrency} keep-alive"
        f" connections, HTTP/1.1 on 127.0.0.1; run {started}"
    )
    print(
        "numbers: distinct valid French mobiles in E.164 (+336, +337), none repeated in the run"
        f" ({sent * RECIPIENTS_PER_REQUEST:,}, seed {options.seed}); a one-part GSM text each"
    )
    print(machine())
    print(code_version())
    print(
        "server: one `smsrelay serve` process, one uvicorn worker, default settings"
        f" (sqlite_synchronous FULL, WAL), a fresh SQLite file on {fs_type}"
    )
    untaken, queued = backlog.waiting("accepted"), backlog.waiting("queued")
    final_states = backlog.waiting("delivered", "undeliverable", "expired", "rejected")
    print(
        "delivery: the dispatcher and the simulated operator run in the server's delivery"
        " worker process and hand the accepted recipients on in the background during the"
        " measurement (the real path; the worker's CPU time counts as the server's)."
        f" At its end, of {backlog.recipients:,} recipients:"
        f" {untaken:,} not yet taken by the dispatcher, {queued:,} being submitted,"
        f" {backlog.recipients - untaken - queued - final_states:,} submitted and awaiting"
        f" a report, {final_states:,} final"
    )
    print(
        "checks: every answer HTTP 200, success true, code 200, 500 items with code 200, the"
        f" number sent and nbSms 1: passed {tally.ok}, wrong {tally.wrong}, errors"
        f" {tally.errors}" + (f" (first: {tally.first_problem})" if tally.first_problem else "")
    )
    print(
        f"stored: {final.messages} messages for {accepted} accepted requests, {final.recipients:,}"
        f" recipients, {final.debited / 1000:,.3f} EUR debited"
        + ("; all as expected" if consistent else f" for a cost of {final.cost / 1000:,.3f}: WRONG")
    )
    print(
        f"cpu: the server (API and delivery worker) used {use.server:.2f} cores ({kernel:.0%} of"
        f" the API's in the kernel), other processes {use.others:.2f},"
        f" the hypervisor took {use.steal:.2f}{disturbed(use.others, use.steal)}"
    )
    print()
    print(table(result, options.requests))
    return passed


def main() -> int:
    options = parse_options()
    folder = results_folder("send_", options.database_dir)
    env = clean_env()
    env["SMSRELAY_LOG_LEVEL"] = "warning"
    started = time.strftime("%Y-%m-%d %H:%M %Z")
    try:
        result, final = measure(options, folder, env)
    except (RuntimeError, OSError, subprocess.SubprocessError, sqlite3.Error) as exc:
        log(f"FAILED: {type(exc).__name__}: {exc}; kept {folder} (database and server log)")
        print("recipients/s: 0")
        return 1
    passed = report(options, result, final, filesystem(folder), started)
    if not passed:
        log(f"FAILED: kept {folder} (database and server log)")
    elif options.keep:
        log(f"kept {folder} (database and server log)")
    elif options.database_dir is None:
        shutil.rmtree(folder)
    else:
        remove_database(folder / DATABASE_FILE)
        (folder / LOG_FILE).unlink(missing_ok=True)
    tally = result.tally
    rate = tally.ok * RECIPIENTS_PER_REQUEST / tally.elapsed if tally.elapsed else 0.0
    print(f"recipients/s: {rate:.0f}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
