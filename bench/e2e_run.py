"""One run of the end-to-end benchmark, from a fresh database (a SQLite file, or with
`--database` a fresh PostgreSQL database made by `end_to_end.py`) to both processes
stopped: the account and its key, the bodies, the processes, the load, the drain and the
checks, in that order, and what they found (`Result`, with `timeline.csv`).

Apart from `end_to_end.py`, which reads the options, calls `measure`, reports and
cleans up.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass
from pathlib import Path

from e2e_checks import Consistency, Latency, api_check, consistency, decided, latencies
from e2e_common import (
    DATABASE_FILE,
    DECISIONS_FILE,
    SERVER_LOG,
    SMSC_LOG,
    TIMELINE_FILE,
    Options,
)
from e2e_measure import (
    PG_SETTLE,
    Load,
    Phases,
    Reader,
    Sample,
    Sampler,
    drain,
    progress,
    run_load,
)
from e2e_processes import Smsc, server_config, smsrelay_server
from harness import cpu_seconds, free_port, peak_rss_mb, proc_status, read_only, remove_database
from load_client import build_requests
from multi_status_data import log
from pg import PgReader
from send import BULK_SEND, RECIPIENTS_PER_REQUEST, build_bodies, smsrelay_cli
from smsrelay.store.postgres_connection import redacted

ACCOUNT = "bench-e2e"
CREDITS = 100_000_000


@dataclass
class Result:
    load: Load
    phases: Phases
    drained: Sample
    drain_problem: str
    expected: int  # recipients in the file after the load
    api: tuple[int, int, str]
    server_rss: float
    smsc_rss: float
    server_cpu: float  # CPU seconds, first send to the end of the drain
    smsc_cpu: float
    consistency: Consistency
    latency: Latency
    wall_offset: float  # time.time() - time.perf_counter()
    samples: list[Sample]


def measure(
    options: Options, folder: Path, env: dict[str, str], postgres_url: str | None = None
) -> Result:
    """The run, on the SQLite file `DATABASE_FILE` in `folder`, or on the (fresh, empty)
    PostgreSQL database `postgres_url`."""
    path = folder / DATABASE_FILE
    database = postgres_url or f"sqlite:///{path}"
    remove_database(path)

    def reader() -> Reader:
        return PgReader(postgres_url) if postgres_url else read_only(path)

    for name in (DECISIONS_FILE, SMSC_LOG, SERVER_LOG, TIMELINE_FILE):
        (folder / name).unlink(missing_ok=True)
    smsrelay_cli(
        "account", "create", ACCOUNT, "--credits", str(CREDITS), "--database", database, env=env
    )
    key = smsrelay_cli("key", "create", ACCOUNT, "--database", database, env=env)
    log(f"building {options.requests} bodies of {RECIPIENTS_PER_REQUEST} distinct numbers")
    bodies, phones_of = build_bodies(random.Random(options.seed), key, options.requests)

    smsc = Smsc(folder, options.smsc_window, env)
    port = free_port()
    server = smsrelay_server(folder, port, env)
    load = Load()
    sampler: Sampler | None = None
    try:
        smsc_port = smsc.start()
        server_config(folder, database, port, smsc_port, options.window)
        log(f"smsc: listening on 127.0.0.1:{smsc_port}, window {options.smsc_window}")
        startup = server.start()
        where = redacted(postgres_url) if postgres_url else path
        log(f"smsrelay: answering on 127.0.0.1:{port} after {startup:.1f} s, database {where}")
        sampler = Sampler(reader(), smsc.decisions, load, PG_SETTLE if postgres_url else 0.0)
        requests = build_requests(bodies, port, BULK_SEND)
        how = f"{options.rate:,.0f} SMS/s offered" if options.rate else "closed loop"
        log(f"load: {options.duration:g} s, {how}, {options.concurrency} connections")
        phases = asyncio.run(run_load(requests, phones_of, server, smsc, sampler, options, load))
        ((expected,),) = sampler.query("SELECT count(*) FROM recipients")
        log(f"drain: waiting until the {expected:,} recipients are final")
        drained, problem = asyncio.run(
            drain(sampler, server, smsc, options, int(expected), load.started)
        )
        progress(drained, load.started, "drained" if not problem else "drain stopped")
        server_cpu = cpu_seconds(server.pid) - phases.first.cpu.server
        smsc_cpu = cpu_seconds(smsc.pid) - phases.first.smsc_cpu
        fates, _ = decided(smsc.decisions)
        api = api_check(server, key, load, phones_of, fates)
        server_rss = peak_rss_mb(server.pid)
        smsc_rss = proc_status(smsc.pid, "VmHWM") / 1024
    finally:
        if sampler is not None:
            sampler.close()
        server.stop()
        smsc.stop()
    log("stopped both; comparing the file with the decisions log")
    fates, twice = decided(smsc.decisions)
    with contextlib.closing(reader()) as db:
        latency = latencies(db)
        checked = consistency(db, fates, twice, len(latency.values))
    result = Result(
        load,
        phases,
        drained,
        problem,
        int(expected),
        api,
        server_rss,
        smsc_rss,
        server_cpu,
        smsc_cpu,
        checked,
        latency,
        time.time() - time.perf_counter(),
        sampler.samples,
    )
    with (folder / TIMELINE_FILE).open("w") as out:
        out.write("seconds,accepted,submitted,finalised\n")
        for s in result.samples:
            out.write(f"{s.at - load.started:.3f},{s.accepted},{s.submitted},{s.finalised}\n")
    return result
