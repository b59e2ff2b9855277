"""A light HTTP/1.1 load client for `bench/multi_status.py`, run in its own process.

Raw asyncio streams over keep-alive connections to 127.0.0.1, request bytes built once,
answers read by their status line and Content-Length only. Two modes:

- `closed`: `--connections` connections each send the next request as soon as the previous
  answer is in; the answers completed during the measured window give the peak rate.
- `open`: requests follow a fixed schedule (`--rate` per second, whatever the server
  does), and each latency runs from the request's *scheduled* time to its answer, so a
  server that falls behind shows its queueing instead of slowing the client down
  (coordinated omission). Connections are a pool large enough that a free one is
  normally waiting; when none is, the wait counts in the latency too.

Each answer must be HTTP 200 with the length the server gave for that body during the
correctness check (`--lengths`); any other is counted as wrong. One JSON object on
stdout is the result. Everything is bounded: the request count, each answer's time,
and the whole run.

`send.py` and the end-to-end benchmark import its connection, request bytes (for their
own path) and percentile.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

PATH = "/v1/multi-status"
_HEADER_END = b"\r\n\r\n"
_LENGTH = b"\r\ncontent-length:"


class BadAnswer(Exception):
    """The server answered something that is not an HTTP/1.1 answer with a length."""


@dataclass
class Tally:
    completed: int = 0  # answers completed inside the measured window
    errors: int = 0  # connection failures and timeouts
    wrong: int = 0  # answers that were not HTTP 200 of the expected length
    latencies: list[float] = field(default_factory=list)
    trace: list[tuple[float, float, float]] = field(default_factory=list)  # at, late, latency
    max_lateness: float = 0.0  # how late the client itself sent (open mode)


def build_requests(bodies: Sequence[bytes], port: int, path: str = PATH) -> list[bytes]:
    """Each body as the bytes of a whole `POST path` request to 127.0.0.1:`port`."""
    return [
        (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body
        for body in bodies
    ]


# What a request whose answer never came in whole raises.
ANSWER_FAILURES = (OSError, TimeoutError, asyncio.IncompleteReadError, BadAnswer)


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Status code and body of one answer (the servers always send a Content-Length)."""
    head = await reader.readuntil(_HEADER_END)
    status = int(head[9:12])
    start = head.lower().find(_LENGTH)
    if start < 0:
        raise BadAnswer("no Content-Length")
    start += len(_LENGTH)
    length = int(head[start : head.index(b"\r\n", start)])
    return status, await reader.readexactly(length)


class Connection:
    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def exchange(self, request: bytes, timeout: float) -> tuple[int, bytes]:
        """Status and body of the answer to `request`, opening the connection if needed."""
        if self.writer is None:
            await asyncio.wait_for(self.open(), timeout)
        assert self.reader is not None
        assert self.writer is not None
        self.writer.write(request)
        return await asyncio.wait_for(read_answer(self.reader), timeout)


async def _exchange(
    conn: Connection, request: bytes, timeout: float, tally: Tally
) -> tuple[int, int] | None:
    """One request and its answer; a failure is counted and the connection reopened."""
    try:
        status, body = await conn.exchange(request, timeout)
    except ANSWER_FAILURES:
        tally.errors += 1
        conn.close()
        return None
    return status, len(body)


def _check(tally: Tally, answer: tuple[int, int], expected: int) -> None:
    status, length = answer
    if status != 200 or length != expected:
        tally.wrong += 1


async def closed_loop(
    requests: list[bytes],
    lengths: list[int],
    port: int,
    connections: int,
    warmup: float,
    duration: float,
    timeout: float,
) -> Tally:
    tally = Tally()
    begin = time.perf_counter()
    measure_from = begin + warmup
    end = measure_from + duration

    async def worker(offset: int) -> None:
        conn = Connection(port)
        index = offset
        try:
            while (sent_at := time.perf_counter()) < end:
                index = (index + 1) % len(requests)
                answer = await _exchange(conn, requests[index], timeout, tally)
                if answer is None:
                    await asyncio.sleep(0.01)
                    continue
                done_at = time.perf_counter()
                if measure_from <= sent_at and done_at <= end:
                    tally.completed += 1
                    tally.latencies.append(done_at - sent_at)
                _check(tally, answer, lengths[index])
        finally:
            conn.close()

    step = max(1, len(requests) // connections)
    await asyncio.gather(*(worker(i * step) for i in range(connections)))
    return tally


async def open_loop(
    requests: list[bytes],
    lengths: list[int],
    port: int,
    connections: int,
    warmup: float,
    duration: float,
    rate: float,
    timeout: float,
) -> Tally:
    tally = Tally()
    total = math.ceil(rate * (warmup + duration))
    pool = [Connection(port) for _ in range(connections)]
    for conn in pool:  # opened before the clock starts, so no handshake is measured
        await conn.open()
    start = time.perf_counter() + 0.05
    measure_from = start + warmup
    next_index = 0

    async def worker(conn: Connection) -> None:
        nonlocal next_index
        try:
            while next_index < total:
                index = next_index
                next_index += 1
                scheduled = start + index / rate
                # The loop's timers may fire a little early: never send before the schedule.
                while (delay := scheduled - time.perf_counter()) > 0:
                    await asyncio.sleep(delay)
                lateness = time.perf_counter() - scheduled
                request = index % len(requests)
                answer = await _exchange(conn, requests[request], timeout, tally)
                if answer is None:
                    continue
                done_at = time.perf_counter()
                _check(tally, answer, lengths[request])
                if scheduled >= measure_from:
                    tally.completed += 1
                    tally.latencies.append(done_at - scheduled)
                    tally.max_lateness = max(tally.max_lateness, lateness)
                    tally.trace.append((scheduled - start, lateness, done_at - scheduled))
        finally:
            conn.close()

    await asyncio.gather(*(worker(conn) for conn in pool))
    return tally


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list (0.0 when it is empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description="load client of bench/multi_status.py")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bodies", type=Path, required=True, help="one JSON body per line")
    parser.add_argument("--lengths", type=Path, required=True, help="answer length per body")
    parser.add_argument("--mode", choices=("closed", "open"), required=True)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=0.0, help="requests/s (open mode)")
    parser.add_argument("--timeout", type=float, default=10.0, help="per answer, seconds")
    parser.add_argument("--trace", type=Path, help="open mode: write each request's timings")
    args = parser.parse_args()

    try:
        import uvloop
    except ImportError:
        loop_name = "asyncio"
    else:
        uvloop.install()
        loop_name = "uvloop"

    bodies = args.bodies.read_bytes().splitlines()
    lengths = [int(line) for line in args.lengths.read_text().split()]
    requests = build_requests(bodies, args.port)
    if args.mode == "closed":
        work = closed_loop(
            requests,
            lengths,
            args.port,
            args.connections,
            args.warmup,
            args.duration,
            args.timeout,
        )
    else:
        if args.rate <= 0:
            parser.error("--rate is required in open mode")
        work = open_loop(
            requests,
            lengths,
            args.port,
            args.connections,
            args.warmup,
            args.duration,
            args.rate,
            args.timeout,
        )
    tally = asyncio.run(work)
    latencies = sorted(tally.latencies)
    if args.trace is not None:
        args.trace.write_text(
            "scheduled_s lateness_ms latency_ms\n"
            + "".join(
                f"{at:.4f} {late * 1e3:.3f} {lat * 1e3:.3f}\n" for at, late, lat in tally.trace
            )
        )
    result = {
        "loop": loop_name,
        "completed": tally.completed,
        "duration": args.duration,
        "rate": tally.completed / args.duration,
        "errors": tally.errors,
        "wrong": tally.wrong,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": (latencies[-1] if latencies else 0.0) * 1000,
        "max_lateness_ms": tally.max_lateness * 1000,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
