"""`smsrelay serve` as a user runs it: the installed command, a process of its own, loopback."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

SMSRELAY = str(Path(sys.executable).with_name("smsrelay"))


def cli(env: dict[str, str], *args: str) -> str:
    """Run `smsrelay ARGS` and return what it printed; it must succeed."""
    done = subprocess.run(
        [SMSRELAY, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@dataclass
class Served:
    base: str
    process: subprocess.Popen[bytes]
    log: Path


def healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def until_healthy(
    base: str, process: subprocess.Popen[bytes] | None = None, log: Path | None = None
) -> None:
    """Wait (20 s at most) for /health 200 at `base`; `process` must not exit meanwhile."""
    deadline = time.monotonic() + 20
    while not healthy(base):
        shown = log.read_text() if log is not None else ""
        assert process is None or process.poll() is None, shown
        assert time.monotonic() < deadline, f"the server did not become healthy: {shown}"
        time.sleep(0.05)


@contextmanager
def serve_process(
    env: dict[str, str], log: Path, preexec_fn: Callable[[], None] | None = None
) -> Iterator[Served]:
    """`smsrelay serve` on `env`'s database and port, ready (/health 200: its delivery worker
    runs); stopped by SIGINT afterwards, which it must survive cleanly, with no traceback."""
    cli(env, "migrate")
    with log.open("wb") as output:
        process = subprocess.Popen(
            [SMSRELAY, "serve"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            preexec_fn=preexec_fn,
        )
    base = f"http://127.0.0.1:{env['SMSRELAY_PORT']}"
    try:
        until_healthy(base, process, log)
        yield Served(base, process, log)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
    assert code == 0, log.read_text()
    assert "Traceback" not in log.read_text()
