"""End to end: bulk-send → smsrelay's SMPP connector → `smsrelay smsc` → receipts → status.

    .venv/bin/python bench/end_to_end.py                   # 30 s, closed loop (`make bench-e2e`)
    .venv/bin/python bench/end_to_end.py --rate 3000       # 3,000 SMS/s offered on a schedule
    .venv/bin/python bench/end_to_end.py --window 128 --keep --database-dir /tmp/e2e

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
   clock starts; their count is bounded). By default a closed loop (`--concurrency`
   connections, each sends the next body as soon as its answer is in: as fast as the
   server accepts); with `--rate` requests leave on a fixed schedule of that many SMS a
   second. Every answer is checked in full (`send.check`).
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
Progress goes to stderr, the result to stdout. Exit status 1 when an answer was wrong or
missing, a status disagrees with the SMSC's decision, or not everything was final in time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from harness import (
    ANSWER_TIMEOUT,
    CpuClock,
    Server,
    code_version,
    cpu_seconds,
    free_port,
    machine,
    peak_rss_mb,
    proc_status,
    stop_process,
)
from load_client import BadAnswer, percentile, read_answer
from multi_status_data import log
from send import (
    RECIPIENTS_PER_REQUEST,
    Tally,
    build_bodies,
    check,
    filesystem,
    http_request,
    remove_database,
    smsrelay_cli,
)
from smsrelay.domain.status import FINAL_STATES, PUBLIC_BY_VALUE
from smsrelay.smsc.decisions import read_decisions

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
DATABASE_FILE = "e2e.db"
SERVER_LOG = "server.log"
SERVER_CONFIG = "serve.toml"
SMSC_LOG = "smsc.log"
SMSC_CONFIG = "smsc.toml"
DECISIONS_FILE = "decisions.jsonl"
TIMELINE_FILE = "timeline.csv"
ACCOUNT = "bench-e2e"
CREDITS = 100_000_000
CONNECTOR = "smsc"
THROUGHPUT = 20_000.0  # submit_sm per second the connector may send: not the limit here
# The operator: reports within about a second, every SMS a final fate. 1 % is refused at
# submission (ESME_RINVDSTADR): Not delivered at once, without a report.
OUTCOMES = {
    "seed": 1,
    "time_scale": 1000.0,
    "median_delay": 4.0,  # 4 s of network time: 4 ms here
    "max_delay": 1000.0,  # 1 s here
    "delivered": 0.93,
    "undelivered": 0.04,
    "expired": 0.02,
    "rejected": 0.01,
    "stop_replies": 0.0,
}
# Pre-built bodies in a closed loop: 30,000 SMS/s, more than the API accepts (22,600 seen).
CLOSED_LOOP_CAP = 60  # requests a second
SAMPLE_INTERVAL = 1.0
PROGRESS_EVERY = 5  # samples
# A backlog that grew by more than this over the steady window: not kept up.
BACKLOG_SLACK = 2 * RECIPIENTS_PER_REQUEST
STALL_TIMEOUT = 30.0  # seconds without progress that end the drain
START_TIMEOUT = 30.0  # for the SMSC to name its port
API_CHECK_SENDS = 10
MULTI_STATUS = "/v1/multi-status"
_PORT_LINE = re.compile(rb"listening on [^\s:]+:(\d+)")
_FINAL_EVENTS = (
    "SELECT count(*) FROM status_events WHERE id > ? AND id <= ? AND state IN ("
    + ", ".join(f"'{state.value}'" for state in sorted(FINAL_STATES))
    + ")"
)
_FINAL_LIST = ", ".join(f"'{state.value}'" for state in sorted(FINAL_STATES))


class Failed(Exception):
    """The run cannot go on; the message says why and where to look."""


@dataclass(frozen=True)
class Options:
    duration: float
    rate: float  # SMS per second offered; 0: closed loop
    concurrency: int
    window: int
    smsc_window: int
    warmup: float
    submit_timeout: float
    drain_timeout: float
    seed: int
    keep: bool
    database_dir: Path | None

    @property
    def requests(self) -> int:
        """How many bodies to build: the load never sends more."""
        per_second = self.rate / RECIPIENTS_PER_REQUEST if self.rate else CLOSED_LOOP_CAP
        return max(1, math.ceil(self.duration * per_second))


@dataclass(frozen=True)
class Sample:
    at: float  # perf_counter
    accepted: int  # recipients of the answers that passed, so far
    submitted: int  # lines of the decisions log: SMS the SMSC accepted or refused
    finalised: int  # final-status events in the file


@dataclass(frozen=True)
class Mark:
    """A moment of the run: the counts, and the CPU clocks."""

    sample: Sample
    cpu: CpuClock
    smsc_cpu: float


class _MessageId(msgspec.Struct):
    message_id: int


_ID_DECODER = msgspec.json.Decoder(_MessageId)


@dataclass
class Load:
    tally: Tally = field(default_factory=Tally)
    accepted_at: list[float] = field(default_factory=list)  # perf_counter of each answer
    sends: list[tuple[int, int]] = field(default_factory=list)  # (message id, body index)
    started: float = 0.0
    max_lateness: float = 0.0  # --rate: how late the client itself sent
    abort: str = ""  # why the run stops now

    def accepted(self) -> int:
        return len(self.accepted_at) * RECIPIENTS_PER_REQUEST


# --- the two processes ---------------------------------------------------------------------


def toml_table(values: Mapping[str, object]) -> str:
    lines = []
    for key, value in values.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str):
            text = json.dumps(value)  # a TOML basic string
        else:
            text = repr(value)
        lines.append(f"{key} = {text}")
    return "\n".join(lines) + "\n"


class Smsc:
    """`smsrelay smsc` on a port of its choosing, its log in the results folder."""

    def __init__(self, folder: Path, window: int, env: dict[str, str]) -> None:
        self.config = folder / SMSC_CONFIG
        self.log_path = folder / SMSC_LOG
        self.decisions = folder / DECISIONS_FILE
        self.config.write_text(
            toml_table(
                {
                    "host": "127.0.0.1",
                    "port": 0,
                    "system_id": "smsrelay",
                    "password": "smsrelay",
                    "message_id_format": "decimal",
                    "receipt_id_format": "decimal",
                    "window": window,
                    "decisions_log": str(self.decisions),
                }
            )
            + "\n[outcomes]\n"
            + toml_table(OUTCOMES)
        )
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> int:
        command = [smsrelay_command(), "smsc", "--port", "0", "--config", str(self.config)]
        with self.log_path.open("wb") as output:
            self.process = subprocess.Popen(
                command, env=self.env, stdout=output, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            found = _PORT_LINE.search(self.log_path.read_bytes())
            if found:
                self.port = int(found[1])
                return self.port
            if self.process.poll() is not None:
                raise Failed(f"smsrelay smsc exited with {self.process.returncode}: {tail(self)}")
            time.sleep(0.05)
        raise Failed(
            f"smsrelay smsc named no port within {START_TIMEOUT:.0f} s; see {self.log_path}"
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        stop_process(self.process)


def smsrelay_command() -> str:
    return str(Path(sys.executable).with_name("smsrelay"))


def server_config(folder: Path, database: str, port: int, smsc_port: int, window: int) -> Path:
    path = folder / SERVER_CONFIG  # where `measure` points `smsrelay serve --config`
    path.write_text(
        toml_table(
            {"database": database, "host": "127.0.0.1", "port": port, "log_level": "warning"}
        )
        + "\n[[connectors]]\n"
        + toml_table(
            {
                "name": CONNECTOR,
                "host": "127.0.0.1",
                "port": smsc_port,
                "system_id": "smsrelay",
                "password": "smsrelay",
                "window": window,
                "throughput": THROUGHPUT,
                "submit_id_format": "decimal",
                "receipt_id_format": "decimal",
                "fallback": True,
            }
        )
    )
    return path


def tail(process: Smsc | Server, lines: int = 5) -> str:
    """The last lines of a process's log, on one line."""
    try:
        text = process.log_path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"


# --- watching the file ---------------------------------------------------------------------


class Sampler:
    """Counts what has happened, read from the SQLite file and the decisions log."""

    def __init__(self, database: Path, decisions: Path, load: Load) -> None:
        self._db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        self._decisions = decisions.open("rb")
        self._load = load
        self._last_event = 0
        self._finalised = 0
        self._submitted = 0
        self.samples: list[Sample] = []

    def take(self) -> Sample:
        (top,) = self._db.execute("SELECT coalesce(max(id), 0) FROM status_events").fetchone()
        if top > self._last_event:
            (new,) = self._db.execute(_FINAL_EVENTS, (self._last_event, top)).fetchone()
            self._finalised += new
            self._last_event = top
        self._submitted += self._decisions.read().count(b"\n")
        sample = Sample(
            time.perf_counter(), self._load.accepted(), self._submitted, self._finalised
        )
        self.samples.append(sample)
        return sample

    def query(self, sql: str) -> list[Any]:
        return self._db.execute(sql).fetchall()

    def close(self) -> None:
        self._db.close()
        self._decisions.close()


def mark(sampler: Sampler, server: Server, smsc: Smsc) -> Mark:
    return Mark(sampler.take(), CpuClock.read(server.pid), cpu_seconds(smsc.pid))


def progress(sample: Sample, start: float, phase: str) -> None:
    log(
        f"{sample.at - start:6.1f} s {phase}: accepted {sample.accepted:,},"
        f" submitted {sample.submitted:,}, finalised {sample.finalised:,}"
    )


def why_nothing_submitted(sampler: Sampler, server: Server, smsc: Smsc, waited: float) -> str:
    """What the file says happened to the accepted recipients, for the failure message."""
    states = dict(sampler.query("SELECT state, count(*) FROM recipients GROUP BY state"))
    carriers = dict(
        sampler.query(
            "SELECT carrier, count(*) FROM recipients WHERE carrier IS NOT NULL GROUP BY carrier"
        )
    )
    text = (
        f"nothing reached the SMSC in {waited:.0f} s after the first accepted send"
        f" (its decisions log is empty); recipients by state: {states}"
    )
    if carriers and CONNECTOR not in carriers:
        text += (
            f"; handed to {carriers}, not to the connector {CONNECTOR!r}: this smsrelay does"
            " not send through its [[connectors]] (no SMPP carrier in the delivery engine yet)"
        )
    elif not carriers:
        text += "; none handed to any carrier (did the connector bind?)"
    return text + f"; server log: {tail(server)}; SMSC log: {tail(smsc)}"


async def watch(
    sampler: Sampler, load: Load, server: Server, smsc: Smsc, options: Options, done: asyncio.Event
) -> None:
    """Sample once a second during the load; set `load.abort` when the run cannot work."""
    count = 0
    while not done.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), SAMPLE_INTERVAL)
        if done.is_set():
            return
        sample = sampler.take()
        count += 1
        if count % PROGRESS_EVERY == 0:
            progress(sample, load.started, "load")
        if server.process is None or server.process.poll() is not None:
            load.abort = f"smsrelay serve exited: {tail(server)}"
        elif not smsc.alive():
            load.abort = f"smsrelay smsc exited: {tail(smsc)}"
        elif load.accepted_at and sample.submitted == 0:
            waited = sample.at - load.accepted_at[0]
            if waited > options.submit_timeout:
                load.abort = why_nothing_submitted(sampler, server, smsc, waited)
        if load.abort:
            return


# --- the load --------------------------------------------------------------------------------


async def drive(
    requests: list[bytes],
    phones_of: list[list[str]],
    port: int,
    options: Options,
    load: Load,
) -> None:
    """Send bodies until `--duration` is over, closed loop or on the `--rate` schedule."""
    tally = load.tally
    start = load.started = time.perf_counter()
    deadline = start + options.duration
    interval = RECIPIENTS_PER_REQUEST / options.rate if options.rate else 0.0
    next_index = 0

    async def connection() -> None:
        nonlocal next_index
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while next_index < len(requests) and not load.abort:
                index = next_index
                if interval:
                    due = start + index * interval
                    if due >= deadline:
                        return
                    next_index += 1
                    wait = due - time.perf_counter()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    else:
                        load.max_lateness = max(load.max_lateness, -wait)
                else:
                    if time.perf_counter() >= deadline:
                        return
                    next_index += 1
                tally.sent += 1
                sent_at = time.perf_counter()
                try:
                    writer.write(requests[index])
                    status, raw = await asyncio.wait_for(read_answer(reader), ANSWER_TIMEOUT)
                except (OSError, TimeoutError, asyncio.IncompleteReadError, BadAnswer) as exc:
                    # Not sent again: the server may have accepted it. The run has failed.
                    tally.errors += 1
                    tally.problem(f"request {index}: {type(exc).__name__} {exc}")
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    continue
                done_at = time.perf_counter()
                if check(status, raw, phones_of[index], tally):
                    tally.ok += 1
                    tally.latencies.append(done_at - sent_at)
                    load.accepted_at.append(done_at)
                    load.sends.append((_ID_DECODER.decode(raw).message_id, index))
                else:
                    tally.wrong += 1
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(options.concurrency)))
    tally.elapsed = (load.accepted_at[-1] if load.accepted_at else time.perf_counter()) - start


@dataclass(frozen=True)
class Phases:
    steady: Mark  # `--warmup` seconds after the first send
    end: Mark  # right after the last answer
    first: Mark  # before the first send


async def run_load(
    requests: list[bytes],
    phones_of: list[list[str]],
    server: Server,
    smsc: Smsc,
    sampler: Sampler,
    options: Options,
    load: Load,
) -> Phases:
    done = asyncio.Event()
    first = mark(sampler, server, smsc)
    watcher = asyncio.create_task(watch(sampler, load, server, smsc, options, done))

    async def steady_mark() -> Mark:
        await asyncio.sleep(options.warmup)
        return mark(sampler, server, smsc)

    steady = asyncio.create_task(steady_mark())
    limit = options.duration + ANSWER_TIMEOUT + 5.0
    try:
        await asyncio.wait_for(drive(requests, phones_of, server.port, options, load), limit)
    except TimeoutError:
        load.tally.timed_out = True
        load.tally.problem(f"the load did not end within {limit:.0f} s")
    finally:
        done.set()
    await watcher
    if load.abort:
        steady.cancel()
        raise Failed(load.abort)
    if not steady.done():
        steady.cancel()
        raise Failed(f"the load ended before the warm-up ({options.warmup:g} s) was over")
    return Phases(steady.result(), mark(sampler, server, smsc), first)


async def drain(
    sampler: Sampler, server: Server, smsc: Smsc, options: Options, expected: int, start: float
) -> tuple[Sample, str]:
    """Wait until `expected` recipients are final; the last sample and why it stopped."""
    begun = time.perf_counter()
    last = sampler.take()
    moved = begun
    count = 0
    while last.finalised < expected:
        await asyncio.sleep(SAMPLE_INTERVAL / 2)
        sample = sampler.take()
        count += 1
        if count % (2 * PROGRESS_EVERY) == 0:
            progress(sample, start, "drain")
        if (sample.submitted, sample.finalised) != (last.submitted, last.finalised):
            moved = sample.at
        last = sample
        if server.process is None or server.process.poll() is not None:
            return last, f"smsrelay serve exited: {tail(server)}"
        if not smsc.alive():
            return last, f"smsrelay smsc exited: {tail(smsc)}"
        if last.submitted == 0 and last.at - begun > options.submit_timeout:
            return last, why_nothing_submitted(sampler, server, smsc, last.at - begun)
        if last.at - moved > STALL_TIMEOUT:
            return last, f"nothing moved for {STALL_TIMEOUT:.0f} s"
        if last.at - begun > options.drain_timeout:
            return last, f"drain timeout ({options.drain_timeout:g} s)"
    return last, ""


# --- what the API and the file say ----------------------------------------------------------


def expected_status(fate: str) -> str:
    """The public status a fate of the decisions log must end in (docs/smsc.md)."""
    return {"DELIVRD": "Delivered", "none": "Waiting"}.get(fate, "Not delivered")


def decided(decisions: Path) -> tuple[dict[str, str], int]:
    """Fate per E.164 number (SMPP addresses carry no +), and how many were decided twice."""
    fates: dict[str, str] = {}
    twice = 0
    for record in read_decisions(decisions):
        phone = "+" + record.destination.lstrip("+")
        if phone in fates:
            twice += 1
        fates[phone] = record.fate
    return fates, twice


class _StatusItem(msgspec.Struct):
    phoneNumber: str | None  # noqa: N815  # the contract's names
    status: str | None = None


class _StatusAnswer(msgspec.Struct):
    StatutResponse_List: list[_StatusItem]  # the contract's name


_STATUS_DECODER = msgspec.json.Decoder(_StatusAnswer)


def api_check(
    server: Server, key: str, load: Load, phones_of: list[list[str]], fates: dict[str, str]
) -> tuple[int, int, str]:
    """Ask /v1/multi-status for the recipients of sends spread over the run.

    Returns the statuses checked, how many disagree with the SMSC, and the first one.
    """
    sends = load.sends
    picked = sorted({sends[i * len(sends) // API_CHECK_SENDS] for i in range(API_CHECK_SENDS)})
    checked = wrong = 0
    first = ""
    for message_id, index in picked if sends else []:
        phones = phones_of[index]
        body = msgspec.json.encode(
            {
                "apiKey": key,
                "SMSStatut_List": [{"phoneNumber": p, "messageId": message_id} for p in phones],
            }
        )
        status, raw = server.request("POST", MULTI_STATUS, body)
        if status != 200:
            return checked, wrong + len(phones), f"HTTP {status}: {raw[:200]!r}"
        items = _STATUS_DECODER.decode(raw).StatutResponse_List
        for phone, item in zip(phones, items, strict=True):
            checked += 1
            want = expected_status(fates.get(phone, "not decided"))
            if item.phoneNumber != phone or item.status != want:
                wrong += 1
                first = first or f"{message_id} {phone}: {item.status}, the SMSC decided {want}"
    return checked, wrong, first


@dataclass(frozen=True)
class Consistency:
    recipients: int
    decisions: int
    decided_twice: int
    mismatches: Counter[tuple[str, str]]  # (fate, public status) that disagree
    not_decided: int  # recipients the SMSC never saw
    unknown: int  # decisions for numbers that are no recipient
    carriers: dict[str, int]
    final_events: int
    final_recipients: int


def consistency(database: Path, fates: dict[str, str], twice: int) -> Consistency:
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT phone, state FROM recipients").fetchall()
        carriers = dict(
            db.execute(
                "SELECT coalesce(carrier, '(none)'), count(*) FROM recipients GROUP BY carrier"
            )
        )
        (final_events,) = db.execute(
            f"SELECT count(*) FROM status_events WHERE state IN ({_FINAL_LIST})"
        ).fetchone()
    finally:
        db.close()
    mismatches: Counter[tuple[str, str]] = Counter()
    not_decided = final_recipients = 0
    phones = set()
    for phone, state in rows:
        phones.add(phone)
        public = PUBLIC_BY_VALUE[state]
        final_recipients += public != "Waiting"
        fate = fates.get(phone)
        if fate is None:
            not_decided += 1
        elif expected_status(fate) != public:
            mismatches[(fate, public)] += 1
    unknown = sum(1 for phone in fates if phone not in phones)
    return Consistency(
        len(rows),
        len(fates) + twice,
        twice,
        mismatches,
        not_decided,
        unknown,
        carriers,
        final_events,
        final_recipients,
    )


@dataclass(frozen=True)
class Latency:
    values: list[float]  # seconds from the 'accepted' event to the final one, sorted
    last_final: float  # Unix time of the last final event


def latencies(database: Path) -> Latency:
    """Accept → final status of every finalised recipient, from `status_events.at` (REAL).

    All recipients of one send are accepted in one transaction at one time, so the
    accept time is read per message.
    """
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        accepted = dict(
            db.execute(
                "SELECT message_id, min(at) FROM status_events"
                " WHERE state = 'accepted' AND source = 'api' GROUP BY message_id"
            )
        )
        finals = db.execute(
            f"SELECT message_id, at FROM status_events WHERE state IN ({_FINAL_LIST})"
        ).fetchall()
    finally:
        db.close()
    values = sorted(at - accepted[message_id] for message_id, at in finals)
    return Latency(values, max((at for _, at in finals), default=0.0))


# --- the run ----------------------------------------------------------------------------------


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


def rate(before: Sample, after: Sample, name: str) -> float:
    elapsed = after.at - before.at
    return (getattr(after, name) - getattr(before, name)) / elapsed if elapsed > 0 else 0.0


def measure(options: Options, folder: Path, env: dict[str, str]) -> Result:
    path = folder / DATABASE_FILE
    database = f"sqlite:///{path}"
    remove_database(path)
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
    server = Server(
        "smsrelay",
        [smsrelay_command(), "serve", "--config", str(folder / SERVER_CONFIG)],
        port,
        env,
        False,
        folder / SERVER_LOG,
    )
    load = Load()
    sampler: Sampler | None = None
    try:
        smsc_port = smsc.start()
        server_config(folder, database, port, smsc_port, options.window)
        log(f"smsc: listening on 127.0.0.1:{smsc_port}, window {options.smsc_window}")
        startup = server.start()
        log(f"smsrelay: answering on 127.0.0.1:{port} after {startup:.1f} s, database {path}")
        sampler = Sampler(path, smsc.decisions, load)
        requests = [http_request(body, port) for body in bodies]
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
        fates, twice = decided(smsc.decisions)
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
        consistency(path, fates, twice),
        latencies(path),
        time.time() - time.perf_counter(),
        sampler.samples,
    )
    with (folder / TIMELINE_FILE).open("w") as out:
        out.write("seconds,accepted,submitted,finalised\n")
        for s in result.samples:
            out.write(f"{s.at - load.started:.3f},{s.accepted},{s.submitted},{s.finalised}\n")
    return result


# --- report ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    steady_seconds: float
    accepted: float  # SMS/s over the steady window
    submitted: float
    finalised: float
    drain: float  # seconds from the last accepted answer to the last final status
    p50: float
    p99: float
    worst: float


def figures(result: Result) -> Figures:
    steady, end = result.phases.steady.sample, result.phases.end.sample
    in_window = sum(1 for at in result.load.accepted_at if steady.at < at <= end.at)
    seconds = end.at - steady.at
    last_accept = result.load.accepted_at[-1] + result.wall_offset
    values = result.latency.values
    return Figures(
        seconds,
        in_window * RECIPIENTS_PER_REQUEST / seconds if seconds > 0 else 0.0,
        rate(steady, end, "submitted"),
        rate(steady, end, "finalised"),
        result.latency.last_final - last_accept,
        percentile(values, 0.50),
        percentile(values, 0.99),
        values[-1] if values else 0.0,
    )


def table(result: Result, fig: Figures) -> str:
    c = result.consistency
    mismatched = sum(c.mismatches.values()) + result.api[1]
    cells = (
        ("steady s", f"{fig.steady_seconds:.1f}"),
        ("accepted/s", f"{fig.accepted:,.0f}"),
        ("submitted/s", f"{fig.submitted:,.0f}"),
        ("finalised/s", f"{fig.finalised:,.0f}"),
        ("accept→final p50 ms", f"{fig.p50 * 1000:,.0f}"),
        ("p99 ms", f"{fig.p99 * 1000:,.0f}"),
        ("max ms", f"{fig.worst * 1000:,.0f}"),
        ("drain s", f"{fig.drain:.1f}" if not result.drain_problem else "unfinished"),
        ("server peak RSS MB", f"{result.server_rss:.0f}"),
        ("mismatches", f"{mismatched}"),
    )
    widths = [max(len(head), len(value)) for head, value in cells]
    return "\n".join(
        "   ".join(cell[row].rjust(width) for cell, width in zip(cells, widths, strict=True))
        for row in (0, 1)
    )


def report(options: Options, result: Result, fs_type: str, started: str, code: str) -> bool:
    """Print everything but the last line; whether every check passed.

    `code` is `code_version()` read before the servers started: the sources they ran.
    """
    load, c = result.load, result.consistency
    tally = load.tally
    fig = figures(result)
    steady, end = result.phases.steady, result.phases.end
    accepted = load.accepted()
    how = (
        f"requests on a fixed schedule of {options.rate:,.0f} SMS/s"
        f" (the client was at most {load.max_lateness * 1000:.0f} ms late)"
        if options.rate
        else "closed loop: each connection sends the next request as soon as its answer is in"
    )
    print(
        f"end to end: POST /v1/bulk-send → smsrelay serve (API + delivery worker) → SMPP"
        f" connector (window {options.window}, throughput {THROUGHPUT:,.0f}/s) →"
        f" smsrelay smsc (its own process, window {options.smsc_window}) → receipts →"
        f" status in SQLite and through /v1/multi-status; run {started}"
    )
    print(
        f"load: {options.duration:g} s, {how}; {options.concurrency} keep-alive connections;"
        f" requests of {RECIPIENTS_PER_REQUEST} distinct French mobiles, never repeated in the"
        f" run (seed {options.seed}), a one-part GSM text each"
    )
    o = OUTCOMES
    print(
        f"operator: time scale {o['time_scale']:g}, reports after {o['median_delay']:g} ms"
        f" (median), at most {o['max_delay']:g} ms; {o['delivered']:.0%} DELIVRD,"
        f" {o['undelivered']:.0%} UNDELIV, {o['expired']:.0%} EXPIRED, {o['rejected']:.0%}"
        " refused at submission, none left unreported, no STOP replies"
    )
    print(machine())
    print(code)
    print(
        "server: one `smsrelay serve` (one uvicorn worker, its delivery worker process),"
        " default settings (sqlite_synchronous FULL, WAL), a fresh SQLite file on"
        f" {fs_type}; everything on 127.0.0.1"
    )
    print(
        "definitions: accepted = recipients of bulk-send answers that passed every check;"
        " submitted = SMS the SMSC accepted or refused (lines of its decisions log, written"
        " as each submit_sm is decided); finalised = final statuses written in the file"
        " (status_events: Delivered or Not delivered). Rates are over the steady window:"
        f" from {options.warmup:g} s after the first send to the last accepted answer"
        f" ({fig.steady_seconds:.1f} s); latency runs from the 'accepted' event to the final"
        " one (status_events.at, REAL Unix seconds, each taken just before its transaction"
        " commits), over every finalised recipient"
    )
    whole = end.sample.at - load.started
    drain_text = (
        f"all {result.expected:,} final {fig.drain:.1f} s after the last accepted answer"
        if not result.drain_problem
        else f"stopped: {result.drain_problem}; {result.expected - result.drained.finalised:,}"
        f" of {result.expected:,} not final"
    )
    print(
        f"whole run: {accepted:,} accepted in {whole:.1f} s ({accepted / whole:,.0f}/s);"
        f" at the end of the load {end.sample.submitted:,} submitted,"
        f" {end.sample.finalised:,} final; drain: {drain_text}"
    )
    before = steady.sample.accepted - steady.sample.finalised
    after = end.sample.accepted - end.sample.finalised
    print(
        f"backlog (accepted, not yet final): at the start of the steady window {before:,},"
        f" at its end {after:,}"
        + (
            ": growing, the pipeline did not keep up with what was accepted"
            if after - before > BACKLOG_SLACK
            else ": the pipeline kept up"
        )
    )
    lat = sorted(tally.latencies)
    print(
        "checks: every answer HTTP 200, success, code 200, 500 items with code 200, the number"
        f" sent and nbSms 1: passed {tally.ok}, wrong {tally.wrong}, errors {tally.errors}"
        + (f" (first: {tally.first_problem})" if tally.first_problem else "")
        + f"; answer p50 {percentile(lat, 0.5) * 1000:.0f} ms,"
        f" p99 {percentile(lat, 0.99) * 1000:.0f} ms"
    )
    checked, api_wrong, api_first = result.api
    print(
        f"api: /v1/multi-status for {checked:,} recipients of {API_CHECK_SENDS} sends spread"
        f" over the run: {api_wrong} not as the SMSC decided"
        + (f" (first: {api_first})" if api_first else "")
    )
    wrong = sum(c.mismatches.values())
    shown = ", ".join(
        f"{fate} → {public}: {n}" for (fate, public), n in c.mismatches.most_common(4)
    )
    print(
        f"consistency: {c.recipients:,} recipients, {c.decisions:,} decisions"
        f" ({c.decided_twice} twice); carried by {c.carriers}; status not the SMSC's fate:"
        f" {wrong}" + (f" ({shown})" if shown else "") + f"; never reached the SMSC:"
        f" {c.not_decided}; decided for no recipient: {c.unknown}; final events"
        f" {c.final_events:,} for {c.final_recipients:,} final recipients"
    )
    use = steady.cpu.until(end.cpu)
    seconds = end.cpu.at - steady.cpu.at
    smsc_cores = (end.smsc_cpu - steady.smsc_cpu) / seconds
    ours = (end.cpu.ours - steady.cpu.ours) / seconds
    final_count = max(1, result.drained.finalised)
    print(
        f"cpu (steady window): server (API + worker) {use.server:.2f} cores, SMSC"
        f" {smsc_cores:.2f}, this benchmark (client, sampler) {ours:.2f}, others"
        f" {max(0.0, use.others - smsc_cores):.2f}, hypervisor {use.steal:.2f};"
        f" first send to end of drain: server {result.server_cpu / final_count * 1e3:.3f}"
        f" ms CPU per finalised SMS, SMSC {result.smsc_cpu / final_count * 1e3:.3f}"
    )
    print(
        f"memory: server peak RSS (API + delivery worker, VmHWM) {result.server_rss:.0f} MB;"
        f" SMSC {result.smsc_rss:.0f} MB"
    )
    print(
        f"targets: ≥ 3,000 SMS/s finalised, sustained: {fig.finalised:,.0f}"
        f" ({'met' if fig.finalised >= 3000 else 'NOT met'}); server RSS ≤ 300 MB:"
        f" {result.server_rss:.0f} ({'met' if result.server_rss <= 300 else 'NOT met'})"
    )
    print()
    print(table(result, fig))
    return (
        tally.ok == tally.sent
        and not tally.first_problem
        and not result.drain_problem
        and wrong == 0
        and api_wrong == 0
        and checked > 0
        and c.not_decided == 0
        and c.unknown == 0
        and c.final_recipients == c.recipients
    )


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
    )


def main() -> int:
    options = parse_options()
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    if options.database_dir is None:
        folder = Path(tempfile.mkdtemp(prefix="e2e_", dir=RESULTS_DIR))
    else:
        folder = options.database_dir
        folder.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSRELAY_")}
    started = time.strftime("%Y-%m-%d %H:%M %Z")
    code = code_version()  # before the servers start: what they run
    try:
        result = measure(options, folder, env)
    except (Failed, RuntimeError, OSError, subprocess.SubprocessError, sqlite3.Error) as exc:
        log(f"FAILED: {exc}")
        log(f"kept {folder} (database, logs, decisions)")
        print(f"FAILED: {exc}")
        print("finalised: 0 SMS/s")
        return 1
    passed = report(options, result, filesystem(folder), started, code)
    if not passed:
        log(f"FAILED: kept {folder} (database, logs, decisions, timeline)")
    elif options.keep:
        log(f"kept {folder} (database, logs, decisions, timeline)")
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
