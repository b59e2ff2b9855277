"""Throughput, latency and memory of `POST /v1/multi-status`, against a minimal reference.

    .venv/bin/python bench/multi_status.py            # 1 M recipients (`make bench`)
    .venv/bin/python bench/multi_status.py --quick    # smoke run: 20 k recipients, 3 s phases
    .venv/bin/python bench/multi_status.py --recipients 10000000 --keep
    .venv/bin/python bench/multi_status.py --keep --rounds 3  # medians of 3 rounds
    .venv/bin/python bench/multi_status.py --database postgresql://postgres@127.0.0.1:5432/postgres
                                                      # also on PostgreSQL (`make bench-pg`)

1. Fill a fresh SQLite file under bench/results/ with N recipients of many accounts
   (schema by smsrelay's own migrations, rows inserted directly), and create an API key
   for the account that is queried, which owns 100 k of them (a tenth below 1 M).
2. Build request bodies of 500 (message id, E.164 phone) pairs of that account, 95 %
   existing, 5 % unknown (half of them real pairs of *another* account, which must be
   answered as not found), and the answer each must get, computed from the rows alone.
3. For smsrelay (`smsrelay serve`) and then the reference (`bench/reference_server.py`,
   the same SQL statement behind the simplest Starlette + msgspec endpoint), one at a
   time on loopback, one worker each: check every body's answer, measure the peak rate
   (closed loop), then p50/p99 latency under an open loop at half that server's own peak,
   check again, and read the process's peak RSS. The CPU time that other processes and
   the hypervisor took during each measured phase is reported: it disturbs the figures.
4. Print one table, then `cpu ratio:` (reference / smsrelay server CPU time per request
   at peak: the work each does per request, which the host's noise disturbs less) and,
   last, `ratio: smsrelay req/s / reference req/s`.

With `--database postgresql://...` (an admin URL: the benchmark creates a database with a
random name there, and drops it at the end whatever happens), the filled SQLite file,
API key included, is copied into that fresh database with smsrelay's own copier (the one
of `smsrelay migrate-data`), after smsrelay's PostgreSQL migrations, then ANALYZEd; a
third server, `smsrelay-pg` (`smsrelay serve --database` that database), gets the same
bodies, checks and phases as the other two, in the same rounds. The table gains the CPU
PostgreSQL's processes spent per request (`pg.PostgresCpu`: its backends on our database
and its shared helpers, from /proc; its time is taken out of "other processes"), and the
last line is `pg ratio: smsrelay-pg req/s / smsrelay req/s` (PostgreSQL / SQLite).

Steps 1 and 2 live in `multi_status_data.py`, the Python load client in `load_client.py`,
wrk's script in `multi_status.lua`, the server process, CPU accounting and the machine's
description in `harness.py` (shared with `send.py`); docs/performance.md explains the
method and results.

Every server listens on 127.0.0.1 only and is stopped at the end, whatever happens; every
load phase is bounded in time and requests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from harness import (
    ANSWER_TIMEOUT,
    BENCH_DIR,
    LOAD_CPU,
    RESULTS_DIR,
    SERVER_CPU,
    CpuClock,
    CpuUse,
    Server,
    clean_env,
    code_version,
    disturbed,
    free_port,
    machine,
    peak_rss_mb,
    serve_command,
)
from multi_status_data import (
    BENCH_ACCOUNT,
    PAIRS_PER_REQUEST,
    Dataset,
    build_bodies,
    database_path,
    fill,
    load_rows,
    log,
    new_key,
    reusable,
)
from pg import BenchDatabase, PostgresCpu, is_postgres_url, postgres_version

LUA_SCRIPT = BENCH_DIR / "multi_status.lua"
LOAD_CLIENT = BENCH_DIR / "load_client.py"
REFERENCE_SERVER = BENCH_DIR / "reference_server.py"

PHASE_GRACE = 60.0  # on top of warm-up + duration, before a load process is killed


@dataclass(frozen=True)
class Options:
    recipients: int
    accounts: int
    duration: float
    warmup: float
    connections: int
    seed: int
    keep: bool
    bodies: int
    pin: bool
    rounds: int
    database: str | None  # an admin postgresql:// URL: measure PostgreSQL too


@dataclass
class Measure:
    name: str
    peak_rate: float = 0.0
    cpu_ms: float = 0.0  # server CPU time per request at peak: work, whatever the host steals
    p50_ms: float = 0.0  # at half load
    p99_ms: float = 0.0
    rss_mb: float = 0.0
    wrong: int = 0
    errors: int = 0
    background: float = 0.0  # cores used by other processes, worst measured phase
    steal: float = 0.0  # cores taken by the hypervisor, worst measured phase
    db_cpu_ms: float | None = None  # PostgreSQL's CPU time per request at peak, when used

    def account(self, use: CpuUse) -> None:
        self.background = max(self.background, use.others)
        self.steal = max(self.steal, use.steal)


def verify(server: Server, bodies: list[bytes], answers: list[dict[str, Any]]) -> list[int]:
    """Check every answer against the expected one; returns each answer's length."""
    lengths: list[int] = []
    for number, (body, expected) in enumerate(zip(bodies, answers, strict=True)):
        status, raw = server.request("POST", "/v1/multi-status", body)
        if status != 200:
            raise RuntimeError(f"{server.name}: body {number}: HTTP {status}: {raw[:300]!r}")
        got = msgspec.json.decode(raw)
        if got != expected:
            items = got.get("StatutResponse_List") if isinstance(got, dict) else None
            detail = f"{len(items)} items" if isinstance(items, list) else repr(raw[:300])
            pairs = zip(items or [], expected["StatutResponse_List"], strict=False)
            for index, (a, b) in enumerate(pairs):
                if a != b:
                    detail += f"; item {index}: got {a}, expected {b}"
                    break
            raise RuntimeError(f"{server.name}: body {number}: wrong answer ({detail})")
        lengths.append(len(raw))
    return lengths


# --- load --------------------------------------------------------------------------------


def _whole_seconds(seconds: float) -> int:
    return max(1, math.ceil(seconds))


def run_wrk(
    wrk: str, port: int, files: tuple[Path, Path], connections: int, seconds: int
) -> dict[str, int]:
    command = [
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        f"--timeout={ANSWER_TIMEOUT:.0f}s",
        "-s",
        str(LUA_SCRIPT),
        f"http://127.0.0.1:{port}",
        "--",
        str(files[0]),
        str(files[1]),
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + PHASE_GRACE, check=True
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if not lines:
        raise RuntimeError(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")
    return {key: int(value) for key, value in (item.split("=") for item in lines[-1].split()[1:])}


def run_client(
    port: int,
    files: tuple[Path, Path],
    mode: str,
    connections: int,
    warmup: float,
    duration: float,
    rate: float = 0.0,
) -> dict[str, Any]:
    command = [
        sys.executable,
        str(LOAD_CLIENT),
        f"--port={port}",
        f"--bodies={files[0]}",
        f"--lengths={files[1]}",
        f"--mode={mode}",
        f"--connections={connections}",
        f"--warmup={warmup}",
        f"--duration={duration}",
        f"--rate={rate}",
        f"--timeout={ANSWER_TIMEOUT}",
    ]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=warmup + duration + PHASE_GRACE,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


class Phase:
    """The CPU clocks of one measured phase: the machine's and the server's, and
    PostgreSQL's when the server uses it (its processes are no "other processes" then)."""

    def __init__(self, server: Server, database: PostgresCpu | None) -> None:
        self.database = database
        self.clock = CpuClock.read(server.pid)
        self.db_before = database.read() if database else {}
        self.server_pid = server.pid

    def end(self) -> tuple[CpuUse, float]:
        """Cores used during the phase: as `CpuClock.until` gives them, and PostgreSQL's."""
        later = CpuClock.read(self.server_pid)
        db_seconds = self.database.since(self.db_before) if self.database else 0.0
        use = self.clock.until(later)
        db_cores = db_seconds / (later.at - self.clock.at)
        return CpuUse(use.server, max(0.0, use.others - db_cores), use.steal), db_cores


def measure(
    server: Server,
    options: Options,
    bodies_file: Path,
    bodies: list[bytes],
    answers: list[dict[str, Any]],
    wrk: str | None,
    database: PostgresCpu | None = None,
) -> Measure:
    result = Measure(server.name)
    log(f"{server.name}: starting on 127.0.0.1:{server.port}")
    try:
        startup = server.start()
        log(f"{server.name}: answering after {startup:.1f} s; checking every body")
        lengths = verify(server, bodies, answers)
        lengths_file = RESULTS_DIR / f"multi_status_{server.name}.lengths"
        lengths_file.write_text("".join(f"{n}\n" for n in lengths))
        files = (bodies_file, lengths_file)

        if wrk:
            run_wrk(wrk, server.port, files, options.connections, _whole_seconds(options.warmup))
            phase = Phase(server, database)
            out = run_wrk(
                wrk, server.port, files, options.connections, _whole_seconds(options.duration)
            )
            use, db_cores = phase.end()
            result.peak_rate = out["requests"] / (out["duration_us"] / 1e6)
            result.wrong += out["wrong"] + out["status"]
            result.errors += out["connect"] + out["read"] + out["write"] + out["timeout"]
            peak_latency = f"p50 {out['p50_us'] / 1000:.1f} ms, p99 {out['p99_us'] / 1000:.1f} ms"
        else:
            phase = Phase(server, database)
            out_py = run_client(
                server.port, files, "closed", options.connections, options.warmup, options.duration
            )
            use, db_cores = phase.end()
            result.peak_rate = out_py["rate"]
            result.wrong += out_py["wrong"]
            result.errors += out_py["errors"]
            peak_latency = f"p50 {out_py['p50_ms']:.1f} ms, p99 {out_py['p99_ms']:.1f} ms"
        result.cpu_ms = use.server / result.peak_rate * 1000 if result.peak_rate else 0.0
        if database is not None:  # as the server's: cores over the phase / requests per s
            result.db_cpu_ms = db_cores / result.peak_rate * 1000 if result.peak_rate else 0.0
        result.account(use)
        log(
            f"{server.name}: peak {result.peak_rate:,.0f} req/s with {options.connections}"
            f" connections ({peak_latency}); server CPU {use.server:.0%} of a core,"
            + (f" PostgreSQL {result.db_cpu_ms:.2f} ms/req," if database is not None else "")
            + f" other processes {use.others:.2f} cores, steal {use.steal:.2f}"
        )
        if result.peak_rate <= 0:
            raise RuntimeError(f"{server.name}: no request completed at peak")

        target = result.peak_rate / 2
        phase = Phase(server, database)
        half = run_client(
            server.port,
            files,
            "open",
            max(32, 2 * options.connections),
            options.warmup,
            options.duration,
            target,
        )
        use, _ = phase.end()
        result.account(use)
        result.p50_ms = half["p50_ms"]
        result.p99_ms = half["p99_ms"]
        result.wrong += half["wrong"]
        result.errors += half["errors"]
        log(
            f"{server.name}: half load {target:,.0f} req/s scheduled, {half['rate']:,.0f}"
            f" done; p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms,"
            f" max {half['max_ms']:.1f} ms (client late by at most"
            f" {half['max_lateness_ms']:.1f} ms); other processes {use.others:.2f} cores,"
            f" steal {use.steal:.2f}"
        )
        verify(server, bodies[:10], answers[:10])  # still right after the load
        result.rss_mb = peak_rss_mb(server.pid)
    finally:
        server.stop()
    return result


# --- report ------------------------------------------------------------------------------


def wrk_version(wrk: str) -> str:
    done = subprocess.run([wrk, "--version"], capture_output=True, text=True, timeout=10)
    words = (done.stdout + done.stderr).split()
    return f"wrk {words[1]}" if len(words) > 1 else "wrk"


def median_measure(rounds: list[Measure]) -> Measure:
    """Each figure's median over the rounds of one server (counts are summed)."""

    def mid(field: str) -> float:
        return float(statistics.median(getattr(r, field) for r in rounds))

    return Measure(
        rounds[0].name,
        peak_rate=mid("peak_rate"),
        cpu_ms=mid("cpu_ms"),
        p50_ms=mid("p50_ms"),
        p99_ms=mid("p99_ms"),
        rss_mb=mid("rss_mb"),
        wrong=sum(r.wrong for r in rounds),
        errors=sum(r.errors for r in rounds),
        background=max(r.background for r in rounds),
        steal=max(r.steal for r in rounds),
        db_cpu_ms=None if rounds[0].db_cpu_ms is None else mid("db_cpu_ms"),
    )


def table(results: list[Measure]) -> str:
    headers: tuple[str, ...] = (
        "server",
        "req/s",
        "statuses/s",
        "CPU ms/req",
        "p50 ms (half load)",
        "p99 ms (half load)",
        "peak RSS MB",
    )
    rows: list[tuple[str, ...]] = [
        (
            r.name,
            f"{r.peak_rate:,.0f}",
            f"{r.peak_rate * PAIRS_PER_REQUEST:,.0f}",
            f"{r.cpu_ms:.2f}",
            f"{r.p50_ms:.2f}",
            f"{r.p99_ms:.2f}",
            f"{r.rss_mb:.0f}",
        )
        for r in results
    ]
    if any(r.db_cpu_ms is not None for r in results):  # PostgreSQL measured: its CPU too
        headers = (*headers[:4], "PostgreSQL CPU ms/req", *headers[4:])
        rows = [
            (*row[:4], "-" if r.db_cpu_ms is None else f"{r.db_cpu_ms:.2f}", *row[4:])
            for row, r in zip(rows, results, strict=True)
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
        description="Benchmark POST /v1/multi-status of smsrelay against a minimal reference."
    )
    parser.add_argument("--recipients", type=int, default=1_000_000, help="rows to fill")
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per load phase")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument("--connections", type=int, default=16, help="at peak (closed loop)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--bodies", type=int, default=200, help="distinct request bodies")
    parser.add_argument(
        "--keep", action="store_true", help="reuse the database of an earlier, identical fill"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 20,000 recipients, 3 s phases"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="measure both servers this many times, in turn; the table shows medians",
    )
    parser.add_argument(
        "--database",
        metavar="POSTGRESQL_URL",
        help="also measure smsrelay on PostgreSQL: an admin URL (postgresql://user@host:port/db)"
        " where a fresh database is created for the run, and dropped at its end",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help=f"pin the server to CPU {SERVER_CPU}, this script and the load tool to CPU {LOAD_CPU}",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.recipients, args.duration, args.warmup = 20_000, 3.0, 1.0
    if min(args.accounts, args.connections, args.rounds, args.bodies) < 1:
        parser.error("--accounts, --connections, --rounds and --bodies must be at least 1")
    if args.recipients < 2 * PAIRS_PER_REQUEST:
        parser.error(f"--recipients must be at least {2 * PAIRS_PER_REQUEST}")
    if args.database is not None and not is_postgres_url(args.database):
        parser.error("--database must be a postgresql:// URL")
    return Options(
        recipients=args.recipients,
        accounts=args.accounts,
        duration=args.duration,
        warmup=args.warmup,
        connections=args.connections,
        seed=args.seed,
        keep=args.keep,
        bodies=args.bodies,
        pin=args.pin and len(os.sched_getaffinity(0)) >= 2,
        rounds=args.rounds,
        database=args.database,
    )


def main() -> int:
    options = parse_options()
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    dataset = Dataset(options.recipients, options.accounts, options.seed)
    path = database_path(RESULTS_DIR, dataset)
    if options.keep and reusable(path, dataset):
        log(f"reusing {path} ({options.recipients:,} recipients)")
    else:
        log(f"filling {path} with {options.recipients:,} recipients")
        seconds = fill(path, dataset)
        log(
            f"fill: {options.recipients:,} recipients in {seconds:.1f} s"
            f" ({options.recipients / seconds:,.0f} rows/s),"
            f" {path.stat().st_size / 2**20:,.0f} MB"
        )
    if options.pin:  # this process and the load tools it starts: LOAD_CPU only
        os.sched_setaffinity(0, {LOAD_CPU})
    key = asyncio.run(new_key(path))
    rows, foreign = load_rows(path)
    bodies, answers, found = build_bodies(
        random.Random(options.seed + 1), key, rows, foreign, options.bodies
    )
    bodies_file = RESULTS_DIR / "multi_status.bodies"
    bodies_file.write_bytes(b"\n".join(bodies) + b"\n")

    with contextlib.ExitStack() as cleanup:
        postgres: BenchDatabase | None = None
        if options.database:
            postgres = cleanup.enter_context(BenchDatabase(options.database))
            log(f"postgresql: copying {path.name} into {postgres.name}")
            seconds = postgres.copy_from(path)
            log(
                f"postgresql: copied, migrated and analyzed in {seconds:.1f} s"
                f" ({options.recipients / seconds:,.0f} recipients/s)"
            )
        return run(options, path, bodies_file, bodies, answers, found, len(rows), postgres)


def run(
    options: Options,
    path: Path,
    bodies_file: Path,
    bodies: list[bytes],
    answers: list[dict[str, Any]],
    found: int,
    queried: int,
    postgres: BenchDatabase | None,
) -> int:
    """Measure the servers in rounds and print the report; the exit status."""
    wrk = shutil.which("wrk")
    env = clean_env()
    env["SMSRELAY_LOG_LEVEL"] = "warning"
    servers = [
        Server(
            "smsrelay",
            serve_command(port := free_port(), path),
            port,
            env,
            options.pin,
            RESULTS_DIR / "multi_status_smsrelay.log",
        ),
        Server(
            "reference",
            [
                sys.executable,
                str(REFERENCE_SERVER),
                "--host",
                "127.0.0.1",
                "--port",
                str(port := free_port()),
                "--database",
                str(path),
                "--account",
                str(BENCH_ACCOUNT),
            ],
            port,
            env,
            options.pin,
            RESULTS_DIR / "multi_status_reference.log",
        ),
    ]
    cpu: dict[str, PostgresCpu] = {}
    if postgres is not None:
        servers.append(
            Server(
                "smsrelay-pg",
                serve_command(port := free_port(), postgres.url),
                port,
                env,
                options.pin,
                RESULTS_DIR / "multi_status_smsrelay-pg.log",
            )
        )
        cpu["smsrelay-pg"] = PostgresCpu(postgres.name)
        if not cpu["smsrelay-pg"].available:
            log("postgresql: no server process on this machine: its CPU time is not measured")
    rounds: list[list[Measure]] = []
    for number in range(options.rounds):
        if options.rounds > 1:
            log(f"round {number + 1} of {options.rounds}")
        rounds.append(
            [
                measure(s, options, bodies_file, bodies, answers, wrk, cpu.get(s.name))
                for s in servers
            ]
        )
    results = [median_measure(list(per_server)) for per_server in zip(*rounds, strict=True)]

    peak_tool = f"{wrk_version(wrk)} (-t1)" if wrk else "Python asyncio client (wrk not on PATH)"
    print(
        f"multi-status: {options.recipients:,} recipients in {options.accounts:,} accounts;"
        f" the queried account has {queried:,}; {PAIRS_PER_REQUEST} E.164 pairs per request"
        f" ({found} found, {PAIRS_PER_REQUEST - found} not), {len(bodies)} distinct bodies"
    )
    print(machine())
    if postgres is not None:
        print(
            f"stores: smsrelay and reference on the SQLite file (WAL); smsrelay-pg on"
            f" PostgreSQL {postgres_version(postgres)}, a fresh database copied from that file"
            " by smsrelay's copier, then ANALYZEd; PostgreSQL CPU = its backends on that"
            " database and its shared helpers (/proc), on the same cores"
        )
    print(code_version())
    print(
        f"load: peak = {peak_tool}, closed loop, {options.connections} connections,"
        f" {options.duration:g} s; half load = Python open-loop client at 50 % of each"
        f" server's peak, {options.duration:g} s, latency from the scheduled send time;"
        f" {options.warmup:g} s warm-up before each; one server at a time, one worker"
        + (f", pinned to CPU {SERVER_CPU}, load on CPU {LOAD_CPU}" if options.pin else "")
    )
    print(
        f"checks: all {len(bodies)} answers equal to the expected ones before the load and 10"
        + (" after, on both servers" if postgres is None else " after, on every server")
        + "; answers during the load with a wrong status or length: "
        + ", ".join(f"{r.name} {r.wrong}" for r in results)
        + "; connection errors: "
        + ", ".join(f"{r.name} {r.errors}" for r in results)
    )
    background = max(r.background for r in results)
    steal = max(r.steal for r in results)
    print(
        f"background: other processes used up to {background:.2f} cores during a measured"
        f" phase, the hypervisor took up to {steal:.2f}{disturbed(background, steal)}"
    )
    if options.rounds > 1:
        print(
            f"rounds: {options.rounds}, each figure below is the median of its rounds;"
            " smsrelay/reference req/s per round: "
            + " ".join(f"{r[0].peak_rate / r[1].peak_rate:.2f}" for r in rounds)
            + (
                "; smsrelay-pg/smsrelay: "
                + " ".join(f"{r[2].peak_rate / r[0].peak_rate:.2f}" for r in rounds)
                if postgres is not None
                else ""
            )
        )
    print()
    print(table(results))
    smsrelay, reference = results[:2]
    print(f"cpu ratio: {reference.cpu_ms / smsrelay.cpu_ms:.2f} (reference / smsrelay CPU ms/req)")
    print(f"ratio: {smsrelay.peak_rate / reference.peak_rate:.2f}")
    if postgres is not None:
        pg = results[2]
        total = pg.cpu_ms + (pg.db_cpu_ms or 0.0)
        print(
            f"pg targets: p99 {pg.p99_ms:.1f} ms at half load (≤ 30:"
            f" {'met' if pg.p99_ms <= 30 else 'MISSED'}); req/s"
            f" {pg.peak_rate / smsrelay.peak_rate:.2f}x SQLite's (≥ 0.50:"
            f" {'met' if pg.peak_rate >= 0.5 * smsrelay.peak_rate else 'MISSED'});"
            f" server + PostgreSQL CPU {total:.2f} ms/req against SQLite's {smsrelay.cpu_ms:.2f}"
        )
        print(f"pg ratio: {pg.peak_rate / smsrelay.peak_rate:.2f}")
    return 1 if any(r.wrong or r.errors for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
