"""The measurement of the end-to-end benchmark: the load (bulk-send requests, closed loop
or on the `--rate` schedule), the drain after it, and the once-a-second count of what
has happened, read beside the running server from the SQLite file and the SMSC's
decisions log; a run where nothing reaches the SMSC is stopped here, with what the file
says happened.

Apart from the processes it watches and from the checks made once it is over: this is
the part that runs against the clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import msgspec

from e2e_common import FINAL_LIST, Failed, Options
from e2e_processes import CONNECTOR, Smsc, tail
from harness import ANSWER_TIMEOUT, CpuClock, Server, cpu_seconds
from load_client import Connection
from multi_status_data import log
from pg import PgReader
from send import RECIPIENTS_PER_REQUEST, Tally, ask, check

# What the sampler and the checks read the database with: the SQLite file, read-only
# beside the server (WAL readers do not block), or a PostgreSQL connection shaped like it.
Reader: TypeAlias = sqlite3.Connection | PgReader

SAMPLE_INTERVAL = 1.0
PROGRESS_EVERY = 5  # samples
STALL_TIMEOUT = 30.0  # seconds without progress that end the drain
_FINAL_EVENTS = (
    f"SELECT count(*) FROM status_events WHERE id > ? AND id <= ? AND state IN ({FINAL_LIST})"
)
# PostgreSQL: the newest event old enough that every event below it has committed.
_SETTLED_TOP = "SELECT id FROM status_events WHERE at <= ? ORDER BY id DESC LIMIT 1"
# On PostgreSQL, how old an event must be before the sampler counts up to it (see Sampler).
PG_SETTLE = 2.0


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
    ran_out: float = 0.0  # seconds after the first send when no body was left; 0: never
    abort: str = ""  # why the run stops now

    def accepted(self) -> int:
        return len(self.accepted_at) * RECIPIENTS_PER_REQUEST


# --- watching the file ---------------------------------------------------------------------


class Sampler:
    """Counts what has happened, read from the database and the decisions log.

    The final events are counted by id, from the last id read up to the newest. On SQLite
    ids are taken in commit order (one writer at a time). On PostgreSQL they are not:
    several connections write at once, and an id taken first may commit last; so there
    (`settle` > 0) the count goes only up to the newest event at least `settle` seconds
    old, by when its transaction (tens of ms) has committed: the counts lag by that much,
    which moves the timeline and not the rates over the steady window.
    """

    def __init__(self, database: Reader, decisions: Path, load: Load, settle: float = 0.0) -> None:
        self._db = database
        self._settle = settle
        self._decisions = decisions.open("rb")
        self._load = load
        self._last_event = 0
        self._finalised = 0
        self._submitted = 0
        self.samples: list[Sample] = []

    def take(self) -> Sample:
        if self._settle:
            row = self._db.execute(_SETTLED_TOP, (time.time() - self._settle,)).fetchone()
            top = row[0] if row else 0
        else:
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
    """Send bodies until `--duration` is over, closed loop or on the `--rate` schedule;
    `load.ran_out` says when, if the bodies were all sent before."""
    tally = load.tally
    start = load.started = time.perf_counter()
    deadline = start + options.duration
    interval = RECIPIENTS_PER_REQUEST / options.rate if options.rate else 0.0
    next_index = 0

    async def sender() -> None:
        nonlocal next_index
        connection = Connection(port)
        await connection.open()
        try:
            while not load.abort:
                index = next_index
                due = start + index * interval if interval else time.perf_counter()
                if due >= deadline:
                    return
                if index == len(requests):
                    load.ran_out = load.ran_out or time.perf_counter() - start
                    return
                next_index += 1
                if interval:
                    wait = due - time.perf_counter()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    else:
                        load.max_lateness = max(load.max_lateness, -wait)
                tally.sent += 1
                sent_at = time.perf_counter()
                answer = await ask(connection, requests[index], index, tally)
                if answer is None:
                    continue
                status, raw = answer
                done_at = time.perf_counter()
                if check(status, raw, phones_of[index], tally):
                    tally.ok += 1
                    tally.latencies.append(done_at - sent_at)
                    load.accepted_at.append(done_at)
                    load.sends.append((_ID_DECODER.decode(raw).message_id, index))
                else:
                    tally.wrong += 1
        finally:
            connection.close()

    await asyncio.gather(*(sender() for _ in range(options.concurrency)))
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
